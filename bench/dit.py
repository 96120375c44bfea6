"""Benchmark the X-UniMotion DiT presets on this machine's CPU: parameters, seconds per frame per denoising
step (one window, with the 3-pass classifier-free guidance the pipeline uses by default), decode time, and
peak memory, printed as a table.

    .venv/bin/python bench/dit.py                      # tiny, small, base (base at a reduced size)
    .venv/bin/python bench/dit.py --presets tiny small --steps 3

Each preset runs in its own subprocess so that its peak RSS (resource.getrusage) is its own; the table
reports it above the process's RSS after imports, next to engine.render.dit_pipeline.estimate_memory.
Random weights: this measures the paper DiT's cost, not quality (it has no trained weights; the shipped
generator is the warp-guided model, measured by bench/generator_eval.py).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Sizes the CPU can finish in a minute or two; None = the preset's own sample_size and window.
CPU_REDUCED = {"base": {"size": 128, "window": 4}}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def run_one(name: str, steps: int, size: int | None, window: int | None) -> dict:
    import numpy as np
    import torch

    from engine.jobs import Progress
    from engine.models.config import preset
    from engine.models.unimotion import UniMotion, parameter_counts
    from engine.render.dit_pipeline import TokenMotion, UniMotionPipeline, estimate_memory
    from engine.models.motion_encoder import FLAT_DIM

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler  # noqa: F401  (imports before the baseline)

    base_rss = _rss_mb()
    cfg = preset(name)
    size = size or cfg.generator.sample_size
    window = window or cfg.generator.window
    torch.manual_seed(0)
    model = UniMotion(cfg)
    counts = parameter_counts(model)
    pipe = UniMotionPipeline(model, device="cpu")
    reference = (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)
    motion = TokenMotion(np.zeros((window, FLAT_DIM), np.float32))
    stamps: list[float] = []
    job = pipe(reference, motion, size=(size, size), steps=steps, window=window, overlap=0, preview_every=0)
    t0 = time.perf_counter()
    while True:
        try:
            p: Progress = next(job)
        except StopIteration:
            break
        stamps.append(time.perf_counter())
    # stamps: one per step, then one after decoding. Step 1 also computes the (cached) motion guidance.
    step_times = np.diff([t0] + stamps[:steps])
    steady = float(np.mean(step_times[1:])) if steps > 1 else float(step_times[0])
    return {
        "preset": name, "params": counts["total"], "dit_params": counts["dit"], "codec_params": counts["codec"],
        "size": size, "window": window, "reduced": size != cfg.generator.sample_size or window != cfg.generator.window,
        "s_per_frame_step": steady / window, "first_step_s": float(step_times[0]),
        "decode_s_per_frame": (stamps[-1] - stamps[steps - 1]) / window,
        "peak_mb": _rss_mb() - base_rss,
        "estimate_mb": estimate_memory(cfg, window, (size, size)) / 2 ** 20,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=None, help="override the frame size (square)")
    ap.add_argument("--window", type=int, default=None, help="override the window length")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.steps, args.size, args.window)))
        return

    rows = []
    for name in args.presets:
        over = {"size": args.size, "window": args.window} if args.size or args.window else CPU_REDUCED.get(name, {})
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps)]
        for k, v in over.items():
            if v:
                cmd += [f"--{k}", str(v)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"{name} failed")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    head = ("preset", "params", "of which VAE", "frames", "window", "s/frame/step", "decode s/frame",
            "peak MB", "estimate MB")
    lines = [head]
    for r in rows:
        lines.append((r["preset"] + (" *" if r["reduced"] else ""), f"{r['params'] / 1e6:.2f} M",
                      f"{r['codec_params'] / 1e6:.2f} M", f"{r['size']}x{r['size']}", str(r["window"]),
                      f"{r['s_per_frame_step']:.4f}", f"{r['decode_s_per_frame']:.4f}",
                      f"{r['peak_mb']:.0f}", f"{r['estimate_mb']:.0f}"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    for k, row in enumerate(lines):
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
        if k == 0:
            print("-+-".join("-" * w for w in widths))
    print(f"\nCPU, {rows[0]['threads']} torch threads, float32, {args.steps} steps, 3-pass CFG, one window "
          "(overlap 0); s/frame/step excludes step 1 (which also computes the motion guidance).")
    if any(r["reduced"] for r in rows):
        print("* measured at a reduced frame size / window: the preset's own size is too slow on this CPU.")


if __name__ == "__main__":
    main()
