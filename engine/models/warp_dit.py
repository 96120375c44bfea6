"""The warp-guided generator: a small DiT that repairs the instant render of one frame.

    inputs (all at the model's size S, a square crop around the person)
        x_t       (B, 3, S, S)  noised residual: (1 - sigma) * (target - warp) + sigma * noise
        warp      (B, 3, S, S)  the instant renderer's frame (spatial guidance; the paper's retargeted
                                motion guidance plays this role, X-UniMotion sec. 3.2)
        aligned   (B, 3, S, S)  the photo cropped at the same box as the warp: what the photo shows where
                                the frame is (the background a moved limb uncovers, for a still camera)
        reference (B, 3, S, S)  the photo's crop around the person (in-context: attended to, never aligned)
        motion    (B, M)        MotionTokens.flat() + placement (dx, dy, zoom) of this frame
        sigma     (B,)          noise level in [0, 1]
    output
        x0        (B, 3, S, S)  the predicted residual; the frame is warp + x0

    stem      [x_t, warp, aligned] --4x4 space-to-depth, convs--> S/4 features --2x2 patches--> tokens
    reference  reference  --the same kind of stem (own weights)--> (S/8)^2 tokens; a learned null set when
              the reference condition is dropped
    blocks    adaLN-Zero transformer blocks (DiT, Peebles & Xie 2023) conditioned on sigma + motion (the
              motion embedding is zeroed when that condition is dropped): self-attention over the frame's
              tokens, cross-attention to the reference tokens (so texture is copied, not averaged), MLP
    decoder   pixel-shuffle x2 three times back to S with skips from the stem at S/4, S/2 and S, and a last
              zero-initialised 3x3 conv: an untrained model returns x0 = 0, i.e. exactly the instant render,
              and training can only be judged against it.

Predicting x0 rather than the velocity suits pixel space (Li & He 2025, "Back to Basics: Let Denoising
Generative Models Denoise"); the loss is still the flow-matching velocity loss, with v = (x_t - x0) / sigma
(engine/train/generator.py). No VAE: nothing pretrained can be had here, and pixels need none.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.layers import Attention, Mlp, TimestepEmbedder, modulate, sincos_2d
from engine.models.motion_encoder import FLAT_DIM

WARP_DIT_VERSION = 3  # 3: the aligned input is the background plate (2: the photo itself)
PLACEMENT_DIM = 3  # dx, dy, zoom of the frame relative to the reference
MOTION_DIM = FLAT_DIM + PLACEMENT_DIM
MOTION_Z_LIMIT = 8.0  # standardised token channels are clipped here (an extreme edited curve stays bounded)
SIGMA_SCALE = 1000.0  # sigma in [0, 1] -> the timestep embedder's 0..1000 range (as the schedulers count)
UNSHUFFLE = 4  # the stem folds 4x4 pixels into channels (and the decoder unfolds them)
STEM_STRIDE = 2 * UNSHUFFLE  # pixels per token side: space-to-depth, then 2x2 patches
MAX_RESIDUAL_GAIN = 2.0  # a calibration beyond this would be a different model, not a calibrated one
# The preview's residual gate: one gain per kind of pixel of the instant render (engine/render/dit_warp.residual_gate)
GATE_REGIONS = ("background", "hole", "person", "outline", "drawn")


@dataclass(frozen=True)
class WarpDiTConfig:
    """Sizes of the warp-guided generator. `size` is the square crop the model sees, in pixels."""

    name: str = "tiny"
    size: int = 32
    width: int = 16  # channels of the stem and decoder features at S/4
    hidden: int = 32
    depth: int = 1
    heads: int = 2
    mlp_ratio: float = 2.0
    motion_dim: int = MOTION_DIM
    # Calibration, not size: the preview's sampled residual is scaled by this before it is pasted on the instant
    # render (the full render pastes its guided sample whole, engine/render/dit_renderer.FULL_RESIDUAL_GAIN).
    # Set at export from the held-out pairs (engine/train/generator.calibrate_gain): on people and rooms it never
    # saw, the model's correction is a hedge (it half-erases the warp's person towards the background plate
    # where it is unsure), which the full residual over-applies: pixel error falls, structure (SSIM) is lost.
    residual_gain: float = 1.0
    # Calibration too (stop 16): one gain per GATE_REGIONS, replacing residual_gain in the preview when set. The
    # residual is applied where the instant render invents or risks pixels (the plate where the person left, the
    # outline, the drawn hands) and held back where its photo pixels are right. Empty: residual_gain everywhere.
    residual_gate: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for n in ("size", "width", "hidden", "depth", "heads", "motion_dim"):
            v = getattr(self, n)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"WarpDiTConfig.{n}: must be a positive integer, got {v!r}")
        if not 0 < self.residual_gain <= MAX_RESIDUAL_GAIN:
            raise ValueError(f"WarpDiTConfig.residual_gain: must lie in (0, {MAX_RESIDUAL_GAIN}], "
                             f"got {self.residual_gain!r}")
        gate = tuple(self.residual_gate)
        if gate and (len(gate) != len(GATE_REGIONS) or not all(0 <= float(g) <= MAX_RESIDUAL_GAIN for g in gate)):
            raise ValueError(f"WarpDiTConfig.residual_gate: {len(GATE_REGIONS)} gains in [0, {MAX_RESIDUAL_GAIN}] "
                             f"(one per {', '.join(GATE_REGIONS)}) or none, got {self.residual_gate!r}")
        object.__setattr__(self, "residual_gate", tuple(float(g) for g in gate))
        if self.size % STEM_STRIDE:
            raise ValueError(f"WarpDiTConfig.size: must be a multiple of {STEM_STRIDE}, got {self.size}")
        if self.hidden % self.heads or self.hidden % 4:
            raise ValueError(f"WarpDiTConfig.hidden: {self.hidden} must divide by heads ({self.heads}) and by 4")
        if self.mlp_ratio <= 0:
            raise ValueError(f"WarpDiTConfig.mlp_ratio: must be > 0, got {self.mlp_ratio}")

    @property
    def grid(self) -> int:
        return self.size // STEM_STRIDE

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": WARP_DIT_VERSION, "architecture": "warp_dit", **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WarpDiTConfig":
        data = dict(data)
        version = data.pop("format_version", None)
        if version != WARP_DIT_VERSION:
            raise ValueError(f"WarpDiTConfig.format_version: {version} is not supported (this engine reads "
                             f"{WARP_DIT_VERSION})")
        if data.pop("architecture", "warp_dit") != "warp_dit":
            raise ValueError("WarpDiTConfig.architecture: not a warp_dit config")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"WarpDiTConfig.{unknown[0]}: unknown field")
        if isinstance(data.get("residual_gate"), list):
            data["residual_gate"] = tuple(data["residual_gate"])
        return cls(**data)


PRESETS: dict[str, Callable[[], WarpDiTConfig]] = {
    "tiny": lambda: WarpDiTConfig(),  # tests: seconds on CPU
    # the shipped model: 128 px crops; ~0.3 s per training step at batch 8 on one CPU thread
    "small": lambda: WarpDiTConfig(name="small", size=128, width=64, hidden=128, depth=4, heads=4),
    # the GPU recipe: 256 px crops, (256/8)^2 = 1024 tokens per frame and per reference
    "base": lambda: WarpDiTConfig(name="base", size=256, width=256, hidden=512, depth=12, heads=8),
}


def warp_preset(name: str) -> WarpDiTConfig:
    if name not in PRESETS:
        raise ValueError(f"preset: unknown name {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()


# --- pieces ----------------------------------------------------------------------------------------------

class Stem(nn.Module):
    """Image(s) -> features at S/4 (space-to-depth, then convs: every pixel is seen, nothing runs at S) and
    tokens at S/8."""

    def __init__(self, cin: int, width: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Conv2d(cin * UNSHUFFLE ** 2, width, 1)
        self.conv = nn.Conv2d(width, width, 3, 1, 1)
        self.patch = nn.Conv2d(width, hidden, 2, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = F.pixel_unshuffle(x, UNSHUFFLE)  # (B, cin*16, S/4, S/4)
        f = self.conv(F.silu(self.embed(f)))  # (B, width, S/4, S/4)
        tok = self.patch(F.silu(f)).flatten(2).transpose(1, 2)  # (B, (S/8)^2, hidden)
        return f, tok


class Block(nn.Module):
    """adaLN-Zero: self-attention, cross-attention to the reference, MLP; each gated from zero."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.cross = Attention(dim, heads)
        self.norm_ctx = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = Mlp(dim, mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 9 * dim))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, ref: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        s1, b1, g1, s2, b2, g2, s3, b3, g3 = self.ada(c)[:, None].chunk(9, dim=-1)  # each (B, 1, D)
        x = x + g1 * self.attn(modulate(self.norm1(x), b1, s1))
        x = x + g2 * self.cross(modulate(self.norm2(x), b2, s2), self.norm_ctx(ref))
        return x + g3 * self.mlp(modulate(self.norm3(x), b3, s3))


# --- the model -------------------------------------------------------------------------------------------

class WarpDiT(nn.Module):
    def __init__(self, config: WarpDiTConfig) -> None:
        super().__init__()
        self.config = c = config
        self.stem = Stem(9, c.width, c.hidden)  # noised residual + warp + aligned photo
        self.ref_stem = Stem(3, c.width, c.hidden)
        self.null_ref = nn.Parameter(torch.zeros(1, c.grid ** 2, c.hidden))
        self.register_buffer("pos", sincos_2d(c.grid, c.grid, c.hidden)[None], persistent=False)
        self.t_embed = TimestepEmbedder(c.hidden)
        # Token channels mix units (degrees, ratios, torso lengths): standardised with the training data's
        # mean and spread (set by the trainer, saved with the weights).
        self.register_buffer("motion_mean", torch.zeros(c.motion_dim))
        self.register_buffer("motion_std", torch.ones(c.motion_dim))
        self.m_embed = nn.Sequential(nn.Linear(c.motion_dim, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.hidden))
        self.blocks = nn.ModuleList(Block(c.hidden, c.heads, c.mlp_ratio) for _ in range(c.depth))
        self.norm_out = nn.LayerNorm(c.hidden)
        self.expand = nn.Conv2d(c.hidden, c.width * 4, 1)  # S/8 -> S/4 by pixel shuffle
        self.fuse = nn.Conv2d(2 * c.width, c.width, 3, 1, 1)  # [decoded, stem skip]
        self.out = nn.Conv2d(c.width, 3 * UNSHUFFLE ** 2, 3, 1, 1)  # -> S by pixel shuffle
        nn.init.zeros_(self.out.weight)  # x0 = 0 at init: the frame is the instant render
        nn.init.zeros_(self.out.bias)

    def forward(self, x_t: torch.Tensor, sigma: torch.Tensor, warp: torch.Tensor, aligned: torch.Tensor,
                reference: torch.Tensor, motion: torch.Tensor, ref_keep: torch.Tensor | None = None,
                motion_keep: torch.Tensor | None = None) -> torch.Tensor:
        """-> x0 (B, 3, S, S). ref_keep / motion_keep: (B,) bool; False drops that condition (a dropped
        reference drops both its tokens and the aligned crop, which is zeroed)."""
        b, g = x_t.shape[0], self.config.grid
        if ref_keep is not None:
            aligned = aligned * ref_keep[:, None, None, None].to(aligned.dtype)
        skip, x = self.stem(torch.cat([x_t, warp, aligned], dim=1))  # skip (B, W, S/4, S/4), x (B, N, D)
        x = x + self.pos
        _, ref = self.ref_stem(reference)  # (B, N, D)
        ref = ref + self.pos
        if ref_keep is not None:
            ref = torch.where(ref_keep[:, None, None], ref, self.null_ref.expand(b, -1, -1).to(ref.dtype))
        z = ((motion - self.motion_mean) / self.motion_std).clamp(-MOTION_Z_LIMIT, MOTION_Z_LIMIT)
        m = self.m_embed(z)  # (B, D)
        if motion_keep is not None:
            m = m * motion_keep[:, None].to(m.dtype)
        c = self.t_embed(sigma * SIGMA_SCALE) + m  # (B, D)
        for block in self.blocks:
            x = block(x, ref, c)
        x = self.norm_out(x).transpose(1, 2).reshape(b, -1, g, g)  # (B, D, S/8, S/8)
        x = F.pixel_shuffle(self.expand(x), 2)  # (B, W, S/4, S/4)
        x = F.silu(self.fuse(torch.cat([F.silu(x), skip], dim=1)))  # (B, W, S/4, S/4)
        return F.pixel_shuffle(self.out(x), UNSHUFFLE)  # (B, 3, S, S)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
