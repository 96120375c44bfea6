"""Memory of tracking: peak RSS at checkpoints while tracking a whole clip, and the Python-side growth.

Frames stream through one at a time, so memory should grow only by the landmarks kept per frame (~11 KB),
not by the frames (a 480x908 RGB frame is 1.3 MB). The first checkpoint comes after warm-up (MediaPipe
loads its hand and face models when it first needs them). Usage: python bench/memory.py [VIDEO]
"""
from __future__ import annotations

import resource
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
CHECKPOINTS = (50, 150, 290)


def main() -> None:
    video = sys.argv[1] if len(sys.argv) > 1 else str(MEDIA / "drive_upperbody_woman_hands.mp4")
    setup()
    from engine.io.video import probe
    from engine.track.tracker import track_video

    info = probe(video)
    tracemalloc.start()
    marks = {}
    job = track_video(video)
    for p in job:
        if p.done in CHECKPOINTS:
            marks[p.done] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                             tracemalloc.get_traced_memory()[0] / 2**20)
        if p.done >= CHECKPOINTS[-1]:
            break
    job.close()
    print(f"{Path(video).name}: {info.width}x{info.height}")
    for n, (rss, py) in marks.items():
        print(f"  after {n:4d} frames: peak RSS {rss:7.1f} MB, Python heap {py:6.1f} MB")
    (n0, (r0, p0)), (n1, (r1, p1)) = list(marks.items())[0], list(marks.items())[-1]
    frame_kb = info.width * info.height * 3 / 1024
    print(f"  growth per frame after warm-up: RSS {(r1 - r0) * 1024 / (n1 - n0):.0f} KB, Python heap "
          f"{(p1 - p0) * 1024 / (n1 - n0):.0f} KB (one decoded frame is {frame_kb:.0f} KB)")


if __name__ == "__main__":
    main()
