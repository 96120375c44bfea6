"""Speed of the instant renderer's per-frame warp, beside a floor measured in the same run.

The floor is one plain cv2.remap of the photo to the same output size (the one remap the warp cannot
avoid). The per-photo analysis (matte, plate, mesh, factorisation) is timed apart: it runs once per photo.

Usage: python bench/render_speed.py [--photo FILE] [--frames N] [--sizes 512 1024] [--threads N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", default=str(MEDIA / "photo_fullbody_man_studio.png"))
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--threads", type=int, default=0, help="OpenCV threads (0 = its default)")
    args = ap.parse_args()
    setup()
    import cv2

    if args.threads:
        cv2.setNumThreads(args.threads)
    from engine.io.image import load_image
    from engine.render.base import output_size
    from engine.tokens.reference import Reference
    from engine.render.instant import InstantRenderer
    from engine.track.tracker import track_image

    rgb = load_image(args.photo)
    ref = Reference(rgb, track_image(rgb), name=Path(args.photo).stem)
    renderer = InstantRenderer()
    t = time.perf_counter()
    an = renderer.analysis(ref)
    analysis_s = time.perf_counter() - t
    targets = [swing(ref.landmarks, 0.37 * i) for i in range(16)]
    print(f"photo {ref.name} {ref.size[0]}x{ref.size[1]}: analysis {analysis_s:.2f} s "
          f"({len(an.verts)} vertices, {len(an.tris)} body triangles"
          f"{', face layer' if an.face is not None else ''}); OpenCV threads {cv2.getNumThreads()}")
    print(f"{'output':>12}  {'warp fps':>9}  {'floor fps (1 remap)':>20}  {'warp / floor':>12}")
    for side in args.sizes:
        size = output_size(ref, side)
        fps = time_it(lambda i=0: renderer.warp(ref, targets[i % len(targets)], size), args.frames)
        src = np.ascontiguousarray(rgb)
        h, w = src.shape[:2]
        gx, gy = np.meshgrid(np.linspace(0, w - 1, size[0], dtype=np.float32),
                             np.linspace(0, h - 1, size[1], dtype=np.float32))
        floor = time_it(lambda i=0: cv2.remap(src, gx, gy, cv2.INTER_LINEAR), args.frames)
        print(f"{size[0]:>5}x{size[1]:<6}  {fps:9.1f}  {floor:20.1f}  {fps / floor:12.2f}")


if __name__ == "__main__":
    main()
