"""The eyes look where the driver looks: the iris turns within the lids as far as the gaze tokens say.

Before the eyeball layer (engine/render/instant/eyes.py) the eye opening was a fan of triangles around the
iris centre: a gaze token stretched the photo's eye towards one corner, and the face tracker read the output's
gaze back at a fifth to a third of the driver's.
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.analyze import load_reference
from engine.render.instant import InstantRenderer
from engine.tokens import retarget, schema
from engine.tokens.encode import encode_clip
from engine.tokens.face import raw_expression
from engine.track.tracker import track_image
from engine.track.types import ClipLandmarks

GAZE = 0.12  # eye widths each way: a glance well to the side (the green-screen clip reaches 0.15)
READ_BACK = 0.6  # the tracker must read at least this share of the commanded turn back from the output


@pytest.mark.parametrize("photo", ["photo_portrait_woman.jpg", "photo_portrait_man_smiling.png"])
def test_the_eyes_look_where_the_tokens_say(media, photo):
    ref = load_reference(media / photo)
    own = encode_clip(ClipLandmarks.stack([ref.landmarks.copy()] * 2))[0]
    names = schema.expression_names()
    start = schema.FACE_EXPRESSION.start
    renderer = InstantRenderer()
    read = {}
    for sign in (-1.0, 1.0):
        tokens = own.copy()
        for ch in ("gaze.l.x", "gaze.r.x"):
            tokens.face.values[:, start + names.index(ch)] = sign * GAZE
        out = renderer.warp(ref, retarget.apply(tokens, ref.rig(), 0), 512)
        lm = track_image(out)
        assert lm.has("face"), f"{photo}: no face found in the output looking {'right' if sign > 0 else 'left'}"
        raw = raw_expression(lm.face.astype(np.float64))
        read[sign] = np.array([raw[names.index("gaze.l.x")], raw[names.index("gaze.r.x")]])
    turned = read[1.0] - read[-1.0]
    assert (turned >= READ_BACK * 2 * GAZE).all(), \
        f"{photo}: the output's eyes turned {turned.round(3)} eye widths for a commanded {2 * GAZE}"
