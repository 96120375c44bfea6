"""Typed, versioned motion tokens: one group per body part, with named channels, units and neutrals.

Every channel is identity-agnostic: directions (unit vectors), angles in degrees, or expression measures
normalised by the performer's own face size and taken relative to the performer's own neutral.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine import vocabulary
from engine.vocabulary import FINGER_JOINTS, FINGER_NAMES

TOKEN_FORMAT_VERSION = 1
GROUP_NAMES = ("face", "body", "left_hand", "right_hand")


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    unit: str  # "deg", "unit" (a unit-vector component), "ratio" (expression, relative to neutral)
    neutral: float = 0.0  # the value an expressionless, rest pose has; "exaggerate" scales around it
    description: str = ""


# Bones of the body token: (name, parent point, child point), from the one bone table (engine.vocabulary).
# Points are body landmark indices or virtual points ("hip_c", "shoulder_c", ...). Directions are in the
# pelvis frame: x = towards the performer's left hip, y = up (towards the shoulders), z = forward.
BODY_BONES: tuple[tuple[str, object, object], ...] = tuple((n, *vocabulary.BONES[n]) for n in vocabulary.TOKEN_BONES)
BODY_BONE_NAMES = vocabulary.TOKEN_BONES

# Limbs the driver may not show (a talking head has no legs, often no arms). Each has a "follow" channel in
# [0, 1]: how far the limb takes the driver's direction rather than keeping the reference photo's own pose.
LIMBS = vocabulary.LIMBS

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
        for j, joint in enumerate(FINGER_JOINTS):
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
    return layout(group).index(name)


class Layout:
    """Named views into one group's channel vector, generated from its channel table: code reads and writes
    channels by name (`layout("face").span("head")`, `.indices(names)`), never by a position kept by hand.
    Adding a channel is then one schema edit (plus the format version bump)."""

    def __init__(self, group: str, channels: tuple[ChannelSpec, ...]) -> None:
        self.group, self.channels = group, channels
        self.names = tuple(c.name for c in channels)
        self._index = {n: i for i, n in enumerate(self.names)}
        self.neutral = np.array([c.neutral for c in channels], np.float32)

    def __len__(self) -> int:
        return len(self.channels)

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"{self.group} has no channel {name!r}") from None

    def indices(self, names) -> np.ndarray:
        return np.array([self.index(n) for n in names], np.int64)

    def span(self, *prefixes: str) -> slice:
        """The channels named `<prefix>.*` (for each prefix, in order), which must sit side by side."""
        idx = [i for p in prefixes for i, n in enumerate(self.names) if n.startswith(p + ".")]
        return self._contiguous(idx, prefixes)

    def span_of(self, names) -> slice:
        """Exactly these channels, which must sit side by side in this order."""
        return self._contiguous([self.index(n) for n in names], tuple(names))

    def others(self, *prefixes: str) -> tuple[str, ...]:
        """Channel names outside `<prefix>.*`, in order."""
        return tuple(n for n in self.names if not any(n.startswith(p + ".") for p in prefixes))

    def _contiguous(self, idx: list[int], what) -> slice:
        if not idx or idx != list(range(idx[0], idx[0] + len(idx))):
            raise ValueError(f"{self.group} channels {what} are not one contiguous run")
        return slice(idx[0], idx[-1] + 1)


_LAYOUTS: dict[str, Layout] = {}


def layout(group: str) -> Layout:
    """The group's layout, rebuilt whenever its channel table is replaced (a new schema, a test's fixture)."""
    lay = _LAYOUTS.get(group)
    if lay is None or lay.channels is not CHANNELS[group]:
        lay = _LAYOUTS[group] = Layout(group, CHANNELS[group])
    return lay


def expression_names() -> tuple[str, ...]:
    """The face's expression channels: everything but the head rotation, in channel order."""
    return layout("face").others("head")


def body_dir_names() -> tuple[str, ...]:
    """The body's bone-direction channels, 3 per bone in BODY_BONES order."""
    return tuple(f"{b}.{axis}" for b in BODY_BONE_NAMES for axis in "xyz")


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
    # The performer's body token at the clip's start (read from the first frames when not given): frames
    # and slices keep their clip's, so a pose can be taken relative to where the performance began.
    body_start: np.ndarray | None = field(default=None, compare=False)

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
        return self.slice(t, t + 1)

    def slice(self, start: int, stop: int) -> "MotionTokens":
        return MotionTokens(**{g: TokenGroup(g, getattr(self, g).values[start:stop].copy(),
                                             getattr(self, g).confidence[start:stop].copy()) for g in GROUP_NAMES},
                            placement=self.placement[start:stop].copy(), body_start=self.start_body())

    def start_body(self) -> np.ndarray:
        """The body token where the performance begins: the per-channel median of the first tracked frames
        (the tracker's very first frame is often an outlier), or the neutral pose when none is tracked."""
        if self.body_start is None:
            ok = np.nonzero(self.body.confidence > 0)[0][:START_FRAMES]
            self.body_start = (np.median(self.body.values[ok], axis=0).astype(np.float32) if len(ok)
                               else layout("body").neutral.astype(np.float32))
        return self.body_start

    def copy(self) -> "MotionTokens":
        return self.slice(0, len(self))

    def flat(self) -> np.ndarray:
        """(T, D) all channels concatenated in GROUP_NAMES order (for networks and distances)."""
        return np.concatenate([getattr(self, g).values for g in GROUP_NAMES], axis=1)


START_FRAMES = 12  # a clip's start (pose, placement) is read from this many first tracked frames

TOKEN_DIMS = {g: len(CHANNELS[g]) for g in GROUP_NAMES}

# Named slices of the current schema, generated from the channel names (code that must follow a schema
# replaced at run time, as the add-a-channel test does, asks `layout(group)` instead).
BODY_TORSO = layout("body").span("torso")
BODY_DIRS = layout("body").span_of(body_dir_names())  # the bone directions, 3 per bone in BODY_BONES order
BODY_FOLLOW = layout("body").span("follow")  # the limb follow weights, in LIMBS order
FACE_HEAD = layout("face").span("head")
FACE_EXPRESSION = layout("face").span_of(expression_names())
HAND_WRIST = layout("right_hand").span("wrist")
HAND_FINGER = {f: layout("right_hand").span(f) for f in FINGER_NAMES}  # spread, flex_base, flex_mid, flex_tip
