"""Help: the keyboard shortcuts (read from the one action table, so the list is never out of date), the version
and where the documentation is."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QLabel, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from studio.actions import ACTIONS, MENUS, Actions

APP_TITLE = "UniMotion Studio"
DIST_NAME = "unimotion-studio"
REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "DEVELOPERS.md")
# keys that work without a menu entry (handled by widgets rather than actions)
EXTRA_KEYS = (("Curves", "Double-click", "Add a key for the current channel there"),
              ("Curves", "Shift+drag", "Box-select keys"),
              ("Curves", "Drag a key", "Move the selected keys (of every channel shown)"))


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version(DIST_NAME)
    except PackageNotFoundError:  # run from a source checkout that was not installed
        import tomllib

        try:
            return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
        except (OSError, KeyError, ValueError):
            return "unknown"


def docs_paths() -> list[Path]:
    return [REPO_ROOT / d for d in DOCS if (REPO_ROOT / d).exists()]


def about_html() -> str:
    docs = docs_paths()
    where = (", ".join(f"<a href='{p.as_uri()}'>{p.name}</a>" for p in docs) + f" in {REPO_ROOT}") if docs else \
        "the README of the project"
    return (f"<b>{APP_TITLE}</b> {version()}<p>Animate a photo with the motion of a video: tracked motion tokens, "
            f"editable curves, instant preview, MP4 export.<p>Documentation: {where}.<p>Keyboard shortcuts: "
            "Help ▸ Keyboard Shortcuts (F1).")


def shortcut_rows(actions: Actions) -> list[tuple[str, str, str]]:
    """(menu, key, what it does) for every action with a shortcut, in menu order."""
    rows = []
    for menu, ids in MENUS.items():
        for aid in ids:
            if aid in actions:
                a = actions[aid]
                key = a.shortcut().toString()
                if key:
                    text = next(s.text for s in ACTIONS if s.id == aid)  # not a.text(): "Undo Add key..."
                    rows.append((menu.replace("&", ""), key, text.replace("&", "")))
    return rows + list(EXTRA_KEYS)


class ShortcutsDialog(QDialog):
    def __init__(self, actions: Actions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        rows = shortcut_rows(actions)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Menu", "Key", "Action"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"{APP_TITLE} {version()}"))
        lay.addWidget(self.table)
        lay.addWidget(buttons)
        self.resize(520, 560)
