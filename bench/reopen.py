"""Re-opening a tracked clip: the time `track_clip` takes on a cache hit (the content hash remembered under
the file's stat, the tokens read from the cache) against the old way (hash the whole file, load the cached
landmarks, encode every frame's tokens again).

Usage: python bench/reopen.py [VIDEO]   (tracks it once into a temporary cache first)
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
REPEATS = 5
BIG_MIB = 256


def best_of(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    video = Path(sys.argv[1] if len(sys.argv) > 1 else MEDIA / "drive_fullbody_woman_dance.mp4")
    if not video.exists() and (MEDIA / video).exists():  # a name from the shared media folder
        video = MEDIA / video
    os.environ["UNIMOTION_CACHE"] = tempfile.mkdtemp(prefix="reopen-")
    setup()
    from engine import cache
    from engine.analyze import track_clip
    from engine.jobs import drain
    from engine.tokens.clipfile import load_clip
    from engine.tokens.encode import encode_clip
    from engine.track.config import TrackerConfig

    clip = drain(track_clip(video))  # fills the tracking cache
    stat_keyed = best_of(lambda: drain(track_clip(video)))
    hash_only = best_of(lambda: cache.file_hash(video))
    key_only = best_of(lambda: cache.content_key(video))
    print(f"{video.name}: {video.stat().st_size / 2**20:.1f} MiB, {len(clip)} frames")
    print(f"content hash of the whole file: {hash_only * 1000:7.1f} ms (paid on every re-open before)")
    print(f"stat-keyed content key:         {key_only * 1000:7.2f} ms ({hash_only / key_only:.0f}x faster)")
    cached = cache.clip_cache_path(cache.content_key(video), TrackerConfig().key())
    old_way = best_of(lambda: (cache.file_hash(video), encode_clip(load_clip(cached, check_tokens=False).landmarks)))
    print(f"re-open (cache hit), in total:  {stat_keyed * 1000:7.1f} ms; the old way {old_way * 1000:.1f} ms "
          f"({old_way / stat_keyed:.1f}x)")
    # A phone video is far larger than the test clips: the hash, not the cache load, was the cost there.
    big = Path(os.environ["UNIMOTION_CACHE"]) / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(BIG_MIB // 16):
            fh.write(os.urandom(16 << 20))
    cache.content_key(big)
    print(f"a {BIG_MIB} MiB file: content hash {best_of(lambda: cache.file_hash(big)) * 1000:.0f} ms, "
          f"stat-keyed {best_of(lambda: cache.content_key(big)) * 1000:.2f} ms")
    big.unlink()


if __name__ == "__main__":
    main()
