"""One explicit runtime setup (thread counts, quiet third-party logs), called by entry points, not at import."""
from __future__ import annotations

import logging
import os
import threading
import warnings

_done = False
_detached = False  # fds 1 and 2 already point at /dev/null for the whole process (see _detach_native_output)
_fd_lock = threading.Lock()  # fd swaps are process-wide: two threads must not interleave them


def setup(threads: int | None = None, quiet: bool = True) -> None:
    """Configure process-wide settings once. Safe to call more than once."""
    global _done
    if _done:
        return
    _done = True
    if quiet:
        # MediaPipe logs through absl/glog on stderr; users do not want that in their terminal.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore", module="google.protobuf")
        try:
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:
            pass
        logging.getLogger("av").setLevel(logging.ERROR)
        _detach_native_output()
    if threads:
        import torch

        torch.set_num_threads(threads)


class native_stderr_silenced:
    """Silence C++ logging (absl/TFLite) written straight to fd 2 while MediaPipe builds and warms a graph.

    Those lines ("Created TensorFlow Lite XNNPACK delegate", "Feedback manager ...") are noise to users and
    bypass Python logging, so the only way to hide them is to point fd 2 elsewhere for that moment.
    Set UNIMOTION_VERBOSE=1 to see them.
    """

    FDS = (1, 2)  # TFLite prints its INFO line to C stdout, absl to stderr

    def __enter__(self):
        self._saved: list[tuple[int, int]] = []
        if os.environ.get("UNIMOTION_VERBOSE") or _detached:
            return self
        _fd_lock.acquire()
        self._locked = True
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            for fd in self.FDS:
                self._saved.append((fd, os.dup(fd)))
                os.dup2(devnull, fd)
            os.close(devnull)
        except OSError:
            self.__exit__()
        return self

    def __exit__(self, *exc):
        if self._saved:
            _flush_c_stdio()
        for fd, saved in self._saved:
            os.dup2(saved, fd)
            os.close(saved)
        self._saved = []
        if getattr(self, "_locked", False):
            self._locked = False
            _fd_lock.release()
        return False


def _flush_c_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def _detach_native_output() -> None:
    """Give Python's stdout/stderr private copies of fds 1 and 2, then point fds 1 and 2 at /dev/null.

    MediaPipe's C++ graphs (absl, TFLite) log straight to those fds whenever a sub-model first runs,
    which can be any frame; Python output (progress, errors, tracebacks) keeps working unchanged.
    """
    import sys

    global _detached
    if os.environ.get("UNIMOTION_VERBOSE"):
        return
    try:
        for fd, name in ((1, "stdout"), (2, "stderr")):
            stream = getattr(sys, name)
            if stream is None or not hasattr(stream, "fileno") or stream.fileno() != fd:
                continue
            stream.flush()
            private = os.dup(fd)
            setattr(sys, name, os.fdopen(private, "w", buffering=1, encoding=stream.encoding,
                                         errors=stream.errors))
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            _detached = True
    except (OSError, ValueError, AttributeError):
        pass
