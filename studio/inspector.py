"""The inspector: the four token groups and their channels; the selected ones drawn in the curve editor, and
the curve edits (keys, smooth, exaggerate/calm, hold, offset, reset, copy/paste) as undo commands."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSplitter, QToolBar, QVBoxLayout, QWidget

from engine.project import edits
from engine.project.document import Project
from engine.project.angles import SIDE_WORDS, bone_of, channel_curve
from engine.tokens.schema import LIMBS
from studio import commands
from studio.adjust_panel import AdjustPanel
from studio.channel_tree import ChannelTree
from studio.curve_editor import CurveEditor
from studio.key_fields import KeyFields

TOOLBAR_ACTIONS = ("edit.add_key", "edit.delete_keys", None, "edit.smooth", "edit.exaggerate", "edit.calm",
                   "edit.hold", "edit.offset", "edit.reset_range", "edit.reset_channel", None, "edit.copy_range",
                   "edit.paste_range")


LIMB_OF = {bone: limb for limb, bones in LIMBS.items() for bone in bones}
FOLLOWS = 0.5  # the retargeter takes the driver's hand from this follow weight on


class Inspector(QWidget):
    message = Signal(str, bool)

    def __init__(self, doc: Project, undo: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.undo = doc, undo
        self.clipboard: edits.CurveClipboard | None = None
        self.tree = ChannelTree()
        self._items = self.tree.items
        self.curves = CurveEditor(doc, undo)
        self.adjust_panel = AdjustPanel(undo, self.curves)
        # the amounts the next Smooth / Exaggerate / Calm use: the last one chosen (adjusting one updates it)
        self.amounts = {"smooth": edits.DEFAULT_SMOOTH_SIGMA, "exaggerate": edits.EXAGGERATE, "calm": edits.CALM}
        self.adjust_panel.adjusted.connect(self._remember_amount)
        self.toolbar = QToolBar()
        self.toolbar.setIconSize(self.toolbar.iconSize() * 0.8)
        self.amount = QDoubleSpinBox()
        self.amount.setDecimals(3)
        self.amount.setRange(-1000.0, 1000.0)
        self.amount.setSingleStep(0.05)
        self.amount.setValue(0.1)
        self.amount.setToolTip("Offset amount (in the channel's unit)")
        self.amount.setMinimumWidth(90)
        self.range_label = QLabel("")
        self.follow_hint = QLabel("")  # edits to a limb the driver does not show have no effect until followed
        self.follow_hint.setStyleSheet("color: #f0c05a;")
        self.follow_hint.hide()
        right = QWidget()
        self.right_column = rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(2)
        bar = QHBoxLayout()
        bar.addWidget(self.toolbar, 1)
        bar.addWidget(QLabel("Offset"))
        bar.addWidget(self.amount)
        rl.addLayout(bar)
        self.key_fields = KeyFields(doc, undo, self.curves)
        row = QHBoxLayout()
        row.setContentsMargins(4, 0, 6, 0)
        row.addWidget(self.key_fields)
        row.addSpacing(12)
        row.addWidget(self.follow_hint)
        row.addStretch(1)
        row.addWidget(self.range_label)
        rl.addLayout(row)
        rl.addWidget(self.curves, 1)
        self.splitter = split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([320, 920])  # wide enough for 'eyelid right · screen left'
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.curves.selection_changed.connect(self._update_range_label)
        doc.edits_changed.connect(self._mark_edited)
        doc.edits_changed.connect(self._update_range_label)  # keys deleted or moved: the selection changed
        doc.clip_changed.connect(self._update_range_label)
        doc.range_changed.connect(self._update_range_label)
        doc.frame_changed.connect(lambda _f: self._update_follow_hint())
        doc.edits_changed.connect(lambda _k: self._update_follow_hint())
        doc.clip_changed.connect(self._update_follow_hint)

    def set_timeline(self, timeline: QWidget) -> None:
        """Put the timeline right above the curves: same width, same left axis, so frames line up."""
        self.right_column.insertWidget(0, timeline)

    def add_toolbar_actions(self, actions) -> None:
        for aid in TOOLBAR_ACTIONS:
            if aid is None:
                self.toolbar.addSeparator()
            else:
                self.toolbar.addAction(actions[aid])

    # -- channel selection ----------------------------------------------------------------------------------------

    def selected_channels(self) -> list[edits.ChannelKey]:
        return self.tree.selected_channels()

    @property
    def current_channel(self) -> edits.ChannelKey | None:
        return self.curves.current

    def select_channels(self, keys: list[edits.ChannelKey]) -> None:
        """Select these channels (the first becomes current) and show their curves."""
        self.tree.select(keys)
        self._selection_changed()

    def _selection_changed(self) -> None:
        keys = self.selected_channels()
        current = self.tree.current_channel()
        self.curves.set_channels(keys, current if current in keys else None)
        self._update_follow_hint()
        self._update_range_label()

    def _mark_edited(self, _keys=None) -> None:
        self.tree.mark_edited(set(self.doc.edits.keys()))

    def _update_follow_hint(self) -> None:
        """Say so when a selected bone belongs to a limb that does not follow the driver at this frame (a
        talking head's arms): its edits show only where the limb's follow weight is raised."""
        weak = []
        if self.doc.clip is not None:
            tokens, f = self.doc.edited_tokens(), self.doc.frame
            limbs = sorted({LIMB_OF[b] for k in self.selected_channels() if (b := bone_of(k)) in LIMB_OF})
            weak = [lb for lb in limbs if channel_curve(tokens, ("body", f"follow.{lb}"))[f] < FOLLOWS]
        names = " and ".join(f"{SIDE_WORDS[lb[0]]} {lb[2:]}" for lb in weak)
        self.follow_hint.setText(f"⚠ The {names} keeps the photo's pose here: key "
                                 f"{', '.join('follow.' + lb for lb in weak)} to 1 to see these edits" if weak else "")
        self.follow_hint.setVisible(bool(weak))

    def op_range(self) -> tuple[list[edits.ChannelKey], int, int, str]:
        """What the range tools act on, and how to say it: the selected keys' channels and frames if keys are
        selected, else the selected channels over In/Out, else over the whole clip."""
        sel = self.curves.selected_keys()
        if sel:
            frames = [f for fs in sel.values() for f in fs]
            return list(sel), min(frames), max(frames), "selected keys"
        a, b = self.doc.in_out
        return self.selected_channels(), a, b, "In/Out" if self.doc.has_custom_range else "whole clip"

    def _update_range_label(self, *_args) -> None:
        if self.doc.clip is None:
            self.range_label.setText("")
            return
        keys, a, b, what = self.op_range()
        n = len(keys)
        chans = f"{n} channel{'s' if n != 1 else ''}" if n else "no channel selected"
        self.range_label.setText(f"Tools act on: {what} {a}–{b} · {chans}")
        self.range_label.setToolTip("Smooth, Exaggerate, Calm, Hold, Offset, Reset and Copy act on the selected "
                                    "keys' frames if keys are selected, else on In/Out (I and O), else on the "
                                    "whole clip")

    # -- edits (the action handlers) ---------------------------------------------------------------------------------

    def _targets(self) -> list[edits.ChannelKey] | None:
        keys = self.selected_channels()
        if self.doc.clip is None:
            self.message.emit("Nothing to edit yet: drop a driving video first", True)
            return None
        if not keys:
            self.message.emit("Select one or more channels in the inspector first", True)
            return None
        return keys

    def _push(self, cmd) -> None:
        if getattr(cmd, "changes_anything", True):
            self.undo.push(cmd)

    def add_key(self) -> None:
        keys = self._targets()
        if not keys:
            return
        ch = self.current_channel or keys[0]
        f = self.doc.frame
        value = float(channel_curve(self.doc.edited_tokens(), ch)[f])
        self._push(commands.AddKeyCommand(self.doc, ch, f, value))

    def delete_keys(self) -> None:
        sel = self.curves.selected_keys()
        if not sel:
            self.message.emit("No keys selected (click a key, or Shift+drag a box around keys)", True)
            return
        self._push(commands.DeleteKeysCommand(self.doc, sel))

    def _range_targets(self) -> tuple[list[edits.ChannelKey], int, int] | None:
        if self.doc.clip is None:
            self.message.emit("Nothing to edit yet: drop a driving video first", True)
            return None
        keys, a, b, _what = self.op_range()
        if not keys:
            self.message.emit("Select one or more channels in the inspector first", True)
            return None
        return keys, a, b

    def _remember_amount(self, kind: str, amount: float) -> None:
        if kind == "offset":
            self.amount.setValue(amount)
        elif kind == "smooth":
            self.amounts["smooth"] = amount
        elif amount != 1.0:  # a factor of 1 is neither: keep the last real one
            self.amounts["exaggerate" if amount > 1 else "calm"] = amount

    def smooth(self) -> None:
        if t := self._range_targets():
            self._push(commands.SmoothCommand(self.doc, *t, sigma=self.amounts["smooth"]))

    def scale(self, factor: float | None = None, kind: str = "exaggerate") -> None:
        """Exaggerate or calm; `factor` None uses the last factor chosen for `kind`."""
        if t := self._range_targets():
            self._push(commands.ScaleCommand(self.doc, *t, factor=self.amounts[kind] if factor is None else factor))

    def adjust_last(self) -> None:
        if not self.adjust_panel.focus_amount():
            self.message.emit("The last operation has no amount to adjust (Smooth, Exaggerate, Calm and Offset "
                              "have one)", False)

    def hold(self) -> None:
        if t := self._range_targets():
            self._push(commands.HoldCommand(self.doc, *t))

    def offset(self) -> None:
        if t := self._range_targets():
            self._push(commands.OffsetCommand(self.doc, *t, delta=self.amount.value()))

    def reset_range(self) -> None:
        if t := self._range_targets():
            self._push(commands.ResetRangeCommand(self.doc, *t))

    def reset_channels(self) -> None:
        if keys := self._targets():
            self._push(commands.ResetChannelsCommand(self.doc, keys))

    def copy_range(self) -> None:
        if t := self._range_targets():
            keys, a, b = t
            self.clipboard = commands.copy_range(self.doc, keys, a, b)
            self.message.emit(f"Copied frames {a}–{b} of {len(keys)} channel(s)", False)

    def paste_range(self) -> None:
        keys = self._targets()
        if not keys:
            return
        if self.clipboard is None:
            self.message.emit("Nothing copied yet: Copy Range first", True)
            return
        cmd = commands.PasteCommand(self.doc, self.clipboard, keys, self.doc.frame)
        if not cmd.after:
            self.message.emit("The copied channels are not selected here", True)
            return
        self._push(cmd)
