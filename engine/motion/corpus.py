"""Build the motion library from the training corpus: `python -m engine.motion.corpus [--corpus DIR] [-o OUT]`.

Clips are tracked through the engine's cache (set UNIMOTION_CACHE to reuse a warm one). Only tokens and
tracked flags are kept: no landmarks, no pixels.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.jobs import CancelToken, Job, Progress
from engine.motion.features import from_tokens
from engine.motion.library import LIBRARY_PATH, MotionLibrary, usable

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def build_library(corpus: Path, cancel: CancelToken | None = None) -> Job[MotionLibrary]:
    from engine.analyze import track_clip

    paths = sorted(Path(corpus).glob("clip_*.mp4"))
    seqs = []
    for i, p in enumerate(paths):
        if cancel is not None:
            cancel.raise_if_cancelled()
        clip = yield from track_clip(p, cancel=cancel)
        seq = from_tokens(clip.tokens, clip.fps, p.stem)
        if usable(seq):
            seqs.append(seq)
        yield Progress(i + 1, len(paths), p.name)
    return MotionLibrary(seqs)


def main(argv: list[str] | None = None) -> int:
    from engine.jobs import drain
    from engine.runtime import setup

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("-o", "--output", type=Path, default=LIBRARY_PATH)
    args = ap.parse_args(argv)
    setup()
    lib = drain(build_library(args.corpus), lambda p: print(f"{p.done}/{p.total} {p.message}", file=sys.stderr)
                if p.message.endswith(".mp4") else None)
    lib.save(args.output)
    print(f"{args.output}: {len(lib.sequences)} clips, {len(lib)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
