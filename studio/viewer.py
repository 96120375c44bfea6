"""The result at the current frame, rendered on a worker: snapshot in, result out, stale results dropped.

At most one preview render is in flight. Requests that arrive meanwhile collapse into one (the newest), so
scrubbing and playback skip frames rather than queue them. A result rendered from content that has since
changed (an edit, another photo, another view mode) is dropped; one for an older frame of the same content
is still shown while the newest frame renders.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolTip, QVBoxLayout, QWidget

from engine.project.document import Project, ViewMode
from engine.render.base import Renderer
from studio.canvas import FrameCanvas
from studio.jobs import JobHandle, JobRunner
from studio.preview import PreviewRequest, PreviewResult, RendererHost, instant_renderer, render_preview

class PickCanvas(FrameCanvas):
    """The result canvas: hovering a limb, the face or a hand names it; clicking selects its channels."""

    picked = Signal(str, list)  # what was clicked ("Left forearm · screen right"), its channel keys

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(placeholder, parent)
        self.setMouseTracking(True)
        self.pick = None  # studio.picking.PickMap of the frame on screen
        self.hovered: str | None = None

    def hit_at(self, pos: QPointF):
        rect = self.image_rect()
        if self.pick is None or rect is None or not rect.contains(pos):
            return None
        return self.pick.hit((pos.x() - rect.x()) / rect.width(), (pos.y() - rect.y()) / rect.height(),
                             (rect.width(), rect.height()))

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        hit = self.hit_at(ev.position())
        name = hit[0] if hit else None
        if name != self.hovered:
            self.hovered = name
            self.setCursor(Qt.CursorShape.PointingHandCursor if hit else Qt.CursorShape.ArrowCursor)
            self.setToolTip(f"{name}: click to edit its channels" if hit else "")
            if hit:
                QToolTip.showText(ev.globalPosition().toPoint(), self.toolTip(), self)
            else:
                QToolTip.hideText()
        super().mouseMoveEvent(ev)

    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        hit = self.hit_at(ev.position()) if ev.button() == Qt.MouseButton.LeftButton else None
        if hit:
            self.picked.emit(hit[0], list(hit[1]))
            ev.accept()
            return
        super().mousePressEvent(ev)


MODE_LABELS = {ViewMode.RESULT: "Result", ViewMode.SIDE_BY_SIDE: "Side by side",
               ViewMode.SKELETON: "Retargeted skeleton"}


class Viewer(QFrame):
    frame_shown = Signal(int)  # a rendered frame is on screen (tests wait for it)
    preview_failed = Signal(str)

    def __init__(self, doc: Project, runner: JobRunner, driver_frames: Callable[[], object],
                 renderer_factory: Callable[[], Renderer] = instant_renderer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.doc, self.runner, self.driver_frames = doc, runner, driver_frames
        self.host = RendererHost(renderer_factory)
        self.canvas = PickCanvas("Drop a reference photo on the left, then a driving video below it")
        self.title = QLabel("<b>Result</b>")
        self.info = QLabel("")
        self.info.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        head = QHBoxLayout()
        head.setContentsMargins(6, 4, 6, 0)
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.info)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addLayout(head)
        lay.addWidget(self.canvas, 1)

        self._serial = 0
        self._generation = 0
        self._in_flight: JobHandle | None = None
        self._pending = False
        self.shown: tuple[int, int] | None = None  # (frame, generation) on screen
        self.last_error: str | None = None

        self._hard_generation = 0  # counts every change but live drags
        for sig in (doc.edits_changed, doc.reference_changed, doc.clip_changed, doc.view_mode_changed,
                    doc.render_settings_changed):
            sig.connect(self._content_changed)
        doc.edits_live.connect(self._live_changed)
        doc.frame_changed.connect(lambda _f: self.request())

    def set_renderer_factory(self, factory: Callable[[], Renderer], label: str = "Instant renderer") -> None:
        self.host = RendererHost(factory, label)
        self._content_changed()

    def driver_frames_changed(self) -> None:
        if self.doc.view_mode == ViewMode.SIDE_BY_SIDE:
            self._content_changed()

    # -- requests ----------------------------------------------------------------------------------------

    def _content_changed(self, *_args) -> None:
        self._hard_generation += 1
        self._generation += 1
        self.request()

    def _live_changed(self, *_args) -> None:
        """A drag in progress: newer than any frame on screen, but a frame from a moment ago of the same drag is
        still worth showing while the newest renders (so a fast drag never freezes the preview)."""
        self._generation += 1
        self.request()

    @property
    def generation(self) -> int:
        return self._generation

    def is_current(self) -> bool:
        """The frame on screen is the current frame of the current content."""
        return self.shown == (self.doc.frame, self._generation) and self._in_flight is None

    def request(self) -> None:
        self._update_info()
        doc = self.doc
        if doc.reference is None:
            self._show_still(None, "Drop a reference photo on the left to start" if doc.clip is None else
                             "Drop a reference photo on the left: the person to animate")
            return
        if doc.clip is None:
            self._show_still(doc.reference.rgb, "Drop a driving video to animate this photo")
            return
        if self._in_flight is not None:
            self._pending = True  # collapses with any other request made meanwhile
            return
        self._start()

    def _show_still(self, rgb, message: str) -> None:
        self.canvas.set_image(rgb)
        self.canvas.set_overlay(None)
        self.canvas.set_message(message)
        self.canvas.pick = None
        self.shown = (self.doc.frame, self._generation)

    def _start(self) -> None:
        doc = self.doc
        self._serial += 1
        frames = self.driver_frames()
        driver = frames.frame(doc.frame) if (doc.view_mode == ViewMode.SIDE_BY_SIDE and frames is not None
                                             and len(frames)) else None
        req = PreviewRequest(serial=self._serial, generation=self._generation,
                             hard_generation=self._hard_generation, reference=doc.reference,
                             tokens=doc.edited_tokens(), frame=doc.frame,
                             long_side=doc.render_settings.preview_long_side, mode=doc.view_mode, driver=driver,
                             framing=doc.render_settings.framing)
        host = self.host
        h = self.runner.submit("Preview", lambda cancel: render_preview(req, host, cancel))
        self._in_flight = h
        h.succeeded.connect(self._done)
        h.failed.connect(lambda msg, g=req.generation: self._failed(msg, g))
        h.finished.connect(self._next)

    def _done(self, res: PreviewResult) -> None:
        if res.hard_generation != self._hard_generation:
            return  # stale: rendered from content that has changed since (a live drag's own frames excepted)
        self.canvas.set_image(res.rgb)
        self.canvas.set_overlay(res.overlay, res.overlay_space)
        self.canvas.pick = res.pick
        lonely = self.doc.view_mode == ViewMode.SIDE_BY_SIDE and not self.driver_frames()
        self.canvas.set_message("No driving video frames to show beside the result" if lonely else "")
        self.last_error = None
        self.shown = (res.frame, res.generation)
        self.frame_shown.emit(res.frame)

    def _failed(self, message: str, generation: int) -> None:
        self.last_error = message
        if generation == self._generation:
            self.canvas.set_image(self.doc.reference.rgb if self.doc.reference is not None else None)
            self.canvas.pick = None
            self.canvas.set_overlay(None)
            self.canvas.set_message(f"Preview unavailable: {message}", error=True)
            self.shown = (self.doc.frame, generation)
        self.preview_failed.emit(message)

    def _next(self) -> None:
        self._in_flight = None
        if self._pending or (self.shown is not None and self.shown != (self.doc.frame, self._generation)
                             and self.last_error is None):
            self._pending = False
            self.request()

    def _update_info(self) -> None:
        doc = self.doc
        self.title.setText(f"<b>{MODE_LABELS[doc.view_mode]}</b>")
        if doc.clip is None:
            self.info.setText("")
            return
        self.info.setText(f"frame {doc.frame + 1}/{doc.frame_count} · {doc.time_of(doc.frame):.2f} s")
