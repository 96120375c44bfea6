"""Landmarks of a clip -> MotionTokens (+ the performer's face neutral)."""
from __future__ import annotations

import numpy as np

from engine import vocabulary as vocab
from engine.tokens import body, face, hands
from engine.tokens.schema import START_FRAMES, MotionTokens, TokenGroup
from engine.track.types import ClipLandmarks

_TORSO = (vocab.L_SHOULDER, vocab.R_SHOULDER, vocab.L_HIP, vocab.R_HIP)


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
    body_group = TokenGroup.empty("body", t_len)
    for t in np.where(ok)[0]:
        body_group.values[t] = body.encode_body_frame(lm.body_world[t], lm.body_conf[t], lm.body[t])
        body_group.confidence[t] = float(np.clip(lm.body_conf[t, list(_TORSO)].mean(), 0.0, 1.0))
    body_group.values[:] = _hold(body_group.values, ok)
    groups["body"] = body_group

    ok = lm.present("face")
    face_group = TokenGroup.empty("face", t_len)
    raw = np.full((t_len, len(face.MEASURES)), np.nan)
    for t in np.where(ok)[0]:
        raw[t] = face.raw_expression(lm.face[t])
    neutral = face.estimate_neutral(raw)
    for t in np.where(ok)[0]:
        face_group.values[t] = face.encode_face_frame(lm.face[t], neutral, raw[t])
        face_group.confidence[t] = float(lm.face_conf[t].mean())
    face_group.values[:] = _hold(face_group.values, ok)
    groups["face"] = face_group

    for side in ("left", "right"):
        name = f"{side}_hand"
        ok = lm.present(name)
        g = TokenGroup.empty(name, t_len)
        for t in np.where(ok)[0]:
            g.values[t] = hands.encode_hand_frame(getattr(lm, name)[t], side)
            g.confidence[t] = float(getattr(lm, f"{name}_conf")[t].mean())
        g.values[:] = _hold(g.values, ok)
        groups[name] = g

    return MotionTokens(**groups, placement=placement(lm)), neutral


VISIBLE = 0.5


def anchor_mode(lm: ClipLandmarks) -> str:
    """Which point placement follows for the whole clip: the pelvis when the hips are in view, else the
    shoulders (a half-body clip, whose hips the tracker only guesses), else the face."""
    ok = lm.present("body")
    if ok.any():
        # Hips count as seen only with the thighs below them: MediaPipe rates hips on a frame's bottom edge
        # visible (0.97 on the shared hands clip), but their place there is a guess, and a torso measured to
        # them grew 9% in the first second while the performer's face and shoulders shrank 3%.
        hips = min(np.median(lm.body_conf[ok][:, [vocab.L_HIP, vocab.R_HIP]]),
                   np.median(lm.body_conf[ok][:, [vocab.L_KNEE, vocab.R_KNEE]]))
        shoulders = np.median(lm.body_conf[ok][:, [vocab.L_SHOULDER, vocab.R_SHOULDER]])
        if hips >= VISIBLE:
            return "hip_c"
        if shoulders >= VISIBLE:
            return "shoulder_c"
    return "face"


def anchor_and_scale(lm: ClipLandmarks, t: int, mode: str = "hip_c") -> tuple[np.ndarray, float, float] | None:
    """Frame t's anchor point (px), projection scale (px per unit of the performer's own size) and that
    unit in px at this scale. Body: px per metre of the metric skeleton (fitted on the joints in view) and
    the torso length; face: the face height stands in for both."""
    face_ok = np.isfinite(lm.face[t, :, :2]).all()
    if mode != "face" and np.isfinite(lm.body[t, list(_TORSO), :2]).all() and np.isfinite(lm.body_world[t]).all():
        anchor = body.virtual_points(lm.body[t])[mode][:2]
        k = body.px_per_metre(lm.body[t], lm.body_world[t], lm.body_conf[t])
        if np.isfinite(k) and k > 0:
            return anchor, k, body.body_scale(lm.body[t], lm.body_world[t], k=k)
        if not face_ok:
            return None
        # Too few joints in view to fit a scale (k = 0 gave infinite placements): the face's size stands in.
        fh = _face_height(lm.face[t])
        return anchor, fh, vocab.FACE_HEIGHT_TO_TORSO * fh
    if face_ok:
        fh = _face_height(lm.face[t])
        return lm.face[t, :vocab.N_FACE_MESH, :2].mean(axis=0), fh, vocab.FACE_HEIGHT_TO_TORSO * fh
    return None


def _face_height(face_px: np.ndarray) -> float:
    loc, _, _ = face.local_face(face_px)
    return float(np.linalg.norm(loc[vocab.FACE_FOREHEAD] - loc[vocab.FACE_CHIN]))


def placement(lm: ClipLandmarks) -> np.ndarray:
    """(T, 3) dx, dy in the performer's own torso lengths (as seen in the first frame), and the zoom
    relative to the first frame (the ratio of projection scales, immune to how the torso is guessed)."""
    t_len = len(lm)
    mode = anchor_mode(lm)
    raw = [anchor_and_scale(lm, t, mode) for t in range(t_len)]
    ok = np.array([r is not None for r in raw])
    out = np.tile(np.array([0.0, 0.0, 1.0], np.float32), (t_len, 1))
    if not ok.any():
        return out
    zoom = _zoom(lm, np.array([r[2] if r is not None else np.nan for r in raw]), mode)
    unit = float(np.median([r[2] / zoom[t] for t, r in enumerate(raw) if r is not None]))  # start torso px
    # The start is the median of the first tracked moments, not frame 0 alone: the tracker's first frame
    # (detection, before temporal tracking settles) is often an outlier.
    start = np.where(ok)[0][:START_FRAMES]
    a0 = np.median([raw[t][0] for t in start], axis=0)
    for t in np.where(ok)[0]:
        a = raw[t][0]
        out[t] = [(a[0] - a0[0]) / unit, (a[1] - a0[1]) / unit, zoom[t]]
    return _hold(out, ok)


ZOOM_SMOOTH_FRAMES = 9  # apparent size changes slowly (walking closer, a zoom); faster wobble is noise


def _zoom(lm: ClipLandmarks, torso_px: np.ndarray, mode: str) -> np.ndarray:
    """(T,) apparent size relative to the start, smoothed. With the whole body in view: the metric torso
    projected into the image (MediaPipe's metric skeleton rescales itself from frame to frame, and its
    projected lengths are what forward kinematics must reproduce). When the hips are out of view the torso
    is a guess, so the skull's size in the face mesh is the cue (the steadiest size in a half-body shot):
    the spread of the points that move with the skull, not the forehead-to-chin height, which grows as the
    jaw opens (the whole person swelled 2% with every open mouth of the green-screen face clip, the zoom's
    correlation with jaw_open 0.96; the skull's spread varies 6x less over that clip)."""
    face_ok = lm.present("face")
    if mode != "hip_c" and face_ok.mean() >= 0.5:
        cue = np.full(len(lm), np.nan)
        rigid = list(vocab.FACE_RIGID)
        for t in np.where(face_ok)[0]:
            loc, _, _ = face.local_face(lm.face[t])
            skull = loc[rigid]
            cue[t] = np.sqrt(((skull - skull.mean(axis=0)) ** 2).sum(axis=1).mean())
    else:
        cue = torso_px.astype(np.float64)
    ok = np.isfinite(cue)
    if not ok.any():
        return np.ones(len(lm))
    cue = np.interp(np.arange(len(cue)), np.where(ok)[0], cue[ok])
    from scipy.ndimage import median_filter, uniform_filter1d

    cue = uniform_filter1d(median_filter(cue, ZOOM_SMOOTH_FRAMES, mode="nearest"), ZOOM_SMOOTH_FRAMES,
                           mode="nearest")
    return cue / float(np.median(cue[np.where(ok)[0][:START_FRAMES]]))
