"""The token frame as one flat vector, and what every motion method needs to know about its channels.

A frame is the four token groups concatenated in GROUP_NAMES order (129 numbers) plus one tracked flag per
group. Channels differ in kind (degrees, unit-vector components, expression ratios, follow weights), so
methods work on values divided by a per-channel scale; bone directions are renormalised after any blend or
extrapolation, since a mix of two unit vectors is shorter than one.

Mirroring swaps the performer's left and right exactly as a horizontally flipped video would: hands swap
groups (the left hand is encoded mirrored, DEVELOPERS.md), left/right channels swap, and yaw, roll and the
sideways (x) components change sign.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.tokens.schema import BODY_BONE_NAMES, BODY_DIRS, CHANNELS, GROUP_NAMES, MotionTokens, TokenGroup

GROUP_SLICES: dict[str, slice] = {}
_o = 0
for _g in GROUP_NAMES:
    GROUP_SLICES[_g] = slice(_o, _o + len(CHANNELS[_g]))
    _o += len(CHANNELS[_g])
DIM = _o  # 129
N_GROUPS = len(GROUP_NAMES)
GROUP_OF_CHANNEL = np.concatenate([np.full(len(CHANNELS[g]), i) for i, g in enumerate(GROUP_NAMES)])

_BODY0 = GROUP_SLICES["body"].start
# (B, 3) flat indices of each bone direction's x, y, z
BONE_INDEX = np.array([[_BODY0 + BODY_DIRS.start + 3 * b + k for k in range(3)] for b in range(len(BODY_BONE_NAMES))])
FOLLOW_INDEX = np.arange(_BODY0 + BODY_DIRS.stop, _BODY0 + BODY_DIRS.stop + 4)

# Floors for per-channel scales: a channel that barely moves in the library must not blow up distances.
SCALE_FLOOR = {"deg": 2.0, "unit": 0.03, "ratio": 0.01, "weight": 0.25}
UNITS = np.array([c.unit for g in GROUP_NAMES for c in CHANNELS[g]])
NEUTRAL = np.array([c.neutral for g in GROUP_NAMES for c in CHANNELS[g]], np.float64)


@dataclass(frozen=True)
class Sequence:
    """One stretch of motion: (T, DIM) values, (T, 4) tracked flags (0/1) in GROUP_NAMES order, frame rate."""

    values: np.ndarray
    tracked: np.ndarray
    fps: float
    name: str = ""

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def slice(self, a: int, b: int) -> "Sequence":
        return Sequence(self.values[a:b], self.tracked[a:b], self.fps, self.name)


def from_tokens(tokens: MotionTokens, fps: float, name: str = "") -> Sequence:
    values = tokens.flat().astype(np.float64)
    tracked = np.stack([(tokens.group(g).confidence > 0).astype(np.float64) for g in GROUP_NAMES], axis=1)
    return Sequence(values, tracked, float(fps), name)


def group_values(values: np.ndarray, group: str) -> np.ndarray:
    return values[..., GROUP_SLICES[group]]


def to_token_groups(values: np.ndarray, tracked: np.ndarray) -> dict[str, TokenGroup]:
    return {g: TokenGroup(g, values[:, GROUP_SLICES[g]], tracked[:, i]) for i, g in enumerate(GROUP_NAMES)}


def renormalise(values: np.ndarray) -> np.ndarray:
    """Bone directions back to unit length (in place on a copy); follow weights back into [0, 1]."""
    out = np.array(values, np.float64, copy=True)
    v = out[..., BONE_INDEX]  # (..., B, 3)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    out[..., BONE_INDEX] = np.where(n > 1e-6, v / np.maximum(n, 1e-6), v)
    out[..., FOLLOW_INDEX] = np.clip(out[..., FOLLOW_INDEX], 0.0, 1.0)
    return out


def resample(seq: Sequence, fps: float) -> Sequence:
    """The same motion at another frame rate (linear in time; directions renormalised; flags by nearest)."""
    if abs(fps - seq.fps) < 1e-6 or len(seq) < 2:
        return Sequence(seq.values, seq.tracked, float(fps), seq.name)
    duration = (len(seq) - 1) / seq.fps
    n = int(np.floor(duration * fps + 1e-6)) + 1
    src_t = np.arange(len(seq)) / seq.fps
    t = np.arange(n) / fps
    idx = np.clip(np.searchsorted(src_t, t, side="right") - 1, 0, len(seq) - 2)
    w = ((t - src_t[idx]) * seq.fps)[:, None]
    vals = seq.values[idx] * (1 - w) + seq.values[idx + 1] * w
    tracked = np.minimum(seq.tracked[idx], seq.tracked[idx + 1])
    return Sequence(renormalise(vals), tracked, float(fps), seq.name)


# -- mirroring --------------------------------------------------------------------------------------------------


def _mirror_tables() -> tuple[np.ndarray, np.ndarray]:
    """(perm, sign): mirrored[..., i] = sign[i] * values[..., perm[i]]."""
    names = [(g, c.name) for g in GROUP_NAMES for c in CHANNELS[g]]
    index = {k: i for i, k in enumerate(names)}
    perm = np.arange(DIM)
    sign = np.ones(DIM)

    def swap_lr(name: str) -> str:
        for a, b in (("l_", "r_"), ("r_", "l_")):
            if name.startswith(a):
                return b + name[len(a):]
        for a, b in ((".l.", ".r."), (".r.", ".l.")):
            if a in name:
                return name.replace(a, b)
        for a, b in ((".l", ".r"), (".r", ".l"), (".l_arm", ".r_arm"), (".r_arm", ".l_arm"),
                     (".l_leg", ".r_leg"), (".r_leg", ".l_leg")):
            if name.endswith(a):
                return name[: -len(a)] + b
        return name

    for i, (g, name) in enumerate(names):
        if g in ("left_hand", "right_hand"):
            other = "right_hand" if g == "left_hand" else "left_hand"
            perm[i] = index[(other, name)]  # hands are encoded in one convention: a swap is the whole mirror
            continue
        perm[i] = index[(g, swap_lr(name))]
        if name.endswith((".yaw", ".roll")) or (g == "body" and name.endswith(".x")) or \
                (g == "face" and name.startswith("gaze") and name.endswith(".x")):
            sign[i] = -1.0
    return perm, sign


MIRROR_PERM, MIRROR_SIGN = _mirror_tables()
_TRACKED_MIRROR = np.array([GROUP_NAMES.index(g) for g in ("face", "body", "right_hand", "left_hand")])


def mirror(seq: Sequence) -> Sequence:
    return Sequence(seq.values[:, MIRROR_PERM] * MIRROR_SIGN, seq.tracked[:, _TRACKED_MIRROR], seq.fps,
                    seq.name + " (mirrored)")


def reverse(seq: Sequence) -> Sequence:
    return Sequence(seq.values[::-1].copy(), seq.tracked[::-1].copy(), seq.fps, seq.name + " (reversed)")


# -- scales -----------------------------------------------------------------------------------------------------


def channel_scales(seqs: list[Sequence]) -> np.ndarray:
    """(DIM,) per-channel spread over tracked frames, floored by unit kind."""
    floors = np.array([SCALE_FLOOR[u] for u in UNITS])
    chunks = []
    for s in seqs:
        mask = s.tracked[:, GROUP_OF_CHANNEL] > 0  # (T, DIM)
        chunks.append(np.where(mask, s.values, np.nan))
    allv = np.concatenate(chunks) if chunks else np.full((1, DIM), np.nan)
    with np.errstate(all="ignore"):
        std = np.nanstd(allv, axis=0)
    std = np.where(np.isfinite(std), std, floors)
    return np.maximum(std, floors)
