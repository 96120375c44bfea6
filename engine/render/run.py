"""The `render` job: photo + driving video (or token file) -> MP4, streaming frame by frame."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine.errors import UserFacingError
from engine.jobs import CancelToken, Job, Progress
from engine.render.base import Renderer, check_size
from engine.tokens.clipfile import TrackedClip
from engine.tokens.reference import Reference
from engine.track.config import TrackerConfig


def make_renderer(kind: str = "instant", *, steps: int | None = None, checkpoint: str | None = None) -> Renderer:
    """A renderer by name (engine.render.registry holds the table)."""
    from engine.render import registry

    return registry.make(kind, steps=steps, checkpoint=checkpoint)


def load_driving(path: str | Path, cancel: CancelToken | None = None, use_cache: bool = True
                 ) -> Job[TrackedClip]:
    """Kept for older callers: loading the motion belongs to the tracking side (engine.analyze)."""
    from engine.analyze import load_driving as load

    return (yield from load(path, cancel, use_cache))


def render_to_file(ref: str | Path | Reference, drive: str | Path, output: str | Path, *, size=None,
                   side_by_side: bool = False, renderer: str | Renderer = "instant", steps: int | None = None,
                   checkpoint: str | None = None, frame_range: tuple[int, int] | None = None,
                   audio: bool = True, use_cache: bool = True, cancel: CancelToken | None = None,
                   tracker: TrackerConfig | None = None, framing: str = "follow") -> Job:
    """Stages: 1 analyse the photo, 2 track (or load) the motion (`tracker`: settings for a driving video,
    for example which person to follow), 3 the export pipeline (`framing`: engine.render.framing's follow,
    keep_in_frame or fixed) (render and encode frame by frame,
    engine.render.export, the same job the studio's export runs)."""
    from engine.analyze import load_driving, load_reference, reference_warnings
    from engine.io.output import check_output_path
    from engine.render.export import ExportRequest, audio_in_point, export_video

    check_size(size)
    output = check_output_path(output, (".mp4",), "the video")
    yield Progress(0, None, "Analysing the reference photo")
    reference = ref if isinstance(ref, Reference) else load_reference(ref)
    clip = yield from load_driving(drive, cancel, use_cache, tracker or TrackerConfig())
    warnings = tuple(reference_warnings(reference)) + tuple(clip.warnings)
    rnd = make_renderer(renderer, steps=steps, checkpoint=checkpoint) if isinstance(renderer, str) else renderer
    start, stop = frame_range if frame_range else (0, len(clip))
    if not 0 <= start < stop <= len(clip):
        raise UserFacingError(f"frame range {start}-{stop} is outside the clip (0-{len(clip)})")
    is_video = Path(drive).suffix.lower() != ".npz"
    if side_by_side and not is_video:
        raise UserFacingError("side by side needs the driving video, not a token file")
    req = ExportRequest(reference=reference, tokens=clip.tokens, out_path=Path(output), fps=clip.fps,
                        start=start, stop=stop - 1, audio_start_s=audio_in_point(clip.times, start), long_side=size,
                        side_by_side=side_by_side, driving_path=Path(drive) if is_video else None,
                        audio=audio and is_video, framing=framing)
    result = yield from export_video(req, rnd, cancel)
    return replace(result, warnings=warnings)
