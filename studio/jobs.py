"""One job runner: engine generator jobs on worker threads, reporting through Qt signals on the GUI thread.

    handle = runner.submit("Tracking", lambda cancel: track_clip(path, cancel=cancel), key="track")
    handle.progress.connect(...)   # engine.jobs.Progress
    handle.succeeded.connect(...)  # the job's return value
    handle.failed.connect(...)     # a one-line message for the user (never a traceback)
    handle.cancelled.connect(...)
    handle.finished.connect(...)   # always, last

A job factory takes a CancelToken and returns a generator (engine.jobs.Job) or, for short work, a plain value.
It is called on the worker thread, so even a generator's set-up code stays off the GUI thread. Submitting
with the `key` of a running job cancels that one: only the newest request for a key matters.
"""
from __future__ import annotations

import logging
import time
import types
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from engine.errors import Cancelled, UserFacingError
from engine.jobs import CancelToken, Progress

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals a second (previews and the last one always go)

JobFactory = Callable[[CancelToken], Any]


class _Relay(QObject):
    """Lives on the GUI thread; the worker emits these, so delivery is queued onto the GUI thread."""

    progress = Signal(object)
    done = Signal(object)
    error = Signal(str)
    stopped = Signal()


class JobHandle(QObject):
    progress = Signal(object)  # Progress
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, name: str, key: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name, self.key = name, key
        self.token = CancelToken()
        self.state = "queued"  # queued -> running -> succeeded | failed | cancelled
        self.result: Any = None
        self.error: str | None = None
        self.last_progress: Progress | None = None
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)
        self._relay.done.connect(self._on_done)
        self._relay.error.connect(self._on_error)
        self._relay.stopped.connect(self._on_stopped)
        self._runnable: _Task | None = None

    @property
    def is_done(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled")

    def cancel(self) -> None:
        self.token.cancel()

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if not self.is_done:
            self.last_progress = p
            self.progress.emit(p)

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        self._finish("succeeded", result=result)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._finish("failed", error=message)

    @Slot()
    def _on_stopped(self) -> None:
        self._finish("cancelled")

    def _finish(self, state: str, result: Any = None, error: str | None = None) -> None:
        if self.is_done:
            return
        self.state, self.result, self.error = state, result, error
        if state == "succeeded":
            self.succeeded.emit(result)
        elif state == "failed":
            self.failed.emit(error or "")
        else:
            self.cancelled.emit()
        self.finished.emit()


def _user_message(name: str, exc: BaseException) -> str:
    if isinstance(exc, UserFacingError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{name}: out of memory"
    # a bug, not the user's doing: the log has the traceback; the user gets plain words, no class names
    detail = str(exc).splitlines()[0] if str(exc) else "an internal error (details in the log)"
    return f"{name} failed: {detail}"


class _Task(QRunnable):
    def __init__(self, handle: JobHandle, factory: JobFactory) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the handle keeps it: tryTake() needs it alive
        self.relay, self.factory, self.token, self.name = handle._relay, factory, handle.token, handle.name

    def run(self) -> None:
        relay, token = self.relay, self.token
        try:
            token.raise_if_cancelled()
            job = self.factory(token)
            if isinstance(job, types.GeneratorType):
                job = self._drain(job)
            token.raise_if_cancelled()
            relay.done.emit(job)
        except Cancelled:
            relay.stopped.emit()
        except Exception as exc:  # noqa: BLE001 - the user gets a line, the log the traceback
            if token.cancelled:
                relay.stopped.emit()
                return
            if not isinstance(exc, UserFacingError):
                log.exception("job %r failed", self.name)
            relay.error.emit(_user_message(self.name, exc))

    def _drain(self, gen) -> Any:
        last = 0.0
        try:
            while True:
                if self.token.cancelled:
                    raise Cancelled()
                try:
                    p = next(gen)
                except StopIteration as stop:
                    return stop.value
                now = time.monotonic()
                final = p.total is not None and p.done >= p.total
                if p.preview is not None or final or now - last >= PROGRESS_INTERVAL_S:
                    last = now
                    self.relay.progress.emit(p)
        finally:
            gen.close()  # a cancelled job's `finally` blocks (temp files, open decoders) run here, now


class JobRunner(QObject):
    """Owns a private thread pool. `shutdown()` cancels everything and waits for the workers to end."""

    job_started = Signal(object)  # JobHandle
    job_finished = Signal(object)

    def __init__(self, max_threads: int = 3, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(1, max_threads))
        self._handles: list[JobHandle] = []
        self._closed = False

    def submit(self, name: str, factory: JobFactory, key: str | None = None) -> JobHandle:
        if self._closed:  # the window is closing: the job never runs (a late request is not an error)
            handle = JobHandle(name, key, self)
            handle.token.cancel()
            handle.state = "cancelled"
            return handle
        if key is not None:
            for h in self._handles:
                if h.key == key:
                    self.cancel(h)
        handle = JobHandle(name, key, self)
        task = _Task(handle, factory)
        handle._runnable = task
        handle.state = "running"
        self._handles.append(handle)
        handle.finished.connect(lambda h=handle: self._forget(h))
        self.pool.start(task)
        self.job_started.emit(handle)
        return handle

    def cancel(self, handle: JobHandle) -> None:
        handle.cancel()
        if handle._runnable is not None and self.pool.tryTake(handle._runnable):
            handle._on_stopped()  # never started: report it now

    def _forget(self, handle: JobHandle) -> None:
        if handle in self._handles:
            self._handles.remove(handle)
        handle._runnable = None
        self.job_finished.emit(handle)
        handle.deleteLater()

    def running(self, key: str | None = None) -> list[JobHandle]:
        return [h for h in self._handles if key is None or h.key == key]

    def busy(self) -> bool:
        return bool(self._handles)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every job and wait for the worker threads to exit. True if they all did."""
        self._closed = True
        for h in list(self._handles):
            self.cancel(h)
        ok = self.pool.waitForDone(timeout_ms)
        for h in list(self._handles):
            h._on_stopped()
        return ok
