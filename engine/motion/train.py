"""Train the motion model on the library's token sequences with the project's Accelerate loop.

    python -m engine.motion.train --preset small --steps 3000 --out runs/motion
    python -m engine.motion.train --export runs/motion -o engine/assets/motion/motion_model.safetensors

Augmentation (fixed, precomputed, so the dataset is a plain indexable table of windows): every clip at five
playback speeds, mirrored, and reversed in time (with the direction flag set, so one network extends both
ways). A few clips are held out for the loop's eval (its score picks best_ema.safetensors); the studio's
test media are never touched.
"""
from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

from engine.motion.features import GROUP_OF_CHANNEL, N_GROUPS, Sequence, mirror, resample, reverse
from engine.motion.library import LIBRARY_PATH, MotionLibrary
from engine.motion.model import MODEL_FPS, PRESETS, MotionGRU, MotionModel, MotionModelConfig

SPEEDS = (0.8, 0.9, 1.0, 1.12, 1.25)
STRIDE = 2  # frames between training windows
HELD_OUT = ("clip_halfbody_man_singing_mic", "clip_face_woman_flag_speech", "clip_face_man_tearful_talk")
SHORT_CONTEXT_P = 0.25  # this share of windows see a shortened, first-frame-padded context (short clips)
STILL_P = 0.15  # per group: this share of windows hold that group still (context and future)
TEACHER_WEIGHT = 0.5
# --far-weight < 1 weighs the first NEAR_FRAMES (0.6 s: the hybrid leads with the model for 0.5 s, then hands
# over) above the rest of the horizon; the shipped model was trained with 1 (all frames alike)
NEAR_FRAMES = 15
FAR_WEIGHT = 1.0
EVAL_NEAR = 12  # frames (0.5 s): the near-future error the bench reports, logged beside the score
GROUP_COLUMNS = [torch.as_tensor(np.flatnonzero(GROUP_OF_CHANNEL == g)) for g in range(N_GROUPS)]  # weight of the one-step (teacher-forced) loss beside the rollout loss


def augmented(seqs: list[Sequence]) -> list[tuple[Sequence, float]]:
    """(sequence at MODEL_FPS, direction) for every speed x mirror x time direction."""
    out = []
    for s in seqs:
        for speed in SPEEDS:
            base = resample(Sequence(s.values, s.tracked, s.fps * speed, s.name), MODEL_FPS)
            for m in (base, mirror(base)):
                out.append((m, 1.0))
                out.append((reverse(m), -1.0))
    return out


class WindowDataset(torch.utils.data.Dataset):
    def __init__(self, seqs: list[Sequence], config: MotionModelConfig, mean: np.ndarray, scale: np.ndarray,
                 still_p: float = STILL_P) -> None:
        self.config, self.still_p = config, still_p
        self.items = augmented(seqs)
        self.z = [torch.as_tensor((s.values - mean) / scale, dtype=torch.float32) for s, _ in self.items]
        self.tracked = [torch.as_tensor(s.tracked, dtype=torch.float32) for s, _ in self.items]
        span = config.context + config.horizon
        self.index = [(k, t) for k, (s, _) in enumerate(self.items) for t in range(0, len(s) - span + 1, STRIDE)]
        if not self.index:
            raise ValueError("WindowDataset: no clip is long enough for one window")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k, t = self.index[i]
        c, h = self.config.context, self.config.horizon
        z = self.z[k][t:t + c + h].clone()
        tracked = self.tracked[k][t:t + c + h]
        # a part of the performer that holds still stays still (the corpus mostly talks and gestures): each group
        # is frozen at its last context pose, context and future, in this share of windows
        for g in torch.nonzero(torch.rand(N_GROUPS) < self.still_p).flatten().tolist():
            cols = GROUP_COLUMNS[g]
            z[:, cols] = z[c - 1, cols]
        if torch.rand(()) < SHORT_CONTEXT_P:  # a short clip: hold its first frame before it
            keep = int(torch.randint(2, c, ()))
            z[: c - keep] = z[c - keep]
        direction = torch.tensor([self.items[k][1]], dtype=torch.float32)
        return {"context": z[:c], "target": z[c:], "cond": torch.cat([tracked[c - 1], direction]),
                "mask_ctx": tracked[1:c], "mask": tracked[c:] * tracked[c - 1]}


# Each group weighs the same in the loss whatever its channel count (the 67-number body would drown the face).
_GROUP_SIZE = np.bincount(GROUP_OF_CHANNEL)
CHANNEL_WEIGHT = torch.as_tensor(len(GROUP_OF_CHANNEL) / (len(_GROUP_SIZE) * _GROUP_SIZE[GROUP_OF_CHANNEL]),
                                 dtype=torch.float32)


def _masked_l1(pred: torch.Tensor, target: torch.Tensor, group_mask: torch.Tensor,
               time_weight: torch.Tensor | None = None) -> torch.Tensor:
    m = group_mask[..., torch.as_tensor(GROUP_OF_CHANNEL)]  # (B, T, DIM)
    if time_weight is not None:
        m = m * time_weight[None, :, None]
    return ((pred - target).abs() * m * CHANNEL_WEIGHT).sum() / m.sum().clamp_min(1.0)


def horizon_weights(horizon: int, far_weight: float = FAR_WEIGHT) -> torch.Tensor:
    """(horizon,) loss weight per predicted frame: 1 for the near future, `far_weight` after it."""
    w = torch.full((horizon,), float(far_weight))
    w[:NEAR_FRAMES] = 1.0
    return w


def loss_fn(model, batch, far_weight: float = FAR_WEIGHT) -> dict[str, torch.Tensor]:
    horizon = batch["target"].shape[1]
    teacher, roll = model(batch["context"], batch["cond"], horizon)
    l_roll = _masked_l1(roll, batch["target"], batch["mask"], horizon_weights(horizon, far_weight))
    l_teacher = _masked_l1(teacher, batch["context"][:, 1:], batch["mask_ctx"])
    return {"loss": l_roll + TEACHER_WEIGHT * l_teacher, "rollout": l_roll.detach(), "teacher": l_teacher.detach()}


def split(lib: MotionLibrary) -> tuple[list[Sequence], list[Sequence]]:
    train = [s for s in lib.sequences if s.name not in HELD_OUT]
    held = [s for s in lib.sequences if s.name in HELD_OUT]
    return train, held


def make_eval(held: list[Sequence], config: MotionModelConfig, mean, scale, far_weight: float = FAR_WEIGHT):
    data = WindowDataset(held, config, mean, scale)
    rows = list(range(0, len(data), max(1, len(data) // 256)))
    gen_state = torch.random.get_rng_state()
    batch = torch.utils.data.default_collate([data[i] for i in rows])
    torch.random.set_rng_state(gen_state)  # building the eval batch must not shift the training RNG

    def eval_fn(model) -> dict[str, float]:
        losses = loss_fn(model, batch, far_weight)
        _, roll = model(batch["context"], batch["cond"], batch["target"].shape[1])
        near = _masked_l1(roll[:, :EVAL_NEAR], batch["target"][:, :EVAL_NEAR], batch["mask"][:, :EVAL_NEAR])
        return {"score": float(losses["rollout"]), "near": float(near), "teacher": float(losses["teacher"])}

    return eval_fn


def run(preset: str, steps: int, out: Path, library: Path = LIBRARY_PATH, batch_size: int = 32,
        lr: float = 1e-3, stop_after_s: float = 0.0, seed: int = 0, weight_decay: float = 0.0,
        still_p: float = STILL_P, far_weight: float = FAR_WEIGHT):
    from engine.train.loop import LoopConfig, train

    torch.manual_seed(seed)
    lib = MotionLibrary.load(library)
    train_seqs, held = split(lib)
    config = PRESETS[preset]
    mean = np.concatenate([s.values for s in train_seqs]).mean(axis=0)
    scale = lib.scales
    data = WindowDataset(train_seqs, config, mean, scale, still_p)
    net = MotionGRU(config)
    eval_fn = make_eval(held, config, mean, scale, far_weight) if held else None
    loop = LoopConfig(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup_steps=min(100, steps // 10),
                      lr_schedule="cosine", ema_decay=0.995, save_every=max(1, min(500, steps)),
                      log_every=max(1, min(25, steps)), eval_every=max(1, min(250, steps)) if eval_fn else 0,
                      stop_after_s=stop_after_s, cpu=True, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "norm.npy", np.stack([mean, scale]))  # export needs it; the same on every resume
    result = yield from train(net, partial(loss_fn, far_weight=far_weight), data, loop, out, eval_fn=eval_fn)
    return result, len(data), config


def export(run_dir: Path, preset: str, output: Path, info: dict) -> MotionModel:
    """The run's best EMA weights (else its last EMA) as a shippable model file."""
    from safetensors.torch import load_file

    weights = run_dir / "best_ema.safetensors"
    if not weights.exists():
        weights = run_dir / "ema.safetensors"
    net = MotionGRU(PRESETS[preset])
    net.load_state_dict(load_file(str(weights)))
    mean, scale = np.load(run_dir / "norm.npy")
    model = MotionModel(net.eval(), mean, scale, {**info, "weights": weights.name})
    model.save(output)
    return model


def main(argv: list[str] | None = None) -> int:
    from engine.jobs import drain
    from engine.runtime import setup

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--still-p", type=float, default=STILL_P, help="per-group share of windows held still")
    ap.add_argument("--far-weight", type=float, default=FAR_WEIGHT,
                    help=f"loss weight of predicted frames after the first {NEAR_FRAMES} (1: all alike)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stop-after-s", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=Path("runs/motion"))
    ap.add_argument("--library", type=Path, default=LIBRARY_PATH,
                    help="train on this library (default: the shipped one)")
    ap.add_argument("--export", type=Path, default=None, help="export this run's weights instead of training")
    ap.add_argument("-o", "--output", type=Path, default=LIBRARY_PATH.parent / "motion_model.safetensors")
    args = ap.parse_args(argv)
    setup(threads=args.threads)
    if args.export is not None:
        model = export(args.export, args.preset, args.output, {"preset": args.preset})
        n = sum(p.numel() for p in model.net.parameters())
        print(f"{args.output}: {n} parameters, {args.output.stat().st_size / 1e6:.2f} MB")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    result, n_windows, _ = drain(run(args.preset, args.steps, args.out, library=args.library, batch_size=args.batch_size, lr=args.lr,
                                     stop_after_s=args.stop_after_s, weight_decay=args.weight_decay,
                                     still_p=args.still_p, far_weight=args.far_weight),
                                 lambda p: print(p.message, file=sys.stderr, flush=True) if p.done % 100 == 0 else None)
    print(f"{n_windows} windows; step {result.step}; losses {result.losses}; best {result.best_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
