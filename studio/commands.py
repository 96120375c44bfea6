"""Undo commands: one QUndoCommand type per kind of edit, all on the window's single QUndoStack.

Edits to token curves keep, per channel, the operation tuples before and after (engine.project.edits), so
undo and redo are exact and cheap. Each command is built from the document's committed state at the moment
it is created; `redo()` (run by QUndoStack.push) applies it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np
from PySide6.QtGui import QUndoCommand

from engine.project import edits
from engine.project.document import Project
from engine.project.angles import channel_curve

Ops = tuple[edits.EditOp, ...]


def _label(keys: Iterable[edits.ChannelKey]) -> str:
    keys = list(keys)
    if len(keys) == 1:
        return f"{keys[0][0]} {keys[0][1]}"
    return f"{len(keys)} channels"


class ChannelEditCommand(QUndoCommand):
    """Base: set some channels' operations from `before` to `after` (one undo step for all of them)."""

    verb = "Edit"

    def __init__(self, doc: Project, after: Mapping[edits.ChannelKey, Ops], text: str | None = None) -> None:
        self.doc = doc
        self.before = {k: doc.channel_ops(k) for k in after}
        self.after = {k: tuple(v) for k, v in after.items()}
        super().__init__(text or f"{self.verb} {_label(after)}")

    @property
    def changes_anything(self) -> bool:
        return self.before != self.after

    def redo(self) -> None:
        self.doc.set_ops(self.after)

    def undo(self) -> None:
        self.doc.set_ops(self.before)


class AddKeyCommand(ChannelEditCommand):
    verb = "Add key to"

    def __init__(self, doc: Project, key: edits.ChannelKey, frame: int, value: float) -> None:
        super().__init__(doc, {key: edits.add_key(doc.channel_ops(key), frame, value)})


class MoveKeysCommand(ChannelEditCommand):
    verb = "Move keys of"

    def __init__(self, doc: Project, moves: Mapping[edits.ChannelKey, Mapping[int, tuple[int, float]]]) -> None:
        super().__init__(doc, {k: edits.move_keys(doc.channel_ops(k), m) for k, m in moves.items()})


class DeleteKeysCommand(ChannelEditCommand):
    verb = "Delete keys of"

    def __init__(self, doc: Project, frames: Mapping[edits.ChannelKey, Iterable[int]]) -> None:
        super().__init__(doc, {k: edits.delete_keys(doc.channel_ops(k), f) for k, f in frames.items()})


class RangeOpCommand(ChannelEditCommand):
    """Append one range operation per channel; `make(key)` builds it."""

    def __init__(self, doc: Project, keys: Iterable[edits.ChannelKey], make: Callable[[edits.ChannelKey], edits.EditOp],
                 text: str | None = None) -> None:
        keys = list(keys)
        super().__init__(doc, {k: doc.channel_ops(k) + (make(k),) for k in keys}, text)


@dataclass(frozen=True)
class Amount:
    """How an operation's amount is shown and bounded in the adjust-last-operation panel."""

    label: str
    suffix: str
    minimum: float
    maximum: float
    step: float
    decimals: int


class AdjustableCommand(RangeOpCommand):
    """A range operation with one amount that can be changed after it was applied (Blender's "adjust last
    operation"): `adjust` rewrites this command's result in place, so the final amount is still one undo step."""

    amount_spec: Amount  # each subclass also defines make_op(key, amount) -> EditOp: the operation at an amount
    kind = ""  # which remembered default the amount updates (smooth, exaggerate, calm, offset)

    def __init__(self, doc: Project, keys, start: int, stop: int, amount: float) -> None:
        self.start, self.stop, self.amount = int(start), int(stop), float(amount)
        keys = list(keys)
        super().__init__(doc, keys, lambda k: self.make_op(k, self.amount))
        self.setText(self.describe())

    def title(self) -> str:
        return self.verb

    def describe(self) -> str:
        return f"{self.title()} {_label(self.after)} {self.start}-{self.stop}"

    def adjust(self, amount: float) -> None:
        s = self.amount_spec
        amount = float(min(max(amount, s.minimum), s.maximum))
        if amount == self.amount:
            return
        self.amount = amount
        self.after = {k: self.before[k] + (self.make_op(k, amount),) for k in self.before}
        self.setText(self.describe())
        self.doc.set_ops(self.after)


class SmoothCommand(AdjustableCommand):
    verb = "Smooth"
    kind = "smooth"
    amount_spec = Amount("Strength", " frames", 0.5, 25.0, 0.5, 1)

    def __init__(self, doc: Project, keys, start: int, stop: int, sigma: float = edits.DEFAULT_SMOOTH_SIGMA) -> None:
        super().__init__(doc, keys, start, stop, sigma)

    def make_op(self, key: edits.ChannelKey, amount: float) -> edits.EditOp:
        return edits.Smooth(self.start, self.stop, sigma=amount)


class ScaleCommand(AdjustableCommand):
    """Exaggerate (factor > 1) or calm (factor < 1) around each channel's neutral."""

    amount_spec = Amount("Factor", "×", 0.0, 5.0, 0.05, 2)

    def __init__(self, doc: Project, keys, start: int, stop: int, factor: float) -> None:
        self.kind = "exaggerate" if factor > 1 else "calm"
        super().__init__(doc, keys, start, stop, factor)

    def title(self) -> str:
        return "Exaggerate" if self.amount > 1 else "Calm"

    def make_op(self, key: edits.ChannelKey, amount: float) -> edits.EditOp:
        return edits.Scale(self.start, self.stop, factor=amount)


class HoldCommand(RangeOpCommand):
    """Hold each channel at its edited value at `start`."""

    verb = "Hold"

    def __init__(self, doc: Project, keys, start: int, stop: int) -> None:
        tokens = doc.edited_tokens()
        value = {k: float(channel_curve(tokens, k)[start]) for k in keys}
        super().__init__(doc, keys, lambda k: edits.Hold(start, stop, value=value[k]))


class OffsetCommand(AdjustableCommand):
    verb = "Offset"
    kind = "offset"
    amount_spec = Amount("Amount", "", -1000.0, 1000.0, 0.05, 3)

    def __init__(self, doc: Project, keys, start: int, stop: int, delta: float) -> None:
        super().__init__(doc, keys, start, stop, delta)

    def make_op(self, key: edits.ChannelKey, amount: float) -> edits.EditOp:
        return edits.Offset(self.start, self.stop, delta=amount)


class ResetRangeCommand(RangeOpCommand):
    verb = "Reset"

    def __init__(self, doc: Project, keys, start: int, stop: int) -> None:
        super().__init__(doc, keys, lambda k: edits.ResetToTracked(start, stop))


class ResetChannelsCommand(ChannelEditCommand):
    verb = "Reset all edits of"

    def __init__(self, doc: Project, keys: Iterable[edits.ChannelKey]) -> None:
        super().__init__(doc, {k: () for k in keys})


class PasteCommand(ChannelEditCommand):
    verb = "Paste into"

    def __init__(self, doc: Project, clipboard: edits.CurveClipboard, keys: Iterable[edits.ChannelKey],
                 start: int) -> None:
        keys = list(keys)
        after = {}
        for k in keys:
            values = clipboard.values_for(k, only_one_target=len(keys) == 1)
            if values is not None:
                after[k] = doc.channel_ops(k) + (edits.Paste(start, values),)
        super().__init__(doc, after)


def copy_range(doc: Project, keys: Iterable[edits.ChannelKey], start: int, stop: int) -> edits.CurveClipboard:
    tokens = doc.edited_tokens()
    curves = tuple((k, tuple(float(v) for v in np.asarray(channel_curve(tokens, k)[start:stop + 1]))) for k in keys)
    return edits.CurveClipboard(length=stop - start + 1, curves=curves)


class SetRangeCommand(QUndoCommand):
    """Set (or clear, with None) the in/out range."""

    def __init__(self, doc: Project, rng: tuple[int, int] | None) -> None:
        self.doc = doc
        self.before = doc.in_out if doc.has_custom_range else None
        self.after = rng
        super().__init__("Clear in/out" if rng is None else f"Set range {min(rng)}-{max(rng)}")

    def redo(self) -> None:
        self.doc.set_in_out(self.after)

    def undo(self) -> None:
        self.doc.set_in_out(self.before)


class ReplaceClipCommand(QUndoCommand):
    """Another driving video, with the edits carried over to it (re-mapped by time): one undo step."""

    def __init__(self, doc: Project, path, clip, layer: edits.EditLayer, in_out: tuple[int, int] | None,
                 text: str) -> None:
        self.doc = doc
        self.before = (doc.driving_path, doc.clip, doc.edits, doc.custom_range)
        self.after = (path, clip, layer, in_out)
        super().__init__(text)

    def redo(self) -> None:
        self.doc.replace_clip(*self.after)

    def undo(self) -> None:
        self.doc.replace_clip(*self.before)


class SetReferenceCommand(QUndoCommand):
    """Another reference photo: one undo step (the edits stay; they are motion, not looks)."""

    def __init__(self, doc: Project, path, reference, text: str) -> None:
        self.doc = doc
        self.before = (doc.reference_path, doc.reference)
        self.after = (path, reference)
        super().__init__(text)

    def redo(self) -> None:
        self.doc.set_reference(*self.after)

    def undo(self) -> None:
        self.doc.set_reference(*self.before)


class SetInterpCommand(ChannelEditCommand):
    verb = "Set interpolation of"

    def __init__(self, doc: Project, frames: Mapping[edits.ChannelKey, Iterable[int]], interp: str) -> None:
        super().__init__(doc, {k: edits.set_interp(doc.channel_ops(k), f, interp) for k, f in frames.items()},
                         f"Make keys {interp}")
