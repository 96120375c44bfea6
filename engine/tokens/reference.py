"""The person to animate: a photo, the landmarks tracked on it, and the rig read off them.

It belongs with the tokens, not the renderers: retargeting poses its rig, the tracker builds it
(engine.analyze.load_reference), and every renderer, overlay and export takes the same object.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

import numpy as np

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
