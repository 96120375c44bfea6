"""The face follows the driver: eyes that turn within the lids, a smile that shows teeth.

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


def test_a_mouth_opened_a_little_shows_teeth_not_a_dark_gap(media):
    """A smile parts the lips by about the upper teeth's height: the opening is teeth from lip to lip (the
    upper row over the lower), as a real smile shows them. The strip used to keep a third of it as dark cavity
    whatever the gap (a thin white band over a black slot; the green-screen clip's smile frames)."""
    from engine import vocabulary as vocab
    from engine.render.instant.face import mouth_grid

    ref = load_reference(media / "photo_portrait_woman.jpg")
    face = ref.landmarks.face[:, :2].astype(np.float64).copy()
    fh = float(np.linalg.norm(face[vocab.FACE_CHIN] - face[vocab.FACE_FOREHEAD]))
    teeth_px = 0.045 * fh
    for gap_in_teeth, most_cavity in ((1.0, 0.05), (4.0, 1.0)):  # a smile; a jaw dropped wide
        opened = face.copy()
        opened[list(vocab.LIP_INNER_LOWER), 1] = face[list(vocab.LIP_INNER_UPPER), 1] + gap_in_teeth * teeth_px
        up, r1, r2, lo = mouth_grid(opened, teeth_px)[:, 5]  # the middle column
        cavity = float(np.linalg.norm(r2 - r1) / np.linalg.norm(lo - up))
        assert cavity <= most_cavity, f"gap {gap_in_teeth} teeth: {cavity:.2f} of the opening is dark cavity"
        if gap_in_teeth > 2:
            assert cavity >= 0.4, f"a wide-open mouth shows its cavity (got {cavity:.2f})"


def test_teeth_are_lit_by_the_whites_of_the_eyes_not_by_the_skins_tone():
    """The synthetic teeth take the face's light. Read off the skin's brightness alone, that light was the skin's
    tone: a dark-skinned face got dark grey teeth (a third as bright) under the same light as a fair one's white
    ones. The eyes' whites now light them too (the brighter of the two estimates: a fair face's bright skin still
    counts, so the two need not be equal)."""
    from engine.render.instant.face import MOUTH_ROWS_V, MOUTH_TEX_SIZE, synthetic_mouth
    from engine.render.instant.hand_layer import LUMA

    whites = np.array([205.0, 200.0, 196.0])  # the same light on both faces
    rows = slice(0, int(MOUTH_ROWS_V[1] * MOUTH_TEX_SIZE[1]))  # the upper teeth
    centre = slice(MOUTH_TEX_SIZE[0] // 4, 3 * MOUTH_TEX_SIZE[0] // 4)
    teeth = {}
    for name, skin in (("dark", [72.0, 48.0, 36.0]), ("fair", [214.0, 176.0, 158.0])):
        tex = synthetic_mouth(np.array(skin, np.float32), whites)
        teeth[name] = float((tex[rows, centre].astype(np.float64) @ LUMA).mean())
    assert teeth["dark"] >= 0.75 * teeth["fair"], f"teeth brightness {teeth}"
