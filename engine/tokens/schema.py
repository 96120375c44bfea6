"""Typed, versioned motion tokens: one group per body part, with named channels, units and neutrals.

Every channel is identity-agnostic: directions (unit vectors), angles in degrees, or expression measures
normalised by the performer's own face size and taken relative to the performer's own neutral.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.track.landmarks import FINGER_NAMES

TOKEN_FORMAT_VERSION = 1
GROUP_NAMES = ("face", "body", "left_hand", "right_hand")


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    unit: str  # "deg", "unit" (a unit-vector component), "ratio" (expression, relative to neutral)
    neutral: float = 0.0  # the value an expressionless, rest pose has; "exaggerate" scales around it
    description: str = ""


# Bones of the body token: (name, parent point, child point). Points are body landmark indices, or the
# virtual points "hip_c" / "shoulder_c" (midpoints). Directions are in the pelvis frame:
# x = towards the performer's left hip, y = up (towards the shoulders), z = forward (out of the chest).
BODY_BONES: tuple[tuple[str, object, object], ...] = (
    ("spine", "hip_c", "shoulder_c"),
    ("neck", "shoulder_c", 0),
    ("l_clavicle", "shoulder_c", 11),
    ("r_clavicle", "shoulder_c", 12),
    ("l_upper_arm", 11, 13),
    ("l_forearm", 13, 15),
    ("l_hand", 15, "l_hand_c"),
    ("r_upper_arm", 12, 14),
    ("r_forearm", 14, 16),
    ("r_hand", 16, "r_hand_c"),
    ("l_pelvis", "hip_c", 23),
    ("r_pelvis", "hip_c", 24),
    ("l_thigh", 23, 25),
    ("l_shin", 25, 27),
    ("l_foot", 27, 31),
    ("l_heel", 27, 29),
    ("r_thigh", 24, 26),
    ("r_shin", 26, 28),
    ("r_foot", 28, 32),
    ("r_heel", 28, 30),
)
BODY_BONE_NAMES = tuple(b[0] for b in BODY_BONES)

# Limbs the driver may not show (a talking head has no legs, often no arms). Each has a "follow" channel in
# [0, 1]: how far the limb takes the driver's direction rather than keeping the reference photo's own pose.
LIMBS = {
    "l_arm": ("l_upper_arm", "l_forearm", "l_hand"),
    "r_arm": ("r_upper_arm", "r_forearm", "r_hand"),
    "l_leg": ("l_thigh", "l_shin", "l_foot", "l_heel"),
    "r_leg": ("r_thigh", "r_shin", "r_foot", "r_heel"),
}
BODY_DIRS = slice(3, 3 + 3 * len(BODY_BONES))  # the bone-direction part of a body token
BODY_FOLLOW = slice(BODY_DIRS.stop, BODY_DIRS.stop + len(LIMBS))  # the limb follow weights

_REST_DIRS = {  # a standing rest pose, arms down: the neutral of each direction channel
    "spine": (0, 1, 0), "neck": (0, 1, 0.1), "l_clavicle": (1, 0, 0), "r_clavicle": (-1, 0, 0),
    "l_upper_arm": (0, -1, 0), "l_forearm": (0, -1, 0), "l_hand": (0, -1, 0),
    "r_upper_arm": (0, -1, 0), "r_forearm": (0, -1, 0), "r_hand": (0, -1, 0),
    "l_pelvis": (1, 0, 0), "r_pelvis": (-1, 0, 0), "l_thigh": (0, -1, 0), "l_shin": (0, -1, 0),
    "l_foot": (0, -0.3, 1), "l_heel": (0, -0.5, -0.5), "r_thigh": (0, -1, 0), "r_shin": (0, -1, 0),
    "r_foot": (0, -0.3, 1), "r_heel": (0, -0.5, -0.5),
}


def _body_channels() -> tuple[ChannelSpec, ...]:
    ch = [
        ChannelSpec("torso.yaw", "deg", 0.0, "pelvis turn about the vertical axis; + turns to the performer's left"),
        ChannelSpec("torso.pitch", "deg", 0.0, "pelvis lean; + leans back"),
        ChannelSpec("torso.roll", "deg", 0.0, "pelvis tilt in the image plane"),
    ]
    for bone in BODY_BONE_NAMES:
        rest = np.asarray(_REST_DIRS[bone], float)
        rest = rest / np.linalg.norm(rest)
        for axis, v in zip("xyz", rest):
            ch.append(ChannelSpec(f"{bone}.{axis}", "unit", float(v), f"{bone} direction, pelvis frame"))
    for limb in LIMBS:
        ch.append(ChannelSpec(f"follow.{limb}", "weight", 1.0,
                              f"{limb}: 1 follows the driver, 0 keeps the photo's pose (0 where the driver's "
                              f"limb is out of view)"))
    return tuple(ch)


def _face_channels() -> tuple[ChannelSpec, ...]:
    return (
        ChannelSpec("head.yaw", "deg", 0.0, "head turn; + to the performer's left"),
        ChannelSpec("head.pitch", "deg", 0.0, "head nod; + looks up"),
        ChannelSpec("head.roll", "deg", 0.0, "head tilt; + towards the performer's left shoulder"),
        ChannelSpec("eyelid.l", "ratio", 0.0, "left lid opening relative to the neutral opening (-1 = shut)"),
        ChannelSpec("eyelid.r", "ratio", 0.0, "right lid opening relative to the neutral opening (-1 = shut)"),
        ChannelSpec("gaze.l.x", "ratio", 0.0, "left iris offset / eye width, minus neutral; + to the performer's left"),
        ChannelSpec("gaze.l.y", "ratio", 0.0, "left iris offset / face height, minus neutral; + up"),
        ChannelSpec("gaze.r.x", "ratio", 0.0, "right iris offset / eye width, minus neutral"),
        ChannelSpec("gaze.r.y", "ratio", 0.0, "right iris offset / face height, minus neutral"),
        ChannelSpec("brow.l", "ratio", 0.0, "left brow height above the eye / face height, minus neutral"),
        ChannelSpec("brow.r", "ratio", 0.0, "right brow height / face height, minus neutral"),
        ChannelSpec("jaw_open", "ratio", 0.0, "inner lip gap / face height, minus neutral"),
        ChannelSpec("mouth_width", "ratio", 0.0, "mouth corner distance / face width, minus neutral"),
        ChannelSpec("smile.l", "ratio", 0.0, "left mouth corner height over the lip centre / face height"),
        ChannelSpec("smile.r", "ratio", 0.0, "right mouth corner height over the lip centre / face height"),
        ChannelSpec("lip_upper", "ratio", 0.0, "upper lip raise: nose-to-upper-lip / face height, minus neutral (-)"),
    )


def _hand_channels() -> tuple[ChannelSpec, ...]:
    ch = [
        ChannelSpec("wrist.yaw", "deg", 0.0, "palm frame turn, camera frame"),
        ChannelSpec("wrist.pitch", "deg", 0.0, "palm frame tilt, camera frame"),
        ChannelSpec("wrist.roll", "deg", 0.0, "palm frame roll, camera frame"),
    ]
    for f in FINGER_NAMES:
        ch.append(ChannelSpec(f"{f}.spread", "deg", 0.0, f"{f}: sideways angle in the palm plane"))
        for j, joint in enumerate(("base", "mid", "tip")):
            ch.append(ChannelSpec(f"{f}.flex_{joint}", "deg", 0.0, f"{f}: flexion at joint {j + 1}; + curls"))
    return tuple(ch)


CHANNELS: dict[str, tuple[ChannelSpec, ...]] = {
    "face": _face_channels(),
    "body": _body_channels(),
    "left_hand": _hand_channels(),
    "right_hand": _hand_channels(),
}

PLACEMENT_CHANNELS = (
    ChannelSpec("dx", "body", 0.0, "anchor shift since the start, in the performer's own torso lengths; + right"),
    ChannelSpec("dy", "body", 0.0, "anchor shift since the start, in torso lengths; + down"),
    ChannelSpec("scale", "ratio", 1.0, "apparent size relative to the start (median of the first tracked frames)"),
)


def channel_index(group: str, name: str) -> int:
    for i, c in enumerate(CHANNELS[group]):
        if c.name == name:
            return i
    raise KeyError(f"{group} has no channel {name!r}")


@dataclass
class TokenGroup:
    """(T, C) values for one group, with a per-frame confidence in [0, 1] (0 = missing)."""

    name: str
    values: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        if self.name not in CHANNELS:
            raise ValueError(f"TokenGroup.name: unknown group {self.name!r}")
        c = len(CHANNELS[self.name])
        self.values = np.asarray(self.values, np.float32)
        self.confidence = np.asarray(self.confidence, np.float32)
        if self.values.ndim != 2 or self.values.shape[1] != c:
            raise ValueError(f"TokenGroup.values: {self.name} needs shape (T, {c}), got {self.values.shape}")
        if self.confidence.shape != (self.values.shape[0],):
            raise ValueError(f"TokenGroup.confidence: needs shape ({self.values.shape[0]},)")

    @property
    def channels(self) -> tuple[ChannelSpec, ...]:
        return CHANNELS[self.name]

    def channel(self, name: str) -> np.ndarray:
        return self.values[:, channel_index(self.name, name)]

    @classmethod
    def empty(cls, name: str, frames: int) -> "TokenGroup":
        neutral = np.array([c.neutral for c in CHANNELS[name]], np.float32)
        return cls(name, np.tile(neutral, (frames, 1)), np.zeros(frames, np.float32))

    def copy(self) -> "TokenGroup":
        return TokenGroup(self.name, self.values.copy(), self.confidence.copy())


@dataclass
class MotionTokens:
    """The four token groups of a clip plus its placement (kept apart from the tokens)."""

    face: TokenGroup
    body: TokenGroup
    left_hand: TokenGroup
    right_hand: TokenGroup
    placement: np.ndarray = field(default=None)  # (T, 3): dx, dy, scale

    def __post_init__(self) -> None:
        t = len(self)
        for g in GROUP_NAMES:
            if getattr(self, g).values.shape[0] != t:
                raise ValueError(f"MotionTokens.{g}: {getattr(self, g).values.shape[0]} frames, expected {t}")
        if self.placement is None:
            self.placement = np.tile(np.array([0, 0, 1], np.float32), (t, 1))
        self.placement = np.asarray(self.placement, np.float32)
        if self.placement.shape != (t, 3):
            raise ValueError(f"MotionTokens.placement: needs shape ({t}, 3), got {self.placement.shape}")

    def __len__(self) -> int:
        return int(self.body.values.shape[0])

    def group(self, name: str) -> TokenGroup:
        if name not in GROUP_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def groups(self) -> dict[str, TokenGroup]:
        return {g: getattr(self, g) for g in GROUP_NAMES}

    def frame(self, t: int) -> "MotionTokens":
        """A one-frame view (copies), for per-frame retargeting and rendering."""
        return MotionTokens(**{g: TokenGroup(g, getattr(self, g).values[t:t + 1].copy(),
                                             getattr(self, g).confidence[t:t + 1].copy()) for g in GROUP_NAMES},
                            placement=self.placement[t:t + 1].copy())

    def slice(self, start: int, stop: int) -> "MotionTokens":
        return MotionTokens(**{g: TokenGroup(g, getattr(self, g).values[start:stop].copy(),
                                             getattr(self, g).confidence[start:stop].copy()) for g in GROUP_NAMES},
                            placement=self.placement[start:stop].copy())

    def copy(self) -> "MotionTokens":
        return self.slice(0, len(self))

    def flat(self) -> np.ndarray:
        """(T, D) all channels concatenated in GROUP_NAMES order (for networks and distances)."""
        return np.concatenate([getattr(self, g).values for g in GROUP_NAMES], axis=1)


TOKEN_DIMS = {g: len(CHANNELS[g]) for g in GROUP_NAMES}
