"""Bone directions as angles a person can read and edit.

The body token stores each bone's direction as a unit vector (x = the performer's left, y = up, z = forward,
in the pelvis frame). Nobody animates "l_forearm.y = -0.71"; they think "the forearm swings 45° forward". So
each bone also has two *angle channels*: its swing away from its rest direction (arms and legs hanging down,
spine up, clavicles sideways), split along two named directions, in degrees. They are views of the same
stored vectors: an edit on an angle channel is applied by turning the vectors into angles, editing those and
turning them back, so the tokens stay unit vectors. A direction has no twist (roll about the bone itself),
so there are two angles per bone, not three.

Swing, not Euler angles: the swing is the rotation taking the rest direction to the bone's direction along the
shortest arc; its rotation vector has two components (it is perpendicular to the rest direction), and those
are the two angles. They are smooth everywhere except for a bone pointing exactly opposite its rest direction.
"""
from __future__ import annotations

import numpy as np

from engine.tokens.schema import BODY_BONE_NAMES, CHANNELS, ChannelSpec, MotionTokens, channel_index

X, Y, Z = np.eye(3)
SIDE_WORDS = {"l": "left", "r": "right"}


def _axes_of(bone: str) -> tuple[tuple[str, np.ndarray, str], ...]:
    """(name, direction the angle swings the bone towards, what + means) for the bone's two angles."""
    side = bone.split("_", 1)[0]
    out = X if side == "l" else -X  # away from the body, on the performer's own side
    if bone in ("spine", "neck"):
        return (("forward", Z, "+ leans forward"), ("side", X, "+ leans to the performer's left"))
    if bone.endswith(("clavicle", "pelvis")):
        return (("forward", Z, "+ swings forward"), ("up", Y, "+ raises"))
    if bone.endswith(("foot", "heel")):
        return (("up", Y, "+ points up"), ("out", out, "+ turns outwards"))
    return (("forward", Z, "+ swings forward"), ("out", out, "+ swings out, away from the body"))


def _rest(bone: str) -> np.ndarray:
    i = channel_index("body", f"{bone}.x")
    r = np.array([CHANNELS["body"][i + k].neutral for k in range(3)], np.float64)
    return r / np.linalg.norm(r)


def _frame(bone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rest r, axis a1, axis a2): rotating r about a_i by a positive angle swings it towards the i-th direction."""
    r = _rest(bone)
    (_, m1, _), (_, m2, _) = _axes_of(bone)
    m1 = m1 - (m1 @ r) * r
    m1 /= np.linalg.norm(m1)
    m2 = m2 - (m2 @ r) * r - (m2 @ m1) * m1
    m2 /= np.linalg.norm(m2)
    return r, np.cross(r, m1), np.cross(r, m2)


FRAMES = {b: _frame(b) for b in BODY_BONE_NAMES}
ANGLE_CHANNELS: dict[str, tuple[str, int]] = {}  # virtual channel name -> (bone, 0 or 1)
ANGLE_SPECS: dict[str, ChannelSpec] = {}
for _bone in BODY_BONE_NAMES:
    for _i, (_name, _m, _plus) in enumerate(_axes_of(_bone)):
        _ch = f"{_bone}.{_name}"
        ANGLE_CHANNELS[_ch] = (_bone, _i)
        ANGLE_SPECS[_ch] = ChannelSpec(_ch, "deg", 0.0, f"{_bone}: swing from its rest direction; {_plus}")


def is_angle(key: tuple[str, str]) -> bool:
    return key[0] == "body" and key[1] in ANGLE_CHANNELS


def bone_of(key: tuple[str, str]) -> str | None:
    """The bone a body channel belongs to (angle or stored component), if any."""
    if key[0] != "body":
        return None
    if key[1] in ANGLE_CHANNELS:
        return ANGLE_CHANNELS[key[1]][0]
    bone = key[1].rsplit(".", 1)[0]
    return bone if bone in FRAMES else None


def angle_names(bone: str) -> tuple[str, str]:
    return tuple(f"{bone}.{n}" for n, _, _ in _axes_of(bone))  # type: ignore[return-value]


def spec(key: tuple[str, str]) -> ChannelSpec:
    """The channel's name, unit, neutral and description (stored or angle channel)."""
    if is_angle(key):
        return ANGLE_SPECS[key[1]]
    return CHANNELS[key[0]][channel_index(*key)]


def directions_to_angles(d: np.ndarray, bone: str) -> np.ndarray:
    """(T, 3) directions -> (T, 2) swing angles in degrees."""
    r, a1, a2 = FRAMES[bone]
    d = np.asarray(d, np.float64)
    d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
    axis = np.cross(r, d)  # |r x d| = sin(theta)
    theta = np.arctan2(np.linalg.norm(axis, axis=-1), d @ r)
    s = axis * (theta / np.maximum(np.sin(theta), 1e-12))[:, None]  # rotation vector, length theta
    small = np.sin(theta) < 1e-9
    s[small] = axis[small]  # at rest (theta ~ 0) the rotation vector is the cross product itself
    return np.degrees(_unwrapped(np.stack([s @ a1, s @ a2], axis=-1)))


def _unwrapped(s: np.ndarray) -> np.ndarray:
    """(T, 2) swing vectors (radians) made continuous in time. A bone swung past the opposite of its rest
    direction reads as the same direction swung the other way (+179 degrees becomes -179): each frame takes
    whichever of the equivalent swings (its own, or 2 pi longer or shorter along the same line) lies nearest
    the frame before, so an exaggerated curve keeps climbing past 180 instead of jumping, and a smoothing or
    keyframe edit never averages across the jump. The directions stay the same."""
    if len(s) < 2 or np.hypot(s[:, 0], s[:, 1]).max() < np.pi / 2:
        return s  # no swing comes near the opposite of rest: nothing can wrap (the common case, no loop)
    out = s.copy()
    for t in range(1, len(out)):
        n = float(np.hypot(*out[t]))
        if n < 1e-9:
            continue
        unit = out[t] / n
        cands = [out[t] + k * 2 * np.pi * unit for k in (-1, 1)]
        best = min(cands, key=lambda c: float(np.hypot(*(c - out[t - 1]))))
        if np.hypot(*(best - out[t - 1])) < np.hypot(*(out[t] - out[t - 1])):
            out[t] = best
    return out


def angles_to_directions(angles: np.ndarray, bone: str) -> np.ndarray:
    """(T, 2) swing angles in degrees -> (T, 3) unit directions (the inverse of directions_to_angles)."""
    r, a1, a2 = FRAMES[bone]
    a = np.radians(np.asarray(angles, np.float64))
    s = a[:, :1] * a1 + a[:, 1:2] * a2
    theta = np.linalg.norm(s, axis=-1, keepdims=True)
    k = s / np.maximum(theta, 1e-12)
    d = r * np.cos(theta) + np.cross(k, r) * np.sin(theta)  # Rodrigues with k perpendicular to r
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def bone_columns(bone: str) -> slice:
    i = channel_index("body", f"{bone}.x")
    return slice(i, i + 3)


def channel_curve(tokens: MotionTokens, key: tuple[str, str]) -> np.ndarray:
    """(T,) values of a stored or angle channel."""
    values = tokens.group(key[0]).values
    if is_angle(key):
        bone, i = ANGLE_CHANNELS[key[1]]
        return directions_to_angles(values[:, bone_columns(bone)], bone)[:, i]
    return values[:, channel_index(*key)]
