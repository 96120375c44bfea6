"""Placement of the animated person in the photo's frame: follow the driver's travel, keep in frame, or fixed.

The tokens carry the driver's travel (placement: dx, dy in torso lengths, and a distance scale), which
`retarget.apply` lays onto the photo's person at the photo's torso length. That is `FOLLOW`. A driver who
walks across the room or raises both arms can take the photo's person out of the canvas, which the photo
never had room for; `KEEP_IN_FRAME` changes the placement so the whole silhouette stays inside: one
zoom-out for the clip (the person drawn a little smaller, so the pose with the widest reach fits) and,
frame by frame, the travel clamped at the canvas edges. `FIXED` drops the travel: the person stays where
the photo has them and only poses.

It acts on the tokens, before any renderer, so every renderer (instant, generator) and both front ends
(`unimotion render --framing`, the studio's export and preview) place the person the same way.

    tokens = apply_framing(tokens, reference, Framing.KEEP_IN_FRAME)
"""
from __future__ import annotations

import enum
from typing import Sequence

import numpy as np

from engine.tokens.reference import Reference
from engine.tokens.schema import MotionTokens

# How far the silhouette reaches past the landmarks (torso lengths): clothes and flesh beside the joints,
# and the hair above the face mesh.
SIDE_MARGIN_U = 0.15
TOP_MARGIN_U = 0.35
BORDER = 0.01  # kept free along the canvas edges (share of the canvas' long side)


class Framing(str, enum.Enum):
    FOLLOW = "follow"  # the driver's travel, at the photo's body size (the default)
    KEEP_IN_FRAME = "keep_in_frame"  # ... zoomed out and clamped so the whole person stays in the canvas
    FIXED = "fixed"  # no travel: the person poses where the photo has them

    @property
    def label(self) -> str:
        return {"follow": "Follow driver", "keep_in_frame": "Keep in frame", "fixed": "Fixed"}[self.value]


DEFAULT = Framing.FOLLOW


def parse(value: "Framing | str") -> Framing:
    """A Framing from its value (`keep_in_frame`, or the CLI's `keep-in-frame`); ValueError naming the choices."""
    if isinstance(value, Framing):
        return value
    try:
        return Framing(str(value).replace("-", "_"))
    except ValueError:
        raise ValueError(f"framing: {value!r} is not one of {', '.join(f.value for f in Framing)}") from None


def silhouette_box(reference: Reference, tokens: MotionTokens, t: int) -> np.ndarray:
    """(x0, y0, x1, y1) in the photo's px: where frame `t` puts the person, landmarks plus the margins."""
    from engine.tokens import retarget

    rig = reference.rig()
    fl = retarget.apply(tokens, rig, t)
    pts = [g[:, :2] for g in (fl.body, fl.face, fl.left_hand, fl.right_hand) if g is not None and len(g)]
    p = np.concatenate(pts).astype(np.float64)
    p = p[np.isfinite(p).all(1)]
    m = SIDE_MARGIN_U * rig.scale * float(tokens.placement[t, 2])
    top = TOP_MARGIN_U * rig.scale * float(tokens.placement[t, 2])
    return np.array([p[:, 0].min() - m, p[:, 1].min() - top, p[:, 0].max() + m, p[:, 1].max() + m])


def apply_framing(tokens: MotionTokens, reference: Reference, framing: "Framing | str",
                  indices: Sequence[int] | None = None) -> MotionTokens:
    """The tokens with their placement changed for `framing` (a copy; FOLLOW returns them as they are).
    KEEP_IN_FRAME fits the frames in `indices` (all by default): the zoom-out is shared by them."""
    framing = parse(framing)
    if framing is Framing.FOLLOW or len(tokens) == 0:
        return tokens
    out = tokens.slice(0, len(tokens))
    place = out.placement.copy()
    if framing is Framing.FIXED:
        place[:, :2] = 0.0
        place[:, 2] = 1.0
        out.placement = place
        return out
    idx = np.arange(len(tokens)) if indices is None else np.asarray(list(indices), int)
    w, h = reference.size
    border = BORDER * max(w, h)
    rig = reference.rig()
    boxes = np.array([silhouette_box(reference, out, int(t)) for t in idx])
    # one zoom for the clip (a zoom that breathes frame by frame reads as the camera pumping): the
    # widest and the tallest reach must fit
    need = max(float((boxes[:, 2] - boxes[:, 0]).max()) / max(w - 2 * border, 1.0),
               float((boxes[:, 3] - boxes[:, 1]).max()) / max(h - 2 * border, 1.0))
    zoom = min(1.0, 1.0 / need) if need > 0 else 1.0
    place[:, 2] *= zoom
    out.placement = place
    for t in idx:
        b = silhouette_box(reference, out, int(t))
        # clamp the travel at the edges (continuous in time: a person walking on stops at the edge)
        dx = max(0.0, border - b[0]) - max(0.0, b[2] - (w - border))
        dy = max(0.0, border - b[1]) - max(0.0, b[3] - (h - border))
        place[t, 0] += dx / rig.scale
        place[t, 1] += dy / rig.scale
    out.placement = place
    return out
