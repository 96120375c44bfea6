"""Speed of the instant renderer's per-frame warp, beside a floor measured in the same run.

The floor is one plain cv2.remap of the photo to the same output size (the one remap the warp cannot
avoid). The per-photo analysis (matte, plate, mesh, factorisation) is timed apart: it runs once per photo.

Two workloads: a synthetic arm swing on `--photo` (both arms swung through 90 degrees, hands carried
rigidly), and real driving tokens: each `--pairs` photo driven by a shared media clip (tracked through
engine.analyze.track_clip; set UNIMOTION_CACHE=/work/cache to reuse a warm cache), retargeted onto the
photo beforehand so that only the warp is timed. The real pairs are the costly cases: drawn hands and
bridging forearms (the outdoor photo's hands are in its pockets), a photo with open hands in view whose
fingers bend, and a closed photo hand redrawn.

Usage: python bench/render_speed.py [--photo FILE] [--frames N] [--sizes 512 1024] [--threads N]
                                    [--pairs PHOTO:CLIP,... | --pairs none] [--repeat N]
Goal (issue 9): at least 60 fps at 512 px on one thread:
    OMP_NUM_THREADS=1 UNIMOTION_CACHE=/work/cache python bench/render_speed.py --sizes 512 --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
PAIRS = ("photo_fullbody_woman_outdoor.jpg:drive_fullbody_woman_dance.mp4,"  # drawn hands and forearms
         "photo_halfbody_woman_openhands.png:drive_upperbody_woman_hands.mp4,"  # open photo hands, bending
         "photo_fullbody_man_studio.png:drive_upperbody_woman_hands.mp4")  # closed photo hands, redrawn


def swing(fl, t: float):
    """The photo's pose with both arms swung by a phase-dependent angle (a different target per frame)."""
    from engine.track import landmarks as L

    out = fl.copy()
    for sh, pts, sign in ((L.R_SHOULDER, [14, 16, 18, 20, 22], 1.0), (L.L_SHOULDER, [13, 15, 17, 19, 21], -1.0)):
        a = np.deg2rad(sign * 90.0 * (0.5 + 0.5 * np.sin(t)))
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        c = fl.body[sh, :2]
        out.body[pts, :2] = (fl.body[pts, :2] - c) @ r.T + c
        hand = "right_hand" if sh == L.R_SHOULDER else "left_hand"
        if fl.has(hand):
            h = getattr(out, hand)
            h[:, :2] = (getattr(fl, hand)[:, :2] - c) @ r.T + c
    return out


def time_it(fn, n: int) -> float:
    fn()  # warm-up (first-size caches)
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t)


def measure(renderer, ref, targets, rgb, side: int, frames: int, repeat: int) -> tuple[float, float, float]:
    """Median warp fps, median floor fps and the median of the per-run ratios over `repeat` runs (warp and
    floor alternate, so a busy spell on the shared machine lands on both)."""
    import cv2
    from engine.render.base import output_size

    size = output_size(ref, side)
    src = np.ascontiguousarray(rgb)
    h, w = src.shape[:2]
    gx, gy = np.meshgrid(np.linspace(0, w - 1, size[0], dtype=np.float32),
                         np.linspace(0, h - 1, size[1], dtype=np.float32))
    fps, floor = [], []
    for _ in range(repeat):
        fps.append(time_it(lambda i=0: renderer.warp(ref, targets[i % len(targets)], size), frames))
        floor.append(time_it(lambda i=0: cv2.remap(src, gx, gy, cv2.INTER_LINEAR), frames))
    ratio = statistics.median(a / b for a, b in zip(fps, floor))
    return statistics.median(fps), statistics.median(floor), ratio


def row(size, fps, floor, ratio, label="") -> str:
    return f"{size[0]:>5}x{size[1]:<6}  {fps:9.1f}  {floor:20.1f}  {ratio:12.3f}  {label}"


HEADER = f"{'output':>12}  {'warp fps':>9}  {'floor fps (1 remap)':>20}  {'warp / floor':>12}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", default=str(MEDIA / "photo_fullbody_man_studio.png"))
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--threads", type=int, default=0, help="OpenCV threads (0 = its default)")
    ap.add_argument("--pairs", default=PAIRS, help="PHOTO:CLIP,... from --media driven by real tokens "
                                                   "('none': the synthetic swing only)")
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; medians are printed")
    args = ap.parse_args()
    setup()
    import cv2

    if args.threads:
        cv2.setNumThreads(args.threads)
    from engine.analyze import load_reference, track_clip
    from engine.io.image import load_image
    from engine.jobs import drain
    from engine.render.base import output_size
    from engine.render.instant import InstantRenderer
    from engine.tokens import retarget
    from engine.tokens.reference import Reference
    from engine.track.tracker import track_image

    rgb = load_image(args.photo)
    ref = Reference(rgb, track_image(rgb), name=Path(args.photo).stem)
    renderer = InstantRenderer()
    t = time.perf_counter()
    an = renderer.analysis(ref)
    analysis_s = time.perf_counter() - t
    targets = [swing(ref.landmarks, 0.37 * i) for i in range(16)]
    print(f"Synthetic arm swing: photo {ref.name} {ref.size[0]}x{ref.size[1]}: analysis {analysis_s:.2f} s "
          f"({len(an.verts)} vertices, {len(an.tris)} body triangles"
          f"{', face layer' if an.face is not None else ''}); OpenCV threads {cv2.getNumThreads()}; "
          f"{args.frames} frames x {args.repeat} runs, medians")
    print(HEADER)
    for side in args.sizes:
        print(row(output_size(ref, side), *measure(renderer, ref, targets, rgb, side, args.frames, args.repeat)),
              flush=True)

    pairs = [tuple(p.split(":", 1)) for p in args.pairs.split(",") if ":" in p]
    if not pairs:
        return
    print(f"\nReal driving tokens (retargeted beforehand; the warp alone is timed over the clip's first "
          f"{args.frames} frames)")
    print(HEADER)
    for photo, clip_name in pairs:
        ref = load_reference(args.media / photo)
        clip = drain(track_clip(args.media / clip_name))
        rig = ref.rig()
        n = min(args.frames, len(clip.tokens))
        targets = [retarget.apply(clip.tokens.frame(i), rig) for i in range(n)]
        renderer.analysis(ref)
        for side in args.sizes:
            print(row(output_size(ref, side), *measure(renderer, ref, targets, ref.rgb, side, args.frames,
                                                        args.repeat), f"{Path(photo).stem} x {Path(clip_name).stem}"),
                  flush=True)


if __name__ == "__main__":
    main()
