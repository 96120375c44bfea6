"""Click a limb, the face or a hand in the viewer to select its channels (a puppet tool's handles).

The preview job retargets the person of the current frame anyway; it also hands back where their joints are on
the displayed image (a PickMap, in 0..1 image coordinates). A click or hover is matched against the bones
(segments), the face (its outline) and the hands (their points) there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.project import angles
from engine.tokens.schema import BODY_BONES
from engine.vocabulary import VIRTUAL_POINTS
from engine.track.types import FrameLandmarks
from studio.channel_tree import bone_title

MIN_CONF = 0.2  # body points the tracker is less sure of are not pickable
REACH_PX = 14.0  # how far from a bone or a hand point a click still hits it
HEAD_CHANNELS = (("face", "head.yaw"), ("face", "head.pitch"), ("face", "head.roll"))
WRIST_CHANNELS = ("wrist.yaw", "wrist.pitch", "wrist.roll")


@dataclass(frozen=True)
class PickMap:
    """The person's joints on the displayed image, x and y in 0..1 of its width and height."""

    body: np.ndarray  # (33, 2)
    body_ok: np.ndarray  # (33,) bool
    face: np.ndarray | None  # (N, 2)
    hands: dict  # "left_hand" / "right_hand" -> (21, 2)

    @classmethod
    def from_landmarks(cls, lm: FrameLandmarks, scale: float, offset: tuple[float, float],
                       image_size: tuple[int, int]) -> "PickMap":
        """`lm` in reference pixels; the image shows them at p * scale + offset, in an image of `image_size`."""
        w, h = image_size

        def norm(p: np.ndarray) -> np.ndarray:
            q = np.asarray(p[:, :2], np.float64) * scale + np.asarray(offset, np.float64)
            return q / np.array([w, h], np.float64)

        ok = np.isfinite(lm.body[:, :2]).all(axis=1) & (lm.body_conf >= MIN_CONF)
        face = norm(lm.face) if lm.has("face") else None
        hands = {g: norm(lm.points(g)) for g in ("left_hand", "right_hand") if lm.has(g)}
        return cls(norm(lm.body), ok, face, hands)

    def _point(self, p: object) -> np.ndarray | None:
        idx = VIRTUAL_POINTS.get(p, ()) if isinstance(p, str) else (p,)
        if not idx:
            return None  # an extrapolated point (the crown): not a handle
        if not all(self.body_ok[i] for i in idx):
            return None
        return self.body[list(idx)].mean(axis=0)

    def hit(self, u: float, v: float, size: tuple[float, float]) -> tuple[str, list[tuple[str, str]]] | None:
        """(what was hit, its channels) for a point (u, v) of an image shown `size` pixels large, or None."""
        sz = np.asarray(size, np.float64)
        at = np.array([u, v]) * sz
        best: tuple[float, str, list] | None = None
        for group, pts in self.hands.items():
            d = float(np.min(np.linalg.norm(pts * sz - at, axis=1)))
            side = "Left" if group == "left_hand" else "Right"
            if d <= REACH_PX and (best is None or d < best[0]):
                best = (d, f"{side} hand (wrist)", [(group, c) for c in WRIST_CHANNELS])
        if best is not None:
            return best[1], best[2]
        if self.face is not None:
            lo, hi = self.face.min(axis=0) * sz, self.face.max(axis=0) * sz
            if np.all(at >= lo) and np.all(at <= hi):
                return "Head", list(HEAD_CHANNELS)
        for bone, a, b in BODY_BONES:
            pa, pb = self._point(a), self._point(b)
            if pa is None or pb is None:
                continue
            d = _segment_distance(at, pa * sz, pb * sz)
            if d <= REACH_PX and (best is None or d < best[0]):
                best = (d, bone_title(bone), [("body", n) for n in angles.angle_names(bone)])
        return (best[1], best[2]) if best else None


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip((p - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))
