"""The timeline: a frame ruler with time, the cursor, the in/out range, and per-group markers for frames where
tracking was missing (red) or edits apply (orange). Its x axis is shared with the inspector's curves."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QWidget

from engine.project.document import Project
from engine.project.generated import generated_frames
from engine.tokens.schema import GROUP_NAMES
from studio.commands import SetRangeCommand
from studio.curve_editor import GENERATED_RGB, EdgeRegion, runs

ROWS = {g: len(GROUP_NAMES) - i - 0.5 for i, g in enumerate(GROUP_NAMES)}  # face on top
ROW_LABELS = {"face": "face", "body": "body", "left_hand": "L hand", "right_hand": "R hand"}
MISSING_BRUSH = pg.mkBrush(235, 80, 70, 200)
EDITED_BRUSH = pg.mkBrush(255, 170, 40, 220)
GENERATED_BRUSH = pg.mkBrush(*GENERATED_RGB, 230)  # generated motion (extend, fill, loop)
RANGE_BRUSH = pg.mkBrush(90, 140, 255, 40)
CURSOR_PEN = pg.mkPen(255, 255, 255, width=2)


class TimeAxis(pg.AxisItem):
    """Seconds at frame positions (the clip's real timestamps)."""

    def __init__(self, doc: Project, **kw) -> None:
        super().__init__(**kw)
        self.doc = doc

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph name)
        n = self.doc.frame_count
        out = []
        for v in values:
            f = int(round(v))
            out.append(f"{self.doc.time_of(f):.2f}s" if 0 <= f < max(n, 1) else "")
        return out


class Timeline(pg.PlotWidget):
    context_requested = Signal(int, object)  # (frame, global QPoint): a right-click; the window shows a menu

    def __init__(self, doc: Project, undo: QUndoStack, parent: QWidget | None = None) -> None:
        self.doc, self.undo = doc, undo
        super().__init__(parent, axisItems={"top": TimeAxis(doc, orientation="top")})
        self.setBackground((24, 25, 28))
        pi = self.getPlotItem()
        pi.showAxis("top")
        pi.hideButtons()
        pi.setMenuEnabled(False)
        pi.getAxis("bottom").setToolTip("frame")
        pi.getAxis("top").setToolTip("time in the driving video")
        pi.getAxis("left").setTicks([[(ROWS[g], ROW_LABELS[g]) for g in GROUP_NAMES]])
        pi.getAxis("left").setWidth(56)
        vb = pi.getViewBox()
        vb.setMouseEnabled(x=True, y=False)
        vb.setYRange(0, len(GROUP_NAMES), padding=0.02)
        vb.setLimits(yMin=0, yMax=len(GROUP_NAMES))
        self.setFixedHeight(130)

        self.missing = pg.BarGraphItem(x0=[], y0=[], width=[], height=[], brush=MISSING_BRUSH, pen=pg.mkPen(None))
        self.edited = pg.BarGraphItem(x0=[], y0=[], width=[], height=[], brush=EDITED_BRUSH, pen=pg.mkPen(None))
        self.addItem(self.missing)
        self.addItem(self.edited)
        self.generated = pg.BarGraphItem(x0=[], y0=[], width=[], height=[], brush=GENERATED_BRUSH, pen=pg.mkPen(None))
        self.addItem(self.generated)
        self.in_out_region = EdgeRegion(values=(0, 1), brush=RANGE_BRUSH, movable=True, swapMode="sort")
        self.in_out_region.setZValue(-10)
        self.addItem(self.in_out_region)
        self.cursor_line = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=CURSOR_PEN,
                                      hoverPen=pg.mkPen(255, 220, 90, width=3))
        self.addItem(self.cursor_line)
        self.cursor_line.sigPositionChanged.connect(self._cursor_dragged)
        self.in_out_region.sigRegionChangeFinished.connect(self._range_dragged)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.empty_label = pg.TextItem("No driving video yet: its timeline appears here", color=(150, 150, 150),
                                       anchor=(0.5, 0.5))
        self.empty_label.setPos(0.5, len(GROUP_NAMES) / 2)
        self.addItem(self.empty_label, ignoreBounds=True)

        doc.clip_changed.connect(self._on_clip)
        doc.edits_changed.connect(lambda _k: self._update_markers())
        doc.range_changed.connect(self._update_range)
        doc.frame_changed.connect(self._update_cursor)
        self._on_clip()

    # -- from the document ---------------------------------------------------------------------------------

    def _on_clip(self) -> None:
        n = self.doc.frame_count
        vb = self.getPlotItem().getViewBox()
        last = max(n - 1, 1)
        vb.setLimits(xMin=-0.5 - last * 0.02, xMax=last + 0.5 + last * 0.02)
        vb.setXRange(-0.5, last + 0.5, padding=0.01)
        self.in_out_region.setVisible(n > 0)
        self.cursor_line.setVisible(n > 0)
        pi = self.getPlotItem()
        for side in ("top", "bottom"):  # no clip: no ruler of frames and seconds that do not exist
            pi.showAxis(side, n > 0)
        self.empty_label.setVisible(n == 0)
        self.cursor_line.setBounds((0, last))
        self._update_markers()
        self._update_range()
        self._update_cursor(self.doc.frame)

    def _update_markers(self) -> None:
        n = self.doc.frame_count
        for item, fn, h in ((self.missing, self.doc.missing_frames, 0.8),
                            (self.edited, lambda g: self.doc.edits.edited_frames(g, n), 0.3),
                            (self.generated, lambda g: generated_frames(self.doc.edits, g, n), 0.3)):
            x0, y0, w = [], [], []
            if n:
                for g in GROUP_NAMES:
                    for s, length in runs(fn(g)):
                        x0.append(s - 0.5)
                        w.append(length)
                        y0.append(ROWS[g] - h / 2)
            item.setOpts(x0=x0, y0=y0, width=w, height=[h] * len(w))

    def _update_range(self) -> None:
        a, b = self.doc.in_out
        self.in_out_region.blockSignals(True)
        self.in_out_region.setRegion((a - 0.5, b + 0.5))
        self.in_out_region.setBounds((-0.5, max(self.doc.frame_count - 1, 0) + 0.5))
        self.in_out_region.blockSignals(False)

    def _update_cursor(self, frame: int) -> None:
        self.cursor_line.blockSignals(True)
        self.cursor_line.setValue(frame)
        self.cursor_line.blockSignals(False)

    # -- from the user ----------------------------------------------------------------------------------------

    def _cursor_dragged(self) -> None:
        self.doc.set_frame(int(round(self.cursor_line.value())))

    def _range_dragged(self) -> None:
        a, b = self.in_out_region.getRegion()
        rng = (int(round(a + 0.5)), int(round(b - 0.5)))
        if rng != self.doc.in_out:
            self.undo.push(SetRangeCommand(self.doc, rng))
        self._update_range()  # snap the region to whole frames

    def _clicked(self, ev) -> None:
        if ev.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton) or self.doc.frame_count == 0:
            return
        vb = self.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        if ev.button() == Qt.MouseButton.RightButton:
            frame = int(round(vb.mapSceneToView(ev.scenePos()).x()))
            self.context_requested.emit(frame, ev.screenPos().toPoint())
            return
        self.doc.set_frame(int(round(vb.mapSceneToView(ev.scenePos()).x())))

    def frame_to_widget_x(self, frame: float) -> int:
        """Pixel x of a frame in this widget (tests click and drag with it)."""
        vb = self.getPlotItem().getViewBox()
        return int(self.mapFromScene(vb.mapViewToScene(pg.Point(frame, 0))).x())
