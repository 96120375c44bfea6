"""Export to MP4: file, size, range, side by side, audio; progress and Cancel; "Show in folder" at the end."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton,
                               QRadioButton,
                               QVBoxLayout, QWidget)

from engine.errors import UserFacingError
from engine.project.document import Project
from engine.project.export import export_video, request_from_project
from engine.render.base import Renderer
from studio.jobs import JobHandle, JobRunner

SIZES = (("Photo size", None), ("1080 px (long side)", 1080), ("720 px", 720), ("512 px", 512), ("384 px", 384))


class ExportDialog(QDialog):
    export_finished = Signal(object)  # engine.io.encode.ExportResult
    export_failed = Signal(str)

    def __init__(self, doc: Project, runner: JobRunner, renderer_factory: Callable[[], Renderer],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export MP4")
        self.setMinimumWidth(520)
        self.doc, self.runner, self.renderer_factory = doc, runner, renderer_factory
        self.job: JobHandle | None = None
        self.result = None
        self._auto_path = ""  # the name prepare() last filled in
        self._confirmed: Path | None = None  # a path the user already agreed to replace

        self.path_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.size_combo = QComboBox()
        for label, value in SIZES:
            self.size_combo.addItem(label, value)
        self.whole = QRadioButton("Whole clip")
        self.in_out = QRadioButton("In/out range")
        range_row = QHBoxLayout()
        range_row.addWidget(self.whole)
        range_row.addWidget(self.in_out)
        range_row.addStretch(1)
        self.side_by_side = QCheckBox("Driving video beside the result")
        self.audio = QCheckBox("Audio from the driving video (when it has any)")
        form = QFormLayout()
        form.addRow("File", path_row)
        form.addRow("Size", self.size_combo)
        form.addRow("Range", range_row)
        form.addRow("", self.side_by_side)
        form.addRow("", self.audio)

        self.progress = QProgressBar()
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.show_button = self.buttons.addButton("Show in Folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = self.buttons.addButton("Close", QDialogButtonBox.ButtonRole.RejectRole)
        self.show_button.hide()
        self.export_button.clicked.connect(self.start)
        self.show_button.clicked.connect(self.show_in_folder)
        self.cancel_button.clicked.connect(self._cancel_or_close)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)

    def prepare(self) -> None:
        """Fill the form from the document (each time the dialog opens)."""
        doc = self.doc
        default = str(self.default_path())
        if not self.path_edit.text() or self.path_edit.text() == self._auto_path:
            self.path_edit.setText(default)  # follows the current clip and photo until the user types a name
        self._auto_path = default
        rs = doc.render_settings
        i = self.size_combo.findData(rs.long_side)
        self.size_combo.setCurrentIndex(i if i >= 0 else 0)
        a, b = doc.in_out
        self.in_out.setText(f"In/out range ({a}–{b})")
        self.in_out.setEnabled(doc.has_custom_range)
        (self.in_out if doc.has_custom_range else self.whole).setChecked(True)
        has_video = doc.driving_path is not None and doc.driving_path.suffix.lower() != ".npz"
        self.side_by_side.setEnabled(has_video)
        self.side_by_side.setChecked(rs.side_by_side and has_video)
        self.audio.setEnabled(has_video)
        self.audio.setChecked(rs.audio and has_video)
        if self.job is None:
            self.progress.setValue(0)
            self.status.setText("")
            self.show_button.hide()

    def default_path(self) -> Path:
        doc = self.doc
        folder = doc.path.parent if doc.path else (doc.driving_path.parent if doc.driving_path else Path.home())
        ref = doc.reference_path.stem if doc.reference_path else (doc.reference.name if doc.reference else "result")
        drv = doc.driving_path.stem if doc.driving_path else "motion"
        return folder / f"{ref}_{drv}.mp4"

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export MP4", self.path_edit.text(), "MP4 video (*.mp4)")
        if path:
            self.path_edit.setText(path if path.lower().endswith(".mp4") else path + ".mp4")
            self._confirmed = Path(path)  # the file dialog asked about replacing it already

    def _confirm_replace(self, path: Path) -> bool:
        answer = QMessageBox.question(self, "Replace the file?", f"{path.name} already exists in {path.parent}. "
                                      "Replace it with this export?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # -- the job --------------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self) -> JobHandle | None:
        if self.job is not None:
            return self.job
        text = self.path_edit.text().strip()
        if not text:
            self._fail("Choose a file to export to")
            return None
        path = Path(text).expanduser()
        if path.suffix.lower() != ".mp4":
            path = path.with_name(path.name + ".mp4")
        if path.exists() and path != self._confirmed and not self._confirm_replace(path):
            return None  # an earlier export is work too: never replaced without asking
        doc = self.doc
        rng = doc.in_out if self.in_out.isChecked() else (0, max(doc.frame_count - 1, 0))
        try:
            req = request_from_project(doc, path, start=rng[0], stop=rng[1], long_side=self.size_combo.currentData(),
                                       side_by_side=self.side_by_side.isChecked() and self.side_by_side.isEnabled(),
                                       audio=self.audio.isChecked() and self.audio.isEnabled())
        except (UserFacingError, ValueError) as exc:
            self._fail(str(exc))
            return None
        doc.set_render_settings(long_side=req.long_side, side_by_side=req.side_by_side,
                                audio=self.audio.isChecked())
        factory = self.renderer_factory
        self.job = self.runner.submit(f"Exporting {path.name}", lambda c: export_video(req, factory(), c),
                                      key="export")
        self.job.progress.connect(self._progress)
        self.job.succeeded.connect(self._done)
        self.job.failed.connect(self._fail)
        self.job.cancelled.connect(self._cancelled)
        self.job.finished.connect(self._finished)
        self.progress.setRange(0, req.frame_count)
        self.progress.setValue(0)
        self.status.setText(f"Rendering {req.frame_count} frames…")
        self.export_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.show_button.hide()
        return self.job

    def _progress(self, p) -> None:
        if p.total:
            self.progress.setRange(0, int(p.total))
            self.progress.setValue(min(int(p.done), int(p.total)))
        self.status.setText(p.message)

    def _done(self, result) -> None:
        self.result = result
        self.progress.setValue(self.progress.maximum())
        audio = ", with audio" if result.has_audio else ""
        self.status.setText(f"Exported {result.path.name}: {result.frames} frames, {result.duration_s:.2f} s{audio}")
        self.show_button.show()
        self.export_finished.emit(result)

    def _fail(self, message: str) -> None:
        self.status.setText(f"<span style='color:#ff7b72'>Export failed: {message}</span>")
        self.export_failed.emit(message)

    def _cancelled(self) -> None:
        self.progress.setValue(0)
        self.status.setText("Export cancelled: no file was written")

    def _finished(self) -> None:
        self.job = None
        self.export_button.setEnabled(True)
        self.cancel_button.setText("Close")

    def _cancel_or_close(self) -> None:
        if self.job is not None:
            self.runner.cancel(self.job)
        else:
            self.close()

    def show_in_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.result.path).parent)))

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.job is not None:
            self.runner.cancel(self.job)  # closing the dialog stops the export (and removes its temp file)
        super().closeEvent(event)
