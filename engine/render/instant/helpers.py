"""Two helpers several stages of the instant renderer share: a 2D similarity fit and nearest-pixel lookup."""
from __future__ import annotations

import cv2
import numpy as np


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2D similarity (Umeyama) mapping src (N, 2) onto dst (N, 2), as a 2x3 matrix."""
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    a = float((s * d).sum())
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum())
    n = float((s * s).sum())
    if n < 1e-9:
        m = np.eye(2)
    else:
        m = np.array([[a, -b], [b, a]]) / n
    return np.hstack([m, (md - m @ ms)[:, None]])


def nearest_known(known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, the (y, x) of the nearest pixel where `known` (H, W) is true (Euclidean, 5x5 mask).
    Filling a region with the colours these point at continues its surroundings straight into it."""
    known = np.asarray(known, bool)
    _, lab = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 5,
                                             labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(known)  # label i (1-based) <-> i-th zero pixel of the input in raster order
    order = np.zeros(int(lab.max()) + 1, np.int64)
    order[lab[known]] = np.arange(len(ys))
    return ys[order[lab]], xs[order[lab]]
