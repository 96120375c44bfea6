"""A model-agnostic training loop on Hugging Face Accelerate: the same code on this CPU, one GPU (bf16) and
many GPUs or nodes (`accelerate launch`).

Use:

    from engine.train.loop import LoopConfig, train
    from engine.jobs import drain

    def loss_fn(model, batch) -> dict[str, torch.Tensor]:
        out = model(batch["x"])                    # call the (possibly DDP-wrapped) model itself: its
        return {"loss": F.mse_loss(out, batch["y"]),  # forward is what syncs gradients across processes
                "l1": F.l1_loss(out, batch["y"]).detach()}   # extra entries are only logged

    result = drain(train(model, loss_fn, dataset, LoopConfig(steps=1000, batch_size=8), "runs/motion"))

- `dataset` is a map-style torch Dataset; items are collated by torch's default collate (dicts of tensors
  are fine) and moved to the device. Randomness in `__getitem__` or `loss_fn` should use torch's global RNG
  (or numpy's / random's): those states are part of the checkpoint, so a resumed run continues exactly.
- `loss_fn(model, batch)` returns a dict with a "loss" entry (what is minimised) and any others to log.
- `train` is a Job: it yields engine.jobs.Progress (message "loss 0.0123 · 2.4 steps/s") and checks the
  CancelToken between steps; on cancel it saves the whole state first, so nothing is lost.
- out_dir holds: state/step_NNNNNNN/ (accelerator.save_state: weights, optimiser, LR schedule, RNG of every
  process, EMA, step counter; the newest `keep_states` are kept), losses.csv (step, lr, losses, steps/s),
  eval.csv when `eval_fn` is given, ema.safetensors (the EMA weights, rewritten at every save) and
  best_ema.safetensors (the EMA weights with the lowest eval "score": early stopping without a rerun).
- Calling `train` again with the same out_dir resumes from the newest complete state (resume=True): the
  loss curve continues as if never stopped (exactly so with num_workers=0, the default).
- `eval_fn(ema_model) -> dict[str, float]` (optional) runs on the main process every `eval_every` steps on
  the EMA weights; its "score" entry (lower is better) picks best_ema.safetensors.

Multi-process: `accelerate launch --cpu --num_processes 2 main.py train ...` (or GPUs without --cpu).
Each process sees a disjoint shard of every epoch's shuffled order; gradients are averaged (DDP); the
logged losses are averaged over processes; only the main process writes files.
"""
from __future__ import annotations

import copy
import csv
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from engine.errors import Cancelled, UserFacingError
from engine.jobs import CancelToken, Job, Progress

STATE_DIR = "state"
STATE_PREFIX = "step_"
COMPLETE_MARK = "complete.json"  # written last: a state folder without it was interrupted mid-save
LOSS_LOG = "losses.csv"
EVAL_LOG = "eval.csv"
EMA_FILE = "ema.safetensors"
BEST_FILE = "best_ema.safetensors"
MIXED_PRECISION = ("no", "bf16", "fp16")
LR_SCHEDULES = ("constant", "cosine")
RATE_WINDOW = 20  # steps over which steps/s is measured (a rolling figure, not the run's average)


class TrainingError(UserFacingError):
    """A run that cannot start or continue (bad config, a state folder from another model, empty data)."""


@dataclass(frozen=True)
class LoopConfig:
    """How to train (not what): schedule, optimiser, EMA, checkpoints, logging, precision."""

    steps: int = 1000  # optimiser steps in total (a resumed run stops at the same total)
    batch_size: int = 8  # per process
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100  # linear warm-up from 0
    lr_schedule: str = "constant"  # after warm-up: "constant" or "cosine" (to 0 at `steps`)
    grad_clip: float = 1.0  # max gradient norm; 0 = no clipping
    grad_accumulation: int = 1
    ema_decay: float = 0.999  # 0 = no EMA (the EMA file then holds the raw weights)
    ema_start: int = 0  # steps before this copy the weights instead of averaging
    save_every: int = 500  # steps between full-state checkpoints
    keep_states: int = 2  # newest state folders kept
    log_every: int = 10  # steps between losses.csv rows (and Progress messages)
    eval_every: int = 0  # steps between eval_fn calls; 0 = never
    stop_after_s: float = 0.0  # wall-clock budget of this invocation (save and return); 0 = none
    mixed_precision: str = "no"  # "bf16" on a GPU that has it
    cpu: bool = False  # force the CPU even where a GPU exists
    num_workers: int = 0  # DataLoader workers; exact resume holds for 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accumulation", "save_every", "keep_states", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"LoopConfig.{name}: must be a positive integer, got {v!r}")
        for name in ("lr",):
            if not getattr(self, name) > 0:
                raise ValueError(f"LoopConfig.{name}: must be > 0, got {getattr(self, name)!r}")
        for name in ("weight_decay", "grad_clip", "warmup_steps", "ema_start", "eval_every", "stop_after_s",
                     "num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"LoopConfig.{name}: must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"LoopConfig.ema_decay: must lie in [0, 1), got {self.ema_decay!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"LoopConfig.mixed_precision: one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"LoopConfig.lr_schedule: one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"LoopConfig.betas: two numbers in [0, 1), got {self.betas!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LoopConfig":
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"LoopConfig.{unknown[0]}: unknown field")
        data = dict(data)
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    step: int  # optimiser steps done (in total, across resumes)
    losses: dict[str, float]  # the last logged losses (averaged over processes)
    out_dir: Path
    ema_path: Path | None  # the EMA weights (main process only)
    best_path: Path | None  # the best EMA weights by eval score, when eval_fn was given
    stopped_early: bool  # True when stop_after_s ended this invocation before `steps`


# --- pieces the accelerator checkpoints with the model --------------------------------------------------

class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers (float32 copies)."""

    def __init__(self, model: nn.Module, decay: float, start: int = 0) -> None:
        self.decay, self.start = decay, start
        self.shadow = {k: v.detach().float().clone() for k, v in model.state_dict().items()
                       if v.dtype.is_floating_point}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = 0.0 if (self.decay == 0 or step < self.start) else self.decay
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)

    def copy_to(self, model: nn.Module) -> nn.Module:
        state = model.state_dict()
        state.update({k: v.to(state[k].dtype) for k, v in self.shadow.items()})
        model.load_state_dict(state)
        return model

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "start": self.start, "shadow": self.shadow}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise TrainingError(f"the saved EMA does not fit this model (e.g. {sorted(missing)[0]})")
        device = next(iter(self.shadow.values())).device
        self.shadow = {k: v.to(device) for k, v in state["shadow"].items()}


class Counter:
    """The step count and the best eval score, saved with the state."""

    def __init__(self) -> None:
        self.step, self.best = 0, math.inf

    def state_dict(self) -> dict[str, float]:
        return {"step": self.step, "best": self.best}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.step, self.best = int(state["step"]), float(state["best"])


# --- data order ----------------------------------------------------------------------------------------

def epoch_order(n: int, seed: int, epoch: int, rank: int, world: int, batch: int) -> list[list[int]]:
    """This process's batches of one epoch: a permutation seeded by (seed, epoch), cut into whole global
    batches (world x batch items), each process taking its own slice. Independent of the global RNG, so
    the order is the same whether or not the run was resumed."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    per_step = world * batch
    return [perm[s + rank * batch: s + (rank + 1) * batch] for s in range(0, n - per_step + 1, per_step)]


def lr_lambda(config: LoopConfig) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / (config.warmup_steps + 1)
        if config.lr_schedule == "constant":
            return 1.0
        span = max(1, config.steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - config.warmup_steps) / span)))
    return f


# --- state folders -------------------------------------------------------------------------------------

def latest_state(out_dir: str | Path) -> Path | None:
    """The newest complete state folder under out_dir (interrupted saves are ignored)."""
    root = Path(out_dir) / STATE_DIR
    done = sorted(p for p in root.glob(f"{STATE_PREFIX}*") if (p / COMPLETE_MARK).is_file()) if root.is_dir() else []
    return done[-1] if done else None


def _save_state(accelerator, out_dir: Path, counter: Counter, keep: int) -> Path:
    import json

    root = out_dir / STATE_DIR
    final = root / f"{STATE_PREFIX}{counter.step:07d}"
    tmp = root / f".tmp_{STATE_PREFIX}{counter.step:07d}"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))  # every process writes its own RNG state; the main one the rest
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / COMPLETE_MARK).write_text(json.dumps({"step": counter.step}) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        states = sorted(p for p in root.glob(f"{STATE_PREFIX}*") if (p / COMPLETE_MARK).is_file())
        for old in states[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def save_weights(model: nn.Module, path: Path) -> Path:
    """A state dict as safetensors, written to a temporary file and renamed (never half-written)."""
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)
    return path


class _CsvLog:
    """Append rows to a CSV; on resume, rows past the resumed step are dropped (that stretch is redone)."""

    def __init__(self, path: Path, resume_step: int) -> None:
        self.path, self.fields = path, None
        if path.is_file():
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            if rows:
                self.fields = list(rows[0])
                self._write(rows, "w")
            else:
                path.unlink()

    def _write(self, rows: list[dict], mode: str) -> None:
        with self.path.open(mode, newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields)
            if mode == "w":
                w.writeheader()
            w.writerows(rows)

    def append(self, row: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(row)
            self._write([row], "w")
        elif set(row) - set(self.fields):  # a new column (a loss term added on resume): widen the file
            with self.path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            self.fields += [k for k in row if k not in self.fields]
            self._write(rows + [row], "w")
        else:
            self._write([{k: row.get(k, "") for k in self.fields}], "a")


# --- the loop ------------------------------------------------------------------------------------------

def train(model: nn.Module, loss_fn: Callable[[nn.Module, Any], Mapping[str, torch.Tensor]], dataset,
          config: LoopConfig, out_dir: str | Path, *, eval_fn: Callable[[nn.Module], Mapping[str, float]] | None = None,
          resume: bool = True, cancel: CancelToken | None = None, accelerator=None) -> Job[TrainResult]:
    """Train `model` to config.steps (resuming from out_dir's newest state when resume=True). See the module
    docstring. Returns a TrainResult; the trained weights are also left in `model` (raw, not EMA)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader

    out_dir = Path(out_dir)
    n = len(dataset)
    if accelerator is None:
        accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu,
                                  gradient_accumulation_steps=config.grad_accumulation)
    rank, world = accelerator.process_index, accelerator.num_processes
    if n < config.batch_size * world:
        raise TrainingError(f"the dataset has {n} items, fewer than one batch ({config.batch_size} x {world} "
                            "processes)")
    set_seed(config.seed, device_specific=True)  # per-process noise and augmentation; weights synced by DDP
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    # The scheduler is not handed to accelerator.prepare: its wrapper steps once per process per step
    # (schedules written for one process), which would halve the warm-up on two processes.
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    raw = accelerator.unwrap_model(wrapped)
    ema = EMA(raw, config.ema_decay, config.ema_start)
    counter = Counter()
    accelerator.register_for_checkpointing(scheduler, ema, counter)

    start = latest_state(out_dir) if resume else None
    if start is not None:
        try:
            accelerator.load_state(str(start))
        except (RuntimeError, KeyError, ValueError) as exc:
            raise TrainingError(f"{start} does not fit this model or run ({str(exc).splitlines()[0][:200]}); "
                                "use another output folder or --no-resume") from exc
        yield Progress(counter.step, config.steps, f"Resumed from step {counter.step}")
    logs = None
    if accelerator.is_main_process:
        logs = (_CsvLog(out_dir / LOSS_LOG, counter.step), _CsvLog(out_dir / EVAL_LOG, counter.step))

    steps_per_epoch = n // (config.batch_size * world * config.grad_accumulation)
    if steps_per_epoch < 1:
        raise TrainingError(f"the dataset has {n} items, fewer than one optimiser step's worth "
                            f"({config.batch_size} x {world} processes x {config.grad_accumulation} accumulated)")
    micro_per_epoch = steps_per_epoch * config.grad_accumulation
    t_start, stopped_early, last = time.monotonic(), False, {}
    stamps: list[float] = []
    best_path = out_dir / BEST_FILE if eval_fn is not None else None

    def snapshot(final: bool = False) -> None:
        _save_state(accelerator, out_dir, counter, config.keep_states)
        if accelerator.is_main_process:
            save_weights(ema.copy_to(copy.deepcopy(raw)), out_dir / EMA_FILE)

    try:
        while counter.step < config.steps:
            epoch, into = divmod(counter.step * config.grad_accumulation, micro_per_epoch)
            batches = epoch_order(n, config.seed, epoch, rank, world, config.batch_size)[:micro_per_epoch][into:]
            loader = DataLoader(dataset, batch_sampler=batches, num_workers=config.num_workers,
                                generator=torch.Generator().manual_seed(config.seed + epoch))
            accum = {}
            for micro, batch in enumerate(loader):
                if cancel is not None and cancel.cancelled:
                    raise Cancelled()
                batch = _to_device(batch, accelerator.device)
                with accelerator.accumulate(wrapped):
                    with accelerator.autocast():
                        losses = loss_fn(wrapped, batch)
                    if "loss" not in losses:
                        raise TrainingError("loss_fn must return a dict with a 'loss' entry")
                    if not torch.isfinite(losses["loss"].detach()).all():
                        # stop before a NaN reaches the weights (the last saved state is still good)
                        raise TrainingError(f"the loss is not finite at step {counter.step + 1}: check the data "
                                            "for NaN/inf values or lower the learning rate")
                    accelerator.backward(losses["loss"])
                    if accelerator.sync_gradients and config.grad_clip > 0:
                        accelerator.clip_grad_norm_(params, config.grad_clip)
                    optimizer.step()  # a no-op while gradients accumulate
                    if accelerator.sync_gradients:
                        scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                for k, v in losses.items():
                    accum[k] = accum.get(k, 0.0) + float(v.detach()) / config.grad_accumulation
                if not accelerator.sync_gradients:
                    continue
                counter.step += 1
                ema.update(raw, counter.step)
                stamps = (stamps + [time.monotonic()])[-RATE_WINDOW:]
                rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
                if counter.step % config.log_every == 0 or counter.step == config.steps:
                    keys = sorted(accum)
                    mean = accelerator.reduce(torch.tensor([accum[k] for k in keys], device=accelerator.device),
                                              reduction="mean")
                    last = dict(zip(keys, mean.tolist()))
                    if logs is not None:
                        logs[0].append({"step": counter.step, "lr": scheduler.get_last_lr()[0],
                                        **{k: f"{v:.6g}" for k, v in last.items()}, "steps_per_s": f"{rate:.3f}",
                                        "wall_s": f"{time.monotonic() - t_start:.1f}"})
                accum = {}
                if eval_fn is not None and config.eval_every and counter.step % config.eval_every == 0:
                    _evaluate(accelerator, eval_fn, ema, raw, counter, logs, best_path)
                if counter.step % config.save_every == 0 or counter.step == config.steps:
                    snapshot()
                msg = f"step {counter.step}/{config.steps} · loss {last.get('loss', float('nan')):.4g} · {rate:.2f} steps/s"
                yield Progress(counter.step, config.steps, msg)
                if counter.step >= config.steps:
                    break
                if config.stop_after_s and time.monotonic() - t_start >= config.stop_after_s:
                    stopped_early = True
                    break
            if stopped_early:
                if counter.step % config.save_every:
                    snapshot()
                break
    except Cancelled:
        snapshot()  # a cancelled run resumes where it stopped
        raise
    accelerator.wait_for_everyone()
    main = accelerator.is_main_process
    return TrainResult(step=counter.step, losses=last, out_dir=out_dir,
                       ema_path=out_dir / EMA_FILE if main else None,
                       best_path=best_path if (main and best_path is not None and best_path.is_file()) else None,
                       stopped_early=stopped_early)


def _evaluate(accelerator, eval_fn, ema: EMA, raw: nn.Module, counter: Counter, logs, best_path: Path | None) -> None:
    if accelerator.is_main_process:
        shadow = ema.copy_to(copy.deepcopy(raw)).eval()
        with torch.no_grad():
            metrics = dict(eval_fn(shadow))
        logs[1].append({"step": counter.step, **{k: f"{v:.6g}" for k, v in metrics.items()}})
        score = metrics.get("score")
        if score is not None and score < counter.best and best_path is not None:
            counter.best = float(score)
            save_weights(shadow, best_path)
    if accelerator.num_processes > 1:  # every process keeps the main one's best score (it is saved state)
        from accelerate.utils import broadcast

        best = torch.tensor([min(counter.best, 1e30)], device=accelerator.device)
        counter.best = float(broadcast(best, from_process=0)[0])


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch
