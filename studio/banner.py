"""An inline message banner at the top of the window: errors stay until dismissed, notes fade after a while."""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

ERROR_CSS = ("QFrame#banner { background: #5a1d1d; border: 1px solid #a33; border-radius: 3px; }"
             " QLabel, QToolButton { background: transparent; border: none; color: #ffdcd7; }")
INFO_CSS = ("QFrame#banner { background: #1d3a5a; border: 1px solid #2f6fb0; border-radius: 3px; }"
            " QLabel, QToolButton { background: transparent; border: none; color: #dbeafe; }")
INFO_TIMEOUT_MS = 6000


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel("")
        self.label.setWordWrap(True)
        close = QToolButton(text="✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.is_error = False
        self.hide()

    def show_message(self, text: str, error: bool) -> None:
        if not error and not self.isHidden() and self.is_error:
            return  # a note never hides an error the user has not seen off
        self.is_error = error
        self.label.setText(text)
        self.setStyleSheet(ERROR_CSS if error else INFO_CSS)
        self.show()
        if error:
            self._timer.stop()
        else:
            self._timer.start(INFO_TIMEOUT_MS)

    @property
    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()
