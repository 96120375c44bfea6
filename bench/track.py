"""Tracking speed: the engine's tracker beside raw MediaPipe Holistic on the same decoded frames.

Prints frames/s for each and the ratio (goal: engine >= 0.9x raw, and above the clip's frame rate).
Usage: python bench/track.py [VIDEO] [--frames N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import native_stderr_silenced, setup  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "media" / "drive_fullbody_woman_dance.mp4"


def raw_holistic(frames: list[np.ndarray]) -> float:
    import mediapipe as mp

    with native_stderr_silenced():
        h = mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1,
                                           refine_face_landmarks=True)
        h.process(frames[0])
    t = time.perf_counter()
    for f in frames:
        h.process(f)
    dt = time.perf_counter() - t
    h.close()
    return len(frames) / dt


def engine_tracker(frames: list[np.ndarray], max_side: int) -> float:
    from engine.tokens.encode import encode_clip
    from engine.track.config import TrackerConfig
    from engine.track.holistic import HolisticTracker
    from engine.track.tracker import _downscale, postprocess
    from engine.track.types import ClipLandmarks

    cfg = TrackerConfig(max_side=max_side)
    with HolisticTracker(cfg) as tr:
        warm = _downscale(frames[0], max_side)
        tr.process(warm, frames[0].shape[1], frames[0].shape[0])  # both sides warm their graphs first
        tr.count_people(warm)
        t = time.perf_counter()
        out = []
        for i, f in enumerate(frames):
            small = _downscale(f, max_side)
            if i % 50 == 0:
                tr.count_people(small)
            out.append(tr.process(small, f.shape[1], f.shape[0]))
        lm = ClipLandmarks.stack(out)
        postprocess(lm, np.arange(len(frames)) / 25.0, cfg)
        encode_clip(lm)
        dt = time.perf_counter() - t
    return len(frames) / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default=str(DEFAULT))
    ap.add_argument("--frames", type=int, default=100)
    args = ap.parse_args()
    setup()
    from engine.io.video import iter_frames, probe

    info = probe(args.video)
    frames = [f.rgb for f, _ in zip(iter_frames(args.video), range(args.frames))]
    print(f"{Path(args.video).name}: {info.width}x{info.height}, {len(frames)} frames, clip at {info.fps:g} fps")
    raw = raw_holistic(frames)
    eng = engine_tracker(frames, 1280)
    eng_small = engine_tracker(frames, 720)
    raw2 = raw_holistic(frames)  # again, to see the machine's noise
    base = (raw + raw2) / 2
    print(f"{'raw Holistic (mean of 2 runs)':<36} {base:6.1f} fps   ({raw:.1f}, {raw2:.1f})")
    print(f"{'engine, full size (max_side 1280)':<36} {eng:6.1f} fps   {eng / base:.2f}x raw   "
          f"{eng / info.fps:.2f}x real time")
    print(f"{'engine, max_side 720':<36} {eng_small:6.1f} fps   {eng_small / base:.2f}x raw   "
          f"{eng_small / info.fps:.2f}x real time")


if __name__ == "__main__":
    main()
