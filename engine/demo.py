"""The built-in demo: NASA's public-domain `astronaut` photo (shipped inside scikit-image) animated by
a token file this project tracked and saved itself (engine/assets/demo_motion.npz; performer landmarks removed,
only the identity-free tokens are kept)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.tokens.clipfile import TrackedClip, load_clip
from engine.tokens.reference import Reference

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
