"""Hand tokens: palm orientation plus per-finger spread and flexion angles (no finger lengths).

The left hand is mirrored (x -> -x) before encoding and after decoding, so both hands share one
convention: a mirrored video swaps the two hands' tokens exactly.
"""
from __future__ import annotations

import numpy as np

from engine.tokens import schema
from engine.tokens.geometry import (euler_yxz, frame_from_axes, mirror_x, normalize, rot_yxz,
                                    rotate_about, to_cam, to_px)
from engine.vocabulary import FINGER_JOINTS, FINGERS, INDEX_MCP, MIDDLE_MCP, N_HAND, PALM_POINTS, PINKY_MCP, WRIST

FINGER_CHAINS = tuple(FINGERS.values())
# A finger's channels, in the order the encoder measures them.
FINGER_CHANNELS = ("spread",) + tuple(f"flex_{j}" for j in FINGER_JOINTS)

# A generic right hand in its palm frame, in units of the wrist-to-middle-knuckle length: used when the
# reference photo shows no hand. (x towards the thumb, y towards the fingers, z out of the palm.)
TEMPLATE_PALM = {WRIST: (0.0, 0.0, 0.0), 1: (0.30, 0.25, 0.08), 5: (0.30, 0.95, 0.0), 9: (0.0, 1.0, 0.0),
                 13: (-0.26, 0.93, 0.0), 17: (-0.50, 0.82, 0.0)}
TEMPLATE_SEGMENTS = {"thumb": (0.42, 0.33, 0.28), "index": (0.45, 0.27, 0.22), "middle": (0.50, 0.30, 0.23),
                     "ring": (0.45, 0.28, 0.22), "pinky": (0.36, 0.22, 0.20)}
HAND_TO_FOREARM = 0.42  # wrist-to-middle-knuckle over forearm length, for the template's size


def _as_right(points_px: np.ndarray, side: str) -> np.ndarray:
    cam = to_cam(points_px)
    return mirror_x(cam) if side == "left" else cam


def palm_frame(cam: np.ndarray) -> np.ndarray:
    """Columns: x towards the thumb side, y towards the fingers, z out of the palm (right-hand convention)."""
    return frame_from_axes(cam[INDEX_MCP] - cam[PINKY_MCP], cam[MIDDLE_MCP] - cam[WRIST])


_CHAINS = np.array(FINGER_CHAINS)  # (5, 4) point indices per finger


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise angle in degrees between (N, 3) vectors."""
    cos = (normalize(a) * normalize(b)).sum(axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def encode_hand_frame(hand_px: np.ndarray, side: str) -> np.ndarray:
    """(21, 3) px -> [wrist yaw, pitch, roll] + per finger [spread, flex_base, flex_mid, flex_tip] (deg)."""
    cam = _as_right(hand_px, side)
    r = palm_frame(cam)
    segs = cam[_CHAINS[:, 1:]] - cam[_CHAINS[:, :-1]]  # (5 fingers, 3 segments, 3)
    d0 = normalize(segs[:, 0]) @ r  # first segment in the palm frame
    spread = np.degrees(np.arctan2(d0[:, 0], d0[:, 1]))
    flex_base = np.degrees(np.arctan2(d0[:, 2], np.hypot(d0[:, 0], d0[:, 1])))
    fingers = np.stack([spread, flex_base, _angles(segs[:, 0], segs[:, 1]), _angles(segs[:, 1], segs[:, 2])], 1)
    lay = schema.layout("right_hand")  # both hands share one channel table
    out = lay.neutral.copy()
    out[lay.span("wrist")] = euler_yxz(r)
    out[_finger_indices(lay)] = fingers.reshape(-1)
    return out


def _finger_indices(lay: schema.Layout) -> np.ndarray:
    """Channel indices of every finger's measures, finger by finger in FINGERS order."""
    return lay.indices([f"{f}.{c}" for f in FINGERS for c in FINGER_CHANNELS])


def hand_shape(hand_px: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """A rig's hand: palm points in its palm frame (6, 3) and finger segment lengths (5, 3), px."""
    cam = _as_right(hand_px, side)
    r = palm_frame(cam)
    palm = np.array([(cam[i] - cam[WRIST]) @ r for i in PALM_POINTS])
    seg = np.array([[np.linalg.norm(cam[b] - cam[a]) for a, b in zip(ch[:-1], ch[1:])] for ch in FINGER_CHAINS])
    return palm, seg


def template_shape(forearm_px: float) -> tuple[np.ndarray, np.ndarray]:
    unit = HAND_TO_FOREARM * forearm_px
    palm = np.array([TEMPLATE_PALM[i] for i in PALM_POINTS]) * unit
    seg = np.array([TEMPLATE_SEGMENTS[f] for f in FINGERS]) * unit
    return palm, seg


def apply_hand_frame(token: np.ndarray, palm: np.ndarray, segments: np.ndarray, wrist_px: np.ndarray,
                     side: str, scale: float = 1.0) -> np.ndarray:
    """Hand token + a rig's hand shape -> (21, 3) px with the wrist at `wrist_px`."""
    lay = schema.layout("right_hand")
    r = rot_yxz(*token[lay.span("wrist")])
    angles = np.asarray(token)[_finger_indices(lay)].reshape(len(FINGERS), len(FINGER_CHANNELS))
    cam = np.zeros((N_HAND, 3))
    for k, i in enumerate(PALM_POINTS):
        cam[i] = r @ (palm[k] * scale)
    for f, chain in enumerate(FINGER_CHAINS):
        spread, fb, fm, ft = angles[f]
        sp, b = np.radians(spread), np.radians(fb)
        d = np.array([np.sin(sp) * np.cos(b), np.cos(sp) * np.cos(b), np.sin(b)])
        axis = np.array([np.cos(sp), -np.sin(sp), 0.0])  # perpendicular to the finger's plane
        dirs = [d, rotate_about(d, axis, fm)]
        dirs.append(rotate_about(dirs[1], axis, ft))
        p = cam[chain[0]]
        for s, (a, bb) in enumerate(zip(chain[:-1], chain[1:])):
            p = p + r @ (dirs[s] * segments[f, s] * scale)
            cam[bb] = p
    if side == "left":
        cam = mirror_x(cam)
    return to_px(cam) + np.array([wrist_px[0], wrist_px[1], 0.0])
