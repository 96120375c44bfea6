"""Playback against a monotonic clock: the frame shown is the one whose time has come, so a slow preview
drops frames instead of drifting behind the clip's own timing (variable frame rates included)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal

from engine.project.document import Project

TICK_FRACTION = 0.5  # the timer ticks twice per frame period, so a frame is never more than half late
MIN_TICK_MS = 5


class Playback(QObject):
    playing_changed = Signal(bool)

    def __init__(self, doc: Project, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.loop = True
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()  # monotonic
        self._start_time = 0.0  # clip time (s, from the clip's first frame) at which the clock started
        doc.clip_changed.connect(self.stop)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def toggle(self) -> None:
        self.stop() if self.playing else self.play()

    def play(self) -> None:
        if self.doc.clip is None or self.doc.frame_count < 2 or self.playing:
            return
        a, b = self.doc.in_out
        if not a <= self.doc.frame < b:
            self.doc.set_frame(a)
        self._start_time = self.doc.time_of(self.doc.frame)
        self._clock.start()
        self._timer.start(max(MIN_TICK_MS, int(1000.0 / self.doc.fps * TICK_FRACTION)))
        self.playing_changed.emit(True)

    def stop(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.playing_changed.emit(False)

    def frame_at(self, elapsed_s: float) -> int | None:
        """The frame due `elapsed_s` after play started (None: past the out point without looping)."""
        clip = self.doc.clip
        a, b = self.doc.in_out
        times = clip.times - clip.times[0]
        t_in, t_out = float(times[a]), float(times[b]) + 1.0 / clip.fps  # the out frame is shown for a period
        t = self._start_time + elapsed_s
        if t >= t_out:
            if not self.loop:
                return None
            t = t_in + (t - t_in) % (t_out - t_in)
        f = int(np.searchsorted(times, t + 1e-9, side="right")) - 1
        return int(np.clip(f, a, b))

    def _tick(self) -> None:
        if self.doc.clip is None:
            self.stop()
            return
        f = self.frame_at(self._clock.nsecsElapsed() / 1e9)
        if f is None:
            self.doc.set_frame(self.doc.in_out[1])
            self.stop()
            return
        self.doc.set_frame(f)

    # -- stepping ----------------------------------------------------------------------------------------

    def step(self, delta: int) -> None:
        self.stop()
        self.doc.set_frame(self.doc.frame + delta)

    def home(self) -> None:
        self.stop()
        self.doc.set_frame(self.doc.in_out[0] if self.doc.frame != self.doc.in_out[0] else 0)

    def end(self) -> None:
        self.stop()
        last = max(self.doc.frame_count - 1, 0)
        self.doc.set_frame(self.doc.in_out[1] if self.doc.frame != self.doc.in_out[1] else last)
