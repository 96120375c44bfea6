"""The non-destructive edit layer: per channel, a list of operations applied in order to the tracked curve.

A channel is named by a `ChannelKey` (group, channel name), e.g. ("face", "jaw_open"). The tracked values are
never changed; `edited_curve` runs the channel's operations over them, and `apply_edits` does it for a whole
clip to give the MotionTokens the renderer sees. Operations are frozen dataclasses (hashable, JSON-able), so
an undo command only has to keep the tuple of operations before and after.

Frames are clip frame indices; every range is inclusive at both ends. Range operations blend into the curve
around them over `blend` frames with a smoothstep, so an edit never makes a jump at its ends.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Iterable, Mapping

import numpy as np

from engine.project import angles
from engine.tokens.schema import CHANNELS, GROUP_NAMES, MotionTokens, TokenGroup, channel_index

ChannelKey = tuple[str, str]  # (group, channel name)

INTERPOLATIONS = ("smooth", "linear", "constant")
DEFAULT_BLEND = 4  # frames over which a range edit fades into the curve around it
DEFAULT_SMOOTH_SIGMA = 2.0  # frames: Gaussian jitter filter width
EXAGGERATE, CALM = 1.5, 0.5  # the studio's default scale factors around the neutral (adjustable after)


def check_key(key: ChannelKey) -> ChannelKey:
    group, name = key
    if group not in GROUP_NAMES:
        raise ValueError(f"channel key: unknown group {group!r}")
    if not angles.is_angle((group, name)):
        channel_index(group, name)  # KeyError names the channel
    return (group, name)


def channel_neutral(key: ChannelKey) -> float:
    return angles.spec(key).neutral


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def range_weights(n: int, start: int, stop: int, blend: int) -> np.ndarray:
    """(n,) weights: 1 inside [start, stop], a smoothstep ramp over `blend` frames either side, 0 elsewhere."""
    w = np.zeros(n, np.float64)
    if n == 0 or stop < 0 or start > n - 1 or stop < start:
        return w
    w[max(start, 0):min(stop, n - 1) + 1] = 1.0
    if blend > 0:
        t = np.arange(n, dtype=np.float64)
        before = _smoothstep(1.0 - (start - t) / (blend + 1.0))
        after = _smoothstep(1.0 - (t - stop) / (blend + 1.0))
        w = np.where(t < start, before, w)
        w = np.where(t > stop, after, w)
    return w


@dataclass(frozen=True)
class CurveContext:
    """What an operation may read besides the curve it transforms."""

    tracked: np.ndarray  # (T,) the channel as tracked
    neutral: float  # the channel's rest value (scale operations scale around it)


class EditOp(ABC):
    """Base of every operation. Subclasses are frozen dataclasses with a unique `kind`."""

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type["EditOp"]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            EditOp.registry[cls.kind] = cls

    @abstractmethod
    def apply(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        """The curve after this operation."""

    @abstractmethod
    def span(self) -> tuple[int, int]:
        """Frames this operation can change (inclusive), blend included."""

    def describe(self) -> str:
        return self.kind

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.name == "keys":  # [frame, value] (+ interp unless smooth): older files read the same
                v = [[k.frame, k.value] + ([k.interp] if k.interp != "smooth" else []) for k in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "EditOp":
        kind = d.get("kind")
        cls = EditOp.registry.get(kind)  # type: ignore[arg-type]
        if cls is None:
            raise ValueError(f"edit operation: unknown kind {kind!r}")
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}  # type: ignore[arg-type]
        if "keys" in kw:
            kw["keys"] = tuple(Key(int(k[0]), float(k[1]), *(str(i) for i in k[2:3])) for k in kw["keys"])
        if "values" in kw:
            kw["values"] = tuple(float(v) for v in kw["values"])
        return cls(**kw)


@dataclass(frozen=True)
class RangeOp(EditOp):
    start: int
    stop: int
    blend: int = DEFAULT_BLEND

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", int(self.start))
        object.__setattr__(self, "stop", int(self.stop))
        object.__setattr__(self, "blend", int(self.blend))
        if self.stop < self.start:
            raise ValueError(f"{type(self).__name__}.stop: {self.stop} is before start {self.start}")
        if self.blend < 0:
            raise ValueError(f"{type(self).__name__}.blend must be >= 0, got {self.blend}")

    def span(self) -> tuple[int, int]:
        return self.start - self.blend, self.stop + self.blend

    @abstractmethod
    def target(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        """The values the range is pulled to (the blend eases in and out of them)."""

    def apply(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        w = range_weights(len(curve), self.start, self.stop, self.blend)
        if not w.any():
            return curve
        return curve + w * (self.target(curve, ctx) - curve)


@dataclass(frozen=True)
class Smooth(RangeOp):
    """Remove jitter: a Gaussian low-pass of the curve, over the range."""

    kind: ClassVar[str] = "smooth"
    sigma: float = DEFAULT_SMOOTH_SIGMA

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sigma > 0:
            raise ValueError(f"Smooth.sigma must be > 0, got {self.sigma}")

    def target(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        from scipy.ndimage import gaussian_filter1d

        return gaussian_filter1d(curve, float(self.sigma), mode="nearest")

    def describe(self) -> str:
        return f"Smooth {self.start}-{self.stop}"


@dataclass(frozen=True)
class Scale(RangeOp):
    """Exaggerate (factor > 1) or calm (factor < 1) the motion around the channel's neutral."""

    kind: ClassVar[str] = "scale"
    factor: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.factor) and self.factor >= 0):
            raise ValueError(f"Scale.factor must be a finite number >= 0, got {self.factor}")

    def target(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        return ctx.neutral + self.factor * (curve - ctx.neutral)

    def describe(self) -> str:
        return f"{'Exaggerate' if self.factor > 1 else 'Calm'} x{self.factor:g} {self.start}-{self.stop}"


@dataclass(frozen=True)
class Hold(RangeOp):
    """Hold one value over the range."""

    kind: ClassVar[str] = "hold"
    value: float = 0.0

    def target(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        return np.full_like(curve, self.value)

    def describe(self) -> str:
        return f"Hold {self.value:.3g} {self.start}-{self.stop}"


@dataclass(frozen=True)
class Offset(RangeOp):
    """Add a constant over the range."""

    kind: ClassVar[str] = "offset"
    delta: float = 0.0

    def target(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        return curve + self.delta

    def describe(self) -> str:
        return f"Offset {self.delta:+.3g} {self.start}-{self.stop}"


@dataclass(frozen=True)
class ResetToTracked(RangeOp):
    """Undo the effect of every earlier operation over the range: back to the tracked values."""

    kind: ClassVar[str] = "reset"

    def target(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        return ctx.tracked

    def describe(self) -> str:
        return f"Reset {self.start}-{self.stop}"


@dataclass(frozen=True)
class Paste(EditOp):
    """Values copied from a range, laid down from `start`."""

    kind: ClassVar[str] = "paste"
    start: int = 0
    values: tuple[float, ...] = ()
    blend: int = DEFAULT_BLEND

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", int(self.start))
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if not self.values:
            raise ValueError("Paste.values: nothing to paste")
        if self.blend < 0:
            raise ValueError(f"Paste.blend must be >= 0, got {self.blend}")

    @property
    def stop(self) -> int:
        return self.start + len(self.values) - 1

    def span(self) -> tuple[int, int]:
        return self.start - self.blend, self.stop + self.blend

    def apply(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        n = len(curve)
        w = range_weights(n, self.start, self.stop, self.blend)
        if not w.any():
            return curve
        t = np.clip(np.arange(n) - self.start, 0, len(self.values) - 1)
        target = np.asarray(self.values, np.float64)[t]
        return curve + w * (target - curve)

    def describe(self) -> str:
        return f"Paste {len(self.values)} frames at {self.start}"


@dataclass(frozen=True, order=True)
class Key:
    """One key: the value the edited curve passes through at `frame`; `interp` shapes the segment to the next key
    (smooth: monotone cubic through the keys, no overshoot; linear; constant: held until the next key)."""

    frame: int
    value: float
    interp: str = "smooth"

    def __post_init__(self) -> None:
        if self.interp not in INTERPOLATIONS:
            raise ValueError(f"Key.interp must be one of {', '.join(INTERPOLATIONS)}, got {self.interp!r}")


@dataclass(frozen=True)
class Keyframes(EditOp):
    """Keys move the curve through their values. What is interpolated between keys is each key's offset from the
    curve beneath it, so the curve keeps its own motion between keys: a key added at the curve's current value
    changes nothing (linear or constant keys: exactly; smooth: the monotone cubic through the offsets adjusts).
    The offset fades back to zero over `blend` frames beyond the first and last key."""

    kind: ClassVar[str] = "keys"
    keys: tuple[Key, ...] = ()
    blend: int = 2 * DEFAULT_BLEND

    def __post_init__(self) -> None:
        by_frame = {int(k.frame): Key(int(k.frame), float(k.value), k.interp) for k in self.keys}
        if not by_frame:
            raise ValueError("Keyframes.keys: at least one key is needed")
        if any(not math.isfinite(k.value) for k in by_frame.values()):
            raise ValueError("Keyframes.keys: values must be finite")
        if self.blend < 0:
            raise ValueError(f"Keyframes.blend must be >= 0, got {self.blend}")
        object.__setattr__(self, "keys", tuple(sorted(by_frame.values())))

    def span(self) -> tuple[int, int]:
        return self.keys[0].frame - self.blend, self.keys[-1].frame + self.blend

    def offset_curve(self, offsets: np.ndarray, n: int) -> np.ndarray:
        """The keys' offsets interpolated over n frames (each segment by its first key's interp), held beyond
        the first and last key."""
        f = np.array([k.frame for k in self.keys], np.float64)
        t = np.arange(n, dtype=np.float64)
        out = np.interp(t, f, offsets)  # linear, and held beyond the ends
        interps = [k.interp for k in self.keys]
        if len(f) >= 3 and "smooth" in interps[:-1]:
            from scipy.interpolate import PchipInterpolator

            smooth = PchipInterpolator(f, offsets, extrapolate=False)(np.clip(t, f[0], f[-1]))
        else:
            smooth = out  # through two points the monotone cubic is the line
        for i in range(len(f) - 1):
            seg = (t >= f[i]) & (t < f[i + 1])
            if interps[i] == "constant":
                out[seg] = offsets[i]
            elif interps[i] == "smooth":
                out[seg] = smooth[seg]
        return out

    def apply(self, curve: np.ndarray, ctx: CurveContext) -> np.ndarray:
        n = len(curve)
        w = range_weights(n, self.keys[0].frame, self.keys[-1].frame, self.blend)
        if not w.any():
            return curve
        at = np.clip([k.frame for k in self.keys], 0, n - 1)
        offsets = np.array([k.value for k in self.keys], np.float64) - curve[at]
        return curve + w * self.offset_curve(offsets, n)

    def describe(self) -> str:
        return f"{len(self.keys)} key{'s' if len(self.keys) != 1 else ''}"


# -- evaluating ------------------------------------------------------------------------------------


def edited_curve(tracked: np.ndarray, ops: Iterable[EditOp], neutral: float = 0.0) -> np.ndarray:
    """The tracked curve with `ops` applied in order (float32, same length)."""
    base = np.asarray(tracked, np.float64)
    ctx = CurveContext(tracked=base, neutral=float(neutral))
    curve = base
    for op in ops:
        curve = np.asarray(op.apply(curve, ctx), np.float64)
    return curve.astype(np.float32)


# -- editing a channel's operation list (pure functions: old tuple in, new tuple out) ----------------


def key_layer(ops: tuple[EditOp, ...]) -> int | None:
    """Index of the channel's editable keyframe layer: its last Keyframes operation."""
    for i in range(len(ops) - 1, -1, -1):
        if isinstance(ops[i], Keyframes):
            return i
    return None


def keys_of(ops: tuple[EditOp, ...]) -> tuple[Key, ...]:
    i = key_layer(ops)
    return () if i is None else ops[i].keys  # type: ignore[union-attr]


def set_keys(ops: tuple[EditOp, ...], keys: Iterable[Key]) -> tuple[EditOp, ...]:
    """Replace the keyframe layer's keys (append a layer if there is none; drop it if no key is left)."""
    keys = tuple(keys)
    i = key_layer(ops)
    if i is None:
        return ops + (Keyframes(keys),) if keys else ops
    if not keys:
        return ops[:i] + ops[i + 1:]
    return ops[:i] + (replace(ops[i], keys=keys),) + ops[i + 1:]


def add_key(ops: tuple[EditOp, ...], frame: int, value: float, interp: str | None = None) -> tuple[EditOp, ...]:
    """Key `frame` at `value`. The interpolation is the key's own if it was keyed already, else that of the
    segment it lands in (a key added into a linear stretch keeps it linear), else smooth."""
    frame = int(frame)
    old = keys_of(ops)
    if interp is None:
        before = [k for k in old if k.frame <= frame]
        interp = before[-1].interp if before else (old[0].interp if old else "smooth")
    keys = [k for k in old if k.frame != frame] + [Key(frame, float(value), interp)]
    return set_keys(ops, keys)


def move_keys(ops: tuple[EditOp, ...], moves: Mapping[int, tuple[int, float]]) -> tuple[EditOp, ...]:
    """`moves`: old frame -> (new frame, new value). A key moved onto an unmoved key replaces it."""
    interp = {k.frame: k.interp for k in keys_of(ops)}
    moved = {int(nf): Key(int(nf), float(v), interp.get(int(f), "smooth")) for f, (nf, v) in moves.items()}
    kept = [k for k in keys_of(ops) if k.frame not in moves and k.frame not in moved]
    return set_keys(ops, kept + list(moved.values()))


def set_interp(ops: tuple[EditOp, ...], frames: Iterable[int], interp: str) -> tuple[EditOp, ...]:
    """Set the interpolation of the keys at `frames`."""
    at = {int(f) for f in frames}
    return set_keys(ops, [replace(k, interp=interp) if k.frame in at else k for k in keys_of(ops)])


def delete_keys(ops: tuple[EditOp, ...], frames: Iterable[int]) -> tuple[EditOp, ...]:
    gone = {int(f) for f in frames}
    return set_keys(ops, [k for k in keys_of(ops) if k.frame not in gone])


# -- the layer over a whole clip --------------------------------------------------------------------


class EditLayer:
    """Immutable: channel key -> tuple of operations. `with_ops` returns a new layer."""

    __slots__ = ("_ops",)

    def __init__(self, ops: Mapping[ChannelKey, Iterable[EditOp]] | None = None) -> None:
        self._ops: dict[ChannelKey, tuple[EditOp, ...]] = {}
        for key, lst in (ops or {}).items():
            lst = tuple(lst)
            if lst:
                self._ops[check_key(tuple(key))] = lst  # type: ignore[arg-type]

    def ops(self, key: ChannelKey) -> tuple[EditOp, ...]:
        return self._ops.get(tuple(key), ())  # type: ignore[arg-type]

    def with_ops(self, key: ChannelKey, ops: Iterable[EditOp]) -> "EditLayer":
        d = dict(self._ops)
        d[tuple(key)] = tuple(ops)  # type: ignore[index]
        return EditLayer(d)

    def keys(self) -> list[ChannelKey]:
        return list(self._ops)

    def items(self) -> list[tuple[ChannelKey, tuple[EditOp, ...]]]:
        return list(self._ops.items())

    def __bool__(self) -> bool:
        return bool(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EditLayer) and self._ops == other._ops

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._ops.items(), key=lambda kv: kv[0])))

    def to_json(self) -> list[dict[str, Any]]:
        return [{"group": g, "channel": c, "ops": [op.to_json() for op in ops]} for (g, c), ops in self._ops.items()]

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]]) -> "EditLayer":
        out: dict[ChannelKey, tuple[EditOp, ...]] = {}
        for entry in data:
            key = check_key((str(entry["group"]), str(entry["channel"])))
            out[key] = tuple(EditOp.from_json(op) for op in entry["ops"])
        return cls(out)

    def edited_frames(self, group: str, n: int) -> np.ndarray:
        """(n,) bool: frames of `group` that some operation can change."""
        mask = np.zeros(n, bool)
        for (g, _), ops in self._ops.items():
            if g != group:
                continue
            for op in ops:
                a, b = op.span()
                mask[max(a, 0):max(min(b, n - 1) + 1, 0)] = True
        return mask


def apply_edits(tokens: MotionTokens, layer: EditLayer) -> MotionTokens:
    """A new MotionTokens: `tokens` with every edited channel replaced by its edited curve.

    A frame where a group was not tracked (confidence 0) but an edit changed one of its channels counts as
    tracked afterwards (confidence 1): the retargeter ignores untracked frames, and the user asked for motion.
    """
    groups = {}
    for g, grp in tokens.groups().items():
        edited = [(k, ops) for k, ops in layer.items() if k[0] == g]
        if not edited:
            groups[g] = grp
            continue
        values, conf = grp.values.copy(), grp.confidence.copy()
        for (_, name), ops in edited:
            if angles.is_angle((g, name)):
                continue  # after the stored channels: an angle edit works on the edited directions
            c = channel_index(g, name)
            new = edited_curve(grp.values[:, c], ops, CHANNELS[g][c].neutral)
            changed = np.abs(new - grp.values[:, c]) > 1e-6
            conf[changed & (conf <= 0)] = 1.0
            values[:, c] = new
        _apply_angle_edits(values, conf, grp.values, [(n, ops) for (_, n), ops in edited if angles.is_angle((g, n))])
        groups[g] = TokenGroup(g, values, conf)
    # the performance's start stays the tracked one: an edit near the start must not move every other frame
    return MotionTokens(**groups, placement=tokens.placement, body_start=tokens.start_body())


def _apply_angle_edits(values: np.ndarray, conf: np.ndarray, tracked: np.ndarray,
                       edits: list[tuple[str, tuple[EditOp, ...]]]) -> None:
    """Body bones edited as swing angles: directions -> angles, the edits, angles -> directions (in place)."""
    by_bone: dict[str, list[tuple[int, tuple[EditOp, ...]]]] = {}
    for name, ops in edits:
        bone, i = angles.ANGLE_CHANNELS[name]
        by_bone.setdefault(bone, []).append((i, ops))
    for bone, chans in by_bone.items():
        cols = angles.bone_columns(bone)
        now = angles.directions_to_angles(values[:, cols], bone)
        base = angles.directions_to_angles(tracked[:, cols], bone)
        new = now.copy()
        for i, ops in chans:
            # ResetToTracked and friends read the tracked angle, not the tracked direction component
            new[:, i] = _with_tracked(now[:, i], base[:, i], ops)
        changed = np.abs(new - now).max(axis=1) > 1e-6
        values[changed, cols] = angles.angles_to_directions(new[changed], bone).astype(values.dtype)
        conf[changed & (conf <= 0)] = 1.0


def _with_tracked(curve: np.ndarray, tracked: np.ndarray, ops: Iterable[EditOp]) -> np.ndarray:
    ctx = CurveContext(tracked=np.asarray(tracked, np.float64), neutral=0.0)
    out = np.asarray(curve, np.float64)
    for op in ops:
        out = np.asarray(op.apply(out, ctx), np.float64)
    return out


@dataclass(frozen=True)
class CurveClipboard:
    """Copied edited values: channel key -> values over `length` frames (copy/paste range)."""

    length: int
    curves: tuple[tuple[ChannelKey, tuple[float, ...]], ...]

    def values_for(self, key: ChannelKey, only_one_target: bool = False) -> tuple[float, ...] | None:
        for k, v in self.curves:
            if k == tuple(key):
                return v
        if only_one_target and len(self.curves) == 1:
            return self.curves[0][1]  # one channel copied onto one other channel: the user means it
        return None


# The "generated" operation (motion extension) lives in its own module; importing it registers its kind.
from engine.project import generated as _generated  # noqa: E402,F401
