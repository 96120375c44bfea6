"""Carry an edit layer over to another driving clip, by time.

When the user replaces the driving video, their edits were made at moments of the old clip ("the smile at
1.2 s"), so each frame number is re-mapped to the new clip's frame at the same time since its start. Blend
widths and pasted values are resampled by the frame-rate ratio. Whatever lies beyond the new clip's end is
dropped and counted, so the studio can say so (and ask first).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from engine.project.edits import EditLayer, EditOp, Key, Keyframes, Paste

FRAME_FIELDS = ("start", "stop")  # frame-valued fields of range-like operations (including ones added later)


@dataclass(frozen=True)
class FrameMap:
    """Old frame index -> the new clip's frame at the same time since the clip's start (None: past its end)."""

    old_times: np.ndarray  # (T_old,) seconds since the old clip's first frame
    new_times: np.ndarray  # (T_new,) seconds since the new clip's first frame
    old_fps: float
    new_fps: float

    @classmethod
    def between(cls, old_times, old_fps: float, new_times, new_fps: float) -> "FrameMap":
        o = np.asarray(old_times, np.float64)
        n = np.asarray(new_times, np.float64)
        return cls(o - (o[0] if len(o) else 0.0), n - (n[0] if len(n) else 0.0), float(old_fps), float(new_fps))

    @property
    def identity(self) -> bool:
        return len(self.old_times) == len(self.new_times) and np.allclose(self.old_times, self.new_times, atol=1e-4)

    @property
    def ratio(self) -> float:
        return self.new_fps / self.old_fps if self.old_fps > 0 else 1.0

    @property
    def new_end_s(self) -> float:
        """The new clip's last moment (its last frame shown for one frame period)."""
        return float(self.new_times[-1]) + 0.5 / self.new_fps if len(self.new_times) else 0.0

    def time_of(self, f: int) -> float:
        """Seconds of an old frame (frames past the old clip's end continue at its frame rate)."""
        n = len(self.old_times)
        if n == 0:
            return f / self.old_fps
        if 0 <= f < n:
            return float(self.old_times[f])
        edge = 0 if f < 0 else n - 1
        return float(self.old_times[edge]) + (f - edge) / self.old_fps

    def frame_at(self, t: float) -> int | None:
        if t > self.new_end_s or not len(self.new_times):
            return None
        i = int(np.searchsorted(self.new_times, t))
        if i >= len(self.new_times):
            return len(self.new_times) - 1
        if i > 0 and t - self.new_times[i - 1] <= self.new_times[i] - t:
            i -= 1
        return i

    def __call__(self, f: int) -> int | None:
        return self.frame_at(self.time_of(int(f)))

    def frames(self, n: int) -> int:
        """A width of n old frames in new frames (blend widths)."""
        return max(0, int(round(n * self.ratio)))


def _retime_keys(op: Keyframes, fm: FrameMap) -> tuple[EditOp | None, int]:
    kept: dict[int, Key] = {}
    lost = 0
    for k in op.keys:
        f = fm(k.frame)
        if f is None or f in kept:
            lost += 1  # past the end, or two keys landing on one frame of a slower clip
            continue
        kept[f] = replace(k, frame=f)
    if not kept:
        return None, lost
    return replace(op, keys=tuple(kept.values()), blend=fm.frames(op.blend)), lost


def _retime_paste(op, fm: FrameMap) -> tuple[EditOp | None, int]:
    start = fm(op.start)
    if start is None:
        return None, 1
    t0 = fm.time_of(op.start)
    src_t = t0 + np.arange(len(op.values)) / fm.old_fps  # the pasted values' own moments
    out_t = []
    for f in range(start, len(fm.new_times)):
        t = t0 + (fm.new_times[f] - fm.new_times[start])
        if t > src_t[-1] + 0.5 / fm.old_fps:
            break
        out_t.append(t)
    covered = out_t[-1] if out_t else t0
    lost = int(covered + 0.5 / fm.old_fps < src_t[-1])
    values = np.interp(out_t or [t0], src_t, np.asarray(op.values, np.float64))
    return replace(op, start=start, values=tuple(float(v) for v in values), blend=fm.frames(op.blend)), lost


def _retime_span(op: EditOp, fm: FrameMap) -> tuple[EditOp | None, int]:
    """Any operation with start/stop frames (smooth, scale, hold, offset, reset, and kinds added later)."""
    names = {f.name for f in fields(op)}  # type: ignore[arg-type]
    if "start" not in names:
        return op, 0  # no frames in it: nothing to move
    start = fm(op.start)  # type: ignore[attr-defined]
    if start is None:
        return None, 1
    changes: dict[str, int] = {"start": start}
    lost = 0
    if "stop" in names:
        stop = fm(op.stop)  # type: ignore[attr-defined]
        if stop is None:
            stop, lost = len(fm.new_times) - 1, 1
        changes["stop"] = max(stop, start)
    if "blend" in names:
        changes["blend"] = fm.frames(op.blend)  # type: ignore[attr-defined]
    return replace(op, **changes), lost  # type: ignore[type-var]


def retime_op(op: EditOp, fm: FrameMap) -> tuple[EditOp | None, int]:
    """(the operation on the new clip or None if none of it fits, how many of its parts were dropped)."""
    if isinstance(op, Keyframes):
        return _retime_keys(op, fm)
    names = {f.name for f in fields(op)}  # type: ignore[arg-type]
    if isinstance(op, Paste) or {"start", "values"} <= names:  # per-frame values laid down from a frame
        return _retime_paste(op, fm)
    return _retime_span(op, fm)


@dataclass(frozen=True)
class Retimed:
    layer: EditLayer
    in_out: tuple[int, int] | None
    lost: int  # keys or operations (or parts of them) that fell past the new clip's end
    channels: int  # edited channels kept
    edits_end_s: float  # the moment the old edits reached (for the message)


def retime_layer(layer: EditLayer, in_out: tuple[int, int] | None, fm: FrameMap) -> Retimed:
    end = max((fm.time_of(op.span()[1]) for _, ops in layer.items() for op in ops), default=0.0)
    if fm.identity:
        return Retimed(layer, in_out, 0, len(layer), end)
    out: dict = {}
    lost = 0
    for key, ops in layer.items():
        new_ops = []
        for op in ops:
            new, n_lost = retime_op(op, fm)
            lost += n_lost
            if new is not None:
                new_ops.append(new)
        if new_ops:
            out[key] = tuple(new_ops)
    rng = None
    if in_out is not None:
        a = fm(in_out[0])
        if a is not None:
            b = fm(in_out[1])
            rng = (a, len(fm.new_times) - 1 if b is None else b)
    return Retimed(EditLayer(out), rng, lost, len(out), end)
