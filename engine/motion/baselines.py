"""The two non-learned baselines every motion method is measured against."""
from __future__ import annotations

import numpy as np

from engine.motion.features import Sequence, renormalise

VELOCITY_FRAMES = 2  # constant velocity: the mean step over the last this many frames (one frame is noisy)


def hold_last_pose(context: Sequence, n: int) -> np.ndarray:
    """(n, DIM): the last frame, held."""
    return np.repeat(context.values[-1:], n, axis=0)


def constant_velocity(context: Sequence, n: int) -> np.ndarray:
    """(n, DIM): the last frame moving on at its last velocity (no damping: the classic baseline)."""
    v = context.values
    k = min(VELOCITY_FRAMES, len(v) - 1)
    if k <= 0:
        return hold_last_pose(context, n)
    vel = (v[-1] - v[-1 - k]) / k
    steps = np.arange(1, n + 1, dtype=np.float64)[:, None]
    return renormalise(v[-1] + steps * vel)
