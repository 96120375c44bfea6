"""A hand drawn from the hand tokens: the driver's finger pose on a hand the photo cannot show that way.

A 2D warp can only move the photo's hand pixels; a closed, side-on or half-hidden hand has no pixels for
the open fingers the driver shows, and warping it there shreds it (issue 9: the output's hands were found
by a hand tracker in a third of the frames). So for such a hand the renderer draws one: a parametric hand
(a palm polygon and a tapered capsule per finger bone) at the retargeted hand landmarks, in the photo's own
skin colour taken from that hand (or the face), shaded (a darker rim, a lit ridge along each finger,
creases at the joints, lighter nails) and drawn far to near by depth. The photo's own pixels of that hand
are taken out of the warp (engine.render.instant.analysis) so they do not stick out around the drawn one.
Where the photo has no forearm to carry the hand (hands in pockets), a forearm is drawn from the sleeve's
end to the hand (draw_forearm).

Measured against a hand tracker (bench/reenact.py, issue 9's third round): a solid, lit version (per-pixel
depth and normals, rounded fingers, contact shadows, mottled skin) read worse than this flat drawing with a
darker outline: hands found 0.77 vs 0.80 of the driver's, finger flexion 11.3 vs 9.5 deg on the nine
photo x clip pairs that show hands (both with the forearm, fingers 0.105 wide); with thinner fingers and an
outline the lit version was worse still (0.68, 12.3 deg). Which part of the difference the tracker reads was
not isolated; without the ridges, creases and nails this flat hand is found far less often (44 vs 57 of 80
hands in single frames of four pairs, flexion 24 vs 12 deg).

Drawn supersampled on a crop around the hand and scaled down: smooth edges at any output size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine import vocabulary as vocab

SUPERSAMPLE = 3
LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601 brightness of an RGB colour
FINGER_RADIUS = 0.09  # finger half-width at the knuckle, in wrist-to-middle-knuckle lengths (3D); thinner
# fingers read back truer flexion (bench/reenact.py, 9 pairs with hands: 0.105 -> 9.97 deg, 0.09 -> 8.64,
# 0.08 -> 8.80 with fewer hands found), thicker ones merge into a mitten
THUMB_RADIUS = 0.125
TIP_TAPER = 0.78  # the fingertip's radius against the knuckle's
PALM_ROUND = 0.09  # the palm polygon is rounded by this (hand lengths)
RIM_SHADE = 0.85  # outline colour against the skin
RIDGE_LIGHT = 1.12  # lit ridge along each finger
CREASE_SHADE = 0.93  # joint creases
NAIL_LIGHT = 1.18
FOREARM_WRIST, FOREARM_ELBOW = 0.3, 0.42  # a bridging forearm's half-width at the wrist and elbow (hand lengths)
FOREARM_MIN_GAP = 0.2  # a gap between the hand and its arm shorter than this (hand lengths) is left alone
FOREARM_OVERLAP = 0.3  # the bridge reaches this far under the arm's own pixels (hand lengths)
MIN_HAND_PX = 6.0  # hands smaller than this (wrist to middle knuckle, output px) are not drawn
HAND_CORE_MIN_PX = 12  # a photo hand with fewer pixels than this lends no colour: the face's skin is used


@dataclass(frozen=True)
class HandSkin:
    """The colours a drawn hand is painted with (RGB floats)."""

    base: np.ndarray

    @staticmethod
    def from_pixels(rgb: np.ndarray, mask: np.ndarray) -> "HandSkin | None":
        """The median colour of the masked pixels' brighter half (shadows and background mixed in at the
        edges pull the median dark), or None without enough pixels."""
        px = rgb[mask > 0].astype(np.float64)
        if len(px) < HAND_CORE_MIN_PX:
            return None
        luma = px @ LUMA
        return HandSkin(np.median(px[luma >= np.median(luma)], axis=0))


def _shade(c: np.ndarray, k: float) -> tuple[float, float, float]:
    return tuple(min(255.0, max(0.0, v * k)) for v in c.tolist())  # np.clip's values, in plain floats: per stroke


def hand_length(pts: np.ndarray) -> float:
    """Wrist to middle knuckle (3D: a hand's thickness does not foreshorten), in the points' units."""
    p = np.asarray(pts, np.float64)
    return float(np.linalg.norm(p[vocab.MIDDLE_MCP] - p[vocab.WRIST]))


def draw_hand(out: np.ndarray, pts: np.ndarray, skin: HandSkin, opacity: float = 1.0) -> None:
    """Draw one hand into `out` (RGB uint8, in place) at `pts` ((21, 3) output px; z: depth, larger is
    further, in px), `opacity` 0..1."""
    p = np.asarray(pts, np.float64)
    length = hand_length(p)
    if not np.isfinite(p).all() or length < MIN_HAND_PX:
        return
    h, w = out.shape[:2]
    reach = 1.8 * length
    x0, y0 = int(max(0, np.floor(p[:, 0].min() - reach * 0.2))), int(max(0, np.floor(p[:, 1].min() - reach * 0.2)))
    x1 = int(min(w, np.ceil(p[:, 0].max() + reach * 0.2) + 1))
    y1 = int(min(h, np.ceil(p[:, 1].max() + reach * 0.2) + 1))
    if x1 <= x0 + 1 or y1 <= y0 + 1:
        return
    s = SUPERSAMPLE
    cw, ch = (x1 - x0) * s, (y1 - y0) * s
    canvas = np.zeros((ch, cw, 3), np.float32)
    alpha = np.zeros((ch, cw), np.float32)
    q = (p[:, :2] - [x0, y0]) * s
    base = skin.base
    rim_c, skin_c, ridge_c = _shade(base, RIM_SHADE), _shade(base, 1.0), _shade(base, RIDGE_LIGHT)  # once a hand

    r_f = FINGER_RADIUS * length * s
    r_t = THUMB_RADIUS * length * s
    palm_idx = [vocab.WRIST, 1, 2, vocab.INDEX_MCP, vocab.MIDDLE_MCP, vocab.RING_MCP, vocab.PINKY_MCP]
    hull = cv2.convexHull(np.round(q[palm_idx]).astype(np.int32))
    rim = max(1, int(round(PALM_ROUND * length * s)))
    # parts far to near: the palm, then each finger by its mean depth
    parts = [("palm", float(p[palm_idx, 2].mean()))]
    for name, chain in vocab.FINGERS.items():
        parts.append((name, float(p[list(chain), 2].mean())))
    parts.sort(key=lambda x: -x[1])
    edge = max(1.0, 0.9 * s)
    for name, _z in parts:
        if name == "palm":
            cv2.fillConvexPoly(canvas, hull, rim_c, cv2.LINE_AA)
            cv2.polylines(canvas, [hull], True, rim_c, 2 * rim + int(2 * edge), cv2.LINE_AA)
            cv2.fillConvexPoly(alpha, hull, 1.0, cv2.LINE_AA)
            cv2.polylines(alpha, [hull], True, 1.0, 2 * rim + int(2 * edge), cv2.LINE_AA)
            inner = cv2.convexHull(np.round(q[palm_idx]).astype(np.int32))
            cv2.fillConvexPoly(canvas, inner, skin_c, cv2.LINE_AA)
            cv2.polylines(canvas, [inner], True, skin_c, 2 * rim, cv2.LINE_AA)
            continue
        chain = vocab.FINGERS[name]
        r0 = r_t if name == "thumb" else r_f
        joints = [q[c] for c in chain]
        radii = np.linspace(r0, r0 * TIP_TAPER, len(joints))
        for (a, b), (ra, rb) in zip(zip(joints[:-1], joints[1:]), zip(radii[:-1], radii[1:])):
            _capsule(canvas, a, b, ra + edge, rb + edge, rim_c, alpha)
        for (a, b), (ra, rb) in zip(zip(joints[:-1], joints[1:]), zip(radii[:-1], radii[1:])):
            _capsule(canvas, a, b, ra, rb, skin_c)
        for (a, b), (ra, rb) in zip(zip(joints[:-1], joints[1:]), zip(radii[:-1], radii[1:])):
            _capsule(canvas, a, b, 0.35 * ra, 0.35 * rb, ridge_c)
        for j in range(1, len(joints) - 1):  # a crease across each finger joint
            d = joints[j + 1] - joints[j - 1]
            nrm = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
            a, b = joints[j] + 0.7 * radii[j] * nrm, joints[j] - 0.7 * radii[j] * nrm
            cv2.line(canvas, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), _shade(base, CREASE_SHADE),
                     max(1, int(round(0.25 * radii[j]))), cv2.LINE_AA)
        tip, before = joints[-1], joints[-2]
        d = tip - before
        nail = tip - 0.35 * d
        ang = float(np.degrees(np.arctan2(d[1], d[0])))
        ax = (max(1, int(round(0.45 * np.linalg.norm(d)))), max(1, int(round(0.55 * radii[-1]))))
        cv2.ellipse(canvas, (int(nail[0]), int(nail[1])), ax, ang, 0, 360, _shade(base, NAIL_LIGHT), -1, cv2.LINE_AA)
    _blend_down(out, (x0, y0, x1, y1), canvas, alpha, opacity)


def draw_forearm(out: np.ndarray, covered: np.ndarray, wrist: np.ndarray, elbow: np.ndarray, hand_len: float,
                 skin: HandSkin, opacity: float = 1.0) -> None:
    """Bridge the gap between a drawn hand and the arm it belongs to (in place). A photo whose hands are in
    its pockets or behind its back has no forearm to warp, so its posed sleeve ends short of where the hand
    is drawn and the hand floats free; a pose tracker, not seeing an arm reach it, then looks for the hand
    elsewhere and misses it (the outdoor woman x the woman's dance: 1 of 24 hands found in the first 12
    frames). From the wrist towards the elbow (output px) a tapered forearm in the hand's skin is drawn over
    the uncovered pixels (`covered`: bool, output size, where the warped person lies) up to where the arm's
    own pixels begin; nothing where the arm already reaches the wrist."""
    w2, e2 = np.asarray(wrist, np.float64)[:2], np.asarray(elbow, np.float64)[:2]
    span = float(np.linalg.norm(e2 - w2))
    h, w = out.shape[:2]
    if hand_len < MIN_HAND_PX or not np.isfinite([*w2, *e2]).all() or span < FOREARM_MIN_GAP * hand_len:
        return
    steps = np.linspace(0.0, 1.0, max(2, int(span)))
    pts = np.round(w2 + steps[:, None] * (e2 - w2)).astype(int)
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    hit = ok.copy()
    hit[ok] = covered[pts[ok, 1], pts[ok, 0]]
    reach = float(steps[int(np.argmax(hit))] if hit.any() else 1.0) * span
    if reach < FOREARM_MIN_GAP * hand_len:
        return
    end = w2 + min(1.0, (reach + FOREARM_OVERLAP * hand_len) / span) * (e2 - w2)
    r_w = FOREARM_WRIST * hand_len
    r_end = r_w + (FOREARM_ELBOW - FOREARM_WRIST) * hand_len * min(1.0, reach / span)
    pad = r_end + 2
    x0, y0 = int(max(0, np.floor(min(w2[0], end[0]) - pad))), int(max(0, np.floor(min(w2[1], end[1]) - pad)))
    x1 = int(min(w, np.ceil(max(w2[0], end[0]) + pad) + 1))
    y1 = int(min(h, np.ceil(max(w2[1], end[1]) + pad) + 1))
    if x1 <= x0 + 1 or y1 <= y0 + 1:
        return
    s = SUPERSAMPLE
    canvas = np.zeros(((y1 - y0) * s, (x1 - x0) * s, 3), np.float32)
    alpha = np.zeros(canvas.shape[:2], np.float32)
    a, b = (w2 - [x0, y0]) * s, (end - [x0, y0]) * s
    edge = max(1.0, 0.9 * s)
    _capsule(canvas, a, b, r_w * s + edge, r_end * s + edge, _shade(skin.base, RIM_SHADE), alpha, spacing=r_w * s)
    _capsule(canvas, a, b, r_w * s, r_end * s, _shade(skin.base, 1.0), spacing=r_w * s)
    _blend_down(out, (x0, y0, x1, y1), canvas, alpha, opacity, keep=covered[y0:y1, x0:x1])


def _capsule(img: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float, colour, alpha=None,
             spacing: float | None = None) -> None:
    """A tapered stroke from a (radius ra) to b (radius rb), stamped as discs every half `spacing` (default: the
    smaller radius) into `img`, and into `alpha` as 1 when given."""
    step = 0.5 * (min(ra, rb) if spacing is None else spacing)
    d = b - a
    n = max(2, int(np.ceil(math.sqrt(d.dot(d)) / max(1.0, step))) + 1)  # (np.linalg.norm's own arithmetic)
    # disc by disc in plain floats: numpy's per-call overhead cost more than the drawing at these sizes. The
    # arithmetic is linspace's (t = i / (n - 1), the last 1 exactly), so the discs are the same
    ax, ay, dx, dy = float(a[0]), float(a[1]), float(d[0]), float(d[1])
    ra, dr, inv, last = float(ra), float(rb - ra), 1.0 / (n - 1), n - 1
    circle, line = cv2.circle, cv2.LINE_AA
    for i in range(n):
        t = i * inv if i < last else 1.0
        centre, r = (round(ax + t * dx), round(ay + t * dy)), max(1, round(ra + t * dr))
        circle(img, centre, r, colour, -1, line)
        if alpha is not None:
            circle(alpha, centre, r, 1.0, -1, line)


def _blend_down(out: np.ndarray, box: tuple[int, int, int, int], canvas: np.ndarray, alpha: np.ndarray,
                opacity: float, keep: np.ndarray | None = None) -> None:
    """A supersampled drawing (canvas, alpha) scaled down onto out[box] at `opacity` (in place); where `keep`
    (bool, the box's size) is set, out stays as it is."""
    x0, y0, x1, y1 = box
    small = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    k = cv2.resize(alpha, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA) * float(opacity)
    if keep is not None:
        k = k * ~keep
    k = k[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(small * k + region * (1.0 - k) + 0.5, 0, 255).astype(np.uint8)

