"""One-Euro filter (Casiez, Roussel, Vogel, CHI 2012), vectorised over all landmarks of a group.

Adaptive low-pass: heavy smoothing when a point is still (kills jitter), light when it moves fast (no lag).
"""
from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(values: np.ndarray, times: np.ndarray, min_cutoff: float, beta: float, d_cutoff: float,
             scale: float = 1.0) -> np.ndarray:
    """Filter (T, ...) values over time. NaN frames reset the filter (a gap is not smoothed across).

    `scale` converts the speed to a size-free unit (the tracker passes the frame's long side in px, so
    speed is in frame sizes per second), so beta means the same on a 480p and a 4K clip.
    """
    out = np.array(values, dtype=np.float32, copy=True)
    x_prev = None
    dx_prev = None
    t_prev = None
    for t in range(values.shape[0]):
        x = values[t]
        if not np.isfinite(x).all():
            x_prev = None
            continue
        if x_prev is None:
            x_prev, dx_prev, t_prev = x.astype(np.float64), np.zeros_like(x, np.float64), times[t]
            out[t] = x
            continue
        dt = max(float(times[t] - t_prev), 1e-3)
        dx = (x - x_prev) / dt
        a_d = _alpha(d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * dx_prev
        cutoff = min_cutoff + beta * np.abs(dx_hat) / scale
        a = _alpha(cutoff, dt)
        x_hat = a * x + (1 - a) * x_prev
        out[t] = x_hat
        x_prev, dx_prev, t_prev = x_hat, dx_hat, times[t]
    return out


def fill_gaps(points: np.ndarray, conf: np.ndarray, max_gap: int, filled_conf: float = 0.3
              ) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate whole-group gaps of up to `max_gap` frames between two tracked frames.

    points (T, N, 3), conf (T, N). Longer gaps, and gaps at the clip's ends, stay NaN with confidence 0.
    Filled frames get a low confidence so the UI can mark them and edits can tell them apart.
    """
    pts = points.copy()
    cf = conf.copy()
    present = np.isfinite(pts[:, :, :2]).all(axis=(1, 2))
    t_len = len(present)
    t = 0
    while t < t_len:
        if present[t]:
            t += 1
            continue
        start = t
        while t < t_len and not present[t]:
            t += 1
        end = t  # first present frame after the gap, or t_len
        gap = end - start
        if start == 0 or end == t_len or gap > max_gap:
            continue
        a, b = pts[start - 1], pts[end]
        for k in range(gap):
            w = (k + 1) / (gap + 1)
            pts[start + k] = (1 - w) * a + w * b
            cf[start + k] = filled_conf * np.minimum(cf[start - 1], cf[end])
    return pts, cf
