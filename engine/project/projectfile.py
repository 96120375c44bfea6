"""Project files (JSON), the recent-files list and crash recovery (autosave). No Qt.

A project file holds the media paths (absolute, and relative to the project file so a folder can be moved
with its media), which person the driving video's tracking follows when it shows several, the edit layer, the in/out range, render settings, view mode and a `format_version`. It
never holds tracked data: opening a project re-tracks the driving clip, which the engine's cache makes quick.
Files are written atomically (temp file in the same folder, then os.replace).

Recovery: while a document is dirty, `Autosaver.tick` writes `recovery-<pid>.umproj` into a recovery folder
every `interval_s` seconds; a clean exit or a save removes it. On the next start, `find_recoveries` returns
the recovery files of processes that are no longer running (a crash), newest first.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import UserFacingError
from engine.project.document import Project, RenderSettings, ViewMode
from engine.project.edits import EditLayer
from engine.track.config import person_of

PROJECT_FORMAT_VERSION = 1
PROJECT_SUFFIX = ".umproj"
RECOVERY_PREFIX = "recovery-"
RECENT_LIMIT = 10


class ProjectFileError(UserFacingError):
    """A project file that cannot be read (not JSON, wrong version, damaged)."""


@dataclass(frozen=True)
class ProjectState:
    """Everything a project file holds."""

    reference_path: Path | None = None
    driving_path: Path | None = None
    edits: EditLayer = field(default_factory=EditLayer)
    in_out: tuple[int, int] | None = None
    render: RenderSettings = field(default_factory=RenderSettings)
    view_mode: ViewMode = ViewMode.RESULT
    project_path: Path | None = None  # for a recovery file: the project it was autosaved from
    driving_person: int | None = None  # whom the driving video's tracking follows (None: the largest)


def state_of(project: Project) -> ProjectState:
    return ProjectState(reference_path=project.reference_path, driving_path=project.driving_path,
                        edits=project.edits, in_out=project.in_out if project.has_custom_range else None,
                        render=project.render_settings, view_mode=project.view_mode, project_path=project.path,
                        driving_person=(person_of(project.clip.tracker) if project.clip is not None
                                        else project.driving_person))


def apply_state(project: Project, state: ProjectState, path: Path | None) -> None:
    """Load `state` into a fresh document. Media are only named here: the caller loads the reference and tracks
    the clip (jobs), then calls `set_reference` / `set_clip(..., keep_edits=True)` with the same paths."""
    project.reset()
    project.reference_path = state.reference_path
    project.driving_path = state.driving_path
    project.driving_person = state.driving_person
    project.set_edits(state.edits)
    project.set_in_out(state.in_out)
    project.set_render_settings(state.render)
    project.set_view_mode(state.view_mode)
    project.path = Path(path) if path else None
    project.path_changed.emit()
    project.mark_saved()


def _media_json(p: Path | None, base: Path | None) -> dict[str, str] | None:
    if p is None:
        return None
    out = {"path": str(Path(p).absolute())}
    if base is not None:
        try:
            out["relative"] = os.path.relpath(Path(p).absolute(), base.absolute())
        except ValueError:
            pass  # another drive on Windows: no relative path
    return out


def _media_from_json(d: Any, base: Path) -> Path | None:
    """The relative path if that file exists (a moved project folder), else the absolute one."""
    if not d:
        return None
    rel = d.get("relative")
    if rel:
        cand = (base / rel).resolve()
        if cand.exists():
            return cand
    return Path(d["path"])


def _with_person(driving: dict[str, str] | None, person: int | None) -> dict[str, Any] | None:
    """The driving entry, with the person followed when it is not the largest (older readers ignore it)."""
    if driving is None or person is None:
        return driving
    return {**driving, "person": person}


def _person_from_json(driving: Any) -> int | None:
    person = driving.get("person") if isinstance(driving, dict) else None
    if person is not None and (isinstance(person, bool) or not isinstance(person, int) or person < 1):
        raise ValueError(f"driving person {person!r}")
    return person


def state_to_json(state: ProjectState, base: Path | None) -> dict[str, Any]:
    return {
        "format_version": PROJECT_FORMAT_VERSION,
        "app": "unimotion-studio",
        "reference": _media_json(state.reference_path, base),
        "driving": _with_person(_media_json(state.driving_path, base), state.driving_person),
        "in_out": list(state.in_out) if state.in_out is not None else None,
        "render": state.render.to_json(),
        "view_mode": state.view_mode.value,
        "edits": state.edits.to_json(),
    }


def state_from_json(data: Any, base: Path, name: str = "project") -> ProjectState:
    if not isinstance(data, dict) or data.get("app") != "unimotion-studio":
        raise ProjectFileError(f"{name}: not a UniMotion project")
    version = data.get("format_version")
    if version != PROJECT_FORMAT_VERSION:
        raise ProjectFileError(f"{name}: project format {version}, this version reads {PROJECT_FORMAT_VERSION}")
    try:
        in_out = data.get("in_out")
        rec = data.get("recovery") or {}
        return ProjectState(
            reference_path=_media_from_json(data.get("reference"), base),
            driving_path=_media_from_json(data.get("driving"), base),
            edits=EditLayer.from_json(data.get("edits") or []),
            in_out=(int(in_out[0]), int(in_out[1])) if in_out else None,
            render=RenderSettings.from_json(data.get("render") or {}),
            view_mode=ViewMode(data.get("view_mode", ViewMode.RESULT.value)),
            project_path=Path(rec["project_path"]) if rec.get("project_path") else None,
            driving_person=_person_from_json(data.get("driving")),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ProjectFileError(f"{name}: damaged project ({exc})") from None


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_project(project: Project, path: str | Path) -> Path:
    """Write the project to `path` atomically and mark the document saved. Raises UserFacingError on I/O."""
    path = Path(path)
    if path.suffix != PROJECT_SUFFIX:
        path = path.with_name(path.name + PROJECT_SUFFIX)
    try:
        write_json_atomic(path, state_to_json(state_of(project), path.parent))
    except OSError as exc:
        raise UserFacingError(f"could not save {path.name}: {exc.strerror or exc}") from None
    project.mark_saved(path)
    return path


def read_project(path: str | Path) -> ProjectState:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectFileError(f"{path.name}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        what = "not text" if isinstance(exc, UnicodeDecodeError) else "not JSON" if isinstance(
            exc, json.JSONDecodeError) else (exc.strerror or "unreadable") if isinstance(exc, OSError) else "damaged"
        raise ProjectFileError(f"{path.name}: not a UniMotion project ({what})") from None
    return state_from_json(data, path.parent, path.name)


def open_project(project: Project, path: str | Path) -> ProjectState:
    """Read `path` into `project` (media named, not loaded). Returns the state, for the caller to load media."""
    state = read_project(path)
    apply_state(project, state, Path(path))
    return state


# -- recent files ----------------------------------------------------------------------------------


def push_recent(recent: list[str], path: str | Path, limit: int = RECENT_LIMIT) -> list[str]:
    """`path` first, no duplicates, at most `limit` entries."""
    p = str(Path(path).absolute())
    return ([p] + [r for r in recent if r != p])[:limit]


def prune_recent(recent: list[str]) -> list[str]:
    """Drop entries whose file is gone."""
    return [r for r in recent if Path(r).exists()]


# -- autosave and recovery -------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours, or we cannot tell: leave it alone
    return True


@dataclass(frozen=True)
class Recovery:
    path: Path  # the recovery file
    saved_at: float  # time.time() of the autosave
    project_path: Path | None  # the project it came from (None: never saved)

    @property
    def label(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        return f"{self.project_path.name if self.project_path else 'Untitled project'} (autosaved {when})"


class Autosaver:
    """Writes the dirty document to a recovery file every `interval_s` seconds (call `tick` from a timer)."""

    def __init__(self, folder: str | Path, interval_s: float = 60.0, pid: int | None = None) -> None:
        if not interval_s > 0:
            raise ValueError(f"Autosaver.interval_s must be > 0, got {interval_s}")
        self.folder = Path(folder)
        self.interval_s = float(interval_s)
        self.path = self.folder / f"{RECOVERY_PREFIX}{pid or os.getpid()}{PROJECT_SUFFIX}"
        self._last_time: float | None = None
        self._last_revision: int | None = None

    def tick(self, project: Project, now: float) -> Path | None:
        """Autosave if the document is dirty, changed since the last autosave, and the interval has passed."""
        if not project.dirty:
            self.discard()  # saved (or undone back to saved): nothing to recover
            return None
        if self._last_revision == project.revision:
            return None
        if self._last_time is not None and now - self._last_time < self.interval_s:
            return None
        data = state_to_json(state_of(project), project.path.parent if project.path else None)
        data["recovery"] = {"project_path": str(project.path) if project.path else None, "saved_at": time.time(),
                            "pid": os.getpid()}
        try:
            write_json_atomic(self.path, data)
        except OSError:
            return None  # a full disk must not take the studio down; the next tick tries again
        self._last_time, self._last_revision = now, project.revision
        return self.path

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self._last_revision = None

    def write_now(self, project: Project, now: float) -> Path | None:
        """Autosave a dirty document at once (recovered work must not wait an interval to be safe again)."""
        self._last_time = None
        return self.tick(project, now)


def find_recoveries(folder: str | Path) -> list[Recovery]:
    """Recovery files left by processes that are no longer running, newest first. Damaged ones are skipped."""
    folder = Path(folder)
    out = []
    for p in folder.glob(f"{RECOVERY_PREFIX}*{PROJECT_SUFFIX}") if folder.is_dir() else []:
        try:
            pid = int(p.name[len(RECOVERY_PREFIX):-len(PROJECT_SUFFIX)])
        except ValueError:
            continue
        if _pid_alive(pid):
            continue
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            rec = data.get("recovery") or {}
            proj = rec.get("project_path")
            out.append(Recovery(p, float(rec.get("saved_at", p.stat().st_mtime)), Path(proj) if proj else None))
        except (OSError, ValueError, AttributeError):
            continue
    return sorted(out, key=lambda r: r.saved_at, reverse=True)


def recover(project: Project, recovery: Recovery) -> ProjectState:
    """Load a recovery file into `project`: dirty, named after its original project, recovery file removed."""
    state = read_project(recovery.path)
    apply_state(project, state, state.project_path)
    project.mark_dirty()  # recovered work is unsaved work
    recovery.path.unlink(missing_ok=True)
    return state
