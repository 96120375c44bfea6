"""Face token: head rotation plus expression measures normalised by the performer's own face size.

Expression channels are raw measures minus the performer's neutral (see `estimate_neutral`), so a wide
face, a long face or a big face with the same expression give the same token.
"""
from __future__ import annotations

import numpy as np

from engine import vocabulary as vocab
from engine.tokens import schema
from engine.tokens.geometry import euler_yxz, frame_from_axes, rot_yxz, to_cam, to_px

# The expression measures this module knows, in the order raw_expression returns them. Tokens carry them by
# channel name (the schema decides where); a schema channel not measured here stays at its neutral.
MEASURES = ("eyelid.l", "eyelid.r", "gaze.l.x", "gaze.l.y", "gaze.r.x", "gaze.r.y", "brow.l", "brow.r",
            "jaw_open", "mouth_width", "smile.l", "smile.r", "lip_upper")
EXPRESSION = schema.expression_names()  # the face token's expression channels, in channel order
JAW_NEUTRAL_PERCENTILE = 5  # a closed mouth is the jaw's neutral; most other measures use the median
LIPS = list(vocab.LIPS)


def head_frame(cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rotation, centre) of the head from face points in camera frame."""
    r = frame_from_axes(cam[vocab.FACE_SIDE_L] - cam[vocab.FACE_SIDE_R], cam[vocab.FACE_FOREHEAD] - cam[vocab.FACE_CHIN])
    return r, cam[:468].mean(axis=0)


def local_face(face_px: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face points in the head's own frame (px units), with the rotation and centre used."""
    cam = to_cam(face_px)
    r, c = head_frame(cam)
    return (cam - c) @ r, r, c


def face_size(loc: np.ndarray) -> tuple[float, float]:
    """(width, height) of a face in its own head frame: the sides' x-extent and forehead-to-chin y-extent.

    Every expression measure divides a head-frame x-extent by the width and a y-extent by the height, so a
    face stretched or squeezed along its own axes (a wider, a longer face) measures the same."""
    fw = abs(loc[vocab.FACE_SIDE_L, 0] - loc[vocab.FACE_SIDE_R, 0])
    fh = abs(loc[vocab.FACE_FOREHEAD, 1] - loc[vocab.FACE_CHIN, 1])
    return max(float(fw), 1e-6), max(float(fh), 1e-6)


def raw_expression(face_px: np.ndarray) -> np.ndarray:
    """Un-neutralised expression measures of one face, in MEASURES order."""
    loc, _, _ = local_face(face_px)
    fw, fh = face_size(loc)
    out = []
    for up, lo, _, _ in (vocab.EYE_L, vocab.EYE_R):
        out.append((loc[up, 1] - loc[lo, 1]) / fh)
    for eye, iris in ((vocab.EYE_L, vocab.IRIS_L), (vocab.EYE_R, vocab.IRIS_R)):
        ew = max(abs(loc[eye[2], 0] - loc[eye[3], 0]), 1e-6)
        centre = (loc[eye[2]] + loc[eye[3]]) / 2
        off = loc[iris[0]] - centre
        out.extend([off[0] / ew, off[1] / fh])
    for brow, eye in ((vocab.BROW_L + vocab.BROW_L_LOW, vocab.EYE_L), (vocab.BROW_R + vocab.BROW_R_LOW, vocab.EYE_R)):
        out.append((loc[list(brow), 1].mean() - loc[eye[0], 1]) / fh)
    out.append((loc[vocab.LIP_UPPER_INNER, 1] - loc[vocab.LIP_LOWER_INNER, 1]) / fh)
    out.append(abs(loc[vocab.MOUTH_CORNER_L, 0] - loc[vocab.MOUTH_CORNER_R, 0]) / fw)
    lip_c = (loc[vocab.LIP_UPPER_INNER, 1] + loc[vocab.LIP_LOWER_INNER, 1]) / 2
    out.append((loc[vocab.MOUTH_CORNER_L, 1] - lip_c) / fh)
    out.append((loc[vocab.MOUTH_CORNER_R, 1] - lip_c) / fh)
    out.append((loc[vocab.FACE_NOSE_TIP, 1] - loc[vocab.LIP_UPPER_OUTER, 1]) / fh)
    return np.asarray(out, np.float64)


REST_JAW_PERCENTILE = 30  # frames with the mouth this closed or more count as "at rest"


def estimate_neutral(raw: np.ndarray) -> np.ndarray:
    """The performer's neutral from a clip's (T, E) raw measures.

    A face at rest has its mouth closed: the neutral is the median over the most closed-mouth frames
    (so a long grin or a talk does not shift it), and the jaw's own neutral is a low percentile.
    """
    ok = np.isfinite(raw).all(axis=1)
    if not ok.any():
        return np.full(raw.shape[1], np.nan)
    j = MEASURES.index("jaw_open")
    vals = raw[ok]
    rest = vals[vals[:, j] <= np.percentile(vals[:, j], REST_JAW_PERCENTILE)]
    neutral = np.median(rest, axis=0)
    neutral[j] = np.percentile(vals[:, j], JAW_NEUTRAL_PERCENTILE)
    return neutral


EYELIDS = (MEASURES.index("eyelid.l"), MEASURES.index("eyelid.r"))  # a ratio to the neutral (-1 = shut)


def encode_face_frame(face_px: np.ndarray, neutral: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
    """(478, 3) px -> face token (head yaw/pitch/roll, expression relative to the performer's neutral).

    Eyelids are a ratio to the neutral opening (-1 = shut, for small and large eyes alike); the rest are
    differences from the neutral in face widths or heights. `raw` passes this face's raw_expression when the
    caller already measured it (the clip encoder does, to find the neutral)."""
    cam = to_cam(face_px)
    r, _ = head_frame(cam)
    raw = raw_expression(face_px) if raw is None else raw
    expr = raw - neutral
    for i in EYELIDS:
        expr[i] = raw[i] / max(neutral[i], 1e-6) - 1.0
    lay = schema.layout("face")
    out = lay.neutral.copy()  # a channel not measured here keeps its neutral
    out[lay.span("head")] = euler_yxz(r)
    out[lay.indices(MEASURES)] = expr
    return out


def _bump(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-((values - centre) / max(width, 1e-6)) ** 2)


LOWER_LIP_POWER = 2.0  # lower lip drop across the mouth: full in the middle, easing to the corners (|x|^p)
UPPER_LIP_POWER = 3.0  # the upper lip rises flatter: more of it moves with the middle
MOUTH_NEAR_FH = 0.07  # lips' own motion reaches skin this far from them (Gaussian, face heights)
JAW_RAMP_FH = 0.05  # below the mouth line, skin joins the jaw's drop over this height
JAW_SIDE_FW = 0.55  # ... fading out sideways (towards the ears) over this share of the face width


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _deform_mouth(loc: np.ndarray, out: np.ndarray, e: dict, fw: float, fh: float) -> None:
    """Jaw, lip and corner channels moved onto the rig's mouth (in place on `out`, head frame, y up).

    The channels are measured as gaps and offsets, so they are turned back into the motions that made them:
    the inner-lip gap (jaw_open) is the upper lip's rise (lip_upper) plus the lower lip's drop; the corners'
    height (smile) is relative to the gap's middle, which moves by half the difference. Each lip then moves
    as a unit (inner and outer edge alike, so it keeps its thickness), its middle by the lip's own motion,
    blending to the corners' motion at the corners; the mouth widens by scaling about its centre; skin near
    the lips follows with a smooth falloff, the chin and jaw drop with the lower lip."""
    n = min(len(loc), 468)  # the iris points (468+) move with the gaze only
    p = loc[:n, :2]
    ci = (loc[vocab.LIP_UPPER_INNER, :2] + loc[vocab.LIP_LOWER_INNER, :2]) / 2
    half = max(np.linalg.norm(loc[vocab.MOUTH_CORNER_L, :2] - loc[vocab.MOUTH_CORNER_R, :2]) / 2, 1e-6)
    rest_gap = max(loc[vocab.LIP_UPPER_INNER, 1] - loc[vocab.LIP_LOWER_INNER, 1], 0.0)
    rise = -e["lip_upper"] * fh  # nose-to-lip distance shrinking = the upper lip rising
    drop = max(e["jaw_open"] * fh, -rest_gap) - rise  # gap change = rise + drop; lips never cross
    mid = (rise - drop) / 2
    rel = (p[:, 0] - ci[0]) / half
    rc = np.clip(rel, -1.0, 1.0)
    a = np.abs(rc)
    corner = np.where(rel >= 0, e["smile.l"], e["smile.r"]) * fh + mid  # left corner at +x (head frame)
    lower = -drop + (drop + corner) * a ** LOWER_LIP_POWER
    upper = rise + (corner - rise) * a ** UPPER_LIP_POWER
    # Which lip a point goes with: ring membership for the lips, else above / below the inner-lip line.
    iu, il = loc[list(vocab.LIP_INNER_UPPER), :2], loc[list(vocab.LIP_INNER_LOWER), :2]
    line = (np.interp(p[:, 0], *_sorted_x(iu)) + np.interp(p[:, 0], *_sorted_x(il))) / 2
    band = max(0.5 * rest_gap, 0.01 * fh)
    up = _smoothstep(0.5 + 0.5 * (p[:, 1] - line) / band)
    up[list(vocab.LIP_UPPER_SET)], up[list(vocab.LIP_LOWER_SET)], up[list(vocab.LIP_CORNERS)] = 1.0, 0.0, 0.5
    near_dy = up * upper + (1.0 - up) * lower
    lips = np.array(LIPS)
    dist = np.sqrt(((p[:, None, :] - loc[None, lips, :2]) ** 2).sum(-1)).min(1)
    near = np.exp(-(dist / (MOUTH_NEAR_FH * fh)) ** 2)
    near[lips] = 1.0
    side = np.clip(1.0 - np.abs(p[:, 0] - ci[0]) / (JAW_SIDE_FW * fw), 0.0, 1.0) ** 0.5
    jaw = np.clip((line - p[:, 1]) / (JAW_RAMP_FH * fh), 0.0, 1.0) * side
    far_dy = -drop * jaw
    out[:n, 1] += near * near_dy + (1.0 - near) * far_dy
    out[:n, 0] += near * rc * e["mouth_width"] * fw / 2


def _sorted_x(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o = np.argsort(ring[:, 0], kind="stable")
    return ring[o, 0], ring[o, 1]


def deform_expression(loc: np.ndarray, expr: np.ndarray) -> np.ndarray:
    """Move a rig's face points (its own head frame, px) by expression deltas (the face token's expression
    channels, in channel order), scaled by its own face size.

    Each channel drives its region of the canonical face mesh; the renderer's dense face warp follows.
    """
    out = loc.copy()
    e = dict(zip(schema.expression_names(), expr))
    fw, fh = face_size(loc)
    for side, eye, upper, lower, iris in (("l", vocab.EYE_L, vocab.EYE_L_UPPER, vocab.EYE_L_LOWER, vocab.IRIS_L),
                                          ("r", vocab.EYE_R, vocab.EYE_R_UPPER, vocab.EYE_R_LOWER, vocab.IRIS_R)):
        ew = abs(loc[eye[2], 0] - loc[eye[3], 0])
        gap = max(loc[eye[0], 1] - loc[eye[1], 1], 0.0)
        change = max(e[f"eyelid.{side}"] * gap, -gap)  # a ratio of the rig's own opening; never past shut
        ex = loc[list(upper), 0]
        w = _bump(ex, loc[eye[0], 0], ew / 2.5)
        out[list(upper), 1] += 0.8 * change * w
        out[list(lower), 1] -= 0.2 * change * _bump(loc[list(lower), 0], loc[eye[1], 0], ew / 2.5)
        out[list(iris), 0] += e[f"gaze.{side}.x"] * ew
        out[list(iris), 1] += e[f"gaze.{side}.y"] * fh
    for side, brow in (("l", vocab.BROW_L + vocab.BROW_L_LOW), ("r", vocab.BROW_R + vocab.BROW_R_LOW)):
        out[list(brow), 1] += e[f"brow.{side}"] * fh
    _deform_mouth(loc, out, e, fw, fh)
    return out


def apply_face_frame(token: np.ndarray, rig_local: np.ndarray, centre_px: np.ndarray, scale: float = 1.0
                     ) -> np.ndarray:
    """Face token + the rig's neutral face (head frame) -> (478, 3) px around `centre_px`."""
    lay = schema.layout("face")
    expression = lay.span_of(schema.expression_names())
    loc = deform_expression(rig_local, token[expression].astype(np.float64)) * scale
    r = rot_yxz(*token[lay.span("head")])
    cam = loc @ r.T + to_cam(centre_px)
    return to_px(cam)
