"""The trained generator against the instant render and the photo held still, on the shared media (never
trained on). Issue 8's table.

Self-reenactment (each clip's first frame is the reference; `--frames` frames spread over the clip):
    PSNR and SSIM of the output against the real frame (at `--size` long side), and the share of frames in
    which MediaPipe finds each hand in the output where it finds it in the driving frame.
Cross-identity (every photo x clip, `--cross-frames` frames): driving tokens against tokens re-tracked
    from the output, as bench/reenact.py measures them (body degrees, face, finger flexion degrees).
Seconds per frame of each renderer on this machine (render only, same run, same frames).

Renderers: still (photo held still), instant, DiT preview at 1, 2 and 4 steps (no guidance, the mean of
PREVIEW_DRAWS samples, as the studio's preview; `preview2-global`: with the checkpoint's one residual gain
instead of its residual gate, as before stop 16), DiT full (8 steps, one sample, reference and motion
guidance 1.5). The cross-identity part runs --cross-renderers only (it
re-tracks every output frame).

    .venv/bin/python bench/generator_eval.py                       # the shipped model, 24 + 12 frames
    .venv/bin/python bench/generator_eval.py --checkpoint out/generator/run_small/best.safetensors --no-cross
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
BEFORE = "-before"  # renderer suffix: the preview of the --before checkpoint (with its own calibration)
GLOBAL = "-global"  # renderer suffix: the preview with the checkpoint's one residual gain, not its gate
HAND_MIN = 2  # a clip's hand column is shown only when the driver shows that hand in at least this many frames


def renderers(checkpoint: str | None, which: list[str], before: str | None = None):
    from engine.render.dit_renderer import (FULL_MOTION_GUIDANCE, FULL_REF_GUIDANCE, FULL_RESIDUAL_GAIN, FULL_STEPS,
                                            PREVIEW_DRAWS, DiTRenderer)
    from engine.render.instant.renderer import InstantRenderer

    out = {}
    for name in which:
        if name == "instant":
            out[name] = InstantRenderer()
        elif name.startswith("preview") and name.endswith(BEFORE):  # another checkpoint, same run (--before)
            if not before:
                raise SystemExit(f"{name}: needs --before CHECKPOINT")
            out[name] = DiTRenderer(before, steps=int(name[len("preview"):-len(BEFORE)]), draws=PREVIEW_DRAWS)
        elif name.startswith("preview") and name.endswith(GLOBAL):  # the stop-15 preview: one gain everywhere
            dit = DiTRenderer(checkpoint, steps=int(name[len("preview"):-len(GLOBAL)]), draws=PREVIEW_DRAWS)
            out[name] = DiTRenderer(dit.model, steps=dit.steps, draws=PREVIEW_DRAWS,
                                    residual_gain=dit.model.config.residual_gain)
        elif name.startswith("preview"):
            out[name] = DiTRenderer(checkpoint, steps=int(name[len("preview"):]), draws=PREVIEW_DRAWS)
        elif name == "full":
            out[name] = DiTRenderer(checkpoint, steps=FULL_STEPS, ref_guidance=FULL_REF_GUIDANCE,
                                    motion_guidance=FULL_MOTION_GUIDANCE, residual_gain=FULL_RESIDUAL_GAIN)
    return out


def hands_found(frames: list[np.ndarray], fps: float) -> np.ndarray:
    """(T, 2) bool: left, right hand tracked (video mode, as the driver was)."""
    from reenact import retrack

    lm, _ = retrack(frames, fps)
    return np.stack([lm.present("left_hand"), lm.present("right_hand")], axis=1)


def self_reenactment(clip_path: Path, rnds: dict, args) -> dict:
    import cv2
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from engine.analyze import track_clip
    from engine.io.video import iter_frames
    from engine.jobs import drain
    from engine.render.base import Reference
    from engine.track.tracker import track_image

    clip = drain(track_clip(clip_path))
    n = len(clip)
    idx = sorted(set(np.linspace(1, n - 1, args.frames).round().astype(int).tolist()))
    want = set(idx) | {0}
    real = {f.index: f.rgb for f in iter_frames(clip_path) if f.index in want}
    idx = [i for i in idx if i in real]
    s = args.size / max(real[0].shape[:2])
    small = lambda im: cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)  # noqa: E731
    size = (int(round(real[0].shape[1] * s / 2)) * 2, int(round(real[0].shape[0] * s / 2)) * 2)
    ref = Reference(rgb=small(real[0]), landmarks=track_image(small(real[0]), require_person=False),
                    name=clip_path.stem)
    truth = [cv2.resize(small(real[i]), size, interpolation=cv2.INTER_AREA) for i in idx]
    driver_hands = hands_found(truth, clip.fps)
    rows = {}
    outputs = {"still": [cv2.resize(ref.rgb, size, interpolation=cv2.INTER_AREA)] * len(idx)}
    times = {"still": 0.0}
    for name, rnd in rnds.items():
        t = time.perf_counter()
        outputs[name] = [f.rgb for f in rnd.render(ref, clip.tokens, idx, size=size)]
        times[name] = (time.perf_counter() - t) / len(idx)
    for name, frames in outputs.items():
        psnr = float(np.mean([peak_signal_noise_ratio(a, b) for a, b in zip(truth, frames)]))
        ssim = float(np.mean([structural_similarity(a, b, channel_axis=2) for a, b in zip(truth, frames)]))
        found = hands_found(frames, clip.fps)
        hands = {}
        for k, side in enumerate(("left", "right")):
            need = driver_hands[:, k]
            if need.sum() >= HAND_MIN:
                hands[side] = float((found[:, k] & need).sum() / need.sum())
        rows[name] = {"psnr": psnr, "ssim": ssim, "hands": hands, "s_per_frame": times[name]}
    return rows


def cross_identity(rnds: dict, args) -> dict:
    import cv2

    from engine.analyze import track_clip
    from engine.io.image import load_image
    from engine.jobs import drain
    from engine.render.base import Reference
    from engine.track.tracker import track_image
    from reenact import retrack, token_agreement

    keys = ("body_deg", "face", "hand_deg", "found")  # as bench/reenact.token_agreement names them
    totals: dict[str, list] = {name: [] for name in ["still", *rnds]}
    photos = sorted(p for p in MEDIA.iterdir() if p.name.startswith("photo_"))
    clips = sorted(MEDIA.glob("drive_*.mp4"))
    for photo in photos:
        rgb = load_image(photo, max_side=args.size)
        ref = Reference(rgb=rgb, landmarks=track_image(rgb), name=photo.stem)
        for clip_path in clips:
            clip = drain(track_clip(clip_path))
            n = min(args.cross_frames, len(clip))
            tokens = clip.tokens.slice(0, n)
            still = [rgb] * n
            _, got = retrack(still, clip.fps)
            totals["still"].append(token_agreement(tokens, got))
            for name, rnd in rnds.items():
                out = [f.rgb for f in rnd.render(ref, tokens, range(n), size=args.size)]
                _, got = retrack(out, clip.fps)
                totals[name].append(token_agreement(tokens, got))
            print(f"  cross: {photo.stem} x {clip_path.stem} done", file=sys.stderr, flush=True)
    mean = lambda rows, k: float(np.mean([r[k] for r in rows if k in r])) if any(k in r for r in rows) else None  # noqa: E731
    return {name: {k: mean(rows, k) for k in keys} for name, rows in totals.items()}


def table(selfr: dict, cross: dict | None, names: list[str]) -> str:
    if not selfr:
        return table_cross(cross, names) if cross else ""
    lines = ["| renderer | " + " | ".join(f"{c} PSNR / SSIM" for c in selfr) + " | s/frame |",
             "|---|" + "---|" * (len(selfr) + 1)]
    for name in names:
        cells = [f"{selfr[c][name]['psnr']:.2f} / {selfr[c][name]['ssim']:.4f}" for c in selfr]
        spf = np.mean([selfr[c][name]["s_per_frame"] for c in selfr])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {spf:.3f} |")
    lines += ["", "Hands found in the output where the driver shows them (left / right; '-' = driver shows none):",
              "| renderer | " + " | ".join(selfr) + " |", "|---|" + "---|" * len(selfr)]
    for name in names:
        cells = []
        for c in selfr:
            h = selfr[c][name]["hands"]
            cells.append(" / ".join(f"{h[s]:.2f}" if s in h else "-" for s in ("left", "right")))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if cross:
        lines += ["", table_cross(cross, names)]
    return "\n".join(lines)


def table_cross(cross: dict, names: list[str]) -> str:
    lines = ["Cross-identity, 5 photos x 5 clips: driving vs re-tracked tokens (lower is better):",
             "| renderer | body deg | face | finger flexion deg | hands found |", "|---|---|---|---|---|"]
    for name in (n for n in names if n in cross):
        r = cross[name]
        lines.append(f"| {name} | " + " | ".join("-" if r[k] is None else f"{r[k]:.3f}" for k in
                                               ("body_deg", "face", "hand_deg", "found")) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None, help="generator checkpoint (default: the shipped one)")
    ap.add_argument("--before", default=None, help="a second checkpoint for the previewN-before renderers")
    ap.add_argument("--frames", type=int, default=24, help="self-reenactment frames per clip")
    ap.add_argument("--cross-frames", type=int, default=12, help="cross-identity frames per photo x clip")
    ap.add_argument("--size", type=int, default=512, help="long side of the compared frames, px")
    ap.add_argument("--renderers", nargs="+", default=["instant", "preview1", "preview2", "preview4", "full"])
    ap.add_argument("--cross-renderers", nargs="+", default=["instant", "preview2", "full"],
                    help="renderers in the cross-identity part (it re-tracks every frame: the slow part)")
    ap.add_argument("--no-cross", action="store_true")
    ap.add_argument("--no-self", action="store_true", help="only the cross-identity part")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    setup(threads=1)
    import torch

    torch.manual_seed(0)
    rnds = renderers(args.checkpoint, args.cross_renderers if args.no_self else args.renderers, args.before)
    selfr = {}
    for clip_path in [] if args.no_self else sorted(MEDIA.glob("drive_*.mp4")):
        selfr[clip_path.stem[len("drive_"):]] = self_reenactment(clip_path, rnds, args)
        print(f"  self: {clip_path.stem} done", file=sys.stderr, flush=True)
    cross = None if args.no_cross else cross_identity({k: v for k, v in rnds.items() if k in args.cross_renderers},
                                                      args)
    names = ["still", *rnds]
    if selfr:
        print(f"Self-reenactment on {MEDIA} ({args.frames} frames per clip, {args.size} px, first frame as "
              "reference):")
    print(table(selfr, cross, names))
    if args.json:
        Path(args.json).write_text(json.dumps({"self": selfr, "cross": cross, "args": vars(args)}, indent=1))


if __name__ == "__main__":
    main()
