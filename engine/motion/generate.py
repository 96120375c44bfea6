"""Generate motion: extend after or before a point, fill a range between two points, close a loop.

All four work on a `Sequence` (the token frames of a clip, edits applied) and return a `GeneratedSpan`: the
frames to lay over [start, stop] and the groups they cover. Laying them down is the caller's business: an
edit layer in the studio (engine.project.generated), a longer token file in the CLI (engine.motion.clipops).

Methods (`METHODS`): "hold" and "velocity" are the baselines; "matching" is motion matching on the corpus
library plus the performer's own visible motion; "model" is the trained GRU alone; "hybrid" (the default)
forecasts the near future (the mean of a linear forecast, engine.motion.forecast, and the GRU's; on the head,
expression and finger channels mixed with a settling forecast, engine.motion.settle), where a
forecast is closer to what happens than any real take, then cross-fades into one matched real take, which
keeps real motion going for as long as asked. The take's detail (what a short low-pass removes) is laid
over the whole span, raised to the performer's own detail level where the take is calmer, and phased in
per group over the first half second: a forecast alone moves too smoothly to look real, full detail at once
costs near-future accuracy (measured in bench/extend_eval.py; the settings were chosen on corpus clips).
Backward generation runs the same methods on the time-reversed motion.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from engine.errors import UserFacingError
from engine.jobs import CancelToken, Job, Progress, drain
from engine.motion import baselines, settle
from engine.motion.features import DIM, GROUP_OF_CHANNEL, N_GROUPS, Sequence, renormalise, resample, reverse
from engine.motion.library import ASSETS, MotionLibrary, default_library

METHODS = ("hold", "velocity", "matching", "model", "hybrid")
DEFAULT_METHOD = "hybrid"
MODES = ("after", "before", "fill", "loop")
ENERGY = {"calm": 0.6, "normal": 1.0, "lively": 1.5}
ENERGY_RANGE = (0.2, 2.5)
MAX_SECONDS = 60.0  # longer than any sensible extension; beyond it the request is a typo
MIN_CONTEXT_S = 0.4  # motion needs this much before a join to know how it was moving
MODEL_SPAN_S = 0.5  # hybrid: the forecast leads for this long (the near future, where it is most accurate)
HANDOVER_S = 0.15  # hybrid: then the motion cross-fades into the matched take over this long (0.3 before the
# seventh round: the forecast's slow last frames held the windows from 0.5 s on behind real speed; it starts
# after the near future, so the first 0.5 s is untouched; 0.1 s raised the largest step inside the spans)
FILL_HANDOVER_S = 0.3  # fills keep the longer cross-fade (their forecast leads for 1 s, FILL_MODEL_SPAN_S)
FORECAST_MODEL_WEIGHT = 0.5  # hybrid: the forecast is this much the GRU's (its full change), the rest linear:
# on the held-out corpus clips the linear one is better on body and fingers, the GRU on head and face, the mean
# on all four beats holding the last pose (MODEL_CARD.md)
# hybrid detail, per group (GROUP_NAMES order): the take's detail comes in fully from DETAIL_START_S over
# DETAIL_RAMP_S; before that only its finest part (JITTER_SIGMA_S), at JITTER_GAIN. Hands wait longest: their
# near-future error is the least predictable and the quickest to grow with detail. Until the seventh round
# (below) the finest part came in at once at 0.7 / 0.5 / 0.4 / 0.4; the schedule was chosen on the corpus clips
# (leave-clip-out matching, 444 cut points): the earliest detail that keeps every group's first-0.5 s error
# under holding the last pose (MODEL_CARD.md). Less detail for the face (as late as the hands) lowered its
# error a little (head 1.872 -> 1.866 deg) at a cost in naturalness (FD 0.70 -> 0.76, matching 0.80), and did
# not bring the test clips' face under holding the pose: not used (MODEL_CARD.md)
# Seventh round: why the extensions' FD was behind motion matching's. On sub-windows of the span (windows by
# where they start) the excess was all in the first 0.6-0.8 s: the forecast is a conditional mean and moves at
# about half of real speed (mean log speed 0.5-0.9 under real, jerk likewise) with only a part of the finest
# detail laid over it; from 0.8 s on the hybrid moved more like real motion than matching (the raised detail).
# Frame-to-frame speed and jerk in tracked motion are mostly its finest detail, which costs the least error per
# unit of speed, and what it costs is in the first frames, where the forecast's error is still small: so the
# face's and body's finest detail now come in at full strength (the face's raised to the performer's level like
# the rest), faded in from the join over JITTER_RAMP_S. The hands keep theirs (at full strength it cost the
# fingers +0.06 +- 0.03 deg even faded in over 0.32 s). Chosen with two sets: the FD on the held-out corpus
# clips (bench --validation --all-cuts, 14 spans x seeds 0-2, windows pooled) at least 5% under matching's, and
# on each seed; the error cost on 444 corpus cut points (takes matched without their clip, forecasts
# in-sample; the held-out clips cannot resolve it) within 2 standard errors; among those the longest fade-ins.
# Held-out FD 1.43 -> 1.15 (matching 1.23); corpus cost: body +0.003 +- 0.002 deg, head -0.003 +- 0.002,
# face 0.0000 (MODEL_CARD.md, seventh round)
DETAIL_START_S = (0.3, 0.4, 0.45, 0.45)
DETAIL_RAMP_S = (0.2, 0.2, 0.15, 0.15)
JITTER_GAIN = (1.0, 1.0, 0.4, 0.4)
JITTER_RAMP_S = (0.16, 0.24, 0.0, 0.0)  # 0: at JITTER_GAIN from the first frame (as all groups before)
JITTER_RAISED = (True, False, False, False)  # per group: the finest detail raised to the performer's level too
# (the body's raised cost its error more than it gained: on the held-out clips body -0.027 -> -0.018 deg)
FILL_JITTER_GAIN = (0.7, 0.5, 0.4, 0.4)  # fills: as before (their detail is all in from 0.1 s)
JITTER_SIGMA_S = 0.04
# fills bring all of the detail in sooner, from FILL_DETAIL_START_S over FILL_DETAIL_RAMP_S, every group: with
# the schedule above both ends of a 1 s gap phase it in, which left most of the gap moving at 0.6-0.8 of real
# speed (FD 1.81 on 175 corpus fills, leave-clip-out; motion matching 0.47); this one 0.25. It costs the first
# 0.5 s a little: body 1.70 -> 1.73 deg, head 1.73 -> 1.74, fingers 9.67 -> 10.12 against 1.71 / 1.73 / 9.76 for
# the held poses cross-faded (matching 2.32 / 2.33 / 12.99). The hands from 0.2 s instead (fingers 9.95, FD
# 0.41) fell behind matching on the held-out corpus clips' fills (bench --validation --all-cuts: FD 1.46 vs
# 1.32; this one 1.27). No schedule tried kept every group under the held poses and moved as naturally as
# matching (FD 0.64-1.8 where the errors stayed under; MODEL_CARD.md). Eighth round, once the joins' blend was out
# of the fills' detail (eighth round, below): the hands from 0.2 s, as the extensions' hands also wait longest.
# Rule, set before the test clips were run: the latest hands' start (0.1 / 0.2 / 0.3 s) whose fills' FD stays
# under matching's on the corpus fills (92 in 31 clips, and the 43 in the 7 clips with hands) and on the
# held-out clips no higher than the seventh round's on any seed. 0.2 s: corpus fingers +0.81 -> +0.55 deg
# against the held poses (clips with hands +0.46 -> +0.27), FD 0.43 -> 0.56 and 0.686 -> 0.684 (matching 0.66 /
# 0.685); held-out FD 1.33 / 1.74 / 1.45 -> 1.36 / 1.86 / 1.38 (seventh round 1.38 / 2.05 / 1.65, matching 1.30 /
# 2.34 / 1.71). 0.3 s: corpus FD 0.78, over matching's
FILL_DETAIL_START_S = (0.1, 0.1, 0.2, 0.2)
FILL_DETAIL_RAMP_S = (0.2, 0.2, 0.2, 0.2)
# Eighth round: a fill's detail is the high-pass of the motion its takes played, not of the takes as joined. The
# matcher joins a take to the context by carrying the pose and velocity difference out over 0.32 s with a
# smoothstep; a 0.08 s high-pass of that blend is not motion but a bump of about a fifth of the difference where
# the smoothstep bends (at the join and 0.32 s after it), raised with the detail up to 3x. It is larger the worse
# the take fits the context (another seed's take): on the corpus fills it cost the first frame +0.43 deg
# (fingers) and +0.15 deg (body) over holding the pose, with peaks at 0.25-0.35 s from each join. Measured on
# the corpus fills (takes matched without their clip; 92 fills, every 3 s in 31 clips) against the held poses,
# first 0.5 s: fingers +1.07 -> +0.81 deg, body +0.031 -> +0.023, FD 0.47 -> 0.43 (matching 0.66); held-out clips
# (bench --validation --all-cuts, seeds 0-2): FD 1.38 / 2.05 / 1.65 -> 1.33 / 1.74 / 1.45 (matching 1.30 / 2.34 /
# 1.71). Extensions keep the joined take's detail: without the blend their FD fell too (435 corpus cut points,
# takes matched without their clip: 0.45 -> 0.42, first 0.5 s 1.34 -> 1.17) but their first-0.5 s error rose
# beyond the seventh round's rule (2 standard errors): body +0.008 +- 0.003 deg, head +0.023 +- 0.005, face
# +0.0003 +- 0.0001 (MODEL_CARD.md, eighth round)
# a fill's two continuations each follow their forecast for this long before handing over to their take's slow
# motion (extensions: MODEL_SPAN_S): in a 1 s gap the other end is never more than 1 s away, and a take's slow
# motion wanders further than the forecast does in that time. First 0.5 s against the two held poses
# cross-faded, 262 corpus fills (takes matched without their clip, linear forecast refitted without it, no GRU):
# body +0.047 -> +0.027 deg, head -0.08 -> -0.14, fingers +0.32 -> +0.25, FD 0.225 -> 0.237 (matching 0.33);
# held-out clips (bench --validation --all-cuts, 15 fills): body +0.014 -> -0.032, head +0.089 -> -0.084,
# fingers -0.48 -> -0.74 (3 fills with hands), FD 1.27 -> 1.29 (matching 1.32). 0.75 s did the same on the corpus
FILL_MODEL_SPAN_S = 1.0
# the take's detail is raised (never lowered) to the performer's own over the last CALIBRATE_S, at most
# DETAIL_GAIN_MAX times: takes from other performers measured calmer than real motion, most in the hands
CALIBRATE_S = 1.5
DETAIL_GAIN_MAX = 3.0
JOIN_BLEND_S = 0.24  # the first frames ease from "as it was moving" into what a method proposes
JOIN_VELOCITY_FRAMES = 3  # the velocity a join continues is the mean of this many last steps
JOIN_VELOCITY_GAIN = 0.5  # ... times this: a tracked step is partly jitter, which continued only adds error
MODEL_GAIN = 0.5  # the model's predicted change is halved: on the held-out corpus clips the full change overshoots
# (halving it lowers the first-0.5 s body and finger error, costing head and face a little; MODEL_CARD.md)
DETAIL_SIGMA_S = 0.08  # hybrid: the take's detail is what a Gaussian low-pass of this sigma removes
LOOP_SPAN_S = 1.0  # a loop rewrites at most this much of its end (at most a third of the range)
MODEL_PATH = ASSETS / "motion_model.safetensors"
PROGRESS_STEPS = 100  # generate_job reports the fraction done in hundredths


class ExtendError(UserFacingError):
    """A motion extension that cannot be made (no room, no context, a zero length)."""


@dataclass(frozen=True)
class GenerateOptions:
    method: str = DEFAULT_METHOD
    seed: int = 0
    energy: float = 1.0  # < 1 calmer, > 1 livelier than the performer

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"GenerateOptions.method: one of {METHODS}, got {self.method!r}")
        if not (math.isfinite(self.energy) and ENERGY_RANGE[0] <= self.energy <= ENERGY_RANGE[1]):
            raise ValueError(f"GenerateOptions.energy must be in {ENERGY_RANGE}, got {self.energy}")


@dataclass(frozen=True)
class GeneratedSpan:
    start: int  # first frame the values replace
    values: np.ndarray  # (n, DIM)
    groups: tuple[bool, ...]  # per group (GROUP_NAMES order): generated (False: left as it was)
    mode: str
    options: GenerateOptions

    @property
    def stop(self) -> int:
        return self.start + len(self.values) - 1

    def label(self, fps: float) -> str:
        verb = {"after": "Extend", "before": "Extend before", "fill": "Fill", "loop": "Loop"}[self.mode]
        return f"{verb} {len(self.values) / fps:.1f} s ({self.options.method}, seed {self.options.seed})"


# -- methods ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _forecast():
    from engine.motion.forecast import LinearForecast

    return LinearForecast.load()


@lru_cache(maxsize=1)
def _model():
    from engine.motion.model import MotionModel

    return MotionModel.load(MODEL_PATH)


_matchers: dict = {}


def _matcher(library: MotionLibrary, fps: float, backward: bool):
    from engine.motion.matching import MotionMatcher

    key = (id(library), round(fps, 3), backward)
    if key not in _matchers:
        seqs = library.at_fps(fps, mirrored=True)
        if backward:
            seqs = [reverse(s) for s in seqs]
        _matchers[key] = MotionMatcher(seqs, library.scales, fps)
    return _matchers[key]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _ease_join(context: Sequence, out: np.ndarray) -> np.ndarray:
    """Fade out the difference between the first proposed frame and where the motion was heading."""
    v = context.values
    k = min(JOIN_VELOCITY_FRAMES, len(v) - 1)  # a mean step: one tracked step alone is mostly jitter
    expected = v[-1] + (JOIN_VELOCITY_GAIN * (v[-1] - v[-1 - k]) / k if k > 0 else 0.0)
    blend = max(2, int(round(JOIN_BLEND_S * context.fps)))
    k = np.arange(len(out), dtype=np.float64)[:, None]
    return out + (expected - out[0]) * (1.0 - _smoothstep(k / blend))


def _model_rollout(context: Sequence, n: int, direction: float) -> np.ndarray:
    from engine.motion.model import MODEL_FPS

    model = _model()
    # resampled from the end, so the last real frame is a sample (from the start it can fall between two, and
    # the rollout would continue from a frame up to 1/MODEL_FPS old)
    ctx = reverse(resample(reverse(context), MODEL_FPS))
    n_model = int(math.ceil(n * MODEL_FPS / context.fps)) + 2
    roll = model.rollout(ctx.values, ctx.tracked, n_model, direction)
    joined = Sequence(np.concatenate([ctx.values[-1:], roll]), np.ones((n_model + 1, N_GROUPS)), MODEL_FPS)
    back = resample(joined, context.fps).values[1:n + 1]
    if len(back) < n:
        back = np.concatenate([back, np.repeat(back[-1:], n - len(back), axis=0)])
    return back


def _part(steps, lo: float, hi: float):
    """A step generator's fractions mapped into [lo, hi] (one part of a bigger operation); its return value."""
    while True:
        try:
            f = next(steps)
        except StopIteration as done:
            return done.value
        yield lo + (hi - lo) * f


def continue_motion(context: Sequence, n: int, options: GenerateOptions, backward: bool = False,
                    own: list[Sequence] | None = None, library: MotionLibrary | None = None,
                    cancel: CancelToken | None = None) -> np.ndarray:
    """(n, DIM) frames following `context` (already in the direction of generation)."""
    return drain(_continue_steps(context, n, options, backward, own, library, cancel))


def _continue_steps(context: Sequence, n: int, options: GenerateOptions, backward: bool = False,
                    own: list[Sequence] | None = None, library: MotionLibrary | None = None,
                    cancel: CancelToken | None = None):
    """continue_motion as a generator: yields the fraction done (motion matching's searches are the slow
    part), returns the frames."""
    base, detail = yield from _continue_parts(context, n, options, backward, own, library, cancel)
    return renormalise(base + detail) if options.method == "hybrid" else base


def _continue_parts(context: Sequence, n: int, options: GenerateOptions, backward: bool = False,
                    own: list[Sequence] | None = None, library: MotionLibrary | None = None,
                    cancel: CancelToken | None = None, for_fill: bool = False):
    """(base, detail) frames: the hybrid's slow motion and its take's detail apart (a fill mixes two
    continuations and keeps their detail at full strength); other methods: (frames, zeros). `for_fill`: the
    hybrid's detail comes in on the fill schedule (FILL_DETAIL_START_S)."""
    zeros = np.zeros((max(n, 0), DIM))
    base = yield from _method_steps(context, n, options, backward, own, library, cancel, for_fill)
    return base if isinstance(base, tuple) else (base, zeros)


def _method_steps(context: Sequence, n: int, options: GenerateOptions, backward: bool = False,
                  own: list[Sequence] | None = None, library: MotionLibrary | None = None,
                  cancel: CancelToken | None = None, for_fill: bool = False):
    method, energy = options.method, options.energy
    if n <= 0:
        return np.zeros((0, DIM))
    if method == "hold":
        return baselines.hold_last_pose(context, n)
    if method == "velocity":
        return baselines.constant_velocity(context, n)
    rng = np.random.default_rng(options.seed)
    last = context.values[-1]
    if method == "model":
        out = _model_rollout(context, n, -1.0 if backward else 1.0)
        return renormalise(_ease_join(context, last + MODEL_GAIN * energy * (out - last)))
    lib = library if library is not None else default_library()
    matcher = _matcher(lib, context.fps, backward)
    if method == "matching":
        return (yield from _frames_done(matcher.continue_steps(context, n, rng, energy, own, cancel,
                                                               first_rank=options.seed), n))
    # hybrid: one matched real take for the whole span, searched from the real context (never from the
    # forecast's smoother frames, so what follows moves as briskly as real motion)
    take, carried = yield from _frames_done(matcher.continue_steps(context, n, rng, energy, own, cancel,
                                                                   first_rank=options.seed, with_offset=True), n)
    return _hybrid(context, take, backward, energy, for_fill, carried)


def _hybrid(context: Sequence, take: np.ndarray, backward: bool, energy: float,
            for_fill: bool = False, carried: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(base, detail): the forecast for the near future cross-faded into the take's slow motion, and the take's
    detail to lay over it (see the module doc and the constants); the frames are renormalise(base + detail).
    `for_fill`: the fill's forecast span and detail schedule (FILL_MODEL_SPAN_S, FILL_DETAIL_START_S / _RAMP_S).
    `carried`: the pose and velocity differences the take's joins carried (matching's with_offset); fills take
    their detail from the take without them (the eighth round's comment above FILL_MODEL_SPAN_S)."""
    n, fps = len(take), context.fps
    last = context.values[-1]
    span, handover = (FILL_MODEL_SPAN_S, FILL_HANDOVER_S) if for_fill else (MODEL_SPAN_S, HANDOVER_S)
    lead = min(n, int(round((span + handover) * fps)))
    near = last + energy * (_near_forecast(context, lead, backward) - last)
    t = (np.arange(n, dtype=np.float64) + 1) / fps
    # the motion the take played, without what its joins carried (that is a smooth blend, not motion; it is
    # left in the slow part, so where the detail is whole, base + detail is still the take)
    played = take - carried if (for_fill and carried is not None) else take
    slow = take - (played - gaussian_filter1d(played, DETAIL_SIGMA_S * fps, axis=0, mode="nearest"))
    gain = _detail_gain(context, played)
    fine = (take - slow) * gain
    jitter = played - gaussian_filter1d(played, JITTER_SIGMA_S * fps, axis=0, mode="nearest")
    schedule = (FILL_DETAIL_START_S, FILL_DETAIL_RAMP_S, FILL_JITTER_GAIN) if for_fill else \
        (DETAIL_START_S, DETAIL_RAMP_S, JITTER_GAIN)
    start, ramp, jit = (np.array(x, np.float64)[GROUP_OF_CHANNEL] for x in schedule)
    r = _smoothstep((t[:, None] - start) / np.maximum(ramp, 1.0 / fps))  # (n, DIM): 0 before, 1 after
    if not for_fill:
        fade_in = np.array(JITTER_RAMP_S, np.float64)[GROUP_OF_CHANNEL]
        jitter = jitter * gain ** np.array(JITTER_RAISED, np.float64)[GROUP_OF_CHANNEL] * \
            np.where(fade_in > 0, _smoothstep(t[:, None] / np.maximum(fade_in, 1e-9)), 1.0)
    detail = r * fine + (1.0 - r) * jit * jitter
    base = slow.copy()
    w = (1.0 - _smoothstep((t[:lead] - span) / handover))[:, None]
    base[:lead] += w * (near - slow[:lead])
    return base, detail


def _near_forecast(context: Sequence, n: int, backward: bool) -> np.ndarray:
    """(n, DIM) the hybrid's forecast of the near future: the linear forecast and the GRU's mixed, the head,
    expression and finger channels mixed with the settling forecast (they carry on, then settle back)."""
    near = (1.0 - FORECAST_MODEL_WEIGHT) * _forecast().predict(context, n) + \
        FORECAST_MODEL_WEIGHT * _model_rollout(context, n, -1.0 if backward else 1.0)
    return settle.blend_into(context, near)


def _detail_gain(context: Sequence, take: np.ndarray) -> np.ndarray:
    """(DIM,) per group: the performer's detail over the take's (RMS, library scales), in [1, DETAIL_GAIN_MAX]."""
    from engine.motion.library import default_library

    scales = default_library().scales
    m = min(len(context), max(8, int(round(CALIBRATE_S * context.fps))))
    ctx = context.values[-m:]
    sigma = DETAIL_SIGMA_S * context.fps
    own = ((ctx - gaussian_filter1d(ctx, sigma, axis=0, mode="nearest")) / scales)[2:-2]  # ends: filter edges
    theirs = (take - gaussian_filter1d(take, sigma, axis=0, mode="nearest")) / scales
    gain = np.ones(N_GROUPS)
    for g in range(N_GROUPS):
        cols = GROUP_OF_CHANNEL == g
        if context.tracked[-1, g] > 0 and len(own):
            ratio = np.sqrt((own[:, cols] ** 2).mean()) / max(np.sqrt((theirs[:, cols] ** 2).mean()), 1e-9)
            gain[g] = float(np.clip(ratio, 1.0, DETAIL_GAIN_MAX))
    return gain[GROUP_OF_CHANNEL]


def _frames_done(steps, n: int):
    """Motion matching's frame counts as fractions of `n`; its return value."""
    while True:
        try:
            k = next(steps)
        except StopIteration as done:
            return done.value
        yield min(1.0, k / max(n, 1))


# -- the four operations ----------------------------------------------------------------------------------


def _need_context(n_ctx: int, fps: float, where: str) -> None:
    need = max(2, int(math.ceil(MIN_CONTEXT_S * fps)))
    if n_ctx < need:
        raise ExtendError(f"{where}: needs at least {MIN_CONTEXT_S:g} s ({need} frames) of motion to continue "
                          f"from, there are {n_ctx}")


def frames_for(seconds: float, fps: float) -> int:
    if not (math.isfinite(seconds) and seconds > 0):
        raise ExtendError(f"extend by {seconds:g} s: give a length greater than 0")
    if seconds > MAX_SECONDS:
        raise ExtendError(f"extend by {seconds:g} s: at most {MAX_SECONDS:g} s at a time")
    return max(1, int(round(seconds * fps)))


def _groups(*rows: np.ndarray) -> np.ndarray:
    return np.any(np.stack(rows) > 0, axis=0)


def _span(seq: Sequence, start: int, values: np.ndarray, groups: np.ndarray, mode: str,
          options: GenerateOptions) -> GeneratedSpan:
    """Groups not generated keep their own values (the caller only lays down generated groups)."""
    n = len(values)
    keep = ~groups[GROUP_OF_CHANNEL]
    idx = np.clip(np.arange(start, start + n), 0, len(seq) - 1)
    values = np.where(keep[None, :], seq.values[idx], values)
    return GeneratedSpan(start, values.astype(np.float64), tuple(bool(g) for g in groups), mode, options)


def extend_after(seq: Sequence, start: int, n: int, options: GenerateOptions = GenerateOptions(),
                 cancel: CancelToken | None = None) -> GeneratedSpan:
    """Frames [start, start + n) generated from the frames before `start` (which must exist)."""
    return drain(_extend_after(seq, start, n, options, cancel))


def _extend_after(seq, start, n, options, cancel):
    if n <= 0:
        raise ExtendError("extend: the length must be greater than 0")
    _need_context(start, seq.fps, f"extend after frame {start - 1}")
    ctx = seq.slice(0, start)
    out = yield from _continue_steps(ctx, n, options, cancel=cancel)
    return _span(seq, start, out, ctx.tracked[-1] > 0, "after", options)


def extend_before(seq: Sequence, stop: int, n: int, options: GenerateOptions = GenerateOptions(),
                  cancel: CancelToken | None = None) -> GeneratedSpan:
    """Frames (stop - n, stop] generated backwards from the frames after `stop`."""
    return drain(_extend_before(seq, stop, n, options, cancel))


def _extend_before(seq, stop, n, options, cancel):
    if n <= 0:
        raise ExtendError("extend: the length must be greater than 0")
    _need_context(len(seq) - stop - 1, seq.fps, f"extend before frame {stop + 1}")
    ctx = reverse(seq.slice(stop + 1, len(seq)))
    out = (yield from _continue_steps(ctx, n, options, backward=True, cancel=cancel))[::-1]
    return _span(seq, stop - n + 1, out, ctx.tracked[-1] > 0, "before", options)


def fill(seq: Sequence, start: int, stop: int, options: GenerateOptions = GenerateOptions(),
         cancel: CancelToken | None = None, mode: str = "fill") -> GeneratedSpan:
    """Frames [start, stop] rebuilt so they join the motion before and after: a forward continuation from the
    left and a backward one from the right, cross-faded with a smoothstep across the gap."""
    return drain(_fill(seq, start, stop, options, cancel, mode))


def _fill(seq, start, stop, options, cancel, mode="fill"):
    if stop < start:
        raise ExtendError(f"fill {start}-{stop}: the end is before the start")
    if start < 0 or stop > len(seq) - 1:
        raise ExtendError(f"fill {start}-{stop}: outside the clip (frames 0-{len(seq) - 1})")
    _need_context(start, seq.fps, f"fill from frame {start}")
    _need_context(len(seq) - stop - 1, seq.fps, f"fill up to frame {stop}")
    n = stop - start + 1
    left, right = seq.slice(0, start), seq.slice(stop + 1, len(seq))
    fwd_base, fwd_detail = yield from _part(_continue_parts(left, n, options, own=[right], cancel=cancel,
                                                            for_fill=True), 0.0, 0.5)
    bwd_base, bwd_detail = yield from _part(_continue_parts(reverse(right), n, options, backward=True,
                                                            own=[reverse(left)], cancel=cancel, for_fill=True),
                                            0.5, 1.0)
    fwd, bwd = fwd_base + fwd_detail, (bwd_base + bwd_detail)[::-1]
    k = np.arange(n, dtype=np.float64)[:, None]
    w = _smoothstep((k + 1) / (n + 1))
    out = (1 - w) * fwd + w * bwd
    if options.method == "hybrid":
        # two takes' detail mixed half and half is 1/sqrt(2) as strong as either (they are unrelated): bring it
        # back to full strength, as real motion has it (at the ends one side has all the weight: no change)
        mix = (1 - w) * fwd_detail + w * bwd_detail[::-1]
        out = out + mix * (1.0 / np.sqrt((1 - w) ** 2 + w ** 2) - 1.0)
    # the cross-fade leaves a little of the other side at each end: fade that out too, so each end is exactly
    # the continuation that was made to join it
    blend = max(1, min(int(round(JOIN_BLEND_S * seq.fps)), n // 2))
    out = out + (fwd[0] - out[0]) * (1 - _smoothstep(k / blend)) + \
        (bwd[-1] - out[-1]) * (1 - _smoothstep((n - 1 - k) / blend))
    out = renormalise(out)
    return _span(seq, start, out, _groups(left.tracked[-1], right.tracked[0]), mode, options)


def loop_span(first: int, last: int, fps: float) -> int:
    """How many frames at the end of the range [first, last] a loop rewrites."""
    length = last - first + 1
    return min(int(round(LOOP_SPAN_S * fps)), length // 3)


def make_loop(seq: Sequence, first: int, last: int, options: GenerateOptions = GenerateOptions(),
              cancel: CancelToken | None = None) -> GeneratedSpan:
    """Rewrite the end of [first, last] so that frame `last` flows into frame `first`: the last frames become an
    in-between from the range's own motion to its own start, as if the range were played twice."""
    return drain(_make_loop(seq, first, last, options, cancel))


def _make_loop(seq, first, last, options, cancel):
    if last <= first:
        raise ExtendError(f"loop {first}-{last}: the range is empty")
    if first < 0 or last > len(seq) - 1:
        raise ExtendError(f"loop {first}-{last}: outside the clip (frames 0-{len(seq) - 1})")
    n = loop_span(first, last, seq.fps)
    need = max(2, int(math.ceil(MIN_CONTEXT_S * seq.fps)))
    if n < 2 or last - first + 1 - n < need:
        raise ExtendError(f"loop {first}-{last}: too short to loop, make the range at least "
                          f"{3 * max(need, 2) / seq.fps:.1f} s long")
    body = seq.slice(first, last - n + 1)  # what stays
    again = seq.slice(first, last + 1)  # the next pass of the loop starts with the range's start
    joined = Sequence(np.concatenate([body.values, np.zeros((n, DIM)), again.values]),
                      np.concatenate([body.tracked, np.ones((n, N_GROUPS)), again.tracked]), seq.fps, seq.name)
    span = yield from _fill(joined, len(body), len(body) + n - 1, options, cancel, mode="loop")
    groups = np.array(span.groups) & (seq.tracked[first] > 0)
    return _span(seq, last - n + 1, span.values, groups, "loop", options)


def generate_job(seq: Sequence, mode: str, start: int, stop: int, options: GenerateOptions,
                 cancel: CancelToken | None = None) -> Job[GeneratedSpan]:
    """The operation as a job (the studio runs it on a worker thread). For "after", [start, stop] are the new
    frames; for "before" likewise; for "fill" the gap; for "loop" the whole range. Progress counts
    PROGRESS_STEPS over the work (motion matching's searches, segment by segment: the slow part)."""
    if mode == "after":
        steps = _extend_after(seq, start, stop - start + 1, options, cancel)
    elif mode == "before":
        steps = _extend_before(seq, stop, stop - start + 1, options, cancel)
    elif mode == "fill":
        steps = _fill(seq, start, stop, options, cancel)
    elif mode == "loop":
        steps = _make_loop(seq, start, stop, options, cancel)
    else:
        raise ValueError(f"generate_job.mode: one of {MODES}, got {mode!r}")
    yield Progress(0, PROGRESS_STEPS, "Generating motion")
    while True:
        try:
            f = next(steps)
        except StopIteration as done:
            span = done.value
            break
        # never the total before the end: the studio takes done == total as finished
        yield Progress(min(int(f * PROGRESS_STEPS), PROGRESS_STEPS - 1), PROGRESS_STEPS, "Generating motion")
    yield Progress(PROGRESS_STEPS, PROGRESS_STEPS, "Generated motion")
    return span


def model_available(path: Path = MODEL_PATH) -> bool:
    return Path(path).exists()
