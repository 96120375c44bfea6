"""A tiny observer: the document's change events, with no Qt in sight.

Widgets subscribe in their constructor and unsubscribe when they go away; a callback that raises does not stop
the others (the error is re-raised after every subscriber has run, so tests still see it).
"""
from __future__ import annotations

from typing import Any, Callable


class Signal:
    """`connect(fn)`, `disconnect(fn)`, `emit(*args)`. Callbacks run synchronously, in connection order."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._slots: list[Callable[..., Any]] = []
        self._blocked = 0

    def connect(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if fn not in self._slots:
            self._slots.append(fn)
        return fn

    def disconnect(self, fn: Callable[..., Any] | None = None) -> None:
        if fn is None:
            self._slots.clear()
        elif fn in self._slots:
            self._slots.remove(fn)

    def emit(self, *args: Any) -> None:
        if self._blocked:
            return
        first_error: BaseException | None = None
        for fn in list(self._slots):
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - every subscriber still hears the event
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error

    def __len__(self) -> int:
        return len(self._slots)

    def blocked(self) -> "_Blocker":
        """`with sig.blocked():` silence this signal for a batch of changes (emit once afterwards)."""
        return _Blocker(self)

    def __repr__(self) -> str:
        return f"Signal({self.name!r}, {len(self._slots)} slots)"


class _Blocker:
    def __init__(self, sig: Signal) -> None:
        self.sig = sig

    def __enter__(self) -> Signal:
        self.sig._blocked += 1
        return self.sig

    def __exit__(self, *exc: object) -> None:
        self.sig._blocked -= 1
