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
    # A video tracker settles over its first few frames (each starts from the last one's landmarks): the
    # first frame, and a still photo, are tracked this many times so they are measured settled as well.
    settle_frames: int = 6
    people_check_every_s: float = 2.0  # how often to count faces to notice a second person
    # Whom to follow when several people are in frame: None = the largest face; k = the k-th person counted
    # from the left of the frame at the first moment several are seen (1 = leftmost).
    person: int | None = None

    def __post_init__(self) -> None:
        if self.max_side < MIN_MAX_SIDE:
            raise ValueError(f"TrackerConfig.max_side must be at least {MIN_MAX_SIDE}, got {self.max_side}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"TrackerConfig.{name}: must be in [0, 1], got {v}")
        if self.settle_frames < 1:
            raise ValueError(f"TrackerConfig.settle_frames: must be >= 1, got {self.settle_frames}")
        if self.max_gap_frames < 0:
            raise ValueError("TrackerConfig.max_gap_frames: must be >= 0")
        if self.one_euro_min_cutoff <= 0 or self.one_euro_d_cutoff <= 0 or self.one_euro_beta < 0:
            raise ValueError("TrackerConfig.one_euro_*: cutoffs must be > 0 and beta >= 0")
        if self.person is not None and (isinstance(self.person, bool) or not isinstance(self.person, int)
                                        or self.person < 1):
            raise ValueError(f"TrackerConfig.person: must be a whole number >= 1 (1 = the leftmost person), "
                             f"got {self.person!r}")

    def key(self) -> str:
        fields = asdict(self)
        if fields["person"] is None:  # the default stays out, so caches made before the field existed still hit
            del fields["person"]
        return json.dumps(fields, sort_keys=True)


def person_of(tracker_key: str) -> int | None:
    """The person a clip was tracked following, read from its stored `TrackerConfig.key()` (None: the largest,
    or a clip without that record, such as an older token file)."""
    try:
        value = json.loads(tracker_key).get("person") if tracker_key else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None
