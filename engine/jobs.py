"""Long work as generators: each job yields Progress and checks a CancelToken between steps.

The blocking API drains the generator; the studio's job runner iterates it on a worker thread.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Generator, TypeVar

from engine.errors import Cancelled

T = TypeVar("T")


class CancelToken:
    """Thread-safe flag a job polls between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None  # None when the length is unknown (a container whose header lies)
    message: str = ""
    preview: Any = None  # an optional intermediate result (an RGB frame, say)

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


Job = Generator[Progress, None, T]


def drain(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Run a job to completion and return its result (the generator's return value)."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)
