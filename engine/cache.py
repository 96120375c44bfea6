"""On-disk cache of tracked clips, keyed by file content and tracker settings."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_VERSION = "1"  # bump when tracking or token encoding changes what a cached file would hold


def cache_dir() -> Path:
    root = os.environ.get("UNIMOTION_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "unimotion")
    return Path(root)


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def clip_cache_path(content_hash: str, settings_key: str) -> Path:
    k = hashlib.blake2b((CACHE_VERSION + content_hash + settings_key).encode(), digest_size=16).hexdigest()
    return cache_dir() / "tracks" / f"{k}.npz"
