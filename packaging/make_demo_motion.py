"""Rebuild engine/assets/demo_motion.npz: track a driving clip, keep only its identity-free tokens.

The performer's landmarks (face mesh, skeleton) are blanked so nothing of their looks ships;
the tokens, placement, confidences and timing are kept.
Usage: python packaging/make_demo_motion.py [VIDEO]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.analyze import track_clip  # noqa: E402
from engine.jobs import drain  # noqa: E402
from engine.runtime import setup  # noqa: E402
from engine.tokens.clipfile import save_clip  # noqa: E402
from engine.track.types import ClipLandmarks  # noqa: E402

# A talking, nodding head suits an upper-body photo: arms the driver does not show keep the photo's pose.
DEFAULT = ROOT.parent / "shared" / "media" / "drive_face_talking_headmotion.mp4"


def main() -> None:
    setup()
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    clip = drain(track_clip(src, use_cache=False))
    for k in ClipLandmarks.ARRAYS:
        arr = getattr(clip.landmarks, k)
        arr[...] = np.nan if not k.endswith("conf") else 0.0
    clip.face_neutral = np.zeros_like(clip.face_neutral)
    clip.source_name = "demo motion (tracked by UniMotion)"
    clip.source_hash = ""
    out = ROOT / "engine" / "assets" / "demo_motion.npz"
    save_clip(clip, out)
    print(f"{out}: {len(clip)} frames, {out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
