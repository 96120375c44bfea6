"""The interface every renderer implements: stream(reference, tokens, frame indices) -> a job of frames.

A renderer is used per frame (scrubbing in the studio) and as a stream (export). `stream` is the job form: it
yields `Progress` (with previews, for renderers that work in steps, like the DiT) and `RenderedFrame`s in
order, one at a time, so an export writes each frame as it comes and never holds the clip. `render` is the
frames alone. A renderer implements one of the two; each has a default in terms of the other. Expensive
per-photo analysis happens once and is cached by the renderer, keyed by the reference's content hash.
"""
from __future__ import annotations

from abc import ABC
from dataclasses import dataclass
from typing import Iterator, Sequence, Union

import numpy as np

from engine.errors import UserFacingError
from engine.jobs import CancelToken, Progress
from engine.tokens.reference import Reference  # noqa: F401  (re-exported: every renderer takes one)
from engine.tokens.schema import MotionTokens


@dataclass(frozen=True)
class RenderedFrame:
    index: int
    rgb: np.ndarray  # (H, W, 3) uint8


RenderEvent = Union[Progress, RenderedFrame]


class Renderer(ABC):
    """Turns motion tokens into frames of the reference person. Subclasses implement `stream` or `render`."""

    name: str = "renderer"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.stream is Renderer.stream and cls.render is Renderer.render:
            raise TypeError(f"{cls.__name__} must implement Renderer.stream or Renderer.render")

    def stream(
        self,
        reference: Reference,
        motion: MotionTokens,
        indices: Sequence[int],
        *,
        size: tuple[int, int] | None = None,  # (width, height) of the output; None = the reference's size
        cancel: CancelToken | None = None,
    ) -> Iterator[RenderEvent]:
        """The render as a job: one RenderedFrame per index, in order, with any Progress (and previews) between
        them; checks `cancel` between steps. Frames are handed on as they are made, never collected."""
        yield from self.render(reference, motion, indices, size=size, cancel=cancel)

    def render(
        self,
        reference: Reference,
        motion: MotionTokens,
        indices: Sequence[int],
        *,
        size: tuple[int, int] | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[RenderedFrame]:
        """Yield one RenderedFrame per index, in order, checking `cancel` between frames."""
        events = self.stream(reference, motion, indices, size=size, cancel=cancel)
        try:
            for ev in events:
                if isinstance(ev, RenderedFrame):
                    yield ev
        finally:
            close = getattr(events, "close", None)  # a generator: stop it now, not at garbage collection
            if close is not None:
                close()

    def render_frame(self, reference: Reference, motion: MotionTokens, index: int,
                     size: tuple[int, int] | None = None) -> np.ndarray:
        for fr in self.render(reference, motion, [index], size=size):
            return fr.rgb
        raise RuntimeError("renderer yielded no frame")


# The output's long side (px): below 16 nothing is recognisable; above 4096 one frame alone is ~50 MB and
# the encoder crawls (a mistyped 100000 would ask for 28 GiB). The studio's RenderSettings use the same range.
LONG_SIDE_RANGE = (16, 4096)


def check_size(size: tuple[int, int] | int | None, flag: str = "--size") -> None:
    """UserFacingError unless `size` (a long side, a (w, h) pair, or None) is inside LONG_SIDE_RANGE."""
    if size is None:
        return
    lo, hi = LONG_SIDE_RANGE
    sides = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if not all(isinstance(s, (int, np.integer)) and lo <= s <= hi for s in sides):
        raise UserFacingError(f"{flag} must be between {lo} and {hi} pixels, got {size}")


def output_size(reference: Reference, size: tuple[int, int] | int | None) -> tuple[int, int]:
    """Resolve a requested size: None keeps the reference size; an int is the long side, aspect kept;
    a (w, h) pair is used as is (the renderer letterboxes). Sizes are rounded to even numbers for H.264."""
    w, h = reference.size
    if size is None:
        out = (w, h)
    elif isinstance(size, int):
        s = size / max(w, h)
        out = (w * s, h * s)
    else:
        out = size
    return (max(2, int(round(out[0] / 2)) * 2), max(2, int(round(out[1] / 2)) * 2))
