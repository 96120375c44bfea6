"""Renderer alone (tokens precomputed) at 512 and 1024 px, and end to end (decode + track + render + encode)
for a ~10 s clip, each beside the decode + encode-only throughput measured in the same run.

Goals on the 2-core machine: renderer >= 60 fps at 512 px; end to end faster than real time.
Usage: python bench/end_to_end.py [VIDEO] [--ref PHOTO]
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


def ideal_overlap(video: str, ref, clip, out: Path, size: int, fps: float) -> float:
    """Seconds to track the clip on one thread while another renders and encodes it (tokens taken from the
    cache): the best a single-pass streaming export could do on this machine."""
    import threading

    from engine.io.encode import Mp4Writer
    from engine.io.video import iter_frames
    from engine.render.instant.renderer import InstantRenderer
    from engine.track.config import TrackerConfig
    from engine.track.holistic import HolisticTracker

    def track() -> None:
        with HolisticTracker(TrackerConfig()) as tr:
            for f in iter_frames(video):
                tr.process(f.rgb, f.rgb.shape[1], f.rgb.shape[0])

    r = InstantRenderer()
    r.render_frame(ref, clip.tokens, 0, size=size)
    t = time.perf_counter()
    th = threading.Thread(target=track)
    th.start()
    with Mp4Writer(out, fps) as w:
        for fr in r.render(ref, clip.tokens, range(len(clip)), size=size):
            w.write(fr.rgb)
    th.join()
    return time.perf_counter() - t


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
    from engine.analyze import load_reference, track_clip
    from engine.render.instant.renderer import InstantRenderer
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

        clip = drain(track_clip(args.video))  # fills the tracking cache
        t = time.perf_counter()
        drain(render_to_file(args.ref, args.video, Path(tmp) / "again.mp4", size=args.size))
        t_cached = time.perf_counter() - t
        ref = load_reference(args.ref)
        t_overlap = ideal_overlap(args.video, ref, clip, Path(tmp) / "overlap.mp4", args.size, info.fps)
        alone = {}
        for size in (512, 1024):
            r = InstantRenderer()
            r.render_frame(ref, clip.tokens, 0, size=size)  # per-photo analysis, once, not timed
            t = time.perf_counter()
            n = sum(1 for _ in r.render(ref, clip.tokens, range(len(clip)), size=size))
            alone[size] = n / (time.perf_counter() - t)
    dur = base.frames / info.fps
    print(f"{Path(args.video).name}: {base.frames} frames, {dur:.1f} s of video; reference {Path(args.ref).name}")
    print(f"{'decode + encode only (baseline)':<40} {base.frames / t_base:6.1f} fps  {dur / t_base:5.2f}x real time")
    for size, fps in alone.items():
        print(f"{f'renderer alone, {size} px':<40} {fps:6.1f} fps  {fps / (base.frames / t_base):5.2f}x baseline")
    print(f"{'decode + track + render + encode':<40} {res.frames / t_all:6.1f} fps  {dur / t_all:5.2f}x real time"
          f"  ({t_all / t_base:.1f}x the decode+encode time)")
    print(f"{'same, tracking already cached':<40} {res.frames / t_cached:6.1f} fps  {dur / t_cached:5.2f}x real time")
    print(f"{'upper bound: tracking overlapped with':<40} {res.frames / t_overlap:6.1f} fps  {dur / t_overlap:5.2f}x real time"
          f"\n{'  render+encode on two threads':<40} (what a single-pass streaming export could reach at best)")


if __name__ == "__main__":
    main()
