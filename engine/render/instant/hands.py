"""Fingers: bones along the 21-point hand skeleton, so a hand seen in the photo bends finger by finger.

A visible hand adds one bone per metacarpal and phalanx to its arm's mesh piece, with extra mesh vertices
along and beside each finger (the body mesh is too coarse for fingers). Where the target has no hand
landmarks the fingers keep the photo's shape and follow the body's hand bone. A hand missing from the photo
adds nothing: its pixels follow the body's wrist-to-knuckles bone.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.render.instant.skeleton import PIECE_L_ARM, PIECE_R_ARM, BoneSpec
from engine.track import landmarks as L
from engine.track.types import FrameLandmarks

SIDES = {"l": ("left_hand", "lh", PIECE_L_ARM), "r": ("right_hand", "rh", PIECE_R_ARM)}
METACARPAL_RADIUS = 0.22  # flesh half-thickness around a metacarpal, in palm widths
PHALANX_RADIUS = 0.13  # ... around a finger bone
REGION_MARGIN = 0.22  # the hand's pixel region reaches this far (palm widths) beyond its landmarks
SAMPLES_PER_BONE = 2  # axis samples per finger bone (each with two side samples)
MIN_PALM_PX = 6.0  # smaller hands are treated as missing: fingers would be sub-pixel


def finger_bones(side: str) -> tuple[BoneSpec, ...]:
    """Bone specs for one hand ("l" or "r"); parents chain from the body's hand bone."""
    _, p, piece = SIDES[side]
    bones = []
    for name, chain in L.FINGERS.items():
        prev = f"{side}_hand"
        joints = (L.WRIST,) + tuple(chain)
        for j, (a, b) in enumerate(zip(joints[:-1], joints[1:])):
            bname = f"{side}_{name}_{j}"
            radius = METACARPAL_RADIUS if j == 0 else PHALANX_RADIUS
            bones.append(BoneSpec(bname, f"{p}{a}", f"{p}{b}", piece, radius, prev, "finger"))
            prev = bname
    return tuple(bones)


def visible_hands(fl: FrameLandmarks, scale: float) -> dict[str, float]:
    """{"lh"/"rh": palm width in work px} for the hands tracked in the photo and large enough to bend."""
    out = {}
    for side, (group, p, _) in SIDES.items():
        if not fl.has(group):
            continue
        h = fl.points(group)[:, :2].astype(np.float64) * scale
        pw = float(np.linalg.norm(h[L.INDEX_MCP] - h[L.PINKY_MCP]))
        if pw >= MIN_PALM_PX:
            out[p] = pw
    return out


def extra_bones(hands: dict[str, float]) -> tuple[BoneSpec, ...]:
    return tuple(b for side, (_, p, _) in SIDES.items() if p in hands for b in finger_bones(side))


def hand_points(fl: FrameLandmarks, prefix: str, scale: float) -> np.ndarray:
    group = "left_hand" if prefix == "lh" else "right_hand"
    return fl.points(group)[:, :2].astype(np.float64) * scale


def hand_region(fl: FrameLandmarks, prefix: str, palm: float, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """uint8 mask of where the hand's pixels can be: its landmarks' hull and thick finger strokes."""
    h = hand_points(fl, prefix, scale)
    m = np.zeros(shape, np.uint8)
    pad = max(1, int(round(REGION_MARGIN * palm)))
    hull = cv2.convexHull(np.round(h[[0, 1, 2, 5, 9, 13, 17]]).astype(np.int32))
    cv2.fillConvexPoly(m, hull, 1)
    for a, b in L.HAND_EDGES:
        pa, pb = np.round(h[a]).astype(int), np.round(h[b]).astype(int)
        cv2.line(m, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), 1, 2 * pad + 1)
    return m


def hand_samples(fl: FrameLandmarks, prefix: str, palm: float, scale: float) -> np.ndarray:
    """(N, 2) extra mesh vertices: every landmark, plus samples along and beside each finger bone."""
    h = hand_points(fl, prefix, scale)
    pts = [h]
    off = PHALANX_RADIUS * palm
    t = (np.arange(SAMPLES_PER_BONE) + 0.5) / SAMPLES_PER_BONE
    for a, b in L.HAND_EDGES:
        d = h[b] - h[a]
        n = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
        axis = h[a] + t[:, None] * d
        pts += [axis, axis + off * n, axis - off * n]
    return np.concatenate(pts)
