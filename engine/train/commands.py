"""The `prepare-data` and `train` commands (engine/cli.py parses, these run)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from engine.errors import UserFacingError
from engine.jobs import CancelToken, Progress, drain

LOG_EVERY_S = 30.0  # without a terminal (nohup, CI), one progress line this often


class TrainingBar:
    """A terminal line with the job's message (loss, steps/s); plain lines every LOG_EVERY_S otherwise."""

    def __init__(self, label: str, stream=sys.stderr) -> None:
        self.label, self.stream, self.tty = label, stream, stream.isatty()
        self._last_t, self._width = 0.0, 0

    def __call__(self, p: Progress) -> None:
        frac = f"{p.done}/{p.total}" if p.total else f"{p.done}"
        bar = "#" * int(30 * min(1.0, p.done / p.total)) if p.total else ""
        line = f"{self.label} [{bar:<30}] {frac} {p.message}"
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif time.monotonic() - self._last_t >= LOG_EVERY_S or p.message.startswith("warning"):
            self.stream.write(line + "\n")
            self._last_t = time.monotonic()
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()


def run_prepare(args) -> int:
    from engine.train.data import PrepareConfig, prepare

    try:
        cfg = PrepareConfig(corpus=args.corpus, out=args.out, size=args.size, frame_side=args.frame_side,
                            refs_per_clip=args.refs, target_stride=args.stride, max_clips=args.max_clips)
    except ValueError as exc:
        raise UserFacingError(str(exc)) from None
    bar = TrainingBar("Preparing")
    summary = drain(prepare(cfg, CancelToken()), bar)
    bar.finish()
    print(f"{cfg.out}: {summary['clips']} clips, {summary['pairs']} pairs"
          + (f"; skipped {', '.join(summary['skipped'])}" if summary["skipped"] else "")
          + (f"; held out for validation: {', '.join(summary['holdout'])}" if summary["holdout"] else ""))
    return 0


def run_train(args) -> int:
    import dataclasses

    from engine.train.generator import GeneratorTrainConfig, export_run, train_generator

    try:
        cfg = GeneratorTrainConfig.from_json(args.config)
        loop = {}
        if args.steps is not None:
            loop["steps"] = args.steps
        if args.minutes is not None:
            loop["stop_after_s"] = args.minutes * 60.0
        if args.cpu:
            loop["cpu"] = True
        if loop:
            cfg = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, **loop))
        if args.out:
            cfg = dataclasses.replace(cfg, out=args.out)
    except ValueError as exc:
        raise UserFacingError(str(exc)) from None
    if not args.export_only:
        bar = TrainingBar("Training")
        result = drain(train_generator(cfg, resume=not args.no_resume, cancel=CancelToken()), bar)
        bar.finish()
        if result.ema_path is None:  # not the main process
            return 0
        print(f"{cfg.out}: step {result.step}, losses "
              + ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.losses.items())))
    if args.export:
        path = export_run(cfg.out, args.export, "last" if args.last else "best",
                          calibrate=None if args.no_calibrate else cfg)
        print(f"exported {path} ({Path(path).stat().st_size / 2 ** 20:.1f} MB)")
    return 0
