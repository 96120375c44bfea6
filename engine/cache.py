"""On-disk cache of tracked clips, keyed by file content and tracker settings. The content hash is remembered
under the file's size, modification time and inode (re-opening reads no video), and a clip's tokens are kept
under the encoder's fingerprint (re-opening encodes nothing)."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
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


def content_key(path: str | Path) -> str:
    """`file_hash(path)`, remembered under the file's path, size, modification time and inode, so re-opening
    a file that has not changed reads a few bytes instead of the whole file. Any change to the file (a save,
    a copy over it) changes the stat key and the content is hashed again."""
    p = Path(path).resolve()
    st = p.stat()
    stat_key = f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}"
    entry = cache_dir() / "hashes" / f"{hashlib.blake2b(stat_key.encode(), digest_size=16).hexdigest()}.txt"
    try:
        known = entry.read_text().strip()
        if len(known) == 32:
            return known
    except OSError:
        pass
    content = file_hash(p)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}")
        tmp.write_text(content)
        os.replace(tmp, entry)
    except OSError:
        pass  # a read-only or full cache folder only costs speed next time
    return content


def clip_cache_path(content_hash: str, settings_key: str) -> Path:
    k = hashlib.blake2b((CACHE_VERSION + content_hash + settings_key).encode(), digest_size=16).hexdigest()
    return cache_dir() / "tracks" / f"{k}.npz"


def encoder_key() -> str:
    """A fingerprint of the token encoder: its source (engine/tokens, engine/vocabulary.py) and the channel
    table in force. A cached clip keeps its tokens under it, so re-opening reads them instead of encoding
    every frame again, and any change to the encoder or the schema invalidates them by itself."""
    from engine.tokens import schema

    table = repr((schema.TOKEN_FORMAT_VERSION, {g: [c.name for c in chans] for g, chans in schema.CHANNELS.items()}))
    return hashlib.blake2b((_encoder_source_key() + table).encode(), digest_size=8).hexdigest()


@lru_cache(maxsize=1)
def _encoder_source_key() -> str:
    import engine.tokens

    root = Path(engine.tokens.__file__).resolve().parent
    h = hashlib.blake2b(CACHE_VERSION.encode(), digest_size=8)
    for f in sorted(root.glob("*.py")) + [root.parent / "vocabulary.py"]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()
