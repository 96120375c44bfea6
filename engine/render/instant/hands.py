"""Hands: a rigid hand for most photos, finger bones for a hand the photo shows open and large.

A hand is a small, detailed shape that a 2D warp cannot re-pose: bending a relaxed, half-curled or edge-on
hand towards a pointing or spread target shreds its triangles into spikes. So by default every hand moves
as one piece: its pixels are skinned to the body's hand bone alone, a similarity (rotation and the body's
scale, no stretch) from the wrist towards the middle knuckle. Only a hand the photo shows open (straight
fingers), facing the camera and large enough to matter adds one bone per metacarpal and phalanx, with
extra mesh vertices along and beside each finger; even then the fingers follow the target only while its
shape stays close to the photo's (tame), and ease into the rigid hand beyond.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from engine import vocabulary as vocab
from engine.render.instant.helpers import similarity_fit
from engine.render.instant.skeleton import PIECE_L_ARM, PIECE_R_ARM, BoneSpec
from engine.track.types import FrameLandmarks

SIDES = {"l": ("left_hand", "lh", PIECE_L_ARM), "r": ("right_hand", "rh", PIECE_R_ARM)}
METACARPAL_RADIUS = 0.22  # flesh half-thickness around a metacarpal, in palm widths
PHALANX_RADIUS = 0.13  # ... around a finger bone
REGION_MARGIN = 0.22  # the hand's pixel region reaches at most this far (palm widths) beyond its bones ...
CORE_RADIUS = 0.06  # ... and always includes this much around them
SKIN_CHROMA_SIGMAS = 3.0  # pixels within this many robust sigmas of the hand's own colour belong to it
SKIN_LUMA_SIGMAS = 4.0
FRINGE = 0.05  # palm widths of edge pixels around the hand that move with it
PALM = (0, 1, 2, 5, 9, 13, 17)
BG_RING = 0.4  # the background colour near a hand is sampled this far (palm widths) around it ...
BG_SIGMAS = 2.5  # ... and person pixels within this many robust sigmas of it are background after all
TAME_LO, TAME_HI = 0.2, 0.5  # hand shape mismatch (RMS, palm widths): fingers follow fully below, rigid above
SAMPLES_PER_BONE = 2  # axis samples per finger bone (each with two side samples)
EDGE_ON_PALM = 0.8  # palm width stand-in, as a share of the wrist-to-middle-knuckle length
MIN_PALM_PX = 6.0  # smaller hands are treated as missing: fingers would be sub-pixel
BEND_MIN_PALM_PX = 24.0  # fingers bend only on hands at least this wide (work px): smaller ones shred first
BEND_MIN_STRAIGHT = 0.85  # ... whose four fingers are this straight (tip reach / finger length), i.e. open
BEND_MIN_FACING = 0.55  # ... and whose knuckle row is this wide against the palm's length (not edge-on)
HAND_END = 9  # the rigid hand points from the wrist to the middle knuckle


def finger_bones(side: str) -> tuple[BoneSpec, ...]:
    """Bone specs for one hand ("l" or "r"); parents chain from the body's hand bone."""
    _, p, piece = SIDES[side]
    bones = []
    for name, chain in vocab.FINGERS.items():
        prev = f"{side}_hand"
        joints = (vocab.WRIST,) + tuple(chain)
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
        # knuckle width, or most of the palm's length for a hand seen edge-on (knuckles in a row)
        pw = max(float(np.linalg.norm(h[vocab.INDEX_MCP] - h[vocab.PINKY_MCP])),
                 EDGE_ON_PALM * float(np.linalg.norm(h[vocab.MIDDLE_MCP] - h[vocab.WRIST])))
        if pw >= MIN_PALM_PX:
            out[p] = pw
    return out


def bends(fl: FrameLandmarks, prefix: str, palm: float, scale: float) -> bool:
    """Whether the photo's hand is clearly open, seen from the front and large: only then can its fingers
    be re-posed one by one without tearing (a curled finger has no pixels for its hidden segments)."""
    if palm < BEND_MIN_PALM_PX:
        return False
    h = hand_points(fl, prefix, scale)
    length = float(np.linalg.norm(h[vocab.MIDDLE_MCP] - h[vocab.WRIST]))
    width = float(np.linalg.norm(h[vocab.INDEX_MCP] - h[vocab.PINKY_MCP]))
    if width < BEND_MIN_FACING * length:
        return False
    straight = []
    for name, chain in vocab.FINGERS.items():
        if name == "thumb":
            continue
        seg = sum(float(np.linalg.norm(h[b] - h[a])) for a, b in zip(chain[:-1], chain[1:]))
        straight.append(float(np.linalg.norm(h[chain[-1]] - h[chain[0]])) / max(seg, 1e-6))
    return min(straight) >= BEND_MIN_STRAIGHT


def hand_bone_spec(spec: BoneSpec) -> BoneSpec:
    """The body's hand bone for a photo whose hand is tracked: aimed at the hand skeleton's middle knuckle
    (steadier than the pose model's index/pinky points) and moved as a similarity."""
    p = "lh" if spec.name == "l_hand" else "rh"
    return replace(spec, b=f"{p}{HAND_END}", kind="hand")


def extra_bones(hands: dict[str, float]) -> tuple[BoneSpec, ...]:
    return tuple(b for side, (_, p, _) in SIDES.items() if p in hands for b in finger_bones(side))


def hand_points(fl: FrameLandmarks, prefix: str, scale: float) -> np.ndarray:
    group = "left_hand" if prefix == "lh" else "right_hand"
    return fl.points(group)[:, :2].astype(np.float64) * scale


def _strokes(h: np.ndarray, shape: tuple[int, int], radius: float, hull: bool) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    if hull:
        cv2.fillConvexPoly(m, cv2.convexHull(np.round(h[list(PALM)]).astype(np.int32)), 1)
    t = max(1, int(round(2 * radius)) + 1)
    for a, b in vocab.HAND_EDGES:
        pa, pb = np.round(h[a]).astype(int), np.round(h[b]).astype(int)
        cv2.line(m, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), 1, t)
    return m


def hand_region(fl: FrameLandmarks, prefix: str, palm: float, scale: float, rgb: np.ndarray) -> np.ndarray:
    """uint8 mask of the hand's pixels: near its landmarks and coloured like the hand (so the shorts or
    the shirt around a hand do not bend with its fingers); the bones' core strokes are always in."""
    h = hand_points(fl, prefix, scale)
    shape = rgb.shape[:2]
    wide = _strokes(h, shape, REGION_MARGIN * palm, hull=True)
    core = _strokes(h, shape, CORE_RADIUS * palm, hull=False)
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ref = ycc[core > 0]
    if len(ref) < 8:
        return wide
    med = np.median(ref, axis=0)
    spread = np.median(np.abs(ref - med), axis=0) * 1.4826 + 1.0  # robust sigma per channel
    chroma = np.hypot((ycc[..., 1] - med[1]) / spread[1], (ycc[..., 2] - med[2]) / spread[2])
    luma = np.abs(ycc[..., 0] - med[0]) / spread[0]
    like = ((chroma < SKIN_CHROMA_SIGMAS) & (luma < SKIN_LUMA_SIGMAS)).astype(np.uint8)
    m = (like & wide) | core
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, cc = cv2.connectedComponents(m, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(cc[core > 0])] = True
    keep[0] = False
    r = max(1, int(round(FRINGE * palm)))  # take the hand's colour fringe along with it
    return cv2.dilate(keep[cc].astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))


def core_strokes(fl: FrameLandmarks, prefix: str, palm: float, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """uint8 mask of thin strokes along the hand's bones (pixels that are surely hand)."""
    return _strokes(hand_points(fl, prefix, scale), shape, CORE_RADIUS * palm, hull=False)


def without_fringe(mask: np.ndarray, palm: float) -> np.ndarray:
    """A hand_region mask without the colour fringe it was grown by."""
    r = max(1, int(round(FRINGE * palm)))
    return cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))


def background_between_fingers(fl: FrameLandmarks, prefix: str, palm: float, scale: float, rgb: np.ndarray,
                               alpha: np.ndarray, hand: np.ndarray) -> np.ndarray:
    """uint8 mask of pixels around the hand that segmentation called person but that look like the
    background just outside the person there (the gaps between spread fingers, at segmentation's coarse
    resolution): they must not be dragged along with the fingers."""
    h = hand_points(fl, prefix, scale)
    zone = _strokes(h, rgb.shape[:2], REGION_MARGIN * palm, hull=True) & (hand == 0)
    r = max(2, int(round(BG_RING * palm)))
    ring = cv2.dilate(_strokes(h, rgb.shape[:2], REGION_MARGIN * palm, hull=True),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) & (alpha < 0.1)
    if ring.sum() < 16 or not zone.any():
        return np.zeros(rgb.shape[:2], np.uint8)
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ref = ycc[ring > 0]
    med = np.median(ref, axis=0)
    spread = np.median(np.abs(ref - med), axis=0) * 1.4826 + 2.0
    d = np.sqrt((((ycc - med) / spread) ** 2).sum(-1))
    return (zone.astype(bool) & (d < BG_SIGMAS)).astype(np.uint8)


def mismatch(src: np.ndarray, tgt: np.ndarray, palm: float) -> float:
    """How far the target hand's shape is from the photo's (RMS after the best similarity, palm widths)."""
    s, t = src[:, :2].astype(np.float64), tgt[:, :2].astype(np.float64)
    m = similarity_fit(s, t)
    rigid = s @ m[:, :2].T + m[:, 2]
    scale = max(np.hypot(m[0, 0], m[1, 0]), 1e-6)
    return float(np.sqrt(((rigid - t) ** 2).sum(1).mean())) / (palm * scale)


def tame(src: np.ndarray, tgt: np.ndarray, palm: float) -> np.ndarray:
    """The target hand (21, >=2), eased towards the photo's hand shape moved rigidly (a similarity) when
    the two shapes disagree too much: a 2D warp cannot turn a palm seen from the front into a fist seen
    from the side, and trying shreds the hand; a hand that moves as a whole still reads as a hand."""
    s, t = src[:, :2].astype(np.float64), tgt[:, :2].astype(np.float64)
    m = similarity_fit(s, t)
    rigid = s @ m[:, :2].T + m[:, 2]
    scale = max(np.hypot(m[0, 0], m[1, 0]), 1e-6)
    err = float(np.sqrt(((rigid - t) ** 2).sum(1).mean())) / (palm * scale)
    beta = float(np.clip((TAME_HI - err) / (TAME_HI - TAME_LO), 0.0, 1.0))
    out = tgt.copy()
    out[:, :2] = beta * t + (1.0 - beta) * rigid
    return out


def hand_samples(fl: FrameLandmarks, prefix: str, palm: float, scale: float) -> np.ndarray:
    """(N, 2) extra mesh vertices: every landmark, plus samples along and beside each finger bone."""
    h = hand_points(fl, prefix, scale)
    pts = [h]
    off = PHALANX_RADIUS * palm
    t = (np.arange(SAMPLES_PER_BONE) + 0.5) / SAMPLES_PER_BONE
    for a, b in vocab.HAND_EDGES:
        d = h[b] - h[a]
        n = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
        axis = h[a] + t[:, None] * d
        pts += [axis, axis + off * n, axis - off * n]
    return np.concatenate(pts)
