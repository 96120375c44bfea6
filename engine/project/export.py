"""Export a project to MP4: an immutable request captured from the document, then a job (no Qt).

The studio captures an `ExportRequest` on the GUI thread (snapshot in), runs `export_video` on a worker, and
gets an `ExportResult` back (result out). The renderer is passed in so the caller decides which one (and gives
the export its own instance: renderers cache per-photo analysis and are not shared across threads).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.errors import UserFacingError
from engine.io.encode import ExportResult, export_frames
from engine.jobs import CancelToken, Job
from engine.render.base import Reference, Renderer, output_size
from engine.tokens.schema import MotionTokens


@dataclass(frozen=True)
class ExportRequest:
    reference: Reference
    tokens: MotionTokens  # edited tokens; never mutated after capture
    out_path: Path
    fps: float
    start: int  # first frame (inclusive)
    stop: int  # last frame (inclusive)
    audio_start_s: float  # time of `start` in the driving clip
    long_side: int | None = None  # None: the reference's size
    side_by_side: bool = False
    driving_path: Path | None = None  # for side by side and audio
    audio: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.stop < len(self.tokens):
            raise ValueError(f"ExportRequest.start/stop: {self.start}..{self.stop} outside 0..{len(self.tokens) - 1}")
        if self.side_by_side and self.driving_path is None:
            raise ValueError("ExportRequest.driving_path: side by side needs the driving video")

    @property
    def frame_count(self) -> int:
        return self.stop - self.start + 1


def request_from_project(project, out_path: str | Path, *, start: int | None = None, stop: int | None = None,
                         long_side: int | None | str = "settings", side_by_side: bool | None = None,
                         audio: bool | None = None) -> ExportRequest:
    """Snapshot the document for export; unspecified options come from its render settings and in/out."""
    if project.reference is None:
        raise UserFacingError("Nothing to export: open a reference photo first")
    if project.clip is None:
        raise UserFacingError("Nothing to export: open a driving video first")
    rs = project.render_settings
    a, b = project.in_out
    start = a if start is None else int(start)
    stop = b if stop is None else int(stop)
    sbs = rs.side_by_side if side_by_side is None else bool(side_by_side)
    want_audio = rs.audio if audio is None else bool(audio)
    return ExportRequest(
        reference=project.reference, tokens=project.edited_tokens(), out_path=Path(out_path), fps=project.fps,
        start=start, stop=stop, audio_start_s=max(0.0, float(project.clip.times[start])),
        long_side=rs.long_side if long_side == "settings" else long_side, side_by_side=sbs,
        driving_path=project.driving_path,
        audio=want_audio and project.driving_path is not None and Path(project.driving_path).exists())


def _driver_frames(path: Path, start: int) -> Iterator[np.ndarray]:
    """The driving video's frames from `start` on, streamed (then its last frame, if it runs short)."""
    from engine.io.video import iter_frames

    last = None
    for vf in iter_frames(path):
        if vf.index >= start:
            last = vf.rgb
            yield last
    while last is not None:
        yield last


def export_video(req: ExportRequest, renderer: Renderer, cancel: CancelToken | None = None) -> Job[ExportResult]:
    """Render frames start..stop and encode them (optionally beside the driver, with its audio)."""
    from engine.io.compose import side_by_side

    size = output_size(req.reference, req.long_side)
    rendered = renderer.render(req.reference, req.tokens, range(req.start, req.stop + 1), size=size, cancel=cancel)

    def frames() -> Iterator[np.ndarray]:
        drivers = _driver_frames(req.driving_path, req.start) if req.side_by_side else None
        try:
            for fr in rendered:
                if drivers is None:
                    yield fr.rgb
                else:
                    yield side_by_side(next(drivers), fr.rgb, fr.rgb.shape[0])
        finally:
            if drivers is not None:
                drivers.close()
            close = getattr(rendered, "close", None)  # a generator: stop it now, not at garbage collection
            if close is not None:
                close()

    audio_from = req.driving_path if req.audio and req.driving_path is not None else None
    return (yield from export_frames(frames(), req.out_path, req.fps, req.frame_count, audio_from=audio_from,
                                     audio_start_s=req.audio_start_s, cancel=cancel))
