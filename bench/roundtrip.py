"""Round-trip and framing figures of the motion tokens on every shared driving clip.

Round trip: encode a clip, decode it onto the clip's own rig (median proportions), compare with the tracked
landmarks: body joints in torso lengths, face points in face heights (after matching the face centre),
hand points relative to the wrist in hand lengths. Usage: python bench/roundtrip.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"


def main() -> None:
    setup()
    from engine.analyze import track_clip
    from engine.jobs import drain
    from engine.tokens.roundtrip import roundtrip_errors

    groups = ("body", "face", "left_hand", "right_hand")
    print(f"{'clip':<40} " + " ".join(f"{g:>11}" for g in groups))
    for clip_path in sorted(MEDIA.glob("drive_*.mp4")):
        clip = drain(track_clip(clip_path))
        errs = roundtrip_errors(clip.tokens, clip.landmarks)
        print(f"{clip_path.name:<40} " + " ".join(f"{errs[g]:11.3f}" for g in groups))
    print("units: body = torso lengths, face = face heights, hands = hand lengths (wrist to middle knuckle);"
          " nan = not in the clip")


if __name__ == "__main__":
    main()
