"""New / Open / Save / Save As / recent files, autosave to a recovery file, and recovery after a crash."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from engine.errors import UserFacingError
from engine.project.document import Project
from engine.project.projectfile import (PROJECT_SUFFIX, Autosaver, ProjectState, find_recoveries, open_project,
                                        recover, save_project)
from studio.media import MediaController
from studio.settings import StudioSettings, WindowState

PROJECT_FILTER = f"UniMotion projects (*{PROJECT_SUFFIX})"
AUTOSAVE_TICK_MS = 1000


class ProjectController(QObject):
    message = Signal(str, bool)
    recent_changed = Signal()

    def __init__(self, doc: Project, undo: QUndoStack, media: MediaController, state: WindowState,
                 settings: StudioSettings, window: QWidget) -> None:
        super().__init__(window)
        self.doc, self.undo, self.media, self.state, self.settings, self.window = (
            doc, undo, media, state, settings, window)
        self.autosaver = Autosaver(settings.recovery_folder(), settings.autosave_s)
        self.timer = QTimer(self)
        self.timer.setInterval(AUTOSAVE_TICK_MS)
        self.timer.timeout.connect(self.autosave_now)
        self.timer.start()

    def autosave_now(self) -> Path | None:
        return self.autosaver.tick(self.doc, time.monotonic())

    # -- asking ---------------------------------------------------------------------------------------------------

    def confirm_discard(self) -> bool:
        """True when it is fine to drop the current document (saved, discarded, or not asked)."""
        if not self.doc.dirty or not self.settings.ask_before_discard:
            return True
        name = self.doc.path.name if self.doc.path else "this project"
        answer = QMessageBox.question(
            self.window, "Unsaved changes", f"Save the changes to {name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # -- commands -------------------------------------------------------------------------------------------------

    def new(self) -> bool:
        if not self.confirm_discard():
            return False
        self.media.cancel_tracking()
        self.doc.reset()
        self.undo.clear()
        return True

    def open(self, path: str | Path | None = None) -> bool:
        if path is None:
            start = str(self.state.last_folder() or "")
            path, _ = QFileDialog.getOpenFileName(self.window, "Open Project", start, PROJECT_FILTER)
            if not path:
                return False
        if not self.confirm_discard():
            return False
        path = Path(path)
        try:
            state = open_project(self.doc, path)
        except UserFacingError as exc:
            self.message.emit(str(exc), True)
            return False
        self.undo.clear()
        self._load_media(state)
        self.state.set_last_folder(path.parent)
        self.state.add_recent(path)
        self.recent_changed.emit()
        self.message.emit(f"Opened {path.name}", False)
        return True

    def _load_media(self, state: ProjectState) -> None:
        self.media.cancel_tracking()  # a video still tracking for the previous document must not land here
        if state.reference_path is not None:
            self.media.open_reference(state.reference_path)
        if state.driving_path is not None:
            self.media.open_driving(state.driving_path, keep_edits=True, person=state.driving_person)

    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as()
        return self._save_to(self.doc.path)

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.window, "Save Project As", str(self.default_save_path()),
                                                  PROJECT_FILTER)
            if not path:
                return False
        return self._save_to(Path(path))

    def default_save_path(self) -> Path:
        """Where Save As starts: the project's own file; else, in the folder last used (or the photo's, or the
        clip's), a name made of the photo and the clip."""
        doc = self.doc
        if doc.path is not None:
            return doc.path
        media = [p for p in (doc.reference_path, doc.driving_path) if p is not None]
        folder = self.state.last_folder() or (media[0].parent if media else Path.home())
        stem = "_".join(p.stem for p in media) or "untitled"
        return folder / f"{stem}{PROJECT_SUFFIX}"

    def _save_to(self, path: Path) -> bool:
        if self.doc.reference_path is None and self.doc.reference is not None:
            self.message.emit("Note: the demo photo is built in, so the saved project will not name it", False)
        try:
            saved = save_project(self.doc, path)
        except UserFacingError as exc:
            self.message.emit(str(exc), True)
            return False
        self.undo.setClean()
        self.autosaver.discard()
        self.state.set_last_folder(saved.parent)
        self.state.add_recent(saved)
        self.recent_changed.emit()
        self.message.emit(f"Saved {saved.name}", False)
        return True

    # -- recovery -------------------------------------------------------------------------------------------------

    def offer_recovery(self) -> bool:
        """After a crash: offer the newest recovery file. Returns True if one was recovered."""
        found = find_recoveries(self.autosaver.folder)
        if not found or not self.settings.offer_recovery:
            return False
        newest = found[0]
        answer = QMessageBox.question(
            self.window, "Recover unsaved work?",
            f"UniMotion Studio did not close properly last time.\nRecover {newest.label}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        if answer != QMessageBox.StandardButton.Yes:
            for r in found:
                r.path.unlink(missing_ok=True)
            return False
        return self.recover(newest)

    def recover(self, recovery) -> bool:
        try:
            state = recover(self.doc, recovery)
        except UserFacingError as exc:
            self.message.emit(f"Could not recover: {exc}", True)
            return False
        self.undo.clear()
        self.autosaver.write_now(self.doc, time.monotonic())  # its recovery file is gone: ours replaces it now
        self._load_media(state)
        self.message.emit(f"Recovered {recovery.label}: save it to keep it", False)
        return True

    def shutdown(self) -> None:
        """A clean exit: no recovery file is left behind."""
        self.timer.stop()
        self.autosaver.discard()
