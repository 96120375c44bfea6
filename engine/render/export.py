"""The one export pipeline: an immutable request in, an MP4 out, frame by frame.

Both `unimotion render` (engine.render.run.render_to_file) and the studio's export (engine.project.export
captures the request from the document) run `export_video`: the renderer's job is streamed into the encoder
one frame at a time (optionally beside the matching driving frame, decoded in step), the renderer's own
progress and previews are passed on, and the driving clip's audio is cut at the first frame's timestamp.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from engine.io.encode import ExportResult, Mp4Writer
from engine.jobs import CancelToken, Job, Progress
from engine.render.base import RenderedFrame, Renderer, output_size
from engine.tokens.reference import Reference
from engine.tokens.schema import MotionTokens


def audio_in_point(times: Sequence[float] | np.ndarray, start: int) -> float:
    """Where the audio for frame `start` begins, in the driving file's own clock.

    Frame times are the container's presentation timestamps, and the audio copy seeks in the same clock, so
    the in-point is the frame's timestamp as is: a clip whose first frame is stamped 1.0 s has its matching
    audio at 1.0 s, not at 0 (subtracting the first timestamp put the sound that late)."""
    if len(times) == 0:
        return 0.0
    return max(0.0, float(times[start]))


@dataclass(frozen=True)
class ExportRequest:
    reference: Reference
    tokens: MotionTokens  # edited tokens; never mutated after capture
    out_path: Path
    fps: float
    start: int  # first frame (inclusive)
    stop: int  # last frame (inclusive)
    audio_start_s: float  # time of `start` in the driving file's clock: audio_in_point(clip.times, start)
    long_side: int | tuple[int, int] | None = None  # None: the reference's size; (w, h): letterboxed
    side_by_side: bool = False
    driving_path: Path | None = None  # for side by side and audio
    audio: bool = False
    framing: str = "follow"  # engine.render.framing.Framing value: follow, keep_in_frame or fixed

    def __post_init__(self) -> None:
        from engine.render.framing import parse

        try:
            object.__setattr__(self, "framing", parse(self.framing).value)
        except ValueError as exc:
            raise ValueError(f"ExportRequest.{exc}") from None
        if not 0 <= self.start <= self.stop < len(self.tokens):
            raise ValueError(f"ExportRequest.start/stop: {self.start}..{self.stop} outside 0..{len(self.tokens) - 1}")
        if self.side_by_side and self.driving_path is None:
            raise ValueError("ExportRequest.driving_path: side by side needs the driving video")

    @property
    def frame_count(self) -> int:
        return self.stop - self.start + 1


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
    """Render frames start..stop and encode each as it comes (optionally beside the driver, with its audio).

    Yields Progress after every encoded frame, and the renderer's own Progress (DiT denoising steps, with a
    preview frame) in between, counted against the frames written so far."""
    from engine.io.compose import side_by_side

    size = output_size(req.reference, req.long_side)
    total = req.frame_count
    name = req.out_path.name
    audio_from = req.driving_path if req.audio and req.driving_path is not None else None
    from engine.render.framing import apply_framing

    frames = range(req.start, req.stop + 1)
    tokens = apply_framing(req.tokens, req.reference, req.framing, frames)  # where the person stands
    events = renderer.stream(req.reference, tokens, frames, size=size, cancel=cancel)
    drivers = _driver_frames(req.driving_path, req.start) if req.side_by_side else None
    try:
        # The writer keeps any existing file until the new one is complete; an exception (Cancelled, or
        # GeneratorExit when the caller drops the job) removes its temp file.
        with Mp4Writer(req.out_path, req.fps, audio_from=audio_from, audio_start_s=req.audio_start_s) as writer:
            for ev in events:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if not isinstance(ev, RenderedFrame):
                    yield Progress(writer.frames_written, total, ev.message, ev.preview)
                    continue
                rgb = ev.rgb if drivers is None else side_by_side(next(drivers), ev.rgb, ev.rgb.shape[0])
                writer.write(rgb)
                n = writer.frames_written
                yield Progress(n, total, f"Exporting {name}: frame {n}/{total}")
            if cancel is not None:
                cancel.raise_if_cancelled()
            # The trailer and the faststart rewrite can take a moment on long videos: say so.
            yield Progress(writer.frames_written, total, f"Finishing {name}")
    finally:
        if drivers is not None:
            drivers.close()
        close = getattr(events, "close", None)  # a generator: stop it now, not at garbage collection
        if close is not None:
            close()
    return ExportResult(path=req.out_path, frames=writer.frames_written, duration_s=writer.duration_s,
                        has_audio=writer.has_audio)
