"""Checkpoints: weights in safetensors, the model config as JSON (inside the file's metadata, and beside it
as <name>.json for people), checked on load.

Two architectures: the warp-guided generator (engine/models/warp_dit.py; the model that ships, under
assets/generator/) and the paper's UniMotion DiT (engine/models/unimotion.py; no trained weights).
`load_generator` reads either, by the file's "format" metadata.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.errors import UserFacingError
from engine.models.config import UniMotionConfig, config_diff
from engine.models.unimotion import UniMotion

CHECKPOINT_FORMAT = "unimotion"
CHECKPOINT_VERSION = 1
WARP_FORMAT = "unimotion-warp-dit"  # the warp-guided generator; its version is WARP_DIT_VERSION
MAX_LISTED = 5  # how many mismatches an error message lists


class CheckpointError(UserFacingError):
    """A checkpoint that is missing, unreadable, or does not fit the expected model."""


def config_sidecar(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_checkpoint(path: str | Path, model: UniMotion, extra: dict[str, str] | None = None) -> Path:
    """Write model weights + config. Returns the .safetensors path (the suffix is added if missing)."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    text = model.config.to_json()
    meta = {"format": CHECKPOINT_FORMAT, "format_version": str(CHECKPOINT_VERSION), "config": text}
    save_file(state, str(path), metadata={**(extra or {}), **meta})
    config_sidecar(path).write_text(text + "\n")
    return path


def read_checkpoint_config(path: str | Path) -> UniMotionConfig:
    """The config stored in a checkpoint (cross-checked against its .json sidecar when one exists)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No DiT checkpoint at {path}.")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for a truncated or foreign file
        raise CheckpointError(f"{path.name} is not a readable safetensors checkpoint ({exc})") from exc
    if meta.get("format") != CHECKPOINT_FORMAT or "config" not in meta:
        raise CheckpointError(f"{path.name} is not a UniMotion checkpoint (no config in its metadata)")
    if int(meta.get("format_version", -1)) != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path.name}: checkpoint format_version {meta.get('format_version')} is not "
                              f"supported (this engine reads {CHECKPOINT_VERSION})")
    try:
        config = UniMotionConfig.from_json(meta["config"])
    except ValueError as exc:
        raise CheckpointError(f"{path.name}: invalid config: {exc}") from exc
    sidecar = config_sidecar(path)
    if sidecar.is_file():
        try:
            side = UniMotionConfig.from_json(sidecar.read_text())
        except (ValueError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{sidecar.name}: invalid config: {exc}") from exc
        diffs = config_diff(config, side)
        if diffs:
            raise CheckpointError(f"{sidecar.name} does not match the config inside {path.name}: "
                                  + "; ".join(diffs[:MAX_LISTED]))
    return config


def load_checkpoint(path: str | Path, expected: UniMotionConfig | None = None, *,
                    device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> UniMotion:
    """Build the model from the checkpoint's config and load its weights.

    expected: when given, the checkpoint's config must match it (preset name and training knobs aside);
    otherwise CheckpointError lists the differing fields. Weights that do not fit the config (missing,
    unexpected or wrongly shaped tensors) also raise CheckpointError."""
    config = read_checkpoint_config(path)
    if expected is not None:
        diffs = config_diff(expected, config)
        if diffs:
            raise CheckpointError(f"{Path(path).name} was saved with a different model config "
                                  f"(expected != checkpoint): " + "; ".join(diffs[:MAX_LISTED]))
    return _load_weights(UniMotion(config), path, device, dtype)


CHECKPOINT_ENV = "UNIMOTION_CHECKPOINT"
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "assets" / "generator"


def checkpoint_dirs() -> list[Path]:
    """Where generator checkpoints are looked for, in order: the user's cache, then the project's assets
    (the shipped model)."""
    from engine.cache import cache_dir

    root = Path(__file__).resolve().parents[2] / "assets"
    return [cache_dir() / "checkpoints", SHIPPED_DIR, root / "checkpoints"]


def find_checkpoint() -> str | None:
    """The generator checkpoint to use: $UNIMOTION_CHECKPOINT if set, else the newest *.safetensors in the
    first of checkpoint_dirs() that has one (the shipped assets/generator model in a fresh checkout)."""
    import os

    env = os.environ.get(CHECKPOINT_ENV)
    if env:
        return env if Path(env).is_file() else None
    for d in checkpoint_dirs():
        found = sorted(d.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True) if d.is_dir() else []
        if found:
            return str(found[0])
    return None


# --- the warp-guided generator -------------------------------------------------------------------------

def save_generator(path: str | Path, model, extra: dict[str, str] | None = None) -> Path:
    """A WarpDiT's weights + config (metadata and .json sidecar), written to a temporary file and renamed."""
    import os

    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").float().contiguous() for k, v in model.state_dict().items()}
    text = model.config.to_json()
    meta = {**(extra or {}), "format": WARP_FORMAT, "config": text}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    config_sidecar(path).write_text(text + "\n")
    return path


def checkpoint_format(path: str | Path) -> tuple[str, dict[str, str]]:
    """(format, metadata) of a generator file; CheckpointError when it is missing or not one."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No generator checkpoint at {path}.")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for a truncated or foreign file
        raise CheckpointError(f"{path.name} is not a readable safetensors checkpoint ({exc})") from exc
    fmt = meta.get("format")
    if fmt not in (CHECKPOINT_FORMAT, WARP_FORMAT) or "config" not in meta:
        raise CheckpointError(f"{path.name} is not a UniMotion generator checkpoint (no config in its metadata)")
    return fmt, meta


def load_generator(path: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
    """Either architecture, by the file's format: a WarpDiT or a UniMotion, in eval mode."""
    from engine.models.warp_dit import WarpDiT, WarpDiTConfig

    fmt, meta = checkpoint_format(path)
    if fmt == CHECKPOINT_FORMAT:
        return load_checkpoint(path, device=device, dtype=dtype)
    name = Path(path).name
    try:
        config = WarpDiTConfig.from_dict(json.loads(meta["config"]))
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{name}: {exc}") from exc
    return _load_weights(WarpDiT(config), path, device, dtype)


def _load_weights(model, path: str | Path, device, dtype):
    """`model` with the weights in `path`, or a CheckpointError listing what does not fit its config."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = model.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [f"{k}: shape {tuple(state[k].shape)} != {tuple(v.shape)}"
                 for k, v in own.items() if k in state and state[k].shape != v.shape]
    if problems:
        raise CheckpointError(f"{Path(path).name}: weights do not fit its config ({len(problems)} problems): "
                              + "; ".join(problems[:MAX_LISTED]))
    model.load_state_dict(state)
    return model.to(device=device, dtype=dtype).eval()
