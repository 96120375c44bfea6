"""Entry point: `python main.py [--demo] [PROJECT | PHOTO | VIDEO ...]` opens the studio."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.io.image import is_image_path
from engine.project.projectfile import PROJECT_SUFFIX

DARK_QSS = """
QWidget { background: #1f2023; color: #d8dadf; }
QMenuBar, QMenu, QToolBar, QStatusBar { background: #26272b; }
QMenu::item:selected, QMenuBar::item:selected { background: #3a5a8c; }
QMenu::item:disabled { color: #6b6f78; }
QTreeWidget, QLineEdit, QComboBox { background: #18191c; border: 1px solid #3a3c42; }
QDoubleSpinBox { background: #18191c; }
QTreeWidget::item:selected { background: #2f4f7f; }
QHeaderView::section { background: #26272b; border: none; padding: 3px; }
QPushButton, QToolButton { background: #2d2f34; border: 1px solid #44474e; padding: 3px 8px; border-radius: 3px; }
QPushButton:hover, QToolButton:hover { background: #3a3d44; }
QToolButton:checked { background: #2f4f7f; }
QPushButton:disabled, QToolButton:disabled { color: #6b6f78; }
QProgressBar { border: 1px solid #44474e; border-radius: 3px; text-align: center; background: #18191c; }
QProgressBar::chunk { background: #2f6fb0; }
QSplitter::handle { background: #2a2b2f; }
QFrame[frameShape="6"] { border: 1px solid #33353a; }
"""


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="unimotion-studio", description="UniMotion Studio")
    ap.add_argument("--demo", action="store_true", help="open the built-in demo (astronaut + bundled motion)")
    ap.add_argument("paths", nargs="*", help="a project (.umproj), a reference photo and/or a driving video")
    return ap


def open_paths(window, paths: list[str]) -> None:
    """Route command-line files: a project opens; a photo is the reference; anything else drives."""
    for p in map(Path, paths):
        if p.suffix == PROJECT_SUFFIX:
            window.files.open(p)
        elif is_image_path(p):
            window.reference_panel.load_path(p)
        else:
            window.driving_panel.load_path(p)


def no_display_reason() -> str | None:
    """Why Qt could not open a window here, said before Qt aborts the process with its own message."""
    import os

    if sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return ("no display to open the studio on (run it from a desktop session, or set "
                "QT_QPA_PLATFORM=offscreen; the command line works without one: main.py render --help)")
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    reason = no_display_reason()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    from engine.runtime import setup

    setup()
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from studio.main_window import MainWindow
    from studio.settings import APPLICATION, ORGANISATION

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setStyle("Fusion")
    app.setStyleSheet(DARK_QSS)
    pg.setConfigOptions(antialias=True)
    window = MainWindow()
    window.show()
    recovered = window.files.offer_recovery()
    if args.demo and not recovered:
        window.media.load_demo()
    if args.paths and not recovered:
        open_paths(window, args.paths)
    return app.exec()
