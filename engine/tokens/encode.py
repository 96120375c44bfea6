"""Landmarks of a clip -> MotionTokens (+ the performer's face neutral)."""
from __future__ import annotations

import numpy as np

from engine.tokens import body as B
from engine.tokens import face as F
from engine.tokens import hands as Hd
from engine.tokens.rig import FACE_TO_TORSO
from engine.tokens.schema import MotionTokens, TokenGroup
from engine.track import landmarks as L
from engine.track.types import ClipLandmarks

_TORSO = (L.L_SHOULDER, L.R_SHOULDER, L.L_HIP, L.R_HIP)


def _hold(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Frames without data take the nearest tracked frame's value (earlier first), so a renderer holds
    the last pose through a long gap instead of snapping; their confidence stays 0 so the gap shows."""
    if ok.all() or not ok.any():
        return values
    idx = np.where(ok, np.arange(len(ok)), -1)
    idx = np.maximum.accumulate(idx)
    first = int(np.argmax(ok))
    idx[idx < 0] = first
    return values[idx]


def encode_clip(lm: ClipLandmarks) -> tuple[MotionTokens, np.ndarray]:
    """Encode every frame. Returns the tokens and the face neutral (raw expression measures)."""
    t_len = len(lm)
    groups: dict[str, TokenGroup] = {}

    ok = lm.present("body") & np.isfinite(lm.body_world).all(axis=(1, 2))
    body = TokenGroup.empty("body", t_len)
    for t in np.where(ok)[0]:
        body.values[t] = B.encode_body_frame(lm.body_world[t], lm.body_conf[t])
        body.confidence[t] = float(np.clip(lm.body_conf[t, list(_TORSO)].mean(), 0.0, 1.0))
    body.values[:] = _hold(body.values, ok)
    groups["body"] = body

    ok = lm.present("face")
    face = TokenGroup.empty("face", t_len)
    raw = np.full((t_len, len(F.EXPRESSION)), np.nan)
    for t in np.where(ok)[0]:
        raw[t] = F.raw_expression(lm.face[t])
    neutral = F.estimate_neutral(raw)
    for t in np.where(ok)[0]:
        face.values[t] = F.encode_face_frame(lm.face[t], neutral)
        face.confidence[t] = float(lm.face_conf[t].mean())
    face.values[:] = _hold(face.values, ok)
    groups["face"] = face

    for side in ("left", "right"):
        name = f"{side}_hand"
        ok = lm.present(name)
        g = TokenGroup.empty(name, t_len)
        for t in np.where(ok)[0]:
            g.values[t] = Hd.encode_hand_frame(getattr(lm, name)[t], side)
            g.confidence[t] = float(getattr(lm, f"{name}_conf")[t].mean())
        g.values[:] = _hold(g.values, ok)
        groups[name] = g

    return MotionTokens(**groups, placement=placement(lm)), neutral


def anchor_and_scale(lm: ClipLandmarks, t: int) -> tuple[np.ndarray, float] | None:
    """The performer's pelvis centre and torso length (or a face-based stand-in) in frame t."""
    if np.isfinite(lm.body[t, list(_TORSO), :2]).all() and np.isfinite(lm.body_world[t]).all():
        return (B.virtual_points(lm.body[t])["hip_c"][:2],
                B.body_scale(lm.body[t], lm.body_world[t], lm.body_conf[t]))
    if np.isfinite(lm.face[t, :, :2]).all():
        loc, _, _ = F.local_face(lm.face[t])
        fh = float(np.linalg.norm(loc[L.FACE_FOREHEAD] - loc[L.FACE_CHIN]))
        return lm.face[t, :468, :2].mean(axis=0), FACE_TO_TORSO * fh
    return None


def placement(lm: ClipLandmarks) -> np.ndarray:
    """(T, 3) dx, dy in the performer's own first-frame torso lengths, and scale relative to it."""
    t_len = len(lm)
    raw = [anchor_and_scale(lm, t) for t in range(t_len)]
    ok = np.array([r is not None for r in raw])
    out = np.tile(np.array([0.0, 0.0, 1.0], np.float32), (t_len, 1))
    if not ok.any():
        return out
    first = int(np.argmax(ok))
    a0, s0 = raw[first]
    for t in np.where(ok)[0]:
        a, s = raw[t]
        out[t] = [(a[0] - a0[0]) / s0, (a[1] - a0[1]) / s0, s / s0]
    return _hold(out, ok)
