"""Finger flexion per frame, for comparing two versions of the instant renderer on the same frames.

bench/reenact.py averages finger flexion over the frames in which the hand tracker finds the output's hand. A
renderer whose hands are found more often is then scored on harder frames too, and its mean can rise while
every hand it drew before reads the same. This bench keeps the per-frame errors so two runs (two checkouts)
can be compared on the frames both found.

Usage (each checkout writes its own file, then either compares them):
    UNIMOTION_CACHE=… OMP_NUM_THREADS=1 python bench/finger_frames.py --out before.npz     # in the old checkout
    UNIMOTION_CACHE=… OMP_NUM_THREADS=1 python bench/finger_frames.py --out after.npz      # in the new one
    python bench/finger_frames.py --compare before.npz after.npz
Per pair and hand: driver hands, found in each run, and the mean error (degrees) on the frames found in both;
then the paired mean difference with its standard error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEDIA = ROOT.parent / "shared" / "media"
PHOTOS = ("photo_halfbody_woman_openhands.png", "photo_fullbody_man_studio.png", "photo_fullbody_woman_outdoor.jpg")
CLIPS = ("drive_fullbody_man_dance.mp4", "drive_fullbody_woman_dance.mp4", "drive_upperbody_woman_hands.mp4")
SIZE = 512  # render long side, px (bench/reenact.py's)


def per_frame(media: Path, frames: int) -> dict[str, np.ndarray]:
    """{"photo|clip|side": (frames,) error in degrees}: NaN where the driver shows no hand, inf where the
    output's hand is not found."""
    from bench.reenact import retrack
    from engine.analyze import track_clip
    from engine.io.image import load_image
    from engine.jobs import drain
    from engine.render.run import make_renderer
    from engine.runtime import setup
    from engine.tokens.reference import Reference
    from engine.track.tracker import track_image

    setup()
    renderer = make_renderer("instant")
    out: dict[str, np.ndarray] = {}
    for photo in PHOTOS:
        rgb = load_image(media / photo, max_side=2 * SIZE)
        ref = Reference(rgb=rgb, landmarks=track_image(rgb), name=photo)
        for clip_name in CLIPS:
            clip = drain(track_clip(media / clip_name))
            n = min(frames, len(clip))
            rendered = [f.rgb for f in renderer.render(ref, clip.tokens, range(n), size=SIZE)]
            _, got = retrack(rendered, clip.fps)
            for side in ("left_hand", "right_hand"):
                drive, back = clip.tokens.group(side), got.group(side)
                idx = [i for i, c in enumerate(drive.channels) if "flex" in c.name]
                err = np.full(n, np.nan)
                shown = drive.confidence[:n] > 0
                found = shown & (back.confidence[:n] > 0)
                err[shown] = np.inf
                err[found] = np.abs(drive.values[:n][found][:, idx] - back.values[found][:, idx]).mean(axis=1)
                out[f"{photo}|{clip_name}|{side}"] = err
            print(f"{photo} x {clip_name}", flush=True)
    return out


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    diffs, found_a, found_b, want = [], 0, 0, 0
    print(f"{'pair | hand':<72} {'driver':>6} {'found':>11} {'both':>5} {'error on both':>15}")
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        shown = ~np.isnan(x)
        if not shown.any():
            continue
        both = np.isfinite(x) & np.isfinite(y)
        want += int(shown.sum())
        found_a += int(np.isfinite(x).sum())
        found_b += int(np.isfinite(y).sum())
        diffs.append(y[both] - x[both])
        err = f"{x[both].mean():6.2f} → {y[both].mean():6.2f}" if both.any() else "–"
        print(f"{key:<72} {int(shown.sum()):6d} {int(np.isfinite(x).sum()):4d} → {int(np.isfinite(y).sum()):3d} "
              f"{int(both.sum()):5d} {err:>15}")
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    print(f"\nhands found: {found_a} → {found_b} of {want}")
    if len(d) > 1:
        print(f"finger flexion on the {len(d)} hand frames found in both: second minus first "
              f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f} deg (mean ± standard error)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write this checkout's per-frame errors here (.npz)")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("FIRST", "SECOND"), help="compare two such files")
    ap.add_argument("--frames", type=int, default=30, help="frames per clip, from the start (bench/reenact.py's)")
    ap.add_argument("--media", type=Path, default=MEDIA)
    args = ap.parse_args()
    if args.compare:
        first, second = (dict(np.load(p)) for p in args.compare)
        compare(first, second)
    elif args.out:
        np.savez(args.out, **per_frame(args.media, args.frames))
    else:
        ap.error("give --out FILE or --compare FIRST SECOND")


if __name__ == "__main__":
    main()
