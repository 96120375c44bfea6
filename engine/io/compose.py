"""Frame layouts for export: pure numpy in, numpy out, no encoder knowledge."""
from __future__ import annotations

import numpy as np


def _check_rgb(name: str, rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{name} must be an RGB uint8 array (H, W, 3), got {getattr(rgb, 'shape', type(rgb))}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"{name} is empty ({rgb.shape[1]}x{rgb.shape[0]})")


def _fit_height(rgb: np.ndarray, height: int) -> np.ndarray:
    """Scale to `height` keeping aspect; the width is rounded to even so every panel seam stays on a chroma pair."""
    import cv2  # lazily: opencv is heavy and only layouts need it

    h, w = rgb.shape[:2]
    width = max(2, int(round(w * height / h / 2)) * 2)
    if (h, w) == (height, width):
        return rgb
    # INTER_AREA averages when shrinking (no aliasing shimmer in the video); it is plain bilinear when growing.
    interp = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(rgb), (width, height), interpolation=interp)


def side_by_side(left_rgb: np.ndarray, right_rgb: np.ndarray, height: int) -> np.ndarray:
    """Driving | result, both scaled to the same even `height` (an odd one is rounded down), aspect kept.

    The result has even width and height, so H.264 (yuv420p) takes it without padding.
    """
    _check_rgb("left_rgb", left_rgb)
    _check_rgb("right_rgb", right_rgb)
    height = int(height) - int(height) % 2
    if height < 2:
        raise ValueError(f"height must be at least 2, got {height}")
    return np.concatenate([_fit_height(left_rgb, height), _fit_height(right_rgb, height)], axis=1)
