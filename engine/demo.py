"""The built-in demo: NASA's public-domain `astronaut` photo (shipped inside scikit-image) animated by
a token file this project tracked and saved itself (engine/assets/demo_motion.npz; performer landmarks removed,
only the identity-free tokens are kept)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.tokens.reference import Reference
from engine.tokens.clipfile import TrackedClip, load_clip

ASSETS = Path(__file__).resolve().parent / "assets"  # inside the package: the wheel carries it
DEMO_MOTION = ASSETS / "demo_motion.npz"


def demo_photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def demo_reference() -> Reference:
    from engine.track.tracker import track_image

    rgb = demo_photo()
    return Reference(rgb=rgb, landmarks=track_image(rgb, name="astronaut", segmentation=True), name="astronaut")


def demo_clip() -> TrackedClip:
    return load_clip(DEMO_MOTION)


def demo_photo_path(folder: str | Path) -> Path:
    """Write the demo photo as a PNG (for commands that take a path) and return its path."""
    from PIL import Image

    p = Path(folder) / "astronaut.png"
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(demo_photo()).save(p)
    return p
