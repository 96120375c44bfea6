"""The "adjust last operation" panel (Blender's F9): after Smooth, Exaggerate, Calm or Offset, a small panel
over the curve editor shows the operation's amount; changing it re-applies the operation live and the result is
still one undo step. It shows only while that operation is the last thing on the undo stack."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QDoubleSpinBox, QFrame, QHBoxLayout, QLabel, QSlider, QWidget

from studio.commands import AdjustableCommand

SLIDER_STEPS = 1000
MARGIN = 8  # px from the curve editor's bottom-left corner
PANEL_CSS = ("QFrame#adjust_panel { background: rgba(38, 40, 46, 235); border: 1px solid #4a5060;"
             " border-radius: 4px; }")


class AdjustPanel(QFrame):
    adjusted = Signal(str, float)  # the command's kind, the new amount (the inspector remembers it as default)

    def __init__(self, undo: QUndoStack, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("adjust_panel")
        self.setStyleSheet(PANEL_CSS)
        self.undo = undo
        self.title = QLabel("")
        self.spin = QDoubleSpinBox()
        self.spin.setKeyboardTracking(False)  # typed digits apply on Enter, not one re-render per digit
        self.spin.setMinimumWidth(110)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setMinimumWidth(140)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addWidget(self.title)
        lay.addWidget(self.slider)
        lay.addWidget(self.spin)
        self._cmd: AdjustableCommand | None = None
        self.spin.valueChanged.connect(self._spin_changed)
        self.slider.valueChanged.connect(self._slider_changed)
        undo.indexChanged.connect(lambda _i: self.refresh())
        undo.cleanChanged.connect(lambda _c: self.refresh())
        parent.installEventFilter(self)
        self.hide()

    @property
    def command(self) -> AdjustableCommand | None:
        """The last operation on the undo stack, if it has an amount."""
        try:
            i = self.undo.index()
        except RuntimeError:  # the stack emits while the window is being destroyed
            return None
        cmd = self.undo.command(i - 1) if i > 0 else None
        return cmd if isinstance(cmd, AdjustableCommand) else None

    def refresh(self) -> None:
        cmd = self.command
        self._cmd = cmd
        if cmd is None:
            self.hide()
            return
        s = cmd.amount_spec
        for w in (self.spin, self.slider):
            w.blockSignals(True)
        self.spin.setRange(s.minimum, s.maximum)
        self.spin.setDecimals(s.decimals)
        self.spin.setSingleStep(s.step)
        self.spin.setSuffix(s.suffix)
        self.spin.setValue(cmd.amount)
        self.slider.setValue(self._to_slider(cmd.amount))
        for w in (self.spin, self.slider):
            w.blockSignals(False)
        self._retitle()
        self.show()
        self.raise_()
        self._place()

    def _retitle(self) -> None:
        cmd = self._cmd
        if cmd is not None:
            self.title.setText(f"<b>{cmd.title()}</b> {cmd.amount_spec.label.lower()}")
            self.setToolTip(f"Adjust the last operation ({cmd.text()}): still one undo step")
            self.adjustSize()
            self._place()

    def _to_slider(self, v: float) -> int:
        s = self._cmd.amount_spec if self._cmd else None
        if s is None or s.maximum <= s.minimum:
            return 0
        # an offset ranges over +-1000: the slider covers a useful +-10 around zero; the spin box goes further
        lo, hi = (max(s.minimum, -10.0), min(s.maximum, 10.0)) if s.minimum < 0 else (s.minimum, s.maximum)
        return int(round((min(max(v, lo), hi) - lo) / (hi - lo) * SLIDER_STEPS))

    def _from_slider(self, i: int) -> float:
        s = self._cmd.amount_spec
        lo, hi = (max(s.minimum, -10.0), min(s.maximum, 10.0)) if s.minimum < 0 else (s.minimum, s.maximum)
        return round(lo + (hi - lo) * i / SLIDER_STEPS, s.decimals)

    def _spin_changed(self, v: float) -> None:
        self._apply(v)
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_slider(v))
        self.slider.blockSignals(False)

    def _slider_changed(self, i: int) -> None:
        self.spin.setValue(self._from_slider(i))  # applies through _spin_changed

    def _apply(self, v: float) -> None:
        cmd = self._cmd
        if cmd is None or cmd is not self.command:
            return
        cmd.adjust(v)
        self._retitle()
        self.adjusted.emit(cmd.kind, cmd.amount)

    def focus_amount(self) -> bool:
        """F9: put the keyboard on the amount. False when the last operation has none."""
        self.refresh()
        if self._cmd is None:
            return False
        self.spin.setFocus()
        self.spin.selectAll()
        return True

    # -- floating at the curve editor's bottom-left corner ------------------------------------------------------

    def _place(self) -> None:
        p = self.parentWidget()
        self.adjustSize()
        axis = p.getPlotItem().getAxis("bottom").height() if hasattr(p, "getPlotItem") else 0
        self.move(MARGIN + 56, p.height() - self.height() - MARGIN - int(axis))  # above the frame axis

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        if obj is self.parentWidget() and ev.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False
