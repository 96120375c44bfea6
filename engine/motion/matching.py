"""Motion matching: continue a motion with the best-fitting stretch of real motion, joined without a pop.

Every `segment` frames the last few generated frames (pose at a few past offsets, so velocity is in it) are
compared with every frame of the library and of the performer's own visible motion; the continuation of a
close match is played from there. Where playback switches source, the difference in pose and velocity between
what was playing and the new source is carried as an offset that fades out over `blend` frames with a
smoothstep (inertialization, Bollo 2016: the join keeps both the pose and the velocity it had).

Library stretches that hold a tracking glitch (a one-frame jump larger than `glitch_percentile` of the
library's steps) are never played. Groups the query does not track (a hand out of view) weigh nothing; a
candidate that lacks a group the query tracks pays a fixed penalty. A take starts from one of the few best
candidates (seed 0: the best), later switches draw among them with the seed, so another seed gives another
take.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.motion.features import DIM, GROUP_OF_CHANNEL, GROUP_SLICES, N_GROUPS, Sequence, renormalise
from engine.tokens.schema import GROUP_NAMES


@dataclass(frozen=True)
class MatchConfig:
    offsets: tuple[int, ...] = (0, 2, 4, 8)  # past frames (at 25 fps) whose poses describe "now"
    velocity_weight: float = 3.0  # weight of the last step beside the poses
    segment_s: float = 0.4  # search again after this long
    blend_s: float = 0.32  # a switch of source fades in over this long
    top_k: int = 4  # a seed picks among this many best candidates
    temperature: float = 0.15  # relative cost spread that still gets picked
    missing_penalty: float = 1.0  # per query-tracked group the candidate lacks
    own_bonus: float = 0.8  # the performer's own motion costs this fraction (keeps their style)
    keep_margin: float = 1.1  # keep playing the current source unless a new one is this much cheaper
    glitch_percentile: float = 99.5  # a library step above this percentile of its steps is a tracking glitch

    def __post_init__(self) -> None:
        for name in ("segment_s", "blend_s", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MatchConfig.{name} must be > 0")
        if self.top_k < 1:
            raise ValueError("MatchConfig.top_k must be >= 1")
        if not 0 < self.glitch_percentile <= 100:
            raise ValueError("MatchConfig.glitch_percentile must be in (0, 100]")


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class _Bank:
    """Features of every candidate frame of some sequences (rows), and where each row plays from."""

    feats: np.ndarray  # (N, F)
    tracked: np.ndarray  # (N, G)
    seq: np.ndarray  # (N,) index into `seqs`
    frame: np.ndarray  # (N,)
    seqs: list[Sequence]
    cost_factor: float = 1.0


class MotionMatcher:
    def __init__(self, library_seqs: list[Sequence], scales: np.ndarray, fps: float,
                 config: MatchConfig = MatchConfig()) -> None:
        self.config, self.fps, self.scales = config, float(fps), np.asarray(scales, np.float64)
        k = self.fps / 25.0
        self.offsets = tuple(int(round(o * k)) for o in config.offsets)
        self.segment = max(1, int(round(config.segment_s * self.fps)))
        self.blend = max(2, int(round(config.blend_s * self.fps)))
        self.lead = max(self.segment, self.blend) + 1  # frames a candidate must have after it
        # per-channel weight: each group counts equally, whatever its channel count
        sizes = np.array([GROUP_SLICES[g].stop - GROUP_SLICES[g].start for g in GROUP_NAMES], np.float64)
        self._chan_w = 1.0 / np.sqrt(sizes[GROUP_OF_CHANNEL])
        # a candidate whose next frames hold a tracking glitch (a one-frame jump no performer makes) is never
        # played: it would pop in the middle of a generated span
        lib_steps = [self._steps(q) for q in library_seqs if len(q) > 1]
        self.glitch = float(np.percentile(np.concatenate(lib_steps), config.glitch_percentile)) if lib_steps \
            else np.inf
        self.library = self._bank(library_seqs, limit=None)

    # -- features ---------------------------------------------------------------------------------------

    def _features(self, values: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """(len(idx), F) features of frames `idx` of a (T, DIM) array (indices >= max offset + 1)."""
        z = values / self.scales * self._chan_w
        parts = [z[idx - o] for o in self.offsets]
        parts.append(self.config.velocity_weight * (z[idx] - z[idx - 1]))
        return np.concatenate(parts, axis=1)

    def _steps(self, seq: Sequence) -> np.ndarray:
        """(T-1,) step between consecutive frames: per group the mean squared change in library scales, RMS over
        the groups tracked in both frames (engine.motion.metrics.step, vectorised)."""
        d = (np.diff(seq.values, axis=0) / self.scales) ** 2
        per_group = np.stack([d[:, GROUP_OF_CHANNEL == i].mean(axis=1) for i in range(N_GROUPS)], axis=1)
        on = (seq.tracked[:-1] > 0) & (seq.tracked[1:] > 0)
        n_on = on.sum(axis=1)
        return np.sqrt(np.where(on, per_group, 0.0).sum(axis=1) / np.maximum(n_on, 1))

    def _bank(self, seqs: list[Sequence], limit: list[int] | None, cost_factor: float = 1.0) -> _Bank:
        first = max(self.offsets) + 1
        feats, tracked, sq, fr = [], [], [], []
        for j, s in enumerate(seqs):
            last = (len(s) if limit is None else limit[j]) - self.lead
            if last <= first:
                continue
            idx = np.arange(first, last)
            steps = self._steps(s)  # step t: frame t -> t + 1; a candidate at f plays steps f .. f + lead - 1
            worst = np.lib.stride_tricks.sliding_window_view(steps, self.lead).max(axis=1)[idx]
            idx = idx[worst <= self.glitch]
            if not len(idx):
                continue
            feats.append(self._features(s.values, idx))
            tracked.append(s.tracked[idx])
            sq.append(np.full(len(idx), j))
            fr.append(idx)
        if not feats:
            n_f = DIM * (len(self.offsets) + 1)
            return _Bank(np.zeros((0, n_f)), np.zeros((0, N_GROUPS)), np.zeros(0, int), np.zeros(0, int), seqs,
                         cost_factor)
        return _Bank(np.concatenate(feats), np.concatenate(tracked), np.concatenate(sq), np.concatenate(fr), seqs,
                     cost_factor)

    # -- search -----------------------------------------------------------------------------------------

    def _costs(self, bank: _Bank, query: np.ndarray, q_tracked: np.ndarray) -> np.ndarray:
        if not len(bank.feats):
            return np.zeros(0)
        n_off = len(self.offsets) + 1
        chan_mask = np.tile(q_tracked[GROUP_OF_CHANNEL] > 0, n_off)  # groups the query does not track: 0
        d = (bank.feats[:, chan_mask] - query[chan_mask]) ** 2
        cost = d.sum(axis=1) / max(int(q_tracked.sum()), 1)
        missing = ((q_tracked[None, :] > 0) & (bank.tracked <= 0)).sum(axis=1)
        return (cost + self.config.missing_penalty * missing) * bank.cost_factor

    def _pick(self, banks: list[_Bank], query: np.ndarray, q_tracked: np.ndarray, rng: np.random.Generator,
              current: tuple[int, int, int] | None, rank: int | None = None) -> tuple[int, int, int]:
        """(bank, sequence, frame) to play from next."""
        rows = []
        for b, bank in enumerate(banks):
            c = self._costs(bank, query, q_tracked)
            if len(c):
                top = np.argsort(c)[: self.config.top_k * 8]
                rows += [(float(c[r]), b, int(bank.seq[r]), int(bank.frame[r])) for r in top]
        if not rows:
            raise ValueError("motion matching: the library has no clip long enough")
        rows.sort()
        picked: list[tuple[float, int, int, int]] = []
        for r in rows:  # the best few, at least a blend apart from each other: really different takes
            if all(not (p[1] == r[1] and p[2] == r[2] and abs(p[3] - r[3]) < self.blend) for p in picked):
                picked.append(r)
            if len(picked) == self.config.top_k:
                break
        if current is not None:
            b, s, f = current
            cur_cost = None
            bank = banks[b]
            hit = np.flatnonzero((bank.seq == s) & (bank.frame == f))
            if len(hit):
                cur_cost = float(self._costs(_Bank(bank.feats[hit], bank.tracked[hit], bank.seq[hit],
                                                   bank.frame[hit], bank.seqs, bank.cost_factor), query,
                                             q_tracked)[0])
            if cur_cost is not None and cur_cost <= picked[0][0] * self.config.keep_margin:
                return current
        if rank is not None:  # the take's first source: the best fit, or the next ones for other takes
            return picked[rank % len(picked)][1:]
        costs = np.array([p[0] for p in picked])
        w = np.exp(-(costs - costs[0]) / (self.config.temperature * max(costs[0], 1e-3)))
        choice = int(rng.choice(len(picked), p=w / w.sum()))
        return picked[choice][1:]

    # -- generation -------------------------------------------------------------------------------------

    def continue_motion(self, context: Sequence, n: int, rng: np.random.Generator, energy: float = 1.0,
                        own: list[Sequence] | None = None, cancel=None, first_rank: int | None = None) -> np.ndarray:
        """(n, DIM) frames that follow `context` (continue_steps, run to the end)."""
        steps = self.continue_steps(context, n, rng, energy, own, cancel, first_rank)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def continue_steps(self, context: Sequence, n: int, rng: np.random.Generator, energy: float = 1.0,
                       own: list[Sequence] | None = None, cancel=None, first_rank: int | None = None,
                       with_offset: bool = False):
        """A generator: yields the number of frames made after each searched segment (for a progress bar) and
        returns the (n, DIM) frames that follow `context`. `own`: the performer's other visible motion (searched too,
        at a discount); the context itself is always searched, up to where its continuation would still be
        visible. `first_rank`: play first from the candidate of this rank (0: the best fit; counted modulo
        `top_k`), so consecutive seeds start from different takes even where one fits far better; None: the
        seeded draw, as for every later switch. `with_offset`: return (frames, offsets), the offsets being the
        faded pose and velocity differences the joins carried (frames - offsets is the real motion played)."""
        need = max(self.offsets) + 2
        if len(context) < need:
            raise ValueError(f"motion matching needs at least {need} frames of context, got {len(context)}")
        own_seqs = [context] + list(own or [])
        banks = [self.library, self._bank(own_seqs, None, self.config.own_bonus)]
        hist = list(context.values[-(max(self.offsets) + 2):])
        q_tracked = context.tracked[-1]
        out = np.zeros((n, DIM))
        carried = np.zeros((n, DIM))
        current: tuple[int, int, int] | None = None
        offset0 = np.zeros(DIM)
        vel0 = np.zeros(DIM)
        anchor = np.zeros(DIM)
        since = 0  # frames since the last switch
        k = 0
        while k < n:
            if cancel is not None:
                cancel.raise_if_cancelled()
            h = np.asarray(hist)
            query = self._features(h, np.array([len(h) - 1]))[0]
            nxt = self._pick(banks, query, q_tracked, rng, current, first_rank if k == 0 else None)
            seqs = banks[nxt[0]].seqs
            src = seqs[nxt[1]].values
            if nxt != current:  # a new source: carry the pose and velocity difference, fade it out
                f = nxt[2]
                anchor = src[f]
                offset0 = h[-1] - src[f]
                vel0 = (h[-1] - h[-2]) - (src[f] - src[f - 1])
                since = 0
                start_frame = f
            else:
                start_frame = current[2]
            steps = min(self.segment, n - k)
            for j in range(1, steps + 1):
                since += 1
                t = since / self.blend
                fade = 1.0 - _smoothstep(np.array(t))
                base = anchor + energy * (src[start_frame + j] - anchor)
                carried[k] = (offset0 + vel0 * since) * fade
                frame = base + carried[k]
                out[k] = frame
                hist.append(frame)
                k += 1
            hist = hist[-(max(self.offsets) + 2):]
            current = (nxt[0], nxt[1], start_frame + steps)
            yield k
        return (renormalise(out), carried) if with_offset else renormalise(out)
