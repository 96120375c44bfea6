"""A motion library: token sequences tracked from the training corpus, tokens only (no landmarks, no pixels).

Motion matching searches it; the motion model trains on it. It ships as `engine/assets/motion/library.npz`
(plain arrays + a JSON `meta` entry, never pickle), built by `python -m engine.motion.corpus`.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from engine.errors import MediaError
from engine.motion.features import DIM, N_GROUPS, Sequence, channel_scales, mirror, resample

LIBRARY_FORMAT_VERSION = 1
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "motion"  # engine/assets: the wheel carries it
LIBRARY_PATH = ASSETS / "library.npz"
T = TypeVar("T")
MIN_FPS = 20.0  # below this (a 5 fps clip) velocities are too coarse to learn or match from


def save_npz(path: Path, meta: dict, arrays: dict[str, np.ndarray], compressed: bool = False) -> None:
    """Write an .npz asset (its JSON `meta` beside the arrays) whole or not at all: a temp file in the same
    folder, then renamed."""
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            (np.savez_compressed if compressed else np.savez)(fh, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shipped asset is readable by all
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise



def load_npz(path: Path, what: str, build: str, expect: dict, make: Callable[[dict, Any], T]) -> T:
    """Read an asset written by save_npz: `make(meta, npz)` once its meta has the `expect`ed values; any
    failure is a one-line MediaError naming `what` (and, when the file is missing, the `build` command)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if any(meta.get(k) != v for k, v in expect.items()):
                raise MediaError(f"{path.name}: {what} format does not match this version")
            return make(meta, z)
    except MediaError:
        raise
    except FileNotFoundError:
        raise MediaError(f"{path.name}: {what} not found (build it: {build})") from None
    except (OSError, ValueError, KeyError) as exc:
        raise MediaError(f"{path.name}: not a {what} ({type(exc).__name__})") from None

@dataclass
class MotionLibrary:
    sequences: list[Sequence] = field(default_factory=list)
    _scales: np.ndarray | None = None
    _step_scales: np.ndarray | None = None
    _at_fps: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(s) for s in self.sequences)

    @property
    def scales(self) -> np.ndarray:
        """(DIM,) per-channel spread of the values."""
        if self._scales is None:
            self._scales = channel_scales(self.sequences)
        return self._scales

    def at_fps(self, fps: float, mirrored: bool = True) -> list[Sequence]:
        """The library resampled to `fps` (cached), with mirrored copies when asked."""
        key = (round(float(fps), 3), mirrored)
        if key not in self._at_fps:
            seqs = [resample(s, fps) for s in self.sequences]
            if mirrored:
                seqs = seqs + [mirror(s) for s in seqs]
            self._at_fps[key] = seqs
        return self._at_fps[key]

    def save(self, path: str | Path) -> None:
        path = Path(path)
        meta = {"format_version": LIBRARY_FORMAT_VERSION, "dim": DIM,
                "clips": [{"name": s.name, "fps": s.fps, "frames": len(s)} for s in self.sequences]}
        arrays = {}
        for i, s in enumerate(self.sequences):
            arrays[f"values/{i}"] = s.values.astype(np.float32)
            arrays[f"tracked/{i}"] = s.tracked.astype(np.uint8)
        save_npz(path, meta, arrays, compressed=True)

    @classmethod
    def load(cls, path: str | Path = LIBRARY_PATH) -> "MotionLibrary":
        def make(meta: dict, z) -> "MotionLibrary":
            return cls([Sequence(z[f"values/{i}"].astype(np.float64), z[f"tracked/{i}"].astype(np.float64),
                                 float(c["fps"]), c["name"]) for i, c in enumerate(meta["clips"])])

        return load_npz(Path(path), "motion library", "python -m engine.motion.corpus",
                        {"format_version": LIBRARY_FORMAT_VERSION, "dim": DIM}, make)


_default: MotionLibrary | None = None


def default_library() -> MotionLibrary:
    """The shipped library, loaded once per process."""
    global _default
    if _default is None:
        _default = MotionLibrary.load(LIBRARY_PATH)
    return _default


def usable(seq: Sequence) -> bool:
    return seq.fps >= MIN_FPS and len(seq) >= 2 and seq.tracked.shape[1] == N_GROUPS
