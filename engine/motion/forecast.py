"""A linear forecast of the near future: per token group, the next second as a least-squares mix of the last steps.

For each group, the offset of each of the next `horizon` frames from the last one is a weighted sum of the
last `lags` frames' offsets from it (in library-scaled units; the same weights for every channel of the
group, so 4 x lags x horizon numbers in all). Fitted in closed form on the library's training clips
(mirrored and played backwards too: for steady motion the best forward and backward predictors are the same,
so one table extends both ways). It learns how far real motion carries on and how soon it settles, which is
what the near future is made of; measured on the held-out corpus clips it is closer to what happened than
holding the last pose in every group, where the GRU alone is not (bench/extend_eval.py, MODEL_CARD.md).

    python -m engine.motion.forecast            # -> engine/assets/motion/forecast.npz (the library, HELD_OUT out)
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import MediaError
from engine.motion.features import GROUP_OF_CHANNEL, N_GROUPS, Sequence, mirror, resample, reverse
from engine.motion.library import ASSETS, MotionLibrary, load_npz, save_npz

FORECAST_PATH = ASSETS / "forecast.npz"
FORECAST_FPS = 25.0  # fitted and run at this rate; other clips are resampled to it and back
FORECAST_FORMAT_VERSION = 1
LAGS = 4  # past frames read: more lags fitted the corpus no better for the first 0.5 s (scratch runs)
HORIZON = 25  # 1 s at FORECAST_FPS: the hybrid hands over to matched motion well before
RIDGE = 1e-4  # a whisper of ridge (relative to the windows' count) keeps the solve well posed


@dataclass(frozen=True)
class LinearForecast:
    weights: np.ndarray  # (N_GROUPS, lags, horizon)
    scales: np.ndarray  # (DIM,) the library's channel scales the weights work in

    @property
    def lags(self) -> int:
        return int(self.weights.shape[1])

    @property
    def horizon(self) -> int:
        return int(self.weights.shape[2])

    def predict(self, context: Sequence, n: int) -> np.ndarray:
        """(n, DIM) frames after `context` (any frame rate; its last frame is kept exact)."""
        # resampled from the end, so the last real frame is a sample (from the start it can fall between two)
        ctx = reverse(resample(reverse(context), FORECAST_FPS)).values
        if len(ctx) < self.lags + 1:  # a short context: its first frame held before it
            ctx = np.concatenate([np.repeat(ctx[:1], self.lags + 1 - len(ctx), axis=0), ctx])
        z = ctx / self.scales
        past = z[-1 - self.lags:-1][::-1] - z[-1]  # (lags, DIM): lag 1 first
        ahead = np.empty((self.horizon, z.shape[1]))
        for g in range(N_GROUPS):
            cols = GROUP_OF_CHANNEL == g
            ahead[:, cols] = self.weights[g].T @ past[:, cols]
        # the horizon's last offset is held beyond it (the weights have settled by then)
        n_at = int(np.ceil(n * FORECAST_FPS / context.fps)) + 2
        if n_at > self.horizon:
            ahead = np.concatenate([ahead, np.repeat(ahead[-1:], n_at - self.horizon, axis=0)])
        frames = ctx[-1] + ahead * self.scales
        joined = Sequence(np.concatenate([ctx[-1:], frames]), np.ones((len(frames) + 1, N_GROUPS)), FORECAST_FPS)
        back = resample(joined, context.fps).values[1:n + 1]
        if len(back) < n:
            back = np.concatenate([back, np.repeat(back[-1:], n - len(back), axis=0)])
        return back

    def save(self, path: str | Path = FORECAST_PATH) -> None:
        path = Path(path)
        meta = {"format_version": FORECAST_FORMAT_VERSION, "fps": FORECAST_FPS}
        save_npz(path, meta, {"weights": self.weights, "scales": self.scales})

    @classmethod
    def load(cls, path: str | Path = FORECAST_PATH) -> "LinearForecast":
        path = Path(path)
        weights, scales = load_npz(path, "motion forecast", "python -m engine.motion.forecast",
                                   {"format_version": FORECAST_FORMAT_VERSION, "fps": FORECAST_FPS},
                                   lambda meta, z: (z["weights"].astype(np.float64), z["scales"].astype(np.float64)))
        if weights.ndim != 3 or weights.shape[0] != N_GROUPS or scales.shape != GROUP_OF_CHANNEL.shape:
            raise MediaError(f"{path.name}: forecast shapes do not match this version")
        return cls(weights, scales)


def _windows(seqs: list[Sequence], scales: np.ndarray, group: int, lags: int, horizon: int):
    """(rows, lags) past offsets and (rows, horizon) future offsets: one row per channel per window where the
    group is tracked throughout."""
    cols = GROUP_OF_CHANNEL == group
    span = lags + horizon + 1
    xs, ys = [], []
    for s in seqs:
        r = resample(s, FORECAST_FPS)
        if len(r) < span:
            continue
        z = r.values[:, cols] / scales[cols]
        on = np.convolve((r.tracked[:, group] > 0).astype(np.float64), np.ones(span), "valid") >= span - 0.5
        for t in np.flatnonzero(on):
            w = z[t:t + span]
            now = w[lags]
            xs.append((w[:lags][::-1] - now).T)
            ys.append((w[lags + 1:] - now).T)
    return np.concatenate(xs), np.concatenate(ys)


def fit(seqs: list[Sequence], scales: np.ndarray, lags: int = LAGS, horizon: int = HORIZON) -> LinearForecast:
    """Least squares on the clips, mirrored and reversed too."""
    if lags < 1 or horizon < 1:
        raise ValueError(f"fit: lags and horizon must be >= 1, got {lags}, {horizon}")
    aug = [v for s in seqs for m in (s, mirror(s)) for v in (m, reverse(m))]
    weights = np.zeros((N_GROUPS, lags, horizon))
    for g in range(N_GROUPS):
        x, y = _windows(aug, scales, g, lags, horizon)
        if not len(x):
            continue  # a group no clip tracks: predicted still
        weights[g] = np.linalg.solve(x.T @ x + RIDGE * len(x) * np.eye(lags), x.T @ y)
    return LinearForecast(weights, np.asarray(scales, np.float64))


def main(argv: list[str] | None = None) -> int:
    from engine.motion.library import LIBRARY_PATH
    from engine.motion.train import HELD_OUT

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", type=Path, default=LIBRARY_PATH)
    ap.add_argument("-o", "--output", type=Path, default=FORECAST_PATH)
    args = ap.parse_args(argv)
    lib = MotionLibrary.load(args.library)
    train = [s for s in lib.sequences if s.name not in HELD_OUT]  # the GRU's split: held-out clips stay unseen
    fc = fit(train, lib.scales)
    fc.save(args.output)
    print(f"{args.output}: {len(train)} clips, {fc.weights.size} weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
