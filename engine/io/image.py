"""Still images: EXIF orientation, alpha flattened, huge images bounded."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import MediaError

MAX_PIXELS = 80_000_000  # beyond this a photo is refused: decoding it alone would take GBs
WORK_MAX_SIDE = 2048  # larger photos are downscaled on load; nothing in the pipeline needs more
HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # PIL modes of 16-bit / float greyscale


def load_image(path: str | Path, max_side: int = WORK_MAX_SIDE) -> np.ndarray:
    """RGB uint8 (H, W, 3), display orientation, at most `max_side` on its long side."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p.name}: no such file")
    if p.is_dir():
        raise MediaError(f"{p.name}: is a folder, not an image")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(p) as im:
            if im.width * im.height > MAX_PIXELS:
                raise MediaError(f"{p.name}: image is too large ({im.width}x{im.height})")
            im = ImageOps.exif_transpose(im)
            if im.mode in HIGH_DEPTH_MODES:
                im = _to_8bit_grey(im)
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
        raise MediaError(f"{p.name}: not a readable image (damaged, or not an image format)") from None
    if arr.shape[0] < 16 or arr.shape[1] < 16:
        raise MediaError(f"{p.name}: image is too small ({arr.shape[1]}x{arr.shape[0]})")
    return arr


def _to_8bit_grey(im):
    """16-bit and float greyscale scaled to 8 bits (PIL's convert("RGB") clips them: all white)."""
    from PIL import Image

    a = np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        top = 1.0 if a.size and np.nanmax(a) <= 1.0 else 255.0
    elif im.mode == "I":  # PNG's 16-bit greyscale often opens as 32-bit "I" holding 0..65535
        top = 65535.0 if a.size and a.max() > 255 else 255.0
    else:
        top = 65535.0
    grey = np.clip(np.nan_to_num(a) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L")


def is_image_path(path: str | Path) -> bool:
    from engine.io.video import IMAGE_SUFFIXES

    return Path(path).suffix.lower() in IMAGE_SUFFIXES
