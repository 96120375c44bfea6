"""The interface every renderer implements: render(reference, tokens, frame indices) -> frames.

A renderer is used per frame (scrubbing in the studio) and as a stream (export). Expensive per-photo
analysis happens once and is cached by the renderer, keyed by the reference's content hash.
"""
from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from engine.jobs import CancelToken
from engine.tokens.schema import MotionTokens
from engine.track.types import FrameLandmarks


@dataclass
class Reference:
    """The person to animate: their photo (RGB uint8) and the landmarks tracked on it."""

    rgb: np.ndarray
    landmarks: FrameLandmarks
    name: str = "reference"
    key: str = field(default="")  # content hash; renderers cache per-photo analysis under it
    _rig: object = field(default=None, init=False, repr=False, compare=False)
    _rig_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = hashlib.sha1(np.ascontiguousarray(self.rgb).tobytes()).hexdigest()[:16]

    def rig(self):
        """The person's rig (proportions read off the photo), built once and shared by every renderer and
        overlay that animates this reference."""
        from engine.tokens.rig import Rig

        with self._rig_lock:
            if self._rig is None:
                self._rig = Rig.from_landmarks(self.landmarks)
            return self._rig

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


@dataclass(frozen=True)
class RenderedFrame:
    index: int
    rgb: np.ndarray  # (H, W, 3) uint8


class Renderer(ABC):
    """Turns motion tokens into frames of the reference person."""

    name: str = "renderer"

    @abstractmethod
    def render(
        self,
        reference: Reference,
        motion: MotionTokens,
        indices: Sequence[int],
        *,
        size: tuple[int, int] | None = None,  # (width, height) of the output; None = the reference's size
        cancel: CancelToken | None = None,
    ) -> Iterator[RenderedFrame]:
        """Yield one RenderedFrame per index, in order, checking `cancel` between frames."""

    def render_frame(self, reference: Reference, motion: MotionTokens, index: int,
                     size: tuple[int, int] | None = None) -> np.ndarray:
        for fr in self.render(reference, motion, [index], size=size):
            return fr.rgb
        raise RuntimeError("renderer yielded no frame")


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
