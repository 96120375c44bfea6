"""A settling forecast for the head, the expression and the fingers: carry on, then drift back towards the recent mean.

Measured on the corpus (leave-one-clip-out, first 0.5 s), these channels are neither noise around a steady
pose nor a steady motion:
- A denoised "current pose" does not help: the level of a local line fitted to the last 3-8 frames, or only
  a quarter of the way to it, is further from what follows than the last frame itself (fingers +0.011 deg).
  The trackers' smoothing leaves little frame-to-frame jitter to remove.
- What does help is where the motion goes next: gestures, expressions and head turns are excursions that come
  back. A finger pose, an expression or a head angle away from its mean over the last 2 s drifts back towards
  that mean, and the head also carries on its last velocity for a few frames (its steps are strongly
  correlated, fingers' are not).

So, per channel set, from the last frame `x`, its velocity `v` (mean of the last 2 steps) and the mean `m` of
the last `mean_window_s` of tracked frames, k seconds ahead:

    x + velocity_gain * v * tau_v * (1 - exp(-k / tau_v)) + settle_gain * (m - x) * (1 - exp(-k / tau_s))

It starts at the last frame exactly (no jump at the join) and settles instead of running away. Five numbers
per set, chosen on the corpus by a grid search (`python -m engine.motion.settle`, MAE over the first 0.5 s,
every clip's choice made without it: the same choice for every clip on head and fingers). The hybrid mixes
it into its near-future forecast with `MIX` (generate.py).
"""
from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, fields

import numpy as np

from engine.motion import metrics
from engine.motion.features import Sequence
from engine.tokens.schema import GROUP_NAMES

NEAR_S = 0.5  # the horizon the parameters are chosen for (the hybrid's forecast leads this long)
VELOCITY_STEPS = 2  # the velocity carried on is the mean of this many last steps (one step is mostly jitter)


@dataclass(frozen=True)
class SettleParams:
    velocity_gain: float  # how much of the last velocity carries on
    velocity_tau_s: float  # ... fading with this time constant
    mean_window_s: float  # the mean the channels settle towards: the last this long of tracked frames
    settle_gain: float  # how far towards that mean they go ...
    settle_tau_s: float  # ... with this time constant

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"SettleParams.{f.name} must be a finite number >= 0, got {v}")
        for name in ("velocity_tau_s", "settle_tau_s", "mean_window_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SettleParams.{name} must be > 0")


_FACE, _LEFT, _RIGHT = (GROUP_NAMES.index(g) for g in ("face", "left_hand", "right_hand"))
# channel set -> (token group index, channels) for each part it covers
CHANNEL_SETS: dict[str, tuple[tuple[int, np.ndarray], ...]] = {
    "head": ((_FACE, metrics.HEAD),),
    "expression": ((_FACE, metrics.EXPRESSION),),
    "fingers": ((_LEFT, metrics.FINGERS["left_hand"]), (_RIGHT, metrics.FINGERS["right_hand"])),
}
# chosen by `python -m engine.motion.settle` on the corpus library (34 clips; see the module doc); re-run on the
# library rebuilt from the re-tracked corpus (2393a58's tracking): the same three choices
PARAMS = {
    "head": SettleParams(1.0, 0.08, 2.0, 0.75, 1.0),
    "expression": SettleParams(0.5, 0.04, 2.0, 0.75, 1.0),
    "fingers": SettleParams(0.0, 0.04, 2.0, 0.75, 0.5),
}
# the hybrid's near forecast on these channels is MIX x this one + the rest the linear/GRU forecast's: on the
# corpus's leave-one-clip-out cuts (the linear forecast fitted without the clip) the head was closest to what
# followed with this one alone, the expression with half (this one alone: -0.0011 vs hold, the linear one
# alone -0.0012, half and half -0.0018), the fingers with three quarters (MODEL_CARD.md)
MIX = {"head": 1.0, "expression": 0.5, "fingers": 0.75}


def _tracked_run(tracked: np.ndarray) -> int:
    """Frames in a row, ending at the last, where the group is tracked (at least 1)."""
    off = np.flatnonzero(tracked[::-1] <= 0)
    return max(1, int(off[0]) if len(off) else len(tracked))


def predict_channels(values: np.ndarray, run: int, fps: float, n: int, p: SettleParams) -> np.ndarray:
    """(n, C) frames after (T, C) `values` whose last `run` frames are tracked."""
    last = values[-1]
    k_v = min(VELOCITY_STEPS, run - 1)
    vel = (last - values[-1 - k_v]) / k_v * fps if k_v > 0 else np.zeros_like(last)
    w = max(1, min(run, int(round(p.mean_window_s * fps))))
    mean = values[-w:].mean(axis=0)
    k = (np.arange(1, n + 1, dtype=np.float64) / fps)[:, None]
    carry = p.velocity_gain * vel * p.velocity_tau_s * (1.0 - np.exp(-k / p.velocity_tau_s))
    return last + carry + p.settle_gain * (mean - last) * (1.0 - np.exp(-k / p.settle_tau_s))


def blend_into(context: Sequence, near: np.ndarray, params: dict[str, SettleParams] = PARAMS,
               mix: dict[str, float] = MIX) -> np.ndarray:
    """`near` (n, DIM), a forecast after `context`, with the settling forecast mixed in on its channels
    (groups tracked at the last frame only)."""
    out = np.array(near, np.float64, copy=True)
    for name, parts in CHANNEL_SETS.items():
        for group, cols in parts:
            if context.tracked[-1, group] <= 0 or mix[name] <= 0:
                continue
            run = _tracked_run(context.tracked[:, group])
            settle = predict_channels(context.values[:, cols], run, context.fps, len(out), params[name])
            out[:, cols] = mix[name] * settle + (1.0 - mix[name]) * out[:, cols]
    return out


# -- choosing the parameters on the corpus -------------------------------------------------------------------

GRID = {"velocity_gain": (0.0, 0.25, 0.5, 0.75, 1.0), "velocity_tau_s": (0.04, 0.08, 0.15, 0.3),
        "mean_window_s": (0.5, 1.0, 2.0), "settle_gain": (0.0, 0.25, 0.5, 0.75, 1.0),
        "settle_tau_s": (0.25, 0.5, 1.0, 2.0)}
CUT_EVERY = 3  # frames between cut points
MIN_CONTEXT_S = 0.4  # as generate.MIN_CONTEXT_S


def cut_errors(seqs: list[Sequence], name: str, grid: list[SettleParams]) -> tuple[np.ndarray, np.ndarray]:
    """(cuts, len(grid)) mean absolute error over the first NEAR_S of every cut point of every clip where the
    set is tracked throughout, and (cuts,) the clip index of each."""
    errs, clip = [], []
    for ci, s in enumerate(seqs):
        n, need = int(round(NEAR_S * s.fps)), int(round(MIN_CONTEXT_S * s.fps))
        for group, cols in CHANNEL_SETS[name]:
            on = s.tracked[:, group] > 0
            for c in range(need, len(s) - n, CUT_EVERY):
                if not on[c - need:c + n].all():
                    continue
                ctx, truth = s.values[:c, cols], s.values[c:c + n, cols]
                run = _tracked_run(s.tracked[:c, group])
                errs.append([np.abs(predict_channels(ctx, run, s.fps, n, p) - truth).mean() for p in grid])
                clip.append(ci)
    return np.asarray(errs), np.asarray(clip)


def choose(errs: np.ndarray, clip: np.ndarray) -> tuple[int, np.ndarray]:
    """The grid index best over all clips, and per cut the error of the choice made without its own clip."""
    total = {c: errs[clip == c].sum(axis=0) for c in np.unique(clip)}
    everything = sum(total.values())
    held = np.empty(len(errs))
    for c, t in total.items():
        held[clip == c] = errs[clip == c, int(np.argmin(everything - t))]
    return int(np.argmin(everything)), held


def clustered_se(d: np.ndarray, clip: np.ndarray) -> float:
    """Standard error of the mean of `d` with the cuts of one clip counted together (they are not independent)."""
    clips = np.unique(clip)
    if len(clips) < 2:
        return float("nan")
    resid = np.array([(d[clip == c] - d.mean()).sum() for c in clips])
    return float(np.sqrt(len(clips) / (len(clips) - 1) * (resid ** 2).sum()) / len(d))


def main(argv: list[str] | None = None) -> int:
    from engine.motion.library import LIBRARY_PATH, MotionLibrary

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", default=str(LIBRARY_PATH))
    args = ap.parse_args(argv)
    seqs = MotionLibrary.load(args.library).sequences
    grid = [SettleParams(*p) for p in itertools.product(*GRID.values())]
    hold = grid.index(SettleParams(0.0, GRID["velocity_tau_s"][0], GRID["mean_window_s"][0], 0.0,
                                   GRID["settle_tau_s"][0]))
    for name in CHANNEL_SETS:
        errs, clip = cut_errors(seqs, name, grid)
        best, held = choose(errs, clip)
        d = held - errs[:, hold]
        print(f"{name}: {grid[best]}; {len(errs)} cuts in {len(np.unique(clip))} clips, first {NEAR_S:g} s, hold "
              f"{errs[:, hold].mean():.4f}, chosen without the clip {held.mean():.4f} "
              f"({d.mean():+.4f} +- {clustered_se(d, clip):.4f}, standard error over clips)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
