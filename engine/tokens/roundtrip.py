"""Round-trip error: encode a clip, decode it onto the clip's own rig, compare with the tracked landmarks.

Errors are size-free: body joints in torso lengths, face points (after matching the face centre) in face
heights, hand points (relative to the wrist) in hand lengths (wrist to middle knuckle).
"""
from __future__ import annotations

import numpy as np

from engine.tokens.retarget import apply
from engine.tokens.rig import Rig
from engine.tokens.schema import MotionTokens
from engine import vocabulary as vocab
from engine.track.types import ClipLandmarks

BODY_JOINTS = (vocab.L_SHOULDER, vocab.R_SHOULDER, vocab.L_ELBOW, vocab.R_ELBOW, vocab.L_WRIST, vocab.R_WRIST, vocab.L_HIP, vocab.R_HIP,
               vocab.L_KNEE, vocab.R_KNEE, vocab.L_ANKLE, vocab.R_ANKLE)


def roundtrip_errors(tokens: MotionTokens, lm: ClipLandmarks, rig_frame: int = 0) -> dict[str, float]:
    """Mean normalised error per group over the frames where the group was tracked."""
    rig = Rig.from_landmarks(lm.frame(rig_frame), lengths_from=lm.body_world,
                             hands_from={"left": lm.left_hand, "right": lm.right_hand})
    errs: dict[str, list[float]] = {"body": [], "face": [], "left_hand": [], "right_hand": []}
    for t in range(len(lm)):
        out = apply(tokens, rig, t)
        if tokens.body.confidence[t] > 0 and rig.has_body:
            d = out.body[list(BODY_JOINTS), :2] - lm.body[t][list(BODY_JOINTS), :2]
            errs["body"].append(float(np.linalg.norm(d, axis=1).mean() / rig.scale))
        if tokens.face.confidence[t] > 0 and rig.has_face:
            a, b = out.face[:468, :2], lm.face[t][:468, :2]
            a, b = a - a.mean(0), b - b.mean(0)
            fh = np.linalg.norm(b[vocab.FACE_FOREHEAD] - b[vocab.FACE_CHIN])
            errs["face"].append(float(np.linalg.norm(a - b, axis=1).mean() / fh))
        for side in ("left_hand", "right_hand"):
            # A hand on an arm the driver does not show is deliberately not driven (the photo keeps its own).
            follows = tokens.body.channel(f"follow.{side[0]}_arm")[t] >= 0.5
            if tokens.group(side).confidence[t] > 0 and follows:
                a, b = getattr(out, side), getattr(lm, side)[t]
                a, b = a[:, :2] - a[0, :2], b[:, :2] - b[0, :2]
                size = np.linalg.norm(b[vocab.MIDDLE_MCP])
                errs[side].append(float(np.linalg.norm(a - b, axis=1).mean() / max(size, 1e-6)))
    return {k: float(np.mean(v)) if v else float("nan") for k, v in errs.items()}
