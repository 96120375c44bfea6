"""Measures of generated motion against real motion (bench/extend_eval.py and the tests use these).

- Errors in the tokens' own units: body = mean angle between generated and real bone directions (degrees,
  bones of limbs the performer shows), head = mean head-angle difference (deg), face = mean expression-channel
  difference (face-normalised ratios), hands = mean finger-angle difference (deg, hands tracked).
- Step: the change between two frames, each channel divided by its spread in the library, averaged per group
  (so the 67-number body does not drown the 16-number face), RMS over the groups in view. A join "jumps"
  when its step is larger than `JOIN_PERCENTILE` of the steps between consecutive real frames.
- Naturalness: Fréchet distance between windows of generated and real motion described by per-group speed,
  acceleration and jerk (log scale), in the spirit of FID / FMD.
"""
from __future__ import annotations

import numpy as np

from engine.motion.features import BONE_INDEX, FOLLOW_INDEX, GROUP_OF_CHANNEL, GROUP_SLICES, N_GROUPS
from engine.tokens.schema import BODY_BONE_NAMES, GROUP_NAMES, LIMBS

JOIN_PERCENTILE = 95.0
WINDOW = 8  # frames per naturalness window
_FACE = GROUP_SLICES["face"]
HEAD = np.arange(_FACE.start, _FACE.start + 3)
EXPRESSION = np.arange(_FACE.start + 3, _FACE.stop)
FINGERS = {g: np.arange(GROUP_SLICES[g].start + 3, GROUP_SLICES[g].stop) for g in ("left_hand", "right_hand")}
_LIMB_OF_BONE = {b: i for i, bones in enumerate(LIMBS.values()) for b in bones}


def _bone_weights(values: np.ndarray) -> np.ndarray:
    """(T, B): 1 for bones the performer shows (limb followed), 1 for trunk bones."""
    follow = values[:, FOLLOW_INDEX] > 0.5  # (T, 4)
    w = np.ones((len(values), len(BODY_BONE_NAMES)))
    for b, name in enumerate(BODY_BONE_NAMES):
        if name in _LIMB_OF_BONE:
            w[:, b] = follow[:, _LIMB_OF_BONE[name]]
    return w


def errors(pred: np.ndarray, true: np.ndarray, tracked: np.ndarray) -> dict[str, float]:
    """Mean errors over frames; NaN for a group not tracked in any frame. tracked: (T, 4) of the truth."""
    out = {}
    body_on = tracked[:, GROUP_NAMES.index("body")] > 0
    if body_on.any():
        a, b = pred[body_on][:, BONE_INDEX], true[body_on][:, BONE_INDEX]  # (T, B, 3)
        cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-9)
        ang = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        w = _bone_weights(true[body_on])
        out["body"] = float((ang * w).sum() / max(w.sum(), 1))
    else:
        out["body"] = float("nan")
    face_on = tracked[:, GROUP_NAMES.index("face")] > 0
    out["head"] = float(np.abs(pred[face_on][:, HEAD] - true[face_on][:, HEAD]).mean()) if face_on.any() else np.nan
    out["face"] = float(np.abs(pred[face_on][:, EXPRESSION] - true[face_on][:, EXPRESSION]).mean()) \
        if face_on.any() else np.nan
    errs = []
    for g, idx in FINGERS.items():
        on = tracked[:, GROUP_NAMES.index(g)] > 0
        if on.any():
            errs.append(np.abs(pred[on][:, idx] - true[on][:, idx]).reshape(-1))
    out["hands"] = float(np.concatenate(errs).mean()) if errs else float("nan")
    return out


def step(a: np.ndarray, b: np.ndarray, groups: np.ndarray, scales: np.ndarray) -> float:
    """Normalised change from frame a to frame b over the groups in view (see the module doc)."""
    d = ((b - a) / scales) ** 2
    per_group = np.array([d[GROUP_OF_CHANNEL == i].mean() for i in range(N_GROUPS)])
    on = np.asarray(groups) > 0
    return float(np.sqrt(per_group[on].mean())) if on.any() else 0.0


def steps(values: np.ndarray, tracked: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(T-1,) steps between consecutive frames (groups in view in both)."""
    return np.array([step(values[t], values[t + 1], (tracked[t] > 0) & (tracked[t + 1] > 0), scales)
                     for t in range(len(values) - 1)])


def window_features(values: np.ndarray, tracked: np.ndarray, scales: np.ndarray, fps: float) -> np.ndarray:
    """(W, 3 * N_GROUPS) per window: log speed, acceleration and jerk per group (per second, normalised);
    groups not in view are zero in every window of every set, so they do not count."""
    z = values / scales
    d1 = np.diff(z, axis=0) * fps
    d2 = np.diff(z, n=2, axis=0) * fps ** 2
    d3 = np.diff(z, n=3, axis=0) * fps ** 3
    feats = []
    for t in range(0, len(values) - WINDOW + 1):
        row = []
        for d in (d1, d2, d3):
            seg = d[t:t + WINDOW - 3]
            for i in range(N_GROUPS):
                on = tracked[t:t + WINDOW, i].min() > 0
                mag = np.sqrt((seg[:, GROUP_OF_CHANNEL == i] ** 2).mean()) if on else 0.0
                row.append(np.log1p(mag))
        feats.append(row)
    return np.asarray(feats).reshape(-1, 3 * N_GROUPS)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature rows."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1 = np.cov(a, rowvar=False) + 1e-6 * np.eye(a.shape[1])
    s2 = np.cov(b, rowvar=False) + 1e-6 * np.eye(b.shape[1])
    covmean = linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
