"""End to end: decode + track + render + encode a ~10 s clip, beside decode + encode alone in the same run.

Goal: end to end faster than real time on this machine. Usage: python bench/end_to_end.py [VIDEO] [--ref PHOTO]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default=str(MEDIA / "drive_upperbody_woman_hands.mp4"))
    ap.add_argument("--ref", default=str(MEDIA / "photo_halfbody_woman_openhands.png"))
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    setup()
    from engine.io.encode import export_frames
    from engine.io.video import iter_frames, probe
    from engine.jobs import drain
    from engine.render.run import render_to_file

    info = probe(args.video)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        frames = (f.rgb for f in iter_frames(args.video))
        base = drain(export_frames(frames, Path(tmp) / "copy.mp4", info.fps, info.frame_count_hint))
        t_base = time.perf_counter() - t

        t = time.perf_counter()
        res = drain(render_to_file(args.ref, args.video, Path(tmp) / "out.mp4", size=args.size, use_cache=False))
        t_all = time.perf_counter() - t
    dur = base.frames / info.fps
    print(f"{Path(args.video).name}: {base.frames} frames, {dur:.1f} s of video")
    print(f"{'decode + encode only':<40} {base.frames / t_base:6.1f} fps  {dur / t_base:5.2f}x real time")
    print(f"{'decode + track + render + encode':<40} {res.frames / t_all:6.1f} fps  {dur / t_all:5.2f}x real time"
          f"  ({t_all / t_base:.1f}x the decode+encode time)")


if __name__ == "__main__":
    main()
