"""A rig: one person's proportions (bone lengths, face shape, hand shape) read off a photo or a frame."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import NoPersonError
from engine import vocabulary as vocab
from engine.tokens import body, face, hands, schema
from engine.tokens.geometry import euler_yxz, to_px
from engine.track.types import FrameLandmarks
# Bone lengths of a generic person in torso lengths (BODY_BONES order), for a face-only photo.
GENERIC_LENGTHS = np.array([1.0, 0.55, 0.4, 0.4, 0.55, 0.48, 0.2, 0.55, 0.48, 0.2, 0.2, 0.2, 0.85, 0.8,
                            0.3, 0.12, 0.85, 0.8, 0.3, 0.12])


@dataclass
class HandShape:
    palm: np.ndarray  # (6, 3) palm points in the palm frame, px
    segments: np.ndarray  # (5, 3) finger segment lengths, px
    from_photo: bool  # False: the generic template sized from the forearm
    own_token: np.ndarray | None = None  # the hand's pose in the photo, when the photo shows it
    # Where the hand model put the wrist, from the body model's wrist, in the forearm's frame (px along the
    # elbow -> wrist direction, px across it), and the forearm's projected length in the photo over its
    # rig length: the two trackers disagree by up to a quarter of a forearm, and a hand hung on the body's
    # wrist moved the photo's own hand (and all its pixels) at rest.
    wrist_offset: np.ndarray | None = None
    forearm_seen: float = 1.0
    forearm_dir: np.ndarray | None = None  # (2,) the photo's elbow -> wrist direction in the image


@dataclass
class Rig:
    width: int
    height: int
    has_body: bool
    has_face: bool
    root_px: np.ndarray  # pelvis centre (3,)
    scale: float  # torso length px: the unit of placement
    bone_lengths: np.ndarray  # (bones,) px
    body_token: np.ndarray  # the photo's own pose as a body token
    face_local: np.ndarray | None  # (478, 3) neutral face in its head frame, px
    face_centre_px: np.ndarray | None
    face_token: np.ndarray | None  # the photo's own head rotation, zero expression
    nose_to_face: np.ndarray  # face centre minus body nose, px
    body_residual: np.ndarray  # (33, 3) photo joints minus the skeleton's own forward kinematics, px
    hands: dict[str, HandShape] = field(default_factory=dict)
    source: FrameLandmarks | None = None
    # The body point a pose pivots about: the pelvis when the photo shows the hips, else the shoulders'
    # centre, so a half-body photo's guessed hips never swing its visible shoulders and head.
    anchor: str = "hip_c"
    anchor_px: np.ndarray | None = None  # where the anchor lies in the photo's own pose, px
    # What the person grows and shrinks about: the anchor, or where the body leaves a photo cut off at the
    # bottom (a shrinking half-body must not lift its cut edge off the border and show the wall below).
    zoom_pivot_px: np.ndarray | None = None

    @classmethod
    def from_landmarks(cls, fl: FrameLandmarks, lengths_from: np.ndarray | None = None,
                       hands_from: dict[str, np.ndarray] | None = None) -> "Rig":
        """Build from one frame. `lengths_from` (T, 33, 3) metric world landmarks and `hands_from`
        ({side: (T, 21, 3) px}), if given, take median proportions over a clip, steadier than one frame's
        (single-frame depth is noisy)."""
        has_body, has_face = fl.has("body"), fl.has("face")
        if not has_body and not has_face:
            raise NoPersonError("no person found to build a rig from")
        face_local = face_centre = face_token = None
        face_h = None
        anchor, anchor_px, zoom_pivot = "hip_c", None, None
        if has_face:
            loc, r, c = face.local_face(fl.face)
            face_local = loc
            face_centre = to_px(c)
            lay = schema.layout("face")
            face_token = np.zeros(len(lay), np.float32)  # the photo's head turn, no expression
            face_token[lay.span("head")] = euler_yxz(r)
            face_h = float(np.linalg.norm(loc[vocab.FACE_FOREHEAD] - loc[vocab.FACE_CHIN]))
        residual = np.zeros((vocab.N_BODY, 3))
        if has_body and not np.isfinite(fl.body_world).all():
            has_body = False  # a body without its metric skeleton cannot be posed
            if not has_face:
                raise NoPersonError("the body found has no 3D skeleton to build a rig from")
        if has_body:
            k = body.px_per_metre(fl.body, fl.body_world, fl.body_conf)
            if lengths_from is not None:
                ok = np.isfinite(lengths_from).all(axis=(1, 2))
                lengths = np.median(np.stack([body.bone_lengths(p) for p in lengths_from[ok]]), axis=0) * k
            else:
                lengths = body.bone_lengths(fl.body_world) * k
            body_token = body.encode_body_frame(fl.body_world, fl.body_conf, fl.body)
            root = body.virtual_points(fl.body)["hip_c"]
            scale = float(lengths[0])
            nose_to_face = (face_centre - fl.body[vocab.NOSE]) if has_face else np.zeros(3)
            # The metric skeleton projects onto the photo only approximately; keep the difference so the
            # photo's own pose lands exactly on the photo's own joints.
            fk, fk_virt = body.apply_body_frame(body_token, lengths, root)
            residual = np.where(np.isfinite(fk), fl.body - fk, 0.0)
            residual[:, 2] = 0.0
            anchor = "hip_c" if _shown(fl, (vocab.L_HIP, vocab.R_HIP)) else "shoulder_c"
            # where the skeleton puts the anchor: the residual (which fades as the pose moves) is added after
            anchor_px = fk_virt[anchor]
            zoom_pivot = np.array(anchor_px, np.float64)
            if not _shown(fl, (vocab.L_ANKLE, vocab.R_ANKLE)):
                zoom_pivot[1] = max(zoom_pivot[1], fl.height)
        else:
            scale = vocab.FACE_HEIGHT_TO_TORSO * face_h
            lengths = GENERIC_LENGTHS * scale
            body_token = schema.layout("body").neutral.copy()  # standing, arms down
            nose_to_face = np.zeros(3)
            # Hang an unseen body below the face: the pelvis one torso plus a neck below the face centre.
            root = face_centre + np.array([0.0, scale * (1.0 + GENERIC_LENGTHS[1]), 0.0])
        hand_shapes = {}
        forearm = float(lengths[5])
        for side in ("left", "right"):
            pts = getattr(fl, f"{side}_hand")
            many = hands_from.get(side) if hands_from else None
            ok = np.isfinite(many).all(axis=(1, 2)) if many is not None else None
            if ok is not None and ok.any():
                shapes = [hands.hand_shape(p, side) for p in many[ok]]
                palm = np.median(np.stack([s[0] for s in shapes]), axis=0)
                seg = np.median(np.stack([s[1] for s in shapes]), axis=0)
                hand_shapes[side] = HandShape(palm, seg, True)
            elif fl.has(f"{side}_hand"):
                palm, seg = hands.hand_shape(pts, side)
                hand_shapes[side] = HandShape(palm, seg, True)
            if fl.has(f"{side}_hand") and side in hand_shapes:
                hand_shapes[side].own_token = hands.encode_hand_frame(pts, side)
                if has_body:
                    hs = hand_shapes[side]
                    hs.wrist_offset, hs.forearm_seen, hs.forearm_dir = _wrist_offset(
                        fl, side, float(lengths[schema.BODY_BONE_NAMES.index(f"{side[0]}_forearm")]))
            else:
                palm, seg = hands.template_shape(forearm)
                hand_shapes[side] = HandShape(palm, seg, False)
        return cls(width=fl.width, height=fl.height, has_body=has_body, has_face=has_face,
                   root_px=np.asarray(root, np.float64), scale=scale, bone_lengths=np.asarray(lengths),
                   body_token=body_token, face_local=face_local, face_centre_px=face_centre,
                   face_token=face_token, nose_to_face=np.asarray(nose_to_face), body_residual=residual,
                   hands=hand_shapes, source=fl, anchor=anchor,
                   anchor_px=None if anchor_px is None else np.asarray(anchor_px, np.float64),
                   zoom_pivot_px=zoom_pivot)


def _wrist_offset(fl: FrameLandmarks, side: str,
                  forearm_len: float) -> tuple[np.ndarray | None, float, np.ndarray | None]:
    """The hand's wrist from the body's wrist as (along, across) the photo's forearm, px, the forearm's
    projected share of `forearm_len` and its direction; (None, 1, None) where the photo's forearm is not seen."""
    elbow, wrist = (vocab.L_ELBOW, vocab.L_WRIST) if side == "left" else (vocab.R_ELBOW, vocab.R_WRIST)
    if min(fl.body_conf[elbow], fl.body_conf[wrist]) < SHOWN:
        return None, 1.0, None
    e = fl.body[wrist, :2].astype(np.float64) - fl.body[elbow, :2]
    n = float(np.linalg.norm(e))
    d = getattr(fl, f"{side}_hand")[0, :2].astype(np.float64) - fl.body[wrist, :2]
    if not np.isfinite(d).all() or n < 1e-6:
        return None, 1.0, None
    e /= n
    return np.array([d @ e, d @ np.array([-e[1], e[0]])]), min(1.0, n / max(forearm_len, 1e-6)), e


SHOWN = 0.5  # the tracker's visibility from which a photo's joint counts as seen, not guessed


def _shown(fl: FrameLandmarks, joints: tuple[int, ...]) -> bool:
    """Whether the photo shows all these body joints inside the picture."""
    p = fl.body[list(joints), :2]
    inside = ((p >= 0) & (p <= [fl.width - 1, fl.height - 1])).all()
    return bool(inside and np.min(fl.body_conf[list(joints)]) >= SHOWN)
