"""The curve editor: selected channels as tracked (dashed) and edited (solid) curves, with draggable keys.

Dragging a key is live (the document's `preview_ops`: the viewer re-renders, nothing is on the undo stack);
releasing it pushes one MoveKeysCommand. Click selects a key (Shift/Ctrl adds), Shift+drag on empty space
box-selects, double-click adds a key for the current channel. The blue band is the document's In/Out range
(the same one the timeline shows and export uses); dragging its edges sets In/Out as one undo step.
The range tools act on the selected keys' frames if any are selected, else on In/Out, else on the clip.
Frames that generated motion (extend, fill, loop) writes on any shown channel are shaded teal, the colour the
timeline marks them with, so what was made up is told apart from what was tracked.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QWidget

from engine.project import edits
from engine.project.document import Project
from engine.project.angles import channel_curve, spec
from engine.project.generated import generated_op_frames
from studio.commands import AddKeyCommand, MoveKeysCommand, SetRangeCommand

PALETTE = [(88, 166, 255), (255, 123, 114), (126, 231, 135), (255, 196, 0), (210, 168, 255), (121, 192, 255),
           (255, 166, 87), (86, 212, 221)]
SELECTED_BRUSH = pg.mkBrush(255, 255, 255)
EDIT_RANGE_BRUSH = pg.mkBrush(90, 140, 255, 28)
GENERATED_RGB = (60, 200, 190)  # generated motion's teal, here and on the timeline (studio/timeline.py)
GENERATED_BAND_BRUSH = pg.mkBrush(*GENERATED_RGB, 45)  # faint: the curves over it stay readable
BOX_MODIFIERS = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier



def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of the runs of True in `mask`."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), (stops - starts).tolist()))

class KeyItem(pg.TargetItem):
    """One key of one channel."""

    sigClicked = Signal(object, object)  # item, modifiers

    def __init__(self, key: edits.ChannelKey, frame: int, value: float, colour) -> None:
        self.channel, self.frame, self.value = key, int(frame), float(value)
        self.colour = colour
        super().__init__(pos=(frame, value), size=11, symbol="d", pen=pg.mkPen(20, 20, 20, width=1),
                         brush=pg.mkBrush(*colour), hoverBrush=pg.mkBrush(255, 255, 255, 200), movable=True)
        self.setZValue(20)
        self.selected = False

    def set_selected(self, on: bool) -> None:
        self.selected = on
        self.setBrush(SELECTED_BRUSH if on else pg.mkBrush(*self.colour))
        self.setPen(pg.mkPen(255, 200, 0, width=2) if on else pg.mkPen(20, 20, 20, width=1))

    def place(self, frame: float, value: float) -> None:
        self.blockSignals(True)
        self.setPos(frame, value)
        self.blockSignals(False)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and not self.moving:
            ev.accept()
            self.sigClicked.emit(self, ev.modifiers())
            return
        super().mouseClickEvent(ev)


class EdgeRegion(pg.LinearRegionItem):
    """A range whose edges drag; its body lets drags through (to pan, or box-select keys inside it)."""

    def mouseDragEvent(self, ev) -> None:  # noqa: N802
        ev.ignore()

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        ev.ignore()

    def hoverEvent(self, ev) -> None:  # noqa: N802
        pass


class KeyViewBox(pg.ViewBox):
    """Shift/Ctrl+drag draws a selection box; double-click asks for a key; a plain click clears the selection."""

    sigBoxSelected = Signal(object, object)  # QRectF in view coordinates, modifiers
    sigDoubleClicked = Signal(object)  # QPointF in view coordinates
    sigBackgroundClicked = Signal()

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._band = QGraphicsRectItem()
        self._band.setPen(pg.mkPen(255, 200, 0, width=1, style=Qt.PenStyle.DashLine, cosmetic=True))
        self._band.setBrush(pg.mkBrush(255, 200, 0, 30))
        self._band.setZValue(1e9)
        self._band.hide()
        self.addItem(self._band, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and ev.modifiers() & BOX_MODIFIERS:
            ev.accept()
            rect = QRectF(self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos())).normalized()
            if ev.isFinish():
                self._band.hide()
                self.sigBoxSelected.emit(rect, ev.modifiers())
            else:
                self._band.setRect(rect)
                self._band.show()
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.double():
                self.sigDoubleClicked.emit(self.mapToView(ev.pos()))
            else:
                self.sigBackgroundClicked.emit()
            return
        super().mouseClickEvent(ev)


class CurveEditor(pg.PlotWidget):
    selection_changed = Signal()

    def __init__(self, doc: Project, undo: QUndoStack, parent: QWidget | None = None) -> None:
        self.vb = KeyViewBox()
        super().__init__(parent, viewBox=self.vb)
        self.doc, self.undo = doc, undo
        self.setBackground((24, 25, 28))
        pi = self.getPlotItem()
        pi.hideButtons()
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.getAxis("left").setWidth(56)
        self.legend = pi.addLegend(offset=(8, 8), labelTextSize="8pt", brush=pg.mkBrush(24, 25, 28, 200))
        self.channels: list[edits.ChannelKey] = []
        self.current: edits.ChannelKey | None = None
        self._tracked: dict[edits.ChannelKey, pg.PlotDataItem] = {}
        self._edited: dict[edits.ChannelKey, pg.PlotDataItem] = {}
        self._keys: list[KeyItem] = []
        self._drag: dict[KeyItem, tuple[int, float]] | None = None  # key -> its position when the drag began
        self.edit_range = EdgeRegion(values=(0, 1), brush=EDIT_RANGE_BRUSH, movable=True, swapMode="sort")
        self.edit_range.setZValue(-10)
        self.addItem(self.edit_range, ignoreBounds=True)
        self._generated_bands: list[EdgeRegion] = []
        self.cursor_line = pg.InfiniteLine(pos=0, angle=90, movable=False, pen=pg.mkPen(255, 255, 255, 120, width=1))
        self.addItem(self.cursor_line, ignoreBounds=True)
        # a widget over the plot, centred whatever the view's range (a plot item at (0, 0) can be off screen)
        self.empty_label = QLabel("No motion to edit yet: drop a driving video", self)
        self.empty_label.setStyleSheet("color: #969696; background: transparent;")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

        self.vb.sigBoxSelected.connect(self._box_select)
        self.vb.sigDoubleClicked.connect(self._double_clicked)
        self.vb.sigBackgroundClicked.connect(lambda: self.select_keys([]))
        self.edit_range.sigRegionChangeFinished.connect(self._edit_range_dragged)
        doc.range_changed.connect(self._sync_edit_range)
        doc.edits_changed.connect(self._on_edits)
        doc.edits_live.connect(lambda _keys: self._redraw_curves())
        doc.clip_changed.connect(self._on_clip)
        doc.frame_changed.connect(self.cursor_line.setValue)
        self._sync_edit_range()
        self.set_channels([], None)

    # -- channels -----------------------------------------------------------------------------------------------

    def set_channels(self, keys: list[edits.ChannelKey], current: edits.ChannelKey | None) -> None:
        self.channels = list(keys)
        self.current = current if current in keys else (keys[0] if keys else None)
        for item in list(self._tracked.values()) + list(self._edited.values()):
            self.removeItem(item)
        self._tracked.clear()
        self._edited.clear()
        self.legend.clear()
        for i, k in enumerate(self.channels):
            c = PALETTE[i % len(PALETTE)]
            unit = spec(k).unit
            self._tracked[k] = self.plot([], [], pen=pg.mkPen(*c, 110, width=1, style=Qt.PenStyle.DashLine))
            self._edited[k] = self.plot([], [], pen=pg.mkPen(*c, width=2 if k == self.current else 1.4),
                                        name=f"{k[0]} {k[1]} ({unit})")
        self.empty_label.setText("Select channels in the tree (or click a limb in the viewer) to see their curves"
                                 if self.doc.clip is not None else "No motion to edit yet: drop a driving video")
        self.empty_label.setVisible(not self.channels or self.doc.clip is None)
        for side in ("left", "bottom"):  # no clip: no axes of values and frames that do not exist
            self.getPlotItem().showAxis(side, self.doc.clip is not None)
        self.cursor_line.setVisible(self.doc.clip is not None)
        self._redraw_curves()
        self._rebuild_keys()
        if self.channels and self.doc.clip is not None:
            self.getPlotItem().getViewBox().enableAutoRange(axis="y")

    def _on_clip(self) -> None:
        self._sync_edit_range()
        self.set_channels(self.channels, self.current)

    def _on_edits(self, keys) -> None:
        self._redraw_curves()
        if any(tuple(k) in self.channels for k in keys):
            self._rebuild_keys()

    def _redraw_curves(self) -> None:
        clip = self.doc.clip
        if clip is None:
            for item in list(self._tracked.values()) + list(self._edited.values()):
                item.setData([], [])
            self._shade_generated()
            return
        tokens = self.doc.edited_tokens()
        x = np.arange(len(clip))
        for k in self.channels:
            self._tracked[k].setData(x, channel_curve(clip.tokens, k))
            self._edited[k].setData(x, channel_curve(tokens, k))
        self._shade_generated()

    # -- generated spans ------------------------------------------------------------------------------------------

    def generated_spans(self) -> list[tuple[int, int]]:
        """(first, last) frames of each run that generated motion writes on any shown channel."""
        n = self.doc.frame_count if self.doc.clip is not None else 0
        mask = np.zeros(n, bool)
        for k in self.channels:
            mask |= generated_op_frames(self.doc.channel_ops(k), n)
        return [(start, start + length - 1) for start, length in runs(mask)]

    def _shade_generated(self) -> None:
        for band in self._generated_bands:
            self.removeItem(band)
        self._generated_bands = []
        for a, b in self.generated_spans():
            band = EdgeRegion(values=(a - 0.5, b + 0.5), brush=GENERATED_BAND_BRUSH, pen=pg.mkPen(None),
                              movable=False)
            band.setZValue(-20)  # under the In/Out band and the curves
            self.addItem(band, ignoreBounds=True)
            self._generated_bands.append(band)

    # -- keys -----------------------------------------------------------------------------------------------------

    def _rebuild_keys(self) -> None:
        if self._drag is not None:
            return  # never pull keys from under the mouse
        selected = {(k.channel, k.frame) for k in self._keys if k.selected}
        for item in self._keys:
            self.removeItem(item)
        self._keys = []
        for i, ch in enumerate(self.channels):
            for key in edits.keys_of(self.doc.channel_ops(ch)):
                item = KeyItem(ch, key.frame, key.value, PALETTE[i % len(PALETTE)])
                item.set_selected((ch, key.frame) in selected)
                item.sigClicked.connect(self._key_clicked)
                item.sigPositionChanged.connect(self._key_moving)
                item.sigPositionChangeFinished.connect(self._key_released)
                self.addItem(item)
                self._keys.append(item)
        self.selection_changed.emit()  # keys of other channels (or none) now: the selection may have gone

    def key_items(self, channel: edits.ChannelKey | None = None) -> list[KeyItem]:
        return [k for k in self._keys if channel is None or k.channel == tuple(channel)]

    def selected_keys(self) -> dict[edits.ChannelKey, list[int]]:
        out: dict[edits.ChannelKey, list[int]] = {}
        for k in self._keys:
            if k.selected:
                out.setdefault(k.channel, []).append(k.frame)
        return out

    def select_keys(self, items, add: bool = False) -> None:
        items = set(items)
        for k in self._keys:
            k.set_selected((k.selected and add) or k in items)
        self.selection_changed.emit()

    def select_frames(self, frames: dict[edits.ChannelKey, list[int]]) -> None:
        """Select the keys at these (channel, frame)s."""
        want = {(tuple(ch), int(f)) for ch, fs in frames.items() for f in fs}
        self.select_keys([k for k in self._keys if (k.channel, k.frame) in want])

    def _key_clicked(self, item: KeyItem, modifiers) -> None:
        if modifiers & BOX_MODIFIERS:
            item.set_selected(not item.selected)
            self.selection_changed.emit()
        else:
            self.select_keys([item])
        self.doc.set_frame(item.frame)

    def _box_select(self, rect: QRectF, modifiers) -> None:
        inside = [k for k in self._keys if rect.contains(QPointF(k.frame, k.value))]
        both = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
        self.select_keys(inside, add=(modifiers & both) == both)

    def _key_moving(self, item: KeyItem) -> None:
        if not item.moving:
            return  # moved by code, not by the mouse
        if self._drag is None:
            if not item.selected:
                self.select_keys([item])
            self._drag = {k: (k.frame, k.value) for k in self._keys if k.selected}
        f0, v0 = self._drag[item]
        pos = item.pos()
        df, dv = int(round(pos.x() - f0)), float(pos.y() - v0)
        for k, (f, v) in self._drag.items():
            if k is not item:
                k.place(f + df, v + dv)
        self.doc.preview_ops(self._moved_ops(df, dv))

    def _moves(self, df: int, dv: float) -> dict[edits.ChannelKey, dict[int, tuple[int, float]]]:
        n = max(self.doc.frame_count - 1, 0)
        out: dict[edits.ChannelKey, dict[int, tuple[int, float]]] = {}
        for k, (f, v) in (self._drag or {}).items():
            out.setdefault(k.channel, {})[f] = (int(np.clip(f + df, 0, n)), v + dv)
        return out

    def _moved_ops(self, df: int, dv: float) -> dict[edits.ChannelKey, tuple]:
        return {ch: edits.move_keys(self.doc.channel_ops(ch), m) for ch, m in self._moves(df, dv).items()}

    def _key_released(self, item: KeyItem) -> None:
        if self._drag is None or item not in self._drag:
            return
        f0, v0 = self._drag[item]
        pos = item.pos()
        df, dv = int(round(pos.x() - f0)), float(pos.y() - v0)
        moves = self._moves(df, dv)
        moved_sel = {(ch, m[0]) for ch, mv in moves.items() for m in mv.values()}
        self._drag = None
        if df == 0 and abs(dv) < 1e-12:
            self.doc.preview_ops(None)
            self._rebuild_keys()
            return
        cmd = MoveKeysCommand(self.doc, moves)
        self.undo.push(cmd)  # commits: ends the live preview and rebuilds the keys
        for k in self._keys:
            k.set_selected((k.channel, k.frame) in moved_sel)
        self.selection_changed.emit()

    def _double_clicked(self, pos: QPointF) -> None:
        if self.current is None or self.doc.clip is None:
            return
        frame = int(np.clip(round(pos.x()), 0, self.doc.frame_count - 1))
        self.undo.push(AddKeyCommand(self.doc, self.current, frame, float(pos.y())))

    # -- the In/Out band ------------------------------------------------------------------------------------------

    def set_edit_range(self, rng: tuple[int, int]) -> None:
        """Draw the band at `rng` (frames, inclusive); the document's In/Out is what sets it."""
        a, b = sorted(rng)
        self.edit_range.blockSignals(True)
        self.edit_range.setRegion((a - 0.5, b + 0.5))
        self.edit_range.blockSignals(False)

    @property
    def edit_range_frames(self) -> tuple[int, int]:
        """The In/Out range (the whole clip unless set)."""
        return self.doc.in_out

    def _sync_edit_range(self) -> None:
        self.set_edit_range(self.doc.in_out)
        self.edit_range.setVisible(self.doc.has_custom_range and self.doc.clip is not None)

    def _edit_range_dragged(self) -> None:
        a, b = self.edit_range.getRegion()
        last = max(self.doc.frame_count - 1, 0)
        rng = int(np.clip(round(a + 0.5), 0, last)), int(np.clip(round(b - 0.5), 0, last))
        if rng != self.doc.in_out:
            self.undo.push(SetRangeCommand(self.doc, rng))
        self._sync_edit_range()

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        label = self.__dict__.get("empty_label")  # resized once while PlotWidget sets itself up, before it exists
        if label is not None:
            label.setGeometry(0, 0, self.width(), self.height())

    # -- for tests: where things are on screen -------------------------------------------------------------------

    def view_to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(self.mapFromScene(self.vb.mapViewToScene(pg.Point(x, y))))
