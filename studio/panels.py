"""MediaPanel: the shared part of the reference and driving panels (a canvas that takes file drops)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout,
                               QWidget)

from studio.canvas import FrameCanvas

ERROR_STYLE = "color: #ff7b72;"
INFO_STYLE = "color: #c9d1d9;"


def local_files(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    md = event.mimeData()
    if md is None or not md.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in md.urls() if u.isLocalFile()]


class MediaPanel(QFrame):
    """Title bar with an Open button, a FrameCanvas, and a status line. Dropping a file = `load_path`."""

    open_requested = Signal(object)  # Path

    def __init__(self, title: str, placeholder: str, file_filter: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAcceptDrops(True)
        self.file_filter = file_filter
        self.plain_title = title  # for window titles, which show markup as typed
        self.title = QLabel(f"<b>{title}</b>")
        self.open_button = QToolButton(text="Open…")
        self.open_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.open_button.setToolTip(f"Open a file, or drop one here ({file_filter})")
        self.open_button.clicked.connect(self.browse)
        head = QHBoxLayout()
        head.setContentsMargins(6, 4, 6, 0)
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.open_button)
        self.canvas = FrameCanvas(placeholder)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps, never widens
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setContentsMargins(6, 0, 6, 4)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(4)
        self.body.addLayout(head)
        self.body.addWidget(self.canvas, 1)
        self.body.addWidget(self.status)

    # -- drops (the same path a user's drop takes) -------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if local_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if local_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = local_files(event)
        if not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.load_path(files[0])

    def load_path(self, path: str | Path) -> None:
        """Open `path` as if it had been dropped here."""
        self.open_requested.emit(Path(path))

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Open {self.plain_title}", "", self.file_filter)
        if path:
            self.load_path(path)

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE if error else INFO_STYLE)
        self.status.setToolTip(text)

    @property
    def status_text(self) -> str:
        return self.status.text()
