"""Tracked landmarks, per frame and stacked per clip, in source pixels of the display-oriented frame.

Coordinates: x right, y down (pixels); z is MediaPipe's relative depth scaled to pixels like x
(smaller = nearer the camera), hip-centred for the body, wrist-centred for hands, head-centred for the face.
Missing points are NaN and their confidence is 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.vocabulary import N_BODY, N_FACE, N_HAND

GROUPS = ("body", "face", "left_hand", "right_hand")


def _nan(*shape: int) -> np.ndarray:
    return np.full(shape, np.nan, dtype=np.float32)


@dataclass
class FrameLandmarks:
    """One frame (or one photo). Each group: points (N, 3) px and a per-point confidence (N,)."""

    width: int
    height: int
    body: np.ndarray = field(default_factory=lambda: _nan(N_BODY, 3))
    body_conf: np.ndarray = field(default_factory=lambda: np.zeros(N_BODY, np.float32))
    body_world: np.ndarray = field(default_factory=lambda: _nan(N_BODY, 3))  # metres, hip-centred
    face: np.ndarray = field(default_factory=lambda: _nan(N_FACE, 3))
    face_conf: np.ndarray = field(default_factory=lambda: np.zeros(N_FACE, np.float32))
    left_hand: np.ndarray = field(default_factory=lambda: _nan(N_HAND, 3))
    left_hand_conf: np.ndarray = field(default_factory=lambda: np.zeros(N_HAND, np.float32))
    right_hand: np.ndarray = field(default_factory=lambda: _nan(N_HAND, 3))
    right_hand_conf: np.ndarray = field(default_factory=lambda: np.zeros(N_HAND, np.float32))
    people_found: int = 0  # how many people the detector saw (the largest is tracked)
    # The person mask (float32 0..1) from the tracking pass over a still photo, in the tracked image's pixels
    # (the photo, or its downscaled copy); None unless asked for. Not saved: a renderer's matte reuses it.
    segmentation: np.ndarray | None = field(default=None, repr=False, compare=False)

    def has(self, group: str) -> bool:
        return bool(np.isfinite(getattr(self, group)[:, :2]).all())

    def points(self, group: str) -> np.ndarray:
        return getattr(self, group)

    def conf(self, group: str) -> np.ndarray:
        return getattr(self, f"{group}_conf")

    def rescaled(self, width: int, height: int) -> "FrameLandmarks":
        """The same landmarks in an image of another size (z follows x, as MediaPipe scales it)."""
        if (width, height) == (self.width, self.height) or self.width <= 0 or self.height <= 0:
            return self
        sx, sy = width / self.width, height / self.height
        out = self.copy()
        out.width, out.height = width, height
        for g in GROUPS:
            p = getattr(out, g)
            p[:, 0] *= sx
            p[:, 1] *= sy
            p[:, 2] *= sx
        return out

    def copy(self) -> "FrameLandmarks":
        return FrameLandmarks(
            width=self.width, height=self.height,
            **{k: getattr(self, k).copy() for k in (
                "body", "body_conf", "body_world", "face", "face_conf",
                "left_hand", "left_hand_conf", "right_hand", "right_hand_conf")},
            people_found=self.people_found, segmentation=self.segmentation,
        )


@dataclass
class ClipLandmarks:
    """A clip's landmarks stacked over time: arrays (T, N, 3) and confidences (T, N)."""

    width: int
    height: int
    body: np.ndarray
    body_conf: np.ndarray
    body_world: np.ndarray
    face: np.ndarray
    face_conf: np.ndarray
    left_hand: np.ndarray
    left_hand_conf: np.ndarray
    right_hand: np.ndarray
    right_hand_conf: np.ndarray

    ARRAYS = ("body", "body_conf", "body_world", "face", "face_conf",
              "left_hand", "left_hand_conf", "right_hand", "right_hand_conf")

    def __len__(self) -> int:
        return int(self.body.shape[0])

    @classmethod
    def stack(cls, frames: list[FrameLandmarks]) -> "ClipLandmarks":
        if not frames:
            raise ValueError("ClipLandmarks.stack: no frames")
        f0 = frames[0]
        return cls(width=f0.width, height=f0.height,
                   **{k: np.stack([getattr(f, k) for f in frames]).astype(np.float32) for k in cls.ARRAYS})

    def frame(self, t: int) -> FrameLandmarks:
        return FrameLandmarks(width=self.width, height=self.height,
                              **{k: getattr(self, k)[t].copy() for k in self.ARRAYS})

    def present(self, group: str) -> np.ndarray:
        """(T,) bool: the group was tracked (or gap-filled) in that frame."""
        return np.isfinite(getattr(self, group)[:, :, :2]).all(axis=(1, 2))
