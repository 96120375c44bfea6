"""Motion extension on a token file (the CLI's `extend`): a new TrackedClip, longer or with a span rewritten.

Extending lengthens the clip: new frames get the generated tokens (tracked, confidence 1, for the groups that
were in view at the join; the others keep their last value, untracked), placement held from the nearest
real frame, timestamps continued at the clip's rate and no landmarks (there is no video for them). Fill and
loop rewrite frames in place. A warning in the file names the generated frames.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.jobs import CancelToken, Job, Progress
from engine.motion.features import Sequence, from_tokens, to_token_groups
from engine.motion.generate import (ExtendError, GeneratedSpan, GenerateOptions, extend_after, extend_before,
                                    fill, frames_for, make_loop)
from engine.tokens.clipfile import TrackedClip
from engine.tokens.schema import MotionTokens
from engine.track.types import ClipLandmarks


def _pad_landmarks(lm: ClipLandmarks, before: int, after: int) -> ClipLandmarks:
    arrays = {}
    for k in ClipLandmarks.ARRAYS:
        a = getattr(lm, k)
        fillv = 0.0 if k.endswith("_conf") else np.nan
        pad = [(before, after)] + [(0, 0)] * (a.ndim - 1)
        arrays[k] = np.pad(a, pad, constant_values=fillv)
    return ClipLandmarks(width=lm.width, height=lm.height, **arrays)


def _with_span(clip: TrackedClip, seq: Sequence, span: GeneratedSpan, before: int, after: int) -> TrackedClip:
    """`clip` padded by `before`/`after` frames, with `span` (in padded frame numbers) laid over it."""
    values, tracked = seq.values.copy(), seq.tracked.copy()
    values[span.start:span.stop + 1] = span.values
    for i, on in enumerate(span.groups):
        if on:
            tracked[span.start:span.stop + 1, i] = 1.0
    groups = to_token_groups(values, tracked)
    place = clip.tokens.placement
    place = np.concatenate([np.repeat(place[:1], before, axis=0), place, np.repeat(place[-1:], after, axis=0)])
    dt = 1.0 / clip.fps
    times = clip.times.astype(np.float64)
    times = np.concatenate([times[0] - dt * np.arange(before, 0, -1), times, times[-1] + dt * np.arange(1, after + 1)])
    times = times - (times[0] - clip.times[0])  # the new first frame starts where the old one did
    tokens = MotionTokens(**groups, placement=place, body_start=clip.tokens.start_body())  # the same start pose
    note = f"frames {span.start}-{span.stop} generated ({span.label(clip.fps)})"
    return replace(clip, tokens=tokens, landmarks=_pad_landmarks(clip.landmarks, before, after), times=times,
                   warnings=list(clip.warnings) + [note])


def _padded(seq: Sequence, before: int, after: int) -> Sequence:
    v = np.concatenate([np.repeat(seq.values[:1], before, 0), seq.values, np.repeat(seq.values[-1:], after, 0)])
    t = np.concatenate([np.zeros((before, seq.tracked.shape[1])), seq.tracked,
                        np.zeros((after, seq.tracked.shape[1]))])
    return Sequence(v, t, seq.fps, seq.name)


def extend_clip(clip: TrackedClip, *, seconds: float | None = None, before: bool = False,
                fill_range: tuple[int, int] | None = None, loop: bool = False,
                options: GenerateOptions = GenerateOptions(), cancel: CancelToken | None = None) -> Job[TrackedClip]:
    """One of: extend by `seconds` after the end (or before the start), fill frames [a, b], or loop the clip."""
    chosen = sum([seconds is not None, fill_range is not None, loop])
    if chosen != 1:
        raise ExtendError("extend: give exactly one of --seconds, --fill START END, --loop")
    if len(clip) < 2:
        raise ExtendError("extend: the clip has fewer than 2 frames")
    yield Progress(0, 1, "Generating motion")
    seq = from_tokens(clip.tokens, clip.fps, clip.source_name)
    if seconds is not None:
        n = frames_for(seconds, clip.fps)
        if before:
            padded = _padded(seq, n, 0)
            span = extend_before(padded, n - 1, n, options, cancel)
            out = _with_span(clip, padded, span, n, 0)
        else:
            padded = _padded(seq, 0, n)
            span = extend_after(padded, len(seq), n, options, cancel)
            out = _with_span(clip, padded, span, 0, n)
    elif fill_range is not None:
        a, b = fill_range
        span = fill(seq, int(a), int(b), options, cancel)
        out = _with_span(clip, seq, span, 0, 0)
    else:
        span = make_loop(seq, 0, len(seq) - 1, options, cancel)
        out = _with_span(clip, seq, span, 0, 0)
    yield Progress(1, 1, "Generated motion")
    return out

