"""Small rotation and frame helpers shared by the token encoders and the retargeter.

Camera frame: X right, Y up, Z towards the camera (right-handed). Image px (x right, y down, z away)
map to it by flipping y and z.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-8


def to_cam(px: np.ndarray) -> np.ndarray:
    out = np.array(px, dtype=np.float64, copy=True)
    out[..., 1] *= -1
    out[..., 2] *= -1
    return out


def to_px(cam: np.ndarray) -> np.ndarray:
    return to_cam(cam)  # the flip is its own inverse


def normalize(v: np.ndarray) -> np.ndarray:
    n = np.sqrt((v * v).sum(axis=-1, keepdims=True))  # np.linalg.norm costs more on tiny arrays
    return v / np.maximum(n, EPS)


def cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross's generality is slow on the per-frame hot path)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def frame_from_axes(x_hint: np.ndarray, y_hint: np.ndarray) -> np.ndarray:
    """Rotation matrix with columns (ex, ey, ez): ey along y_hint, ex along x_hint made orthogonal."""
    ey = normalize(y_hint)
    ex = normalize(x_hint - np.dot(x_hint, ey) * ey)
    return np.stack([ex, ey, cross3(ex, ey)], axis=1)


def euler_yxz(r: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) in degrees with R = Ry(yaw) @ Rx(pitch) @ Rz(roll).

    yaw + turns the frame's forward (Z) towards +X; pitch + tips forward down; roll + turns X towards +Y.
    """
    pitch = np.arcsin(np.clip(-r[1, 2], -1.0, 1.0))
    yaw = np.arctan2(r[0, 2], r[2, 2])
    roll = np.arctan2(r[1, 0], r[1, 1])
    return np.degrees([yaw, pitch, roll])


def rot_yxz(yaw: float, pitch: float, roll: float) -> np.ndarray:
    a, b, c = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def rotate_about(v: np.ndarray, axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rodrigues rotation of v about a unit axis."""
    th = np.radians(angle_deg)
    k = normalize(axis)
    return v * np.cos(th) + np.cross(k, v) * np.sin(th) + k * np.dot(k, v) * (1 - np.cos(th))


def mirror_x(points: np.ndarray) -> np.ndarray:
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 0] *= -1
    return out


def skew(v: np.ndarray) -> np.ndarray:
    """The cross-product matrix of a 3-vector: skew(v) @ x == cross(v, x)."""
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def slerp_rotation(r0: np.ndarray, r1: np.ndarray, w: float) -> np.ndarray:
    """The rotation `w` of the way from r0 to r1 along the shortest arc (w = 0: r0, w = 1: r1)."""
    if w <= 0.0:
        return r0.copy()
    rel = r0.T @ r1
    angle = np.arccos(np.clip((np.trace(rel) - 1.0) / 2.0, -1.0, 1.0))
    if w >= 1.0 or angle < 1e-6:
        return r1.copy()
    axis = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
    if np.linalg.norm(axis) < 1e-9:  # a half turn: the axis is the eigenvector of the symmetric part
        vals, vecs = np.linalg.eigh((rel + np.eye(3)) / 2.0)
        axis = vecs[:, int(np.argmax(vals))]
    kx = skew(normalize(axis))
    th = w * angle
    return r0 @ (np.eye(3) + np.sin(th) * kx + (1 - np.cos(th)) * kx @ kx)


def turn_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector a onto unit vector b (a half turn about a perpendicular axis
    when they are opposite)."""
    c = float(a @ b)
    if c < -1.0 + 1e-6:
        perp = normalize(np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0]))
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    vx = skew(cross3(a, b))
    return np.eye(3) + vx + vx @ vx / (1.0 + c)
