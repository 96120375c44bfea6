"""Errors a user may see. Each carries a one-line message fit for a status bar or a terminal."""


class UserFacingError(Exception):
    """Bad input or a refused operation; the message is shown as is, without a traceback."""


class MediaError(UserFacingError):
    """A file that is not a readable image or video (wrong type, truncated, zero frames)."""


class NoPersonError(UserFacingError):
    """Tracking found nobody where a person was needed."""


class Cancelled(Exception):
    """A long job stopped because its cancel token was set. Not an error for the user."""


class OutputError(UserFacingError):
    """A file cannot be written where the user asked (missing or read-only folder, full disk, wrong name)."""


def user_error_from_os(exc: OSError, target, verb: str = "write") -> OutputError | None:
    """The OS errors a user can cause or fix, as one-line messages ("Cannot write clip.npz: the disk is
    full"); None for anything else. `target` is the file the user asked for, not a temp file beside it."""
    import errno
    from pathlib import Path

    target = Path(target)
    head = f"Cannot {verb} {target.name}"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return OutputError(f"{head}: the disk is full")
    if exc.errno == errno.EFBIG:  # FAT32 drives cap files at 4 GiB; a process file-size limit reads the same
        return OutputError(f"{head}: the file is too large for this drive")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputError(f"{head}: no permission to write in {target.parent}")
    if exc.errno == errno.EROFS:
        return OutputError(f"{head}: {target.parent} is on a read-only drive")
    if exc.errno == errno.EISDIR:
        return OutputError(f"{head}: {target} is a folder")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return OutputError(f"{head}: the folder {target.parent} does not exist")
    return None
