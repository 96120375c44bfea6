"""Still images: EXIF orientation, alpha flattened, huge images bounded."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import MediaError

MAX_PIXELS = 80_000_000  # beyond this a photo is refused: decoding it alone would take GBs
WORK_MAX_SIDE = 2048  # larger photos are downscaled on load; nothing in the pipeline needs more


def load_image(path: str | Path, max_side: int = WORK_MAX_SIDE) -> np.ndarray:
    """RGB uint8 (H, W, 3), display orientation, at most `max_side` on its long side."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p.name}: no such file")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(p) as im:
            if im.width * im.height > MAX_PIXELS:
                raise MediaError(f"{p.name}: image is too large ({im.width}x{im.height})")
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            im = im.convert("RGB")
            if max_side and max(im.size) > max_side:
                im.thumbnail((max_side, max_side), Image.LANCZOS)
            arr = np.asarray(im, dtype=np.uint8).copy()
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{p.name}: not a readable image ({type(exc).__name__})") from None
    if arr.shape[0] < 16 or arr.shape[1] < 16:
        raise MediaError(f"{p.name}: image is too small ({arr.shape[1]}x{arr.shape[0]})")
    return arr


def is_image_path(path: str | Path) -> bool:
    from engine.io.video import IMAGE_SUFFIXES

    return Path(path).suffix.lower() in IMAGE_SUFFIXES
