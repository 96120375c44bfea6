"""StudioSettings (the typed config of the studio) and the QSettings-backed store for window state."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from engine.project.projectfile import RECENT_LIMIT, prune_recent, push_recent

ORGANISATION, APPLICATION = "UniMotion", "UniMotion Studio"


@dataclass(frozen=True)
class StudioSettings:
    autosave_s: float = 15.0  # a dirty document is written to the recovery folder this often (a small JSON)
    recovery_dir: Path | None = None  # None: the platform's app-data folder / "recovery"
    ask_before_discard: bool = True  # "Save changes?" on close / new / open (tests turn it off)
    offer_recovery: bool = True
    preview_max_side: int = 480  # driving-video frames kept in memory for scrubbing, at most this long side
    preview_memory_mb: int = 600  # ... and at most this much memory in all (frames get smaller beyond it)
    worker_threads: int = 3
    loop: bool = True

    def __post_init__(self) -> None:
        if not self.autosave_s > 0:
            raise ValueError(f"StudioSettings.autosave_s must be > 0, got {self.autosave_s}")
        if not 64 <= self.preview_max_side <= 4096:
            raise ValueError(f"StudioSettings.preview_max_side must be in 64..4096, got {self.preview_max_side}")
        if self.preview_memory_mb < 16:
            raise ValueError(f"StudioSettings.preview_memory_mb must be >= 16, got {self.preview_memory_mb}")
        if self.worker_threads < 2:
            raise ValueError(f"StudioSettings.worker_threads must be >= 2, got {self.worker_threads}")

    def recovery_folder(self) -> Path:
        if self.recovery_dir is not None:
            return Path(self.recovery_dir)
        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        return Path(base or Path.home() / ".unimotion") / "recovery"


class WindowState:
    """Recent files and window geometry, persisted with QSettings."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qs = qsettings if qsettings is not None else QSettings(ORGANISATION, APPLICATION)

    def recent_files(self) -> list[str]:
        value = self.qs.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return prune_recent([str(v) for v in (value or [])])[:RECENT_LIMIT]

    def add_recent(self, path: str | Path) -> list[str]:
        recent = push_recent(self.recent_files(), path)
        self.qs.setValue("recent_files", recent)
        return recent

    def clear_recent(self) -> None:
        self.qs.setValue("recent_files", [])

    def geometry(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self.qs.value("geometry"), self.qs.value("window_state")

    def save_geometry(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qs.setValue("geometry", geometry)
        self.qs.setValue("window_state", state)

    def splitter_sizes(self) -> dict[str, list[int]]:
        out = {}
        for name in self.qs.value("splitters", []) or []:
            sizes = self.qs.value(f"splitter/{name}", [])
            try:
                out[str(name)] = [int(v) for v in (sizes if isinstance(sizes, list) else [sizes])]
            except (TypeError, ValueError):
                continue  # a hand-edited settings file: that splitter keeps its default
        return out

    def save_splitter_sizes(self, sizes: dict[str, list[int]]) -> None:
        self.qs.setValue("splitters", list(sizes))
        for name, v in sizes.items():
            self.qs.setValue(f"splitter/{name}", [int(x) for x in v])

    def last_folder(self) -> Path | None:
        """The folder a project was last opened from or saved to (if it still exists)."""
        value = self.qs.value("last_folder", "")
        return Path(value) if value and Path(value).is_dir() else None

    def set_last_folder(self, folder: str | Path) -> None:
        self.qs.setValue("last_folder", str(Path(folder).absolute()))

    def sync(self) -> None:
        self.qs.sync()
