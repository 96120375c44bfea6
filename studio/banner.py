"""An inline message banner at the top of the window.

Errors and warnings stay until dismissed or until the state they describe is gone: each carries a topic
("reference", "driving", "edit", "apply", ...) and the window clears a topic when that part is fine again (a
good photo clears the "no person found" error). Notes fade after a while and never hide an error or warning.
"""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

ERROR_CSS = ("QFrame#banner { background: #5a1d1d; border: 1px solid #a33; border-radius: 3px; }"
             " QLabel, QToolButton { background: transparent; border: none; color: #ffdcd7; }")
WARNING_CSS = ("QFrame#banner { background: #4a3a12; border: 1px solid #b08a2a; border-radius: 3px; }"
               " QLabel, QToolButton { background: transparent; border: none; color: #ffeab0; }")
INFO_CSS = ("QFrame#banner { background: #1d3a5a; border: 1px solid #2f6fb0; border-radius: 3px; }"
            " QLabel, QToolButton { background: transparent; border: none; color: #dbeafe; }")
INFO_TIMEOUT_MS = 6000
ERROR, WARNING, INFO = "error", "warning", "info"


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps, never widens
        close = QToolButton(text="✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        close.clicked.connect(self.dismiss)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.level = INFO
        self.topic = ""
        self.hide()

    @property
    def is_error(self) -> bool:
        return self.level == ERROR

    def show_message(self, text: str, error: bool | str, topic: str = "") -> None:
        """`error`: True / False, or a level (ERROR, WARNING, INFO)."""
        level = error if isinstance(error, str) else (ERROR if error else INFO)
        if level == INFO and not self.isHidden() and self.level != INFO:
            return  # a note never hides an error or warning the user has not seen off
        self.level, self.topic = level, topic
        self.label.setText(text)
        self.setStyleSheet({ERROR: ERROR_CSS, WARNING: WARNING_CSS, INFO: INFO_CSS}[level])
        self.show()
        if level == INFO:
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()

    def clear(self, topic: str) -> None:
        """The state a message of `topic` described is gone: take it down."""
        if not self.isHidden() and self.topic == topic and self.level != INFO:
            self.dismiss()

    def dismiss(self) -> None:
        self._timer.stop()
        self.level, self.topic = INFO, ""
        self.hide()

    @property
    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()
