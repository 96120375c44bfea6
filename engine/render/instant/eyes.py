"""Eyes that turn: the eye opening shows an eyeball that moves behind the lids with the gaze.

The face layer filled each eye opening with a fan of triangles around the iris centre, and the gaze moved that
centre: the photo's eye was stretched towards one corner and squeezed against the other, and the iris's own
edge moved only as far as the fan around it did. Re-tracked, the output's gaze moved a fifth to a third as far
as the driver's (the two portrait photos x the green-screen face clip, horizontal gaze, slope 0.19-0.36).

Here the opening shows a texture of the photo's eye that reaches past the lids (the sclera's colour beyond the
opening, the iris disc completed where the lids hid it), mapped rigidly: the eye corners fix its scale and
turn, and it is shifted so that the photo's iris lands on the target's. The lids, drawn by the face mesh
around the opening, cover what lies beyond it, as lids do.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.render.instant.hand_layer import LUMA

EYE_PAD = (0.6, 0.6)  # the eyeball texture reaches this far (eye widths) beyond the opening's box, x and y
IRIS_GROW = 1.25  # the sclera's colour is read outside the iris circle grown by this
SCLERA_PERCENTILE = 90
MIN_SCLERA_PX = 6  # fewer sclera pixels than this (an eye shut in the photo): no eyeball, the fan stays
FEATHER_PX = 1.0  # the photo's eye fades into the painted eyeball over this much
# The face tracker reads an eye turned to its corner as a fraction of the way there (the green-screen clip's
# iris at the corner measured 0.15 eye widths), and it reads a rendered eye the same way: an iris rendered where
# the tokens put it was read back at 0.44 of the driver's gaze. Rendered this much further, a re-tracked render
# moves its eyes about as far as the driver's were read (on corpus pairs, chosen before any test media was run:
# 3 face photos x 3 expression clips, horizontal gaze of both eyes; mean slope 0.26 with the fan this replaced,
# 0.83 at 2.0, 0.98 at 2.4 but 0.41-1.37 across the six eyes: the shorter turn overshoots none as far)
GAZE_GAIN = 2.0
MAX_TURN = 0.3  # eye widths: the iris's centre stops short of the corner


@dataclass(frozen=True)
class Eyeball:
    """One eye's texture (photo work px from `origin`) and the landmarks that place it."""

    tex: np.ndarray  # (h, w, 3) uint8
    origin: np.ndarray  # (2,) work px of tex[0, 0]
    iris: int  # the iris centre's landmark index
    corners: tuple[int, int]  # the two eye corners' landmark indices
    sclera: np.ndarray  # (3,) float, the eye white's lit colour (the mouth's teeth are lit by it too)


def build_eyeball(src: np.ndarray, rgb: np.ndarray, ring: tuple[int, ...], iris: tuple[int, ...],
                  corners: tuple[int, int]) -> Eyeball | None:
    """The eyeball of the eye whose opening is `ring` (landmark indices) in the photo `rgb` (work px
    landmarks `src` (478, 2)); iris: its centre and four rim points. None when the photo shows too little of
    the eye to paint it (shut, or off the picture)."""
    h, w = rgb.shape[:2]
    poly = src[list(ring)]
    ew = float(np.linalg.norm(src[corners[0]] - src[corners[1]]))
    if not np.isfinite(poly).all() or ew < 4:
        return None
    lo = np.floor(poly.min(0) - np.array(EYE_PAD) * ew).astype(int)
    hi = np.ceil(poly.max(0) + np.array(EYE_PAD) * ew).astype(int) + 1
    lo, hi = np.maximum(lo, 0), np.minimum(hi, (w, h))
    if (hi - lo).min() < 4:
        return None
    tex = rgb[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32)
    opening = np.zeros(tex.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round((poly - lo) * 4).astype(np.int32)], 1, cv2.LINE_8, 2)
    whole = opening > 0
    opening = cv2.erode(opening, np.ones((3, 3), np.uint8)) > 0  # its edge: lashes and the lid's shadow
    centre = src[iris[0]] - lo
    radius = float(np.mean(np.linalg.norm(src[list(iris[1:])] - src[iris[0]], axis=1)))
    yy, xx = np.mgrid[:tex.shape[0], :tex.shape[1]]
    dist = np.hypot(xx - centre[0], yy - centre[1])
    in_iris = dist <= radius
    sclera_px = tex[whole & (dist > IRIS_GROW * radius)]
    if len(sclera_px) < MIN_SCLERA_PX:
        return None
    luma = sclera_px @ LUMA.astype(np.float32)
    # its brightest: the opening's pixels mix in lashes, the lids' shadow, the caruncle and skin (a fill
    # smoothly continuing the opening's edge colours came out the brown of the lids' shadow)
    sclera = np.median(sclera_px[luma >= np.percentile(luma, SCLERA_PERCENTILE)], axis=0)
    iris_px = tex[opening & in_iris]
    iris_rgb = np.median(iris_px, axis=0) if len(iris_px) else sclera
    # beyond the opening: the sclera, and the iris's disc completed where the lids hid it
    painted = np.where(in_iris[..., None], iris_rgb, sclera).astype(np.float32)
    # the photo's own pixels over the whole opening and a pixel beyond (what the fan rasterises there), so an
    # eye at rest is the photo's; the painted eyeball shows only where a turn brings in what the lids hid
    shown = cv2.dilate(whole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
    keep = np.maximum(shown, cv2.GaussianBlur(shown, (0, 0), FEATHER_PX))
    out = tex * keep[..., None] + painted * (1.0 - keep[..., None])
    return Eyeball(np.clip(out + 0.5, 0, 255).astype(np.uint8), lo.astype(np.float64), iris[0], corners,
                   np.asarray(sclera, np.float64))


def eyeball_points(eye: Eyeball, src: np.ndarray, tgt: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(n, 2) photo work px of the eyeball shown at target points `pts` (n, 2): the map that carries the
    target's eye corners onto the photo's (a similarity), shifted by the gaze: the target iris's offset from
    the photo's iris carried along, times GAZE_GAIN, at most MAX_TURN eye widths."""
    a_t, b_t = tgt[eye.corners[0]], tgt[eye.corners[1]]
    a_s, b_s = src[eye.corners[0]], src[eye.corners[1]]
    d_t, d_s = b_t - a_t, b_s - a_s
    n2 = float(d_t @ d_t)
    if n2 < 1e-9:
        return np.repeat(src[eye.iris][None], len(pts), axis=0)
    # complex ratio d_s / d_t: scale and turn from the target eye to the photo's
    c = (d_s[0] * d_t[0] + d_s[1] * d_t[1]) / n2
    s = (d_s[1] * d_t[0] - d_s[0] * d_t[1]) / n2

    def carry(q: np.ndarray) -> np.ndarray:
        r = q - a_t
        return a_s + np.stack([c * r[..., 0] - s * r[..., 1], s * r[..., 0] + c * r[..., 1]], axis=-1)

    turn = GAZE_GAIN * (carry(tgt[eye.iris]) - src[eye.iris])  # photo px
    limit = MAX_TURN * float(np.sqrt(d_s @ d_s))
    size = float(np.hypot(*turn))
    if size > limit:
        turn = turn * (limit / size)
    return carry(pts) - turn
