"""Typed configs for the X-UniMotion networks, and a registry of named size presets.

One dataclass per concern (motion encoder, retargeting decoder, video DiT, auxiliary decoders, training);
`UniMotionConfig` holds them all and is what a checkpoint stores beside its weights (as JSON). Every
dataclass validates itself on construction and raises ValueError naming the offending field.

Presets: `tiny` (seconds on CPU, used by the tests), `small` (a laptop-sized model), `base` (meant for a GPU).
None of them has trained weights yet; see engine/train.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

CONFIG_FORMAT_VERSION = 1
LATENT_KINDS = ("pixels", "vae")
TIMESTEP_SAMPLING = ("logit_normal", "uniform")


def _positive(obj: Any, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{type(obj).__name__}.{n}: must be a positive number, got {v!r}")


def _probability(obj: Any, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{type(obj).__name__}.{n}: must lie in [0, 1], got {v!r}")


def _power_of_two(obj: Any, name: str) -> None:
    v = getattr(obj, name)
    if v & (v - 1):
        raise ValueError(f"{type(obj).__name__}.{name}: must be a power of two, got {v}")


# --- per-concern configs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class MotionEncoderConfig:
    """E (whole frame -> body token), E_f (face crop -> face token), E_h (hand crop -> hand token, shared)."""

    image_size: int = 32  # the whole (letterboxed) driving frame is resampled to this square size
    crop_size: int = 16  # face and hand crops are resampled to this square size
    body_dim: int = 16  # sizes of the four low-dimensional latent motion tokens
    face_dim: int = 8
    hand_dim: int = 8
    width: int = 16  # channels of the first conv stage; doubles per stage up to 8x
    final_size: int = 4  # conv stages stop at this feature-map size; the map is flattened (keeps position)

    def __post_init__(self) -> None:
        _positive(self, "image_size", "crop_size", "body_dim", "face_dim", "hand_dim", "width", "final_size")
        for n in ("image_size", "crop_size", "final_size"):
            _power_of_two(self, n)
        if self.crop_size < self.final_size:
            raise ValueError(f"MotionEncoderConfig.crop_size: must be >= final_size ({self.final_size})")


@dataclass(frozen=True)
class RetargetConfig:
    """D: the ViT that turns reference patch tokens + motion tokens into spatial motion guidance."""

    width: int = 32
    depth: int = 1
    heads: int = 2
    mlp_ratio: float = 2.0

    def __post_init__(self) -> None:
        _positive(self, "width", "depth", "heads", "mlp_ratio")
        if self.width % self.heads:
            raise ValueError(f"RetargetConfig.width: {self.width} is not divisible by heads ({self.heads})")


@dataclass(frozen=True)
class VAEConfig:
    """A diffusers AutoencoderKL built from these numbers with random init (never downloaded)."""

    channels: tuple[int, ...] = (32, 64, 64)  # block_out_channels; downsampling = 2 ** (len - 1)
    latent_channels: int = 4
    layers_per_block: int = 1
    norm_groups: int = 16
    scaling_factor: float = 1.0  # latents are multiplied by this after encoding (SD's VAE uses 0.18215)

    def __post_init__(self) -> None:
        _positive(self, "latent_channels", "layers_per_block", "norm_groups", "scaling_factor")
        if not self.channels or any(c <= 0 or c % self.norm_groups for c in self.channels):
            raise ValueError("VAEConfig.channels: each must be a positive multiple of norm_groups, "
                             f"got {self.channels}")

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.channels) - 1)


@dataclass(frozen=True)
class GeneratorConfig:
    """The video DiT: patchified latents (or pixels), spatial + temporal attention, in-context reference."""

    latent: str = "pixels"  # "pixels" (tiny sizes) or "vae" (AutoencoderKL latents)
    vae: VAEConfig = field(default_factory=VAEConfig)  # used when latent == "vae"
    sample_size: int = 32  # long side, in pixels, of the frames the model generates
    patch_size: int = 4
    hidden: int = 32
    depth: int = 2
    heads: int = 2
    mlp_ratio: float = 2.0
    face_context_tokens: int = 2  # z_f is expanded into this many keys for the face cross-attention
    window: int = 4  # frames per temporal window at sampling time (bounded memory for any clip length)
    overlap: int = 2  # frames shared by neighbouring windows (crossfaded)
    flow_shift: float = 1.0  # FlowMatchEulerDiscreteScheduler's `shift` (SD3 eq. 23); 1 = no shift
    num_train_timesteps: int = 1000

    def __post_init__(self) -> None:
        if self.latent not in LATENT_KINDS:
            raise ValueError(f"GeneratorConfig.latent: must be one of {LATENT_KINDS}, got {self.latent!r}")
        _positive(self, "sample_size", "patch_size", "hidden", "depth", "heads", "mlp_ratio",
                  "face_context_tokens", "window", "flow_shift", "num_train_timesteps")
        if self.hidden % self.heads or (self.hidden // self.heads) % 2:
            raise ValueError(f"GeneratorConfig.hidden: {self.hidden} must split into an even size per head "
                             f"({self.heads} heads)")
        if self.hidden % 4:
            raise ValueError("GeneratorConfig.hidden: must be a multiple of 4 (2D sin-cos position embedding)")
        if not 0 <= self.overlap < self.window:
            raise ValueError(f"GeneratorConfig.overlap: must lie in [0, window), got {self.overlap}")
        if self.sample_size % self.multiple:
            raise ValueError(f"GeneratorConfig.sample_size: must be a multiple of {self.multiple} "
                             "(latent downsampling x patch size)")

    @property
    def latent_channels(self) -> int:
        return 3 if self.latent == "pixels" else self.vae.latent_channels

    @property
    def downsample(self) -> int:
        return 1 if self.latent == "pixels" else self.vae.downsample

    @property
    def multiple(self) -> int:
        """Frame sides must be multiples of this (pixels per patch)."""
        return self.downsample * self.patch_size


@dataclass(frozen=True)
class AuxDecoderConfig:
    """D_h (2D joint heatmaps) and D_n (hand normal maps), both reading the motion guidance."""

    hidden: int = 32
    heatmap_sigma: float = 1.5  # Gaussian radius of a joint on the heatmap, in heatmap pixels

    def __post_init__(self) -> None:
        _positive(self, "hidden", "heatmap_sigma")


@dataclass(frozen=True)
class TrainConfig:
    """What one optimiser step does (the trainer's schedule, data and logging come in a later issue)."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    p_drop_reference: float = 0.1  # classifier-free-guidance dropout of the reference condition
    p_drop_motion: float = 0.1  # ... and of the motion condition (guidance + face tokens)
    p_drop_both: float = 0.1  # both together, so the unconditional branch of 3-pass guidance is trained
    heatmap_weight: float = 0.5
    normal_weight: float = 0.5
    projection_weight: float = 1.0  # explicit-token projection distilled from the learned encoder
    timestep_sampling: str = "logit_normal"
    augment: bool = True  # colour + spatial augmentation of the driving frames only
    augment_strength: float = 0.1

    def __post_init__(self) -> None:
        _positive(self, "lr", "grad_clip")
        _probability(self, "p_drop_reference", "p_drop_motion", "p_drop_both")
        for n in ("weight_decay", "heatmap_weight", "normal_weight", "projection_weight", "augment_strength"):
            if getattr(self, n) < 0:
                raise ValueError(f"TrainConfig.{n}: must be >= 0, got {getattr(self, n)!r}")
        if self.timestep_sampling not in TIMESTEP_SAMPLING:
            raise ValueError(f"TrainConfig.timestep_sampling: must be one of {TIMESTEP_SAMPLING}")


@dataclass(frozen=True)
class UniMotionConfig:
    """Everything needed to build the networks; stored with every checkpoint."""

    name: str = "tiny"
    motion: MotionEncoderConfig = field(default_factory=MotionEncoderConfig)
    retarget: RetargetConfig = field(default_factory=RetargetConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    aux: AuxDecoderConfig = field(default_factory=AuxDecoderConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("UniMotionConfig.name: must not be empty")

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": CONFIG_FORMAT_VERSION, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UniMotionConfig":
        data = dict(data)
        version = data.pop("format_version", CONFIG_FORMAT_VERSION)
        if version != CONFIG_FORMAT_VERSION:
            raise ValueError(f"UniMotionConfig.format_version: {version} is not supported "
                             f"(this engine reads {CONFIG_FORMAT_VERSION})")
        return _from_dict(cls, data, "UniMotionConfig")

    @classmethod
    def from_json(cls, text: str) -> "UniMotionConfig":
        return cls.from_dict(json.loads(text))

    def replace(self, **groups: Any) -> "UniMotionConfig":
        """Copy with whole sub-configs or dicts of their fields replaced: cfg.replace(generator={"depth": 4})."""
        updates = {}
        for key, value in groups.items():
            current = getattr(self, key)
            updates[key] = dataclasses.replace(current, **value) if isinstance(value, dict) else value
        return dataclasses.replace(self, **updates)


def _from_dict(cls: type, data: dict[str, Any], path: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{path}.{unknown[0]}: unknown field")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ValueError(f"{path}.{key}: expected a mapping, got {type(value).__name__}")
            value = _from_dict(hint, value, f"{path}.{key}")
        elif typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def config_diff(a: UniMotionConfig, b: UniMotionConfig) -> list[str]:
    """Human-readable differences, "generator.hidden: 32 != 64", ignoring the preset name and training knobs
    (those do not change the weights' layout or meaning)."""
    out: list[str] = []

    def walk(x: Any, y: Any, path: str) -> None:
        if dataclasses.is_dataclass(x):
            for f in dataclasses.fields(x):
                walk(getattr(x, f.name), getattr(y, f.name), f"{path}.{f.name}" if path else f.name)
        elif x != y:
            out.append(f"{path}: {x!r} != {y!r}")

    def weights_only(c: UniMotionConfig) -> UniMotionConfig:
        return dataclasses.replace(c, name="-", train=TrainConfig())

    walk(weights_only(a), weights_only(b), "")
    return out


# --- presets -----------------------------------------------------------------------------------------------

def _tiny() -> UniMotionConfig:
    return UniMotionConfig(name="tiny")


def _small() -> UniMotionConfig:
    return UniMotionConfig(
        name="small",
        motion=MotionEncoderConfig(image_size=64, crop_size=32, body_dim=32, face_dim=16, hand_dim=16, width=32),
        retarget=RetargetConfig(width=128, depth=2, heads=4),
        generator=GeneratorConfig(latent="vae", vae=VAEConfig(channels=(32, 64, 64), norm_groups=16),
                                  sample_size=128, patch_size=2, hidden=192, depth=6, heads=6,
                                  face_context_tokens=4, window=8, overlap=2, flow_shift=3.0),
        aux=AuxDecoderConfig(hidden=128, heatmap_sigma=1.5),
        train=TrainConfig(lr=2e-4, weight_decay=0.01),
    )


def _base() -> UniMotionConfig:
    return UniMotionConfig(
        name="base",
        motion=MotionEncoderConfig(image_size=128, crop_size=64, body_dim=64, face_dim=32, hand_dim=32, width=64),
        retarget=RetargetConfig(width=384, depth=4, heads=6),
        generator=GeneratorConfig(latent="vae", vae=VAEConfig(channels=(128, 256, 512, 512), norm_groups=32,
                                                              scaling_factor=0.18215),
                                  sample_size=512, patch_size=2, hidden=768, depth=16, heads=12,
                                  face_context_tokens=8, window=16, overlap=4, flow_shift=5.0),
        aux=AuxDecoderConfig(hidden=256, heatmap_sigma=2.0),
        train=TrainConfig(lr=1e-4, weight_decay=0.01),
    )


PRESETS: dict[str, Callable[[], UniMotionConfig]] = {"tiny": _tiny, "small": _small, "base": _base}


def preset(name: str) -> UniMotionConfig:
    """A named preset: "tiny" (tests, CPU), "small", "base" (GPU)."""
    if name not in PRESETS:
        raise ValueError(f"preset: unknown name {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()
