"""Body token: pelvis orientation plus unit bone directions in the pelvis frame (no bone lengths)."""
from __future__ import annotations

import numpy as np

from engine import vocabulary as vocab
from engine.tokens import schema
from engine.tokens.geometry import (euler_yxz, frame_from_axes, normalize, rot_yxz, slerp_rotation, to_cam, to_px,
                                    turn_between)
from engine.tokens.schema import BODY_BONE_NAMES, BODY_BONES, BODY_DIRS, BODY_FOLLOW, BODY_TORSO, LIMBS

VIS_LOW, VIS_HIGH = 0.2, 0.6  # a limb seen less than VIS_LOW is out of view (follow 0); fully followed from VIS_HIGH
_BONE_LIMB = np.array([next((k for k, (limb, bones) in enumerate(LIMBS.items()) if name in bones), -1)
                       for name in BODY_BONE_NAMES])
_BONE_VIRTUAL = ("hip_c", "shoulder_c", "l_hand_c", "r_hand_c")  # the virtual points the token's bones use


def virtual_points(p: np.ndarray) -> dict[object, np.ndarray]:
    """Body points by index plus the midpoints the bone table names (engine.vocabulary.VIRTUAL_POINTS)."""
    pts: dict[object, np.ndarray] = {i: p[i] for i in range(p.shape[0])}
    for name in _BONE_VIRTUAL:
        a, b = vocab.VIRTUAL_POINTS[name]
        pts[name] = (p[a] + p[b]) / 2
    return pts


# Rows of the stacked points: the 33 landmarks, then the virtual midpoints in _BONE_VIRTUAL order.
_ROW = {**{i: i for i in range(vocab.N_BODY)}, **{k: vocab.N_BODY + j for j, k in enumerate(_BONE_VIRTUAL)}}
_PARENT = np.array([_ROW[p] for _, p, _ in BODY_BONES])
_CHILD = np.array([_ROW[c] for _, _, c in BODY_BONES])
_LIMB_JOINT_IDX = np.array([vocab.LIMB_JOINTS[limb] for limb in LIMBS])


def _stacked(p: np.ndarray) -> np.ndarray:
    """(37, 3): the 33 points and the virtual midpoints, for vectorised bone vectors."""
    return np.concatenate([p, [(p[a] + p[b]) / 2 for a, b in (vocab.VIRTUAL_POINTS[n] for n in _BONE_VIRTUAL)]])


IMAGE_SEEN = 0.5  # both ends of a bone at least this visible: its direction across the image is the image's


def encode_body_frame(body_world: np.ndarray, conf: np.ndarray, body_px: np.ndarray | None = None) -> np.ndarray:
    """(33, 3) metric world landmarks + (33,) visibility -> body token vector, written by channel name.

    Directions come from MediaPipe's metric 3D skeleton, whose bone lengths stay steady across frames
    (image-space depth is far noisier), so a direction means the same pose in every frame. With the image
    landmarks `body_px` (33, 3) given, each seen bone keeps the skeleton's tilt towards or away from the camera
    but turns about the camera's axis to the direction the image shows: the skeleton is a separate regression
    whose projection strays from the image points (mean 4.5-6.8 degrees on the shared dance and hands clips,
    p90 10-16), and a renderer and a re-tracker see the image's direction.
    """
    pts = _stacked(to_cam(body_world))
    r = frame_from_axes(pts[vocab.L_HIP] - pts[vocab.R_HIP], pts[_ROW["shoulder_c"]] - pts[_ROW["hip_c"]])
    vec = pts[_CHILD] - pts[_PARENT]
    if body_px is not None:
        vec = _image_turned(vec, body_px, conf)
    dirs = normalize(vec) @ r  # (bones, 3) in the pelvis frame
    follow = np.clip((np.asarray(conf)[_LIMB_JOINT_IDX].mean(axis=1) - VIS_LOW) / (VIS_HIGH - VIS_LOW), 0.0, 1.0)
    lay = schema.layout("body")
    out = lay.neutral.copy()  # a channel this encoder does not measure keeps its neutral
    out[lay.span("torso")] = euler_yxz(r)
    out[lay.span_of(schema.body_dir_names())] = dirs.reshape(-1)
    out[lay.span("follow")] = follow
    return out


def _image_turned(vec: np.ndarray, body_px: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """(bones, 3) camera-frame bone vectors turned about the camera axis onto the image's bone directions,
    for the bones whose ends the image shows (elsewhere unchanged)."""
    img = _stacked(to_cam(np.asarray(body_px, np.float64)))
    c = np.asarray(conf, np.float64)
    seen = np.concatenate([c, [min(c[a], c[b]) for a, b in (vocab.VIRTUAL_POINTS[n] for n in _BONE_VIRTUAL)]])
    d2 = img[_CHILD, :2] - img[_PARENT, :2]
    n2 = np.linalg.norm(d2, axis=1)
    across = np.linalg.norm(vec[:, :2], axis=1)  # the skeleton's length across the image, kept
    use = (np.minimum(seen[_CHILD], seen[_PARENT]) >= IMAGE_SEEN) & (n2 > 1e-6) & np.isfinite(n2)
    out = vec.copy()
    out[use, :2] = d2[use] / n2[use, None] * across[use, None]
    return out


def blend_limbs(token: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The driver's token with each limb pulled towards `own` (the reference photo's pose) as far as the
    limb's follow weight is below 1, so limbs the driver does not show keep the photo's pose."""
    out = np.array(token, dtype=np.float64, copy=True)
    w = np.clip(out[BODY_FOLLOW], 0.0, 1.0)
    dirs = out[BODY_DIRS].reshape(-1, 3)
    own_dirs = np.asarray(own, np.float64)[BODY_DIRS].reshape(-1, 3)
    for b, limb in enumerate(_BONE_LIMB):
        if limb >= 0 and w[limb] < 1.0:
            dirs[b] = normalize(w[limb] * normalize(dirs[b]) + (1 - w[limb]) * own_dirs[b])
    out[BODY_DIRS] = dirs.reshape(-1)
    return out


def blend_torso(token: np.ndarray, own: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The driver's token with the pelvis, neck and shoulders taken relative to the driver's `start`, as far
    as the driver's legs are out of view: the photo's own (`own`) turned by the driver's change since then.

    Without the legs the tracker guesses the hips, and the pelvis frame built on them: the pelvis
    orientation of a half-body or talking-head clip, and the neck and shoulder directions measured in that
    frame, say little about the person, though their changes still show a shrug or a turn. Copied as they
    are, they would turn a three-quarter photo square to the camera (its shoulders spread, its head dropped
    into the collar). The arms and legs keep the driver's directions (blend_limbs decides those), and the
    face token still turns the head."""
    out = np.array(token, dtype=np.float64, copy=True)
    w = float(np.clip(np.max(out[BODY_FOLLOW][_LEG_LIMBS]), 0.0, 1.0))
    if w >= 1.0:
        return out
    own, start = np.asarray(own, np.float64), np.asarray(start, np.float64)
    r = rot_yxz(*out[BODY_TORSO])
    relative = r @ rot_yxz(*start[BODY_TORSO]).T @ rot_yxz(*own[BODY_TORSO])
    r_out = slerp_rotation(relative, r, w)
    out[BODY_TORSO] = euler_yxz(r_out)
    dirs = out[BODY_DIRS].reshape(-1, 3)
    # the limbs point where the driver's do, seen from the camera, whatever the pelvis under them did
    dirs[_LIMB_BONES] = dirs[_LIMB_BONES] @ (r_out.T @ r).T
    own_dirs = normalize(own[BODY_DIRS].reshape(-1, 3))
    start_dirs = normalize(start[BODY_DIRS].reshape(-1, 3))
    for b in _AXIAL:
        d = normalize(dirs[b])
        moved = turn_between(start_dirs[b], own_dirs[b]) @ d  # the photo's direction, moved as the driver's
        dirs[b] = normalize(w * d + (1 - w) * moved)
    out[BODY_DIRS] = dirs.reshape(-1)
    return out


_LEG_LIMBS = [k for k, limb in enumerate(LIMBS) if limb.endswith("_leg")]
_AXIAL = [BODY_BONE_NAMES.index(n) for n in ("neck", "l_clavicle", "r_clavicle")]
_LIMB_BONES = [BODY_BONE_NAMES.index(b) for bones in LIMBS.values() for b in bones]


def bone_lengths(body_world: np.ndarray) -> np.ndarray:
    """(bones,) 3D lengths of one frame's skeleton, in its units (metres for world landmarks)."""
    cam = virtual_points(to_cam(body_world))
    return np.array([np.linalg.norm(cam[c] - cam[p]) for _, p, c in BODY_BONES])


def apply_body_frame(token: np.ndarray, lengths: np.ndarray, root_px: np.ndarray, scale: float = 1.0
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Forward kinematics: token + the rig's bone lengths (px) -> (33, 3) px, pelvis centre at root_px.

    Returns the points and the virtual points (for attaching hands and the head).
    """
    r = rot_yxz(*token[BODY_TORSO])
    dirs = normalize(np.asarray(token[BODY_DIRS], np.float64).reshape(-1, 3))
    cam: dict[object, np.ndarray] = {"hip_c": to_cam(root_px)}
    for b, (_, parent, child) in enumerate(BODY_BONES):
        cam[child] = cam[parent] + scale * lengths[b] * (r @ dirs[b])
    out = np.full((vocab.N_BODY, 3), np.nan)
    for k, v in cam.items():
        if isinstance(k, int):
            out[k] = to_px(v)
    virt = {k: to_px(v) for k, v in cam.items() if isinstance(k, str)}
    # Points the bone table does not reach: the head's sides sit at the nose and the hand's knuckles at
    # the hand centre until the face and hand tokens place them properly.
    for i in range(1, 11):
        out[i] = out[vocab.NOSE]
    out[[vocab.L_PINKY, vocab.L_INDEX, vocab.L_THUMB]] = virt["l_hand_c"]
    out[[vocab.R_PINKY, vocab.R_INDEX, vocab.R_THUMB]] = virt["r_hand_c"]
    return out, virt


RESIDUAL_FADE_DEG = 25.0  # how far a bone may turn from the photo's pose before its correction fades out


def residual_weights(token: np.ndarray, rest_token: np.ndarray) -> np.ndarray:
    """(33,) weights for a rig's photo-vs-skeleton correction: 1 in the photo's own pose, fading as each
    bone (and the chain above it) turns away, so far-off poses keep exact bone lengths."""
    d = normalize(np.asarray(token[BODY_DIRS], np.float64).reshape(-1, 3))
    d0 = normalize(np.asarray(rest_token[BODY_DIRS], np.float64).reshape(-1, 3))
    ang = np.degrees(np.arccos(np.clip((d * d0).sum(1), -1, 1)))
    torso = np.abs(np.asarray(token[BODY_TORSO], float) - np.asarray(rest_token[BODY_TORSO], float)).max()
    w_node: dict[object, float] = {"hip_c": float(np.exp(-(torso / RESIDUAL_FADE_DEG) ** 2))}
    for b, (_, parent, child) in enumerate(BODY_BONES):
        w_node[child] = w_node[parent] * float(np.exp(-(ang[b] / RESIDUAL_FADE_DEG) ** 2))
    w = np.array([w_node.get(i, w_node[0]) for i in range(vocab.N_BODY)])
    return w


FIT_POINTS = vocab.FIT_POINTS


def px_per_metre(body_px: np.ndarray, body_world: np.ndarray, conf: np.ndarray | None = None) -> float:
    """Scale of the orthographic projection of the metric skeleton onto the image (least squares)."""
    idx = [i for i in FIT_POINTS if conf is None or conf[i] > 0.5] or list(FIT_POINTS)
    w = body_world[idx, :2].astype(np.float64)
    p = body_px[idx, :2].astype(np.float64)
    wc, pc = w - w.mean(0), p - p.mean(0)
    return float((wc * pc).sum() / max((wc * wc).sum(), 1e-9))


def body_scale(body_px: np.ndarray, body_world: np.ndarray, conf: np.ndarray | None = None,
               k: float | None = None) -> float:
    """Torso length in px (metric torso times the projection scale `k`, fitted here unless given)."""
    cam = virtual_points(to_cam(body_world))
    k = px_per_metre(body_px, body_world, conf) if k is None else k
    return float(np.linalg.norm(cam["shoulder_c"] - cam["hip_c"])) * k
