"""Generated motion as an ordinary edit: a `Generated` operation per channel, laid over the curve like a paste.

A generated span (engine.motion.generate) becomes one `Generated` op on every channel of the groups it
generated, all sharing a `take` label, so it saves with the project, shows on the curves and the timeline as
generated, exports like any frame, and later edits (keys, smoothing) still apply on top of it.
`GeneratedEdit` is the whole change (the operations, and the in/out range an extension moves) with exact
before/after states: applying or reverting it is one step, which the studio wraps in one undo command.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from engine.project.edits import ChannelKey, CurveContext, EditLayer, EditOp, range_weights
from engine.tokens.schema import CHANNELS, GROUP_NAMES


@dataclass(frozen=True)
class Generated(EditOp):
    """Values a motion method generated for frames [start, start + len(values)); `take` names the run."""

    kind: ClassVar[str] = "generated"
    start: int = 0
    values: tuple[float, ...] = ()
    take: str = ""
    blend: int = 0  # the generator already joins both ends; a blend would pull real frames towards it

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", int(self.start))
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        object.__setattr__(self, "blend", int(self.blend))
        if not self.values:
            raise ValueError("Generated.values: no frames")
        if not all(np.isfinite(self.values)):
            raise ValueError("Generated.values: must be finite")
        if self.blend < 0:
            raise ValueError(f"Generated.blend must be >= 0, got {self.blend}")

    @property
    def stop(self) -> int:
        return self.start + len(self.values) - 1

    def span(self) -> tuple[int, int]:
        return self.start - self.blend, self.stop + self.blend

    def apply(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        w = range_weights(len(curve), self.start, self.stop, self.blend)
        if not w.any():
            return curve
        t = np.clip(np.arange(len(curve)) - self.start, 0, len(self.values) - 1)
        return curve + w * (np.asarray(self.values, np.float64)[t] - curve)

    def describe(self) -> str:
        return self.take or f"Generated {len(self.values)} frames at {self.start}"


def span_ops(start: int, values: np.ndarray, groups: tuple[bool, ...], take: str) -> dict[ChannelKey, Generated]:
    """One Generated op per channel of each generated group. `values`: (n, 129) in GROUP_NAMES order."""
    out: dict[ChannelKey, Generated] = {}
    col = 0
    for g, on in zip(GROUP_NAMES, groups):
        for c, spec in enumerate(CHANNELS[g]):
            if on:
                out[(g, spec.name)] = Generated(start, tuple(values[:, col + c].tolist()), take)
        col += len(CHANNELS[g])
    return out


def generated_frames(layer: EditLayer, group: str, n: int) -> np.ndarray:
    """(n,) bool: frames of `group` that a Generated op writes (the timeline shows them apart from edits)."""
    mask = np.zeros(n, bool)
    for (g, _), ops in layer.items():
        if g == group:
            mask |= generated_op_frames(ops, n)
    return mask


def generated_op_frames(ops, n: int) -> np.ndarray:
    """(n,) bool: frames that a Generated op among one channel's `ops` writes (the curve editor shades them)."""
    mask = np.zeros(n, bool)
    for op in ops:
        if isinstance(op, Generated):
            a, b = op.span()
            mask[max(a, 0):max(min(b, n - 1) + 1, 0)] = True
    return mask


@dataclass(frozen=True)
class GeneratedEdit:
    """The whole change a generation makes to a document: operations appended and the range it moves."""

    before: Mapping[ChannelKey, tuple[EditOp, ...]]
    after: Mapping[ChannelKey, tuple[EditOp, ...]]
    range_before: tuple[int, int] | None
    range_after: tuple[int, int] | None
    text: str

    @classmethod
    def build(cls, doc, start: int, values: np.ndarray, groups: tuple[bool, ...], take: str,
              new_range: tuple[int, int] | None = None) -> "GeneratedEdit":
        """`doc`: an engine.project.document.Project. `new_range` None keeps the range as it is."""
        ops = span_ops(start, values, groups, take)
        before = {k: doc.channel_ops(k) for k in ops}
        after = {k: doc.channel_ops(k) + (op,) for k, op in ops.items()}
        rb = doc.in_out if doc.has_custom_range else None
        return cls(before, after, rb, rb if new_range is None else tuple(new_range), take)

    def apply(self, doc) -> None:
        doc.set_ops(self.after)
        doc.set_in_out(self.range_after)

    def revert(self, doc) -> None:
        doc.set_ops(self.before)
        doc.set_in_out(self.range_before)
