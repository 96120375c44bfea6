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


def posed_coverage(renderer, ref, target) -> np.ndarray:
    """The instant renderer's posed person as a mask: its opaque pixels (the output is the photo's size, so work
    px = output px here)."""
    import cv2

    from engine.render.instant.raster import affine_table, backward_map, rasterise_ids

    an = renderer.analysis(ref)
    assert an.work_size == ref.size
    fr = an.deform(target)
    ids, box = rasterise_ids(fr.dst, fr.order, ref.size)
    mx, my = backward_map(ids, box, affine_table(fr.dst, fr.src))
    a = np.zeros(ref.size[::-1], np.uint8)
    a[box[1]:box[3], box[0]:box[2]] = cv2.remap(np.ascontiguousarray(an.atlas[..., 3]), mx, my, cv2.INTER_LINEAR)
    return a > 127
