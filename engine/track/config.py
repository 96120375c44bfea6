"""Tracking settings. Part of the cache key: changing any of them re-tracks."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass


MIN_MAX_SIDE = 128  # below this MediaPipe finds no face or hands in a typical frame


@dataclass(frozen=True)
class TrackerConfig:
    max_side: int = 1280  # frames are downscaled to this long side for tracking; coordinates stay in source px
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    max_gap_frames: int = 6  # gaps up to this long are interpolated; longer ones stay missing
    smooth: bool = True  # One-Euro filter on top of MediaPipe's own temporal tracking
    one_euro_min_cutoff: float = 1.5  # Hz: lower removes more jitter at rest
    one_euro_beta: float = 10.0  # speed coefficient (speed in frame sizes per second): higher = less lag
    one_euro_d_cutoff: float = 1.0
    people_check_every_s: float = 2.0  # how often to count faces to notice a second person

    def __post_init__(self) -> None:
        if self.max_side < MIN_MAX_SIDE:
            raise ValueError(f"TrackerConfig.max_side must be at least {MIN_MAX_SIDE}, got {self.max_side}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"TrackerConfig.{name}: must be in [0, 1], got {v}")
        if self.max_gap_frames < 0:
            raise ValueError("TrackerConfig.max_gap_frames: must be >= 0")
        if self.one_euro_min_cutoff <= 0 or self.one_euro_d_cutoff <= 0 or self.one_euro_beta < 0:
            raise ValueError("TrackerConfig.one_euro_*: cutoffs must be > 0 and beta >= 0")

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)
