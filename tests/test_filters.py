"""Gap filling and the One-Euro filter on synthetic tracks with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from engine.track.config import TrackerConfig
from engine.track.filters import fill_gaps, one_euro


def test_short_gaps_are_interpolated_and_long_ones_stay_missing():
    t = 40
    pts = np.zeros((t, 2, 3), np.float32)
    pts[:, :, 0] = np.arange(t)[:, None]
    conf = np.ones((t, 2), np.float32)
    pts[10:13] = np.nan  # 3 frames: filled
    conf[10:13] = 0
    pts[20:31] = np.nan  # 11 frames: too long
    conf[20:31] = 0
    out, cf = fill_gaps(pts, conf, max_gap=6)
    assert np.allclose(out[10:13, 0, 0], [10, 11, 12])
    assert (0 < cf[10:13]).all() and (cf[10:13] < 1).all(), "filled frames are marked as less certain"
    assert np.isnan(out[20:31]).all() and (cf[20:31] == 0).all()


def test_one_euro_removes_jitter_but_follows_fast_motion():
    rng = np.random.default_rng(0)
    times = np.arange(200) / 25.0
    still = 100 + rng.normal(0, 2.0, (200, 1, 3))
    smooth = one_euro(still, times, min_cutoff=1.0, beta=10.0, d_cutoff=1.0, scale=1000.0)
    assert smooth[20:].std() < still[20:].std() / 2, "jitter at rest is cut by more than half"
    ramp = (np.arange(200) * 20.0)[:, None, None] * np.ones((1, 1, 3))  # 500 px/s
    follow = one_euro(ramp, times, min_cutoff=1.0, beta=10.0, d_cutoff=1.0, scale=1000.0)
    assert np.abs(follow[50:] - ramp[50:]).max() < 10, "fast motion is not dragged behind"


def test_tracker_config_names_the_bad_field():
    with pytest.raises(ValueError, match="max_side"):
        TrackerConfig(max_side=10)
    with pytest.raises(ValueError, match="min_detection_confidence"):
        TrackerConfig(min_detection_confidence=2.0)
