"""Command line: `unimotion track|inspect|render|extend|prepare-data|train|demo`. Errors are one line on stderr and a
non-zero exit."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from engine.errors import Cancelled, UserFacingError
from engine.jobs import CancelToken, Progress, drain


STEP_MESSAGE_CHARS = 40  # a renderer's step message beside the bar is cut to this


class ProgressBar:
    """A one-line terminal progress bar (stderr), quiet when stderr is not a terminal."""

    def __init__(self, label: str, stream=sys.stderr) -> None:
        self.label, self.stream = label, stream
        self.tty = stream.isatty()
        self._last = ""

    def __call__(self, p: Progress) -> None:
        if p.total:
            frac = min(1.0, p.done / p.total)
            bar = "#" * int(frac * 30)
            line = f"\r{self.label} [{bar:<30}] {p.done}/{p.total}"
        else:
            line = f"\r{self.label} {p.done}"
        if p.preview is not None and p.message:  # a renderer's own step (DiT denoising): say which
            line += f"  {p.message[:STEP_MESSAGE_CHARS]}"
        if self.tty and line != self._last:
            pad = " " * max(0, len(self._last) - len(line))  # a shorter line must not leave the old tail
            self.stream.write(line + pad)
            self.stream.flush()
            self._last = line

    def finish(self, message: str = "") -> None:
        if self.tty:
            self.stream.write("\r" + " " * (len(self._last) + 2) + "\r")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()


def cmd_track(args: argparse.Namespace) -> int:
    from engine.analyze import track_clip
    from engine.tokens.clipfile import save_clip
    from engine.track.config import TrackerConfig

    from engine.io.output import check_output_path

    try:
        cfg = TrackerConfig(max_side=args.max_side, smooth=not args.no_smooth,
                            one_euro_min_cutoff=args.min_cutoff, one_euro_beta=args.beta, person=args.person)
    except ValueError as exc:  # the config names its field; the user knows the flag
        raise UserFacingError(_flag_message(str(exc))) from None
    out = check_output_path(args.output or Path(args.video).with_suffix(".npz").name, (".npz",), "a token file")
    bar = ProgressBar(f"Tracking {Path(args.video).name}")
    clip = drain(track_clip(args.video, cfg, CancelToken(), use_cache=not args.no_cache), bar)
    bar.finish()
    save_clip(clip, out)
    for w in clip.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{out}: {len(clip)} frames at {clip.fps:.2f} fps, {clip.size[0]}x{clip.size[1]}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from engine.inspect import describe
    from engine.tokens.clipfile import load_clip

    print(describe(load_clip(args.clip), channels=args.channels))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from engine.render.run import render_to_file
    from engine.track.config import TrackerConfig

    try:
        tracker = TrackerConfig(person=args.person)
    except ValueError as exc:
        raise UserFacingError(_flag_message(str(exc))) from None
    bar = ProgressBar("Rendering")
    result = drain(render_to_file(args.ref, args.drive, args.output, size=args.size,
                                  side_by_side=args.side_by_side, renderer=args.renderer,
                                  steps=args.steps, checkpoint=args.checkpoint, cancel=CancelToken(),
                                  tracker=tracker, framing=args.framing), bar)
    bar.finish()
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{result.path}: {result.frames} frames, {result.duration_s:.2f} s"
          + (", with audio" if result.has_audio else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The bundled sample: the astronaut photo animated by the bundled token file."""
    from engine.demo import DEMO_MOTION, demo_reference
    from engine.render.run import render_to_file

    from engine.io.output import check_output_path
    from engine.render.base import check_size

    check_size(args.size)
    check_output_path(args.output, (".mp4",), "the video")
    bar = ProgressBar("Rendering the demo")
    result = drain(render_to_file(demo_reference(), DEMO_MOTION, args.output, size=args.size,
                                  cancel=CancelToken()), bar)
    bar.finish()
    print(f"{result.path}: {result.frames} frames, {result.duration_s:.2f} s")
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    """Generate motion in a token file: extend, fill a range, or loop (engine/motion)."""
    from engine.motion.clipops import extend_clip
    from engine.io.output import check_output_path
    from engine.motion.generate import ENERGY, GenerateOptions
    from engine.analyze import load_driving
    from engine.tokens.clipfile import save_clip

    out_path = check_output_path(args.output, (".npz",), "a token file")  # refused before any work
    bar = ProgressBar("Tracking")  # a video is tracked first (through the cache); a token file just loads
    clip = drain(load_driving(args.clip, CancelToken()), bar)
    bar.finish()
    energy = ENERGY["calm"] if args.calm else ENERGY["lively"] if args.lively else args.energy
    try:
        options = GenerateOptions(method=args.method, seed=args.seed, energy=energy)
    except ValueError as exc:
        raise UserFacingError(str(exc).replace("GenerateOptions.", "--")) from None
    if args.before and args.seconds is None:
        raise UserFacingError("--before needs --seconds")
    bar = ProgressBar("Generating motion")
    out = drain(extend_clip(clip, seconds=args.seconds, before=args.before,
                            fill_range=tuple(args.fill) if args.fill else None, loop=args.loop, options=options,
                            cancel=CancelToken()), bar)
    bar.finish()
    save_clip(out, out_path)
    print(f"{out_path}: {len(out)} frames at {out.fps:.2f} fps ({out.warnings[-1]})")
    return 0


def cmd_prepare_data(args: argparse.Namespace) -> int:
    """Training pairs for the generator from the corpus (engine/train/data.py)."""
    from engine.train.commands import run_prepare

    return run_prepare(args)


def cmd_train(args: argparse.Namespace) -> int:
    """Train the generator from a JSON config (engine/train/generator.py); `accelerate launch` works too."""
    from engine.train.commands import run_train

    return run_train(args)


# TrackerConfig field -> the `track` flag that sets it, for one-line messages in the user's terms.
_FLAGS = {"TrackerConfig.max_side": "--max-side", "TrackerConfig.one_euro_*": "--min-cutoff/--beta",
          "TrackerConfig.person": "--person"}
PERSON_HELP = ("when the video shows several people, follow the N-th from the left (1 = leftmost); "
               "default: the largest")


def _flag_message(message: str) -> str:
    for field, flag in _FLAGS.items():
        message = message.replace(field, flag)
    return message


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong and where to read more), like every error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from engine.render import registry as renderer_registry
    from engine.render.base import LONG_SIDE_RANGE
    from engine.track.config import MIN_MAX_SIDE

    ap = OneLineParser(prog="unimotion", description="UniMotion engine: track motion tokens, render.")
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("track", help="track a video (or photo) into a token file (.npz)")
    t.add_argument("video")
    t.add_argument("-o", "--output", help="token file to write (default: VIDEO name with .npz)")
    t.add_argument("--max-side", type=int, default=1280,
                   help=f"downscale frames to this long side for tracking (at least {MIN_MAX_SIDE})")
    t.add_argument("--no-smooth", action="store_true", help="turn off the One-Euro jitter filter")
    t.add_argument("--min-cutoff", type=float, default=1.5, help="One-Euro min cutoff (Hz); lower = smoother")
    t.add_argument("--beta", type=float, default=10.0,
                   help="One-Euro speed coefficient (frame sizes per second); higher = less lag")
    t.add_argument("--no-cache", action="store_true", help="ignore and do not write the tracking cache")
    t.add_argument("--person", type=int, default=None, metavar="N", help=PERSON_HELP)
    t.set_defaults(func=cmd_track)

    i = sub.add_parser("inspect", help="print a token file's groups, channels, ranges and gaps")
    i.add_argument("clip")
    i.add_argument("--channels", action="store_true", help="list every channel with its range")
    i.set_defaults(func=cmd_inspect)

    r = sub.add_parser("render", help="animate a photo with a driving video (or token file) into an MP4")
    r.add_argument("--ref", required=True, help="reference photo")
    r.add_argument("--drive", required=True, help="driving video, or a token file from `track`")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--size", type=int, default=None,
                   help=f"long side of the output in px, {LONG_SIDE_RANGE[0]}..{LONG_SIDE_RANGE[1]} (default: photo's)")
    r.add_argument("--side-by-side", action="store_true", help="driving | result layout")
    r.add_argument("--framing", choices=("follow", "keep-in-frame", "fixed"), default="follow",
                   help="follow the driver's travel (default), keep the whole person in frame, or fixed in place")
    r.add_argument("--renderer", choices=renderer_registry.cli_choices(), default=renderer_registry.DEFAULT)
    r.add_argument("--steps", type=int, default=None, help="diffusion steps (default: the renderer's own)")
    r.add_argument("--checkpoint", default=None, help="generator checkpoint (dit renderer)")
    r.add_argument("--person", type=int, default=None, metavar="N", help=PERSON_HELP)
    r.set_defaults(func=cmd_render)

    x = sub.add_parser("extend", help="generate motion in a token file: extend it, fill a range, or loop it")
    x.add_argument("clip", help="token file (.npz) from `track`, or a video (tracked first)")
    x.add_argument("-o", "--output", required=True, help="token file to write")
    x.add_argument("--seconds", type=float, default=None, help="extend by this many seconds after the last frame")
    x.add_argument("--before", action="store_true", help="with --seconds: extend before the first frame instead")
    x.add_argument("--fill", type=int, nargs=2, metavar=("START", "END"),
                   help="regenerate frames START..END (inclusive, as `inspect` numbers them) from both sides")
    x.add_argument("--loop", action="store_true", help="rewrite the end so the clip loops seamlessly")
    x.add_argument("--seed", type=int, default=0, help="another seed gives another take")
    mood = x.add_mutually_exclusive_group()
    mood.add_argument("--calm", action="store_true", help="calmer than the performer")
    mood.add_argument("--lively", action="store_true", help="livelier than the performer")
    mood.add_argument("--energy", type=float, default=1.0, help="motion scale (1 = as the performer)")
    x.add_argument("--method", default="hybrid", choices=("hold", "velocity", "matching", "model", "hybrid"),
                   help="generator (default hybrid: the model for the near future, then motion matching)")
    x.set_defaults(func=cmd_extend)

    pd = sub.add_parser("prepare-data", help="prepare the generator's training pairs from the corpus")
    pd.add_argument("--corpus", default="../shared/corpus", help="folder of clip_*.mp4 (never the test media)")
    pd.add_argument("--out", default="out/generator/data")
    pd.add_argument("--size", type=int, default=128, help="crop side the model sees, px")
    pd.add_argument("--frame-side", type=int, default=256, help="decode and render frames at this long side")
    pd.add_argument("--refs", type=int, default=4, help="reference frames per clip")
    pd.add_argument("--stride", type=int, default=3, help="every n-th frame is a target")
    pd.add_argument("--max-clips", type=int, default=0, help="0 = all")
    pd.set_defaults(func=cmd_prepare_data)

    tr = sub.add_parser("train", help="train the generator (configs/generator_small.json); resumes its run")
    tr.add_argument("--config", required=True, help="JSON training config")
    tr.add_argument("--out", default=None, help="run folder (default: the config's)")
    tr.add_argument("--steps", type=int, default=None, help="total steps (default: the config's)")
    tr.add_argument("--minutes", type=float, default=None, help="stop (saved, resumable) after this long")
    tr.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU exists")
    tr.add_argument("--no-resume", action="store_true", help="start over instead of resuming the run folder")
    tr.add_argument("--export", default=None, help="write the best EMA weights here as a generator checkpoint")
    tr.add_argument("--last", action="store_true", help="with --export: the last EMA weights, not the best")
    tr.add_argument("--export-only", action="store_true", help="with --export: export without training")
    tr.add_argument("--no-calibrate", action="store_true",
                    help="with --export: keep residual gain 1 (default: measured on the held-out pairs)")
    tr.set_defaults(func=cmd_train)

    d = sub.add_parser("demo", help="render the bundled sample (astronaut photo + bundled motion) to an MP4")
    d.add_argument("-o", "--output", default="demo.mp4")
    d.add_argument("--size", type=int, default=512,
                   help=f"long side of the output in px, {LONG_SIDE_RANGE[0]}..{LONG_SIDE_RANGE[1]}")
    d.set_defaults(func=cmd_demo)
    return ap


def _terminate(signum, frame) -> None:
    """SIGTERM (a closed terminal, `kill`, a service stop) unwinds like Ctrl+C: the job stops, its temp file
    is removed and any older output is kept."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    from engine.runtime import setup

    args = build_parser().parse_args(argv)
    setup()
    verbose = os.environ.get("UNIMOTION_VERBOSE", "") not in ("", "0")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    except UserFacingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0  # output piped into `head` and friends
    except (Cancelled, KeyboardInterrupt):
        print("\ncancelled", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line for the user, the trace on request
        if verbose:
            raise
        detail = str(exc).splitlines()[0] if str(exc) else "no details"
        print(f"error: unexpected failure ({detail}); run again with UNIMOTION_VERBOSE=1 for the details",
              file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
