"""apply(tokens, rig): the rig's person in the driver's pose, as landmarks in the rig's image pixels."""
from __future__ import annotations

import numpy as np

from engine import vocabulary as vocab
from engine.tokens import body, face, hands
from engine.tokens.geometry import euler_yxz, frame_from_axes, normalize, to_cam
from engine.tokens.rig import Rig
from engine.tokens.schema import BODY_BONE_NAMES, BODY_FOLLOW, LIMBS, MotionTokens
from engine.track.types import FrameLandmarks

RELAXED_FLEX = 12.0  # degrees of curl per joint for a hand the driver does not show


def _relaxed_hand_token(forearm_dir_px: np.ndarray, side: str) -> np.ndarray:
    """A hand hanging on from the forearm, fingers loosely curled: for a hand missing in the driver."""
    d = to_cam(forearm_dir_px[None])[0]
    if side == "left":
        d[0] *= -1
    r = frame_from_axes(np.cross(d, [0.0, 0.0, 1.0]) if abs(d[2]) < 0.99 else np.array([1.0, 0, 0]), d)
    tok = list(euler_yxz(r))
    for f, spread in zip(range(5), (40.0, 8.0, 0.0, -8.0, -16.0)):
        tok += [spread, RELAXED_FLEX, RELAXED_FLEX, RELAXED_FLEX]
    return np.asarray(tok, np.float32)


def apply(tokens: MotionTokens, rig: Rig, t: int = 0) -> FrameLandmarks:
    """Frame `t` of `tokens` retargeted onto `rig`: its proportions, the driver's motion."""
    dx, dy, s = (float(v) for v in tokens.placement[t])
    out = FrameLandmarks(width=rig.width, height=rig.height)
    shift = np.array([dx * rig.scale, dy * rig.scale, 0.0])

    body_tok = body.blend_limbs(body.blend_torso(tokens.body.values[t], rig.body_token, tokens.start_body()),
                                rig.body_token) if tokens.body.confidence[t] > 0 else rig.body_token
    body_px, virt = body.apply_body_frame(body_tok, rig.bone_lengths, rig.root_px + shift, s)
    if rig.anchor_px is not None:  # the driver's pose hangs from the rig's anchor, zoomed about its pivot
        p = rig.zoom_pivot_px
        body_px = body_px + (p + s * (rig.anchor_px - p) + shift - virt[rig.anchor])
    body_px = body_px + rig.body_residual * s * body.residual_weights(body_tok, rig.body_token)[:, None]
    if rig.has_body:
        out.body, out.body_conf = body_px.astype(np.float32), np.ones(vocab.N_BODY, np.float32)
        out.body_world = np.full((vocab.N_BODY, 3), np.nan, np.float32)

    if rig.has_face:
        face_tok = tokens.face.values[t] if tokens.face.confidence[t] > 0 else rig.face_token
        centre = (body_px[vocab.NOSE] + rig.nose_to_face * s) if rig.has_body else rig.face_centre_px + shift
        face_px = face.apply_face_frame(face_tok, rig.face_local, centre, s)
        out.face, out.face_conf = face_px.astype(np.float32), np.ones(vocab.N_FACE, np.float32)
        if rig.has_body:
            _head_points_from_face(out.body, face_px)

    follow = dict(zip(LIMBS, np.asarray(body_tok)[BODY_FOLLOW]))
    for side, wrist_i, elbow_i in (("left", vocab.L_WRIST, vocab.L_ELBOW), ("right", vocab.R_WRIST, vocab.R_ELBOW)):
        grp = tokens.group(f"{side}_hand")
        hs = rig.hands[side]
        arm_follows = follow[f"{side[0]}_arm"] >= 0.5
        unseen = False  # neither the driver nor the photo shows this hand
        if grp.confidence[t] > 0 and arm_follows:
            tok = grp.values[t]
        elif hs.own_token is not None and (not arm_follows or grp.confidence[t] <= 0):
            tok = hs.own_token  # the driver does not show this hand (or arm): keep the photo's hand
        else:
            tok = _relaxed_hand_token(normalize(body_px[wrist_i] - body_px[elbow_i]), side)
            unseen = True
        base = body_px[wrist_i].copy()
        if hs.wrist_offset is not None:
            forearm = rig.bone_lengths[BODY_BONE_NAMES.index(f"{side[0]}_forearm")] * s
            base[:2] += _wrist_shift(hs.wrist_offset, body_px[wrist_i, :2] - body_px[elbow_i, :2],
                                     hs.forearm_seen * forearm, hs.forearm_dir)
        hand = hands.apply_hand_frame(tok, hs.palm, hs.segments, base, side, s)
        hand[:, 2] += body_px[wrist_i, 2]
        setattr(out, f"{side}_hand", hand.astype(np.float32))
        # confidence 0 marks a hand nobody showed: a renderer need not draw it while the arm keeps the
        # photo's pose (hands in pockets stay in the pockets)
        conf = 0.0 if unseen else max(float(grp.confidence[t]), 0.3)
        setattr(out, f"{side}_hand_conf", np.full(vocab.N_HAND, conf, np.float32))
        if rig.has_body:
            pinky, index, thumb = ((vocab.L_PINKY, vocab.L_INDEX, vocab.L_THUMB) if side == "left"
                                   else (vocab.R_PINKY, vocab.R_INDEX, vocab.R_THUMB))
            out.body[pinky], out.body[index], out.body[thumb] = hand[17], hand[5], hand[3]
    return out


def _wrist_shift(offset: np.ndarray, forearm_px: np.ndarray, forearm_len: float,
                 photo_dir: np.ndarray | None) -> np.ndarray:
    """The rig's hand-wrist offset turned with the forearm as posed, in full near the photo's own forearm
    pose and fading out as the forearm turns away from it (body.RESIDUAL_FADE_DEG, as the body's own
    correction fades): the disagreement between the trackers belongs to the photo's pose, and carried
    into far-off poses it moved the drawn hands off the arm (finger flexion re-tracked 5.8 -> 8.3 deg on
    the open-hands photo x the hands clip). A forearm pointing at the camera has no direction across the
    image: the offset also shrinks as it shortens below its length in the photo (`forearm_len`)."""
    n = float(np.linalg.norm(forearm_px))
    if n < 1e-6 or photo_dir is None:
        return np.zeros(2)
    e = forearm_px / n
    turn = np.degrees(np.arccos(np.clip(float(e @ photo_dir), -1.0, 1.0)))
    weight = min(1.0, n / max(forearm_len, 1e-6)) * float(np.exp(-(turn / body.RESIDUAL_FADE_DEG) ** 2))
    return weight * (offset[0] * e + offset[1] * np.array([-e[1], e[0]]))


def _head_points_from_face(body_px: np.ndarray, face_px: np.ndarray) -> None:
    """Body points 1-10 (eyes, ears, mouth) where the retargeted face puts them."""
    body_px[vocab.L_EYE] = face_px[vocab.IRIS_L[0]]
    body_px[vocab.R_EYE] = face_px[vocab.IRIS_R[0]]
    body_px[1], body_px[3] = face_px[vocab.EYE_L[2]], face_px[vocab.EYE_L[3]]
    body_px[4], body_px[6] = face_px[vocab.EYE_R[2]], face_px[vocab.EYE_R[3]]
    body_px[vocab.L_EAR], body_px[vocab.R_EAR] = face_px[vocab.FACE_SIDE_L], face_px[vocab.FACE_SIDE_R]
    body_px[vocab.MOUTH_L], body_px[vocab.MOUTH_R] = face_px[vocab.MOUTH_CORNER_L], face_px[vocab.MOUTH_CORNER_R]
