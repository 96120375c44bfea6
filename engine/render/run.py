"""The `render` job: photo + driving video (or token file) -> MP4, streaming frame by frame."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from engine.errors import UserFacingError
from engine.jobs import CancelToken, Job, Progress
from engine.render.base import Reference, Renderer
from engine.tokens.clipfile import TrackedClip


def make_renderer(kind: str = "instant", *, steps: int | None = None, checkpoint: str | None = None) -> Renderer:
    """A renderer by name (engine.render.registry holds the table)."""
    from engine.render import registry

    return registry.make(kind, steps=steps, checkpoint=checkpoint)


def load_driving(path: str | Path, cancel: CancelToken | None = None, use_cache: bool = True
                 ) -> Job[TrackedClip]:
    """A token file as is, or a video tracked (through the cache)."""
    from engine.analyze import track_clip
    from engine.tokens.clipfile import load_clip

    if Path(path).suffix.lower() == ".npz":
        clip = load_clip(path)
        yield Progress(1, 1, "Loaded token file")
        return clip
    return (yield from track_clip(path, cancel=cancel, use_cache=use_cache))


def rendered_frames(renderer: Renderer, reference: Reference, clip: TrackedClip, indices: list[int],
                    size, drive_path: str | Path | None, side_by_side: bool,
                    cancel: CancelToken | None) -> Iterator[np.ndarray]:
    """Rendered frames, optionally beside the matching driving frame (decoded in step, not held)."""
    frames = renderer.render(reference, clip.tokens, indices, size=size, cancel=cancel)
    if not side_by_side:
        for fr in frames:
            yield fr.rgb
        return
    from engine.io.compose import side_by_side as compose
    from engine.io.video import iter_frames

    if drive_path is None or Path(drive_path).suffix.lower() == ".npz":
        raise UserFacingError("side by side needs the driving video, not a token file")
    wanted = set(indices)
    drive = (f.rgb for f in iter_frames(drive_path) if f.index in wanted)
    last = None
    for fr in frames:
        last = next(drive, last)
        yield compose(last, fr.rgb, fr.rgb.shape[0]) if last is not None else fr.rgb


def render_to_file(ref: str | Path | Reference, drive: str | Path, output: str | Path, *, size=None,
                   side_by_side: bool = False, renderer: str | Renderer = "instant", steps: int | None = None,
                   checkpoint: str | None = None, frame_range: tuple[int, int] | None = None,
                   audio: bool = True, use_cache: bool = True, cancel: CancelToken | None = None) -> Job:
    """Stages: 1 analyse the photo, 2 track (or load) the motion, 3 render and encode frame by frame."""
    from engine.analyze import load_reference
    from engine.io.encode import export_frames

    yield Progress(0, None, "Analysing the reference photo")
    reference = ref if isinstance(ref, Reference) else load_reference(ref)
    clip = yield from load_driving(drive, cancel, use_cache)
    rnd = make_renderer(renderer, steps=steps, checkpoint=checkpoint) if isinstance(renderer, str) else renderer
    start, stop = frame_range if frame_range else (0, len(clip))
    if not 0 <= start < stop <= len(clip):
        raise UserFacingError(f"frame range {start}-{stop} is outside the clip (0-{len(clip)})")
    indices = list(range(start, stop))
    is_video = Path(drive).suffix.lower() != ".npz"
    frames = rendered_frames(rnd, reference, clip, indices, size, drive, side_by_side, cancel)
    audio_start = float(clip.times[start] - clip.times[0]) if len(clip.times) else 0.0
    return (yield from export_frames(frames, output, clip.fps, len(indices),
                                     audio_from=drive if (audio and is_video) else None,
                                     audio_start_s=audio_start, cancel=cancel))
