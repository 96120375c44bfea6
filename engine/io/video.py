"""Streaming video decode through PyAV: honours rotation metadata, keeps real timestamps (VFR), any size."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.errors import MediaError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int  # display size, after rotation
    height: int
    fps: float  # average rate; per-frame timestamps are the truth for VFR clips
    frame_count_hint: int | None  # the container's claim, which can lie
    rotation: int  # degrees clockwise applied to decoded pixels to display them
    has_audio: bool
    duration_s: float | None


@dataclass(frozen=True)
class VideoFrame:
    index: int
    time_s: float
    rgb: np.ndarray  # (H, W, 3) uint8, C-contiguous, display orientation


def _open(path: str | Path):
    import av

    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p.name}: no such file")
    if p.is_dir():
        raise MediaError(f"{p.name}: is a folder, not a video")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        raise MediaError(f"{p.name}: this is an image, not a video")
    try:
        container = av.open(str(p))
    except Exception as exc:  # PyAV raises many FFmpeg error types; all mean "not readable media"
        raise MediaError(f"{p.name}: not a readable video (damaged, or not a video format)") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{p.name}: has no video stream")
    return container


def _rotation(stream, first_frame=None) -> int:
    """Display rotation in degrees clockwise, from frame side data or the stream's tags."""
    deg = None
    if first_frame is not None:
        r = getattr(first_frame, "rotation", None)  # PyAV >= 13: counter-clockwise display-matrix angle
        if r:
            deg = -float(r)
    if deg is None:
        tag = stream.metadata.get("rotate") if stream.metadata else None
        if tag:
            deg = float(tag)
    if deg is None:
        return 0
    return int(round(deg / 90.0)) * 90 % 360


def _apply_rotation(rgb: np.ndarray, rotation: int) -> np.ndarray:
    if rotation == 90:
        return np.rot90(rgb, k=-1)
    if rotation == 180:
        return rgb[::-1, ::-1]
    if rotation == 270:
        return np.rot90(rgb, k=1)
    return rgb


def probe(path: str | Path) -> VideoInfo:
    """Read the header and the first frame; raises MediaError for anything that is not a decodable video."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        first = None
        try:
            for first in container.decode(stream):
                break
        except Exception:
            first = None
        if first is None:
            raise MediaError(f"{Path(path).name}: no decodable video frames (empty or truncated file)")
        rot = _rotation(stream, first)
        w, h = first.width, first.height
        if rot in (90, 270):
            w, h = h, w
        rate = stream.average_rate or stream.guessed_rate or 25
        fps = float(rate) if rate else 25.0
        if not math.isfinite(fps) or fps <= 0:
            fps = 25.0
        dur = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        if dur is None and container.duration:
            dur = container.duration / 1_000_000
        return VideoInfo(
            path=str(path),
            width=w,
            height=h,
            fps=fps,
            frame_count_hint=int(stream.frames) if stream.frames else None,
            rotation=rot,
            has_audio=bool(container.streams.audio),
            duration_s=dur,
        )
    finally:
        container.close()


def iter_frames(path: str | Path, max_side: int | None = None) -> Iterator[VideoFrame]:
    """Yield display-oriented RGB frames one at a time, so memory does not grow with clip length.

    A truncated file ends the stream early instead of raising: every frame that decoded is kept.
    `max_side` downscales on decode (for tracking); coordinates are then the caller's to map back.
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rot = None
        index = 0
        tb = float(stream.time_base) if stream.time_base else None
        rate = float(stream.average_rate or 25)
        it = container.decode(stream)
        while True:
            try:
                frame = next(it)
            except StopIteration:
                break
            except Exception:
                if index == 0:
                    raise MediaError(f"{Path(path).name}: no decodable video frames") from None
                break  # truncated tail: keep what decoded
            if rot is None:
                rot = _rotation(stream, frame)
            w, h = frame.width, frame.height
            if max_side and max(w, h) > max_side:
                s = max_side / max(w, h)
                frame = frame.reformat(width=max(2, int(round(w * s / 2)) * 2), height=max(2, int(round(h * s / 2)) * 2))
            rgb = np.ascontiguousarray(_apply_rotation(frame.to_ndarray(format="rgb24"), rot))
            t = float(frame.pts * tb) if (frame.pts is not None and tb) else index / rate
            yield VideoFrame(index=index, time_s=t, rgb=rgb)
            index += 1
        if index == 0:
            raise MediaError(f"{Path(path).name}: no decodable video frames")
    finally:
        container.close()
