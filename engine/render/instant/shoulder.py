"""The shoulder cap that the body and an arm piece share.

The mesh is cut into a body piece and an arm piece per side (engine.render.instant.mesh), and the seam
between them crosses the sleeve just below the shoulder. Around the shoulder joint both pieces are skinned
alike, blending the torso's bones and the arm's by the angle about the joint (shoulder_share); the
per-frame deform turns those vertices by angle about it (engine.render.instant.deform.pivot_skin) and the
ARAP solve holds them there (engine.render.instant.analysis.stage7_solver).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from engine.render.instant.config import WarpConfig
from engine.render.instant.mesh import skin_weights
from engine.render.instant.skeleton import PIECE_BODY, PIECE_L_ARM, PIECE_R_ARM, Skeleton

SHOULDER_CAP_U = 0.35  # body and arm vertices this close (u) to a shoulder joint are skinned alike ...
SHOULDER_CAP_FADE_U = 0.15  # ... each piece taking back its own bones over this much further (u)
ARM_RAMP_DEG = 45.0  # the body's share rises over this angle from the arm's axis (under the arm)


def shoulder_share(verts: np.ndarray, sk: Skeleton, side: str, arm: bool) -> np.ndarray | None:
    """(V,) share of the arm's skinning (the rest: the torso's) for vertices of the body piece (`arm` False) or
    of that side's arm piece (`arm` True); None without the shoulder's bones.

    The seam between the body and an arm piece crosses the sleeve just below the shoulder. Skinned to their
    own bones only, the sleeve cap above the seam stayed with the clavicle while the sleeve below turned with
    the upper arm: a moved arm showed the shoulder's outline twice (the cap where it was, the sleeve where it
    went). Both bones turn about the same joint, so around it the share is a fan over the angle: all arm
    along the arm, falling linearly over the top of the shoulder to none along the clavicle (a hanging arm:
    two thirds at a sideways seam, a third on top). Within SHOULDER_CAP_U of the joint both pieces take the
    same share, so where they meet they land on the same pixels (engine.render.instant.deform.pivot_skin
    turns them by angle about the joint). The fan does not reach round the torso's side of the arm (the
    armpit): there the arm lies in front of the torso and each piece keeps its own bones. The body's share
    rises from none on the arm's axis to the fan's over ARM_RAMP_DEG (the body's part of the shoulder disc
    under the arm, which the arm covers), so that the torso's side along the arm stays; the arm's share past
    the clavicle rises back to all over the same angle; beyond the cap each piece fades back to its own
    bones."""
    ua, cl = sk.index.get(f"{side}_upper_arm"), sk.index.get(f"{side}_clavicle")
    if ua is None or cl is None:
        return None
    s = sk.src_a[ua]  # the shoulder joint: where the clavicle ends and the upper arm starts
    a, k = sk.src_b[ua] - s, sk.src_a[cl] - s  # along the arm; towards the neck
    na, nk = float(np.hypot(*a)), float(np.hypot(*k))
    if na < 1e-6 or nk < 1e-6:
        return None
    a, k = a / na, k / nk
    lateral = np.array([-a[1], a[0]])
    if lateral @ k > 0:  # the side of the arm away from the neck
        lateral = -lateral
    d = verts - s
    theta = np.degrees(np.arctan2(d @ lateral, d @ a)) % 360.0  # from the arm, round over the shoulder's top
    to_neck = 360.0 - float(np.degrees(np.arccos(np.clip(a @ k, -1.0, 1.0))))  # the clavicle's angle
    ramp = max(min(ARM_RAMP_DEG, 0.5 * (360.0 - to_neck), 0.5 * to_neck), 1e-3)  # (an arm along the clavicle)
    fan = np.clip(1.0 - theta / to_neck, 0.0, 1.0)
    if arm:  # past the clavicle, round to the arm's underside: the arm's own
        fan = np.where(theta > to_neck, np.clip((theta - to_neck) / ramp, 0.0, 1.0), fan)
    else:  # the torso's side below the shoulder: the torso's own
        fan = np.where(theta > to_neck, 0.0, fan * np.clip(theta / ramp, 0.0, 1.0))
    cap = shoulder_cap(verts, sk, side)
    return 1.0 - (1.0 - fan) * cap if arm else fan * cap


def shoulder_cap(verts: np.ndarray, sk: Skeleton, side: str) -> np.ndarray:
    """(V,) 1 within SHOULDER_CAP_U of that side's shoulder joint, fading to 0 over SHOULDER_CAP_FADE_U."""
    ua = sk.index.get(f"{side}_upper_arm")
    if ua is None:
        return np.zeros(len(verts))
    r = np.hypot(*(verts - sk.src_a[ua]).T)
    return np.clip((SHOULDER_CAP_U + SHOULDER_CAP_FADE_U - r / sk.u) / SHOULDER_CAP_FADE_U, 0.0, 1.0)


def shoulder_caps(sk: Skeleton, piece: str, verts: np.ndarray, w: np.ndarray, on_hand: np.ndarray,
                  allowed: Callable[[str], np.ndarray],
                  config: WarpConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A piece's weights (V, B) with its vertices around each shoulder blended towards the other piece's
    bones (the body's towards the arm's, an arm's towards the torso's; `allowed(piece)`: the (B,) bones that
    skin a piece) by shoulder_share: both pieces then skin the sleeve cap alike, and a moved arm takes the
    cap with it. A hand's own vertices (`on_hand` (V,) bool: a hand on the shoulder) keep their piece's weights. Also (V,) how far
    each vertex lies in such a cap (shoulder_cap) and (V, 2) the shoulder joint it turns about."""
    cap, centre = np.zeros(len(verts)), np.zeros((len(verts), 2))
    for side, arm in (("l", PIECE_L_ARM), ("r", PIECE_R_ARM)):
        if piece not in (PIECE_BODY, arm) or not (sk.pieces == arm).any():
            continue
        share = shoulder_share(verts, sk, side, arm=piece == arm)
        if share is None:
            continue
        own = share if piece == arm else 1.0 - share  # the piece's own bones' part
        own[on_hand] = 1.0
        here = np.where(on_hand, 0.0, shoulder_cap(verts, sk, side))
        centre[here > cap] = sk.src_a[sk.index[f"{side}_upper_arm"]]
        cap = np.maximum(cap, here)
        mix = own < 1.0
        if not mix.any():
            continue
        other = np.tile(allowed(PIECE_BODY if piece == arm else arm), (int(mix.sum()), 1))
        w = w.copy()
        w[mix] = own[mix, None] * w[mix] + (1.0 - own[mix, None]) * skin_weights(verts[mix], sk, other, config)
    return w, cap, centre
