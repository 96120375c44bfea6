"""Helpers for engine tests: track a clip once per session, write derived test videos."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.analyze import track_clip
from engine.jobs import drain
from engine.tokens.clipfile import TrackedClip


@lru_cache(maxsize=None)
def tracked(path: str) -> TrackedClip:
    return drain(track_clip(path))


def write_video(path: Path, frames, fps: float = 25.0) -> Path:
    from engine.io.encode import Mp4Writer

    with Mp4Writer(path, fps) as w:
        for f in frames:
            w.write(np.ascontiguousarray(f))
    return path


def frames_of(path: Path, limit: int | None = None):
    from engine.io.video import iter_frames

    for f in iter_frames(path):
        if limit is not None and f.index >= limit:
            break
        yield f.rgb
