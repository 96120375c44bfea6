"""Writing a file the user named: check the name first, write beside it under a hidden temp name, rename.

Temp names carry the writing process's id (`.clip.npz.partial-<pid>-<random>`), so a later run can tell a
temp file left by a killed process (SIGKILL, power loss) from one another export is writing right now, and
clears the stale ones of the same output before it writes.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from engine.errors import OutputError

_PARTIAL = re.compile(r"\.partial-(?:(\d+)-)?[0-9a-f]+$")


def check_output_path(path: str | os.PathLike, suffixes: tuple[str, ...], what: str) -> Path:
    """Refuse, before any work, an output the write would fail on or that would mislead: a folder, a missing
    folder, or a name whose extension is not what the file will be (`-o result.txt` for an MP4)."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"Cannot write {what}: {p} is a folder; give a file name ending in {suffixes[0]}")
    if not p.parent.is_dir():
        raise OutputError(f"Cannot write {p.name}: the folder {p.parent} does not exist")
    if p.suffix.lower() not in suffixes:
        raise OutputError(f"Cannot write {p.name}: {what} must be named {' or '.join(suffixes)} "
                          f"(for example {p.with_suffix(suffixes[0]).name})")
    return p


def partial_path(target: Path) -> Path:
    """A fresh hidden temp name beside `target` (same filesystem, so the final os.replace is atomic)."""
    return target.parent / f".{target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def clear_stale_partials(target: Path) -> list[Path]:
    """Delete temp files of `target` whose writer is gone (older temp names without a pid count as gone).
    Returns what was removed. Another live writer's temp file is left alone."""
    removed = []
    try:
        entries = list(target.parent.glob(f".{glob_escape(target.name)}.partial-*"))
    except OSError:
        return removed
    for p in entries:
        m = _PARTIAL.search(p.name)
        if m is None or (m.group(1) is not None and (int(m.group(1)) == os.getpid() or _alive(int(m.group(1))))):
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass  # not ours to remove (permissions): it only costs disk space
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)
