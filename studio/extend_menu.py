"""Generate motion from the studio: extend after the out point or before the in point, fill the in/out range,
make the range loop. In the Edit menu (a "Generate Motion" submenu) and the timeline's right-click menu.

The work runs as a job on the window's job runner (snapshot in: the edited tokens at the moment of asking;
result out: applied only if the edits and range are still what they were), with a progress bar (the fraction
of the motion matching searches done) and a Cancel button in the status bar. The result lands as one undo step: the generated operations and, for an
extension, the in or out point moved to the end of the new motion (engine.project.generated.GeneratedEdit).
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QInputDialog, QMenu, QProgressBar, QPushButton, QStatusBar, QWidget

from engine.project.document import Project
from studio.jobs import JobHandle, JobRunner

DEFAULT_SECONDS = 2.0
MOOD_TEXT = {"calm": "&Calm", "normal": "&As Performed", "lively": "&Lively"}


@dataclass(frozen=True)
class ExtendSpec:
    id: str
    text: str
    tip: str


SPECS = (
    ExtendSpec("motion.extend_after", "&Extend After Out Point…", "Continue the motion after the out point"),
    ExtendSpec("motion.extend_before", "Extend &Before In Point…", "Continue the motion backwards before the in point"),
    ExtendSpec("motion.fill", "&Fill In/Out Range", "Regenerate the range so it joins the motion on both sides"),
    ExtendSpec("motion.loop", "Make Range &Loop", "Rewrite the end of the range so it flows into its start"),
    ExtendSpec("motion.new_take", "&New Take (next seed)", "Generate the last request again with another seed"),
)
MODE_OF = {"motion.extend_after": "after", "motion.extend_before": "before", "motion.fill": "fill",
           "motion.loop": "loop"}


class GeneratedCommand(QUndoCommand):
    """One undo step for a generated span (the operations and the range it moved)."""

    def __init__(self, doc: Project, edit) -> None:
        super().__init__(edit.text)
        self.doc, self.edit = doc, edit

    def redo(self) -> None:
        self.edit.apply(self.doc)

    def undo(self) -> None:
        self.edit.revert(self.doc)


class ExtendMenu(QObject):
    message = Signal(str, bool)  # (text, is_error)
    finished = Signal(str)  # "succeeded" | "failed" | "cancelled" | "stale"

    def __init__(self, doc: Project, undo: QUndoStack, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.undo, self.runner = doc, undo, runner
        self.seed = 0
        self.mood = "normal"
        self.last: tuple[str, float | None] | None = None
        self.job: JobHandle | None = None
        self.actions: dict[str, QAction] = {}
        for spec in SPECS:
            a = QAction(spec.text, parent)
            a.setObjectName(spec.id)
            a.setStatusTip(spec.tip)
            self.actions[spec.id] = a
        for aid, mode in MODE_OF.items():
            self.actions[aid].triggered.connect(lambda _c=False, mode=mode: self.request(mode))
        self.actions["motion.new_take"].triggered.connect(self.new_take)
        self.mood_group = QActionGroup(self)
        for mood, text in MOOD_TEXT.items():
            a = QAction(text, parent, checkable=True)
            a.setObjectName(f"motion.mood.{mood}")
            a.setChecked(mood == self.mood)
            a.triggered.connect(lambda _c=False, mood=mood: setattr(self, "mood", mood))
            self.mood_group.addAction(a)
            self.actions[a.objectName()] = a
        self.menu = QMenu("&Generate Motion", parent)
        self._fill_menu(self.menu)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # busy until the job reports its first fraction
        self.busy.setMaximumWidth(160)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        doc.clip_changed.connect(self._update_enabled)
        self._update_enabled()

    def _fill_menu(self, menu: QMenu) -> None:
        for spec in SPECS:
            menu.addAction(self.actions[spec.id])
        menu.addSeparator()
        for a in self.mood_group.actions():
            menu.addAction(a)

    # -- hooks into the window ---------------------------------------------------------------------------

    def install(self, menu_bar, timeline, status: QStatusBar) -> None:
        """A "Generate Motion" submenu at the end of the Edit menu, the timeline's right-click menu, the status bar."""
        edit_menu = next(a.menu() for a in menu_bar.actions() if a.menu() is not None and
                         a.menu().title().replace("&", "") == "Edit")
        edit_menu.addSeparator()
        edit_menu.addMenu(self.menu)
        self.status = status
        if hasattr(timeline, "context_requested"):
            timeline.context_requested.connect(self.popup)

    def popup(self, frame: int, global_pos) -> QMenu:
        """The timeline's right-click menu (returned, so tests can read it)."""
        menu = QMenu(self.parent())
        self._fill_menu(menu)
        menu.popup(global_pos)
        return menu

    def _update_enabled(self) -> None:
        has = self.doc.clip is not None
        for spec in SPECS:
            self.actions[spec.id].setEnabled(has)

    # -- requests ------------------------------------------------------------------------------------------

    def request(self, mode: str, seconds: float | None = None) -> JobHandle | None:
        """Start generating. Extensions ask for a length when `seconds` is None."""
        if mode in ("after", "before") and seconds is None:
            seconds, ok = QInputDialog.getDouble(self.parent(), "Extend Motion", "Seconds to generate:",
                                                 DEFAULT_SECONDS, 0.1, 60.0, 1)
            if not ok:
                return None
        self.last = (mode, seconds)
        return self._start(mode, seconds)

    def new_take(self) -> JobHandle | None:
        """Undo the last generated span (if it is on top of the stack) and generate it again with the next seed."""
        if self.last is None:
            self.message.emit("Generate some motion first", False)
            return None
        if self.undo.canUndo() and isinstance(self.undo.command(self.undo.index() - 1), GeneratedCommand):
            self.undo.undo()
        self.seed += 1
        return self._start(*self.last)

    def _start(self, mode: str, seconds: float | None) -> JobHandle | None:
        from engine.errors import UserFacingError
        from engine.motion.generate import ENERGY, GenerateOptions

        doc = self.doc
        if doc.clip is None:
            self.message.emit("Open a driving video first", True)
            return None
        try:
            start, stop, new_range = self._frames(mode, seconds)
        except UserFacingError as exc:
            self.message.emit(str(exc), True)
            self.finished.emit("failed")
            return None
        tokens, fps = doc.edited_tokens(), doc.fps
        snapshot = (doc.edits, doc.in_out, doc.clip)
        options = GenerateOptions(seed=self.seed, energy=ENERGY[self.mood])

        def job(cancel):
            from engine.motion.features import from_tokens
            from engine.motion.generate import generate_job

            return generate_job(from_tokens(tokens, fps), mode, start, stop, options, cancel)

        self.job = h = self.runner.submit("Generating motion", job, key="generate-motion")
        h.succeeded.connect(lambda span: self._done(span, snapshot, new_range))
        h.failed.connect(lambda msg: (self.message.emit(msg, True), self.finished.emit("failed")))
        h.cancelled.connect(lambda: (self.message.emit("Motion generation cancelled", False),
                                     self.finished.emit("cancelled")))
        h.progress.connect(self._on_progress)
        h.finished.connect(self._hide_busy)
        self._show_busy()
        return h

    def _frames(self, mode: str, seconds: float | None) -> tuple[int, int, tuple[int, int] | None]:
        """(start, stop) for the generator and the range after it (None: unchanged); ExtendError if no room."""
        from engine.motion.generate import ExtendError, frames_for

        doc = self.doc
        a, b = doc.in_out
        last = doc.frame_count - 1
        if mode == "after":
            n = frames_for(seconds, doc.fps)
            if b + n > last:
                raise ExtendError(f"extend {seconds:g} s after the out point: needs frames up to {b + n}, the clip "
                                  f"ends at {last}; set the out point earlier (or lengthen the token file with "
                                  f"`main.py extend`)")
            return b + 1, b + n, (a, b + n)
        if mode == "before":
            n = frames_for(seconds, doc.fps)
            if a - n < 0:
                raise ExtendError(f"extend {seconds:g} s before the in point: needs frames from {a - n}, the clip "
                                  f"starts at 0; set the in point later")
            return a - n, a - 1, (a - n, b)
        if mode == "fill":
            if not doc.has_custom_range:
                raise ExtendError("fill: set the in and out points around the frames to regenerate first")
            return a, b, None
        return a, b, None

    def _done(self, span, snapshot, new_range) -> None:
        from engine.project.generated import GeneratedEdit

        doc = self.doc
        if doc.edits != snapshot[0] or doc.in_out != snapshot[1] or doc.clip is not snapshot[2]:
            self.message.emit("The motion changed while generating: nothing applied, generate again", True)
            self.finished.emit("stale")
            return
        edit = GeneratedEdit.build(doc, span.start, span.values, span.groups, span.label(doc.fps), new_range)
        self.undo.push(GeneratedCommand(doc, edit))
        self.message.emit(f"{edit.text}: frames {span.start}-{span.stop}", False)
        self.finished.emit("succeeded")

    def cancel(self) -> None:
        if self.job is not None and not self.job.is_done:
            self.runner.cancel(self.job)

    def _on_progress(self, p) -> None:
        if p.total:  # a real fraction: a determinate bar
            self.busy.setRange(0, p.total)
            self.busy.setValue(p.done)

    def _show_busy(self) -> None:
        self.busy.setRange(0, 0)
        status = getattr(self, "status", None)
        if status is not None:
            status.addPermanentWidget(self.busy)
            status.addPermanentWidget(self.cancel_button)
            self.busy.show()
            self.cancel_button.show()

    def _hide_busy(self) -> None:
        status = getattr(self, "status", None)
        if status is not None:
            status.removeWidget(self.busy)
            status.removeWidget(self.cancel_button)
        self.job = None
