"""Letterbox bars: the flat black bands a frame grabbed from a video often carries along an edge.

They are part of the picture, not of the scene: a person who moves or grows must pass behind them, as in the
video, never over them, and the plate must not smear them into the scene. Measured on the shared green-screen
clip's first frame (a 27-px bar at 512 px): pasting the bar back over the posed person removes 1.6 of the
2.5 dB by which self-reenactment trailed the frame held still.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAR_LEVEL = 24  # a bar row is at most this bright in every pixel (video black is 0-16, compression adds a little)
# ... and flat: black on average, or nearly one level throughout. A dark shirt on a dark wall along a photo's
# bottom edge is as dark at its brightest (the corpus's grey-haired man in a black shirt: 16-22) but is neither
# (mean 12, spread 2.5 levels); a bar is (the green-screen clip's: mean 0.2).
BAR_MEAN, BAR_SPREAD = 6.0, 1.0
MIN_BAR_PX = 2  # thinner than this is an edge artefact, not a bar
MAX_BAR_FRACTION = 0.25  # a dark band deeper than this is part of the scene (a dark floor, a night sky)


@dataclass(frozen=True)
class Bars:
    """Bar depths in px along each edge of an image (0: none)."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def any(self) -> bool:
        return bool(self.top or self.bottom or self.left or self.right)

    def scaled(self, sx: float, sy: float) -> "Bars":
        """The same bars in an image scaled by (sx, sy), rounded outwards so no bar pixel is missed."""
        up = lambda v, s: int(np.ceil(v * s)) if v else 0  # noqa: E731
        return Bars(up(self.top, sy), up(self.bottom, sy), up(self.left, sx), up(self.right, sx))

    def mask(self, width: int, height: int) -> np.ndarray:
        """(height, width) bool: the bars' pixels."""
        m = np.zeros((height, width), bool)
        m[:self.top] = True
        m[height - self.bottom:] = bool(self.bottom)
        m[:, :self.left] = True
        m[:, width - self.right:] = bool(self.right)
        return m


def _depth(peak: np.ndarray) -> int:
    """How many lines of `peak` (each pixel's brightest channel, lines from the edge inwards) are bar."""
    deepest = int(MAX_BAR_FRACTION * len(peak))
    p = peak[:deepest + 1].astype(np.float32)  # one line past the deepest bar tells a bar from a dark scene
    dark = (p.max(axis=1) <= BAR_LEVEL) & ((p.mean(axis=1) <= BAR_MEAN) | (p.std(axis=1) <= BAR_SPREAD))
    n = int(np.argmin(dark)) if not dark.all() else len(dark)
    return n if MIN_BAR_PX <= n <= deepest else 0


def find_bars(rgb: np.ndarray) -> Bars:
    """The letterbox (top/bottom) and pillarbox (left/right) bars of an RGB uint8 image."""
    peak = rgb.max(axis=2)
    return Bars(_depth(peak), _depth(peak[::-1]), _depth(peak.T), _depth(peak.T[::-1]))
