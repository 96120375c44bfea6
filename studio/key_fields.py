"""The selected key in numbers: its frame and value as editable fields, and the interpolation of the selected
keys (smooth, linear, constant). Typing a value and pressing Enter moves the key: one undo step."""
from __future__ import annotations

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from engine.project import edits
from engine.project.document import Project
from engine.project.angles import spec
from studio.commands import MoveKeysCommand, SetInterpCommand
from studio.curve_editor import CurveEditor

VALUE_LIMIT = 1e4  # any channel's values (degrees, ratios, weights) lie well inside this


class KeyFields(QWidget):
    def __init__(self, doc: Project, undo: QUndoStack, curves: CurveEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.undo, self.curves = doc, undo, curves
        self.label = QLabel("Key")
        self.frame = QSpinBox()
        self.frame.setPrefix("frame ")
        self.frame.setKeyboardTracking(False)  # a typed number applies on Enter, not digit by digit
        self.frame.setSpecialValueText("frame –")
        self.value = QDoubleSpinBox()
        self.value.setDecimals(4)
        self.value.setRange(-VALUE_LIMIT, VALUE_LIMIT)
        self.value.setSingleStep(0.01)
        self.value.setKeyboardTracking(False)
        self.value.setSpecialValueText("–")
        self.value.setMinimumWidth(110)
        self.interp = QComboBox()
        for name in edits.INTERPOLATIONS:
            self.interp.addItem(name.capitalize(), name)
        self.interp.setToolTip("How the curve goes from the selected keys to the next key")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.frame, self.value, self.interp):
            lay.addWidget(w)
        self.frame.valueChanged.connect(lambda _v: self._moved())
        self.value.valueChanged.connect(lambda _v: self._moved())
        self.interp.activated.connect(self._interp_chosen)
        curves.selection_changed.connect(self.refresh)
        doc.edits_changed.connect(lambda _k: self.refresh())
        doc.clip_changed.connect(self.refresh)
        self.refresh()

    def selected(self) -> list[tuple[edits.ChannelKey, edits.Key]]:
        out = []
        for ch, frames in self.curves.selected_keys().items():
            keys = {k.frame: k for k in edits.keys_of(self.doc.channel_ops(ch))}
            out += [(ch, keys[f]) for f in sorted(frames) if f in keys]
        return out

    def refresh(self) -> None:
        sel = self.selected()
        one = len(sel) == 1
        for w in (self.frame, self.value):
            w.blockSignals(True)
        last = max(self.doc.frame_count - 1, 0)
        if one:
            self.frame.setRange(0, last)
            ch, key = sel[0]
            self.frame.setValue(key.frame)
            self.value.setValue(key.value)
            self.value.setSuffix(f" {spec(ch).unit}")
            self.label.setText(f"Key of {ch[1]}")
        else:  # blank fields (their special text) rather than a key that is no longer selected
            self.label.setText(f"{len(sel)} keys" if sel else "No key selected")
            self.frame.setRange(-1, last)
            self.frame.setValue(-1)
            self.value.setValue(-VALUE_LIMIT)
            self.value.setSuffix("")
        for w in (self.frame, self.value):
            w.blockSignals(False)
            w.setEnabled(one)
        self.interp.setEnabled(bool(sel))
        interps = {k.interp for _, k in sel}
        self.interp.setCurrentIndex(self.interp.findData(interps.pop()) if len(interps) == 1 else -1)

    def _moved(self) -> None:
        sel = self.selected()
        if len(sel) != 1:
            return
        ch, key = sel[0]
        frame, value = int(self.frame.value()), float(self.value.value())
        if frame == key.frame and abs(value - key.value) < 10 ** -self.value.decimals() / 2:
            return
        self.undo.push(MoveKeysCommand(self.doc, {ch: {key.frame: (frame, value)}}))
        self.curves.select_frames({ch: [frame]})

    def _interp_chosen(self, _index: int) -> None:
        sel = self.selected()
        interp = self.interp.currentData()
        if not sel or interp is None:
            return
        frames: dict[edits.ChannelKey, list[int]] = {}
        for ch, k in sel:
            frames.setdefault(ch, []).append(k.frame)
        cmd = SetInterpCommand(self.doc, frames, interp)
        if cmd.changes_anything:
            self.undo.push(cmd)
