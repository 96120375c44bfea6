"""Fingers follow the hand tokens: a photo hand the mesh cannot bend (closed, relaxed) is drawn in the
driver's hand shape, and a real hand tracker (MediaPipe Holistic, run on the rendered frame) finds it and
reads the shape back. Before the hand layer, the hand moved as one rigid piece and read the same whatever
the tokens said."""
from __future__ import annotations

import numpy as np
import pytest

from engine.render.instant import InstantRenderer, WarpConfig
from engine.tokens import retarget, schema
from engine.tokens.reference import Reference

MAN = "photo_fullbody_man_studio.png"  # hands hanging relaxed, fingers curled: the mesh keeps them rigid
OPEN, CLOSED = 0.0, 70.0  # finger flexion asked of every joint of the four fingers (deg)
FLEX = [i for i, c in enumerate(schema.layout("right_hand").channels)
        if "flex" in c.name and not c.name.startswith("thumb")]


@pytest.fixture(scope="module")
def man(media):
    from engine.io.image import load_image
    from engine.track.tracker import track_image

    rgb = load_image(media / MAN)
    rgb = np.ascontiguousarray(rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2])
    return Reference(rgb, track_image(rgb), name=MAN)


def _retracked_flex(renderer, ref, side: str, flex: float) -> float | None:
    """Render the photo's own pose with one hand's fingers at `flex`, track the frame, and return the mean
    finger flexion the tracker reads on that hand (None: the hand is not found)."""
    from engine.tokens.encode import encode_clip
    from engine.tokens.hands import encode_hand_frame
    from engine.track.tracker import track_image
    from engine.track.types import ClipLandmarks

    tokens = encode_clip(ClipLandmarks.stack([ref.landmarks.copy()]))[0]
    tokens.group(side).values[0, FLEX] = flex
    out = renderer.warp(ref, retarget.apply(tokens, ref.rig(), 0), ref.size)
    got = track_image(out, require_person=False)
    if not got.has(side):
        return None
    return float(np.mean(encode_hand_frame(got.points(side), side.split("_")[0])[FLEX]))


@pytest.mark.parametrize("side", ["left_hand", "right_hand"])
def test_a_closed_photo_hand_opens_and_closes_with_the_tokens(man, side):
    r = InstantRenderer()
    opened = _retracked_flex(r, man, side, OPEN)
    closed = _retracked_flex(r, man, side, CLOSED)
    assert opened is not None and closed is not None, "the hand tracker must find the rendered hand"
    assert opened <= 30.0, f"asked to open, the hand reads {opened:.1f} deg of flexion"
    assert closed - opened >= 20.0, f"open {opened:.1f} vs closed {closed:.1f} deg: the fingers do not follow"


def test_without_the_hand_layer_the_hand_stays_as_the_photo_shows_it(man):
    """The same check on the rigid hand (the layer off) reads the same shape for both: what the test
    above guards against."""
    r = InstantRenderer(WarpConfig(hand_layer=False))
    opened = _retracked_flex(r, man, "left_hand", OPEN)
    closed = _retracked_flex(r, man, "left_hand", CLOSED)
    assert opened is not None and closed is not None
    assert abs(closed - opened) < 5.0


OUTDOOR = "photo_fullbody_woman_outdoor.jpg"  # both hands in the pockets: no hand, no forearm to warp
DANCE = "drive_fullbody_woman_dance.mp4"  # opens with both arms held out low, hands open
HANDS = "drive_upperbody_woman_hands.mp4"  # both hands held in front of the chest


def _track_frames(frames: list[np.ndarray], fps: float):
    """Track frames as a clip (video mode, as the bench re-tracks an output) and encode their tokens."""
    from engine.analyze import track_frames

    return track_frames(frames, fps)[1]


# the clip's first frames, and the finger flexion read back from the output at most (deg): the hands before
# the chest are found but read about 15 deg off in the first 12 frames (a known miss, issue 9: the photo held
# still reads about 17), so only their finding is held
@pytest.mark.parametrize("clip, frames, max_flex", [(DANCE, 12, 8.0), (HANDS, 30, None)])
def test_hands_the_photo_hides_are_drawn_on_arms_and_found(media, clip, frames, max_flex):
    """A photo whose hands are in its pockets, driven by arms held out (the dance) or hands held before the
    chest: the drawn hands must hang on arms (a forearm bridges the sleeve's end to the hand, over the body
    too) and a hand tracker must find them and read their fingers. Before, the hands floated free beside
    the short sleeves or on the sweatshirt, and the tracker, not seeing an arm reach them, found 1 of the
    dance's 24 hands (at fd19904) and 40 of the chest's 60 (at 66ee39e: a bridge over the background only)."""
    from engine.io.image import load_image
    from engine.io.video import iter_frames, probe
    from engine.track.tracker import track_image

    rgb = load_image(media / OUTDOOR, max_side=1024)
    ref = Reference(rgb, track_image(rgb), name=OUTDOOR)
    fps = probe(media / clip).fps
    driver = [f.rgb for f, _ in zip(iter_frames(media / clip), range(frames))]
    drive = _track_frames(driver, fps)
    out = [f.rgb for f in InstantRenderer().render(ref, drive, range(frames), size=512)]
    got = _track_frames(out, fps)
    want = found = 0
    errs = []
    for side in ("left_hand", "right_hand"):
        d, g = drive.group(side), got.group(side)
        ok = (d.confidence > 0) & (g.confidence > 0)
        want += int((d.confidence > 0).sum())
        found += int(ok.sum())
        errs.append(np.abs(d.values[ok][:, FLEX] - g.values[ok][:, FLEX]).ravel())
    assert want >= frames, "the driver's hands must be tracked in the clip's first frames"
    assert found / want >= 0.75, f"the output's hands were found in {found} of {want} frames"
    err = float(np.concatenate(errs).mean())
    if max_flex is not None:
        assert err <= max_flex, f"finger flexion read back {err:.1f} deg from the driver's"


def _posed_by_own_tokens(ref: Reference, layers: dict | None = None, raise_left_arm: bool = False) -> np.ndarray:
    """The photo posed by the tokens of its own landmarks (a driver holding exactly the photo's pose), at
    512 px; optionally with the left arm swung straight out sideways."""
    from engine.tokens.encode import encode_clip
    from engine.track.types import ClipLandmarks

    tokens = encode_clip(ClipLandmarks.stack([ref.landmarks.copy()] * 2))[0]
    if raise_left_arm:
        names = [c.name for c in schema.layout("body").channels]
        for bone in ("l_upper_arm", "l_forearm"):
            x = names.index(f"{bone}.x")
            tokens.body.values[:, x:x + 3] = (1.0, 0.0, 0.0)  # along the performer's left, in the picture plane
    return InstantRenderer().warp(ref, retarget.apply(tokens, ref.rig(), 0), 512, layers=layers)


def _photo_at(ref: Reference, size: int) -> np.ndarray:
    import cv2

    h, w = ref.rgb.shape[:2]
    s = size / max(h, w)
    return cv2.resize(ref.rgb, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA)


def test_hands_in_pockets_stay_there_while_the_arms_keep_the_photos_pose(media):
    """Neither the photo (hands in its pockets) nor the driver shows a hand: nothing is drawn while the arms
    hold the photo's pose, and a hand shows once an arm swings away. Before, a relaxed hand was drawn
    out of each pocket even in the photo's own pose (25.7 dB against the photo, 33.3 at its landmarks)."""
    from engine.io.image import load_image
    from engine.track.tracker import track_image

    rgb = load_image(media / OUTDOOR, max_side=1024)
    ref = Reference(rgb, track_image(rgb), name=OUTDOOR)
    layers: dict = {}
    out = _posed_by_own_tokens(ref, layers)
    assert not layers["drawn"].any(), f"{int(layers['drawn'].sum())} px of drawn hand in the photo's own pose"
    photo = _photo_at(ref, 512).astype(np.float64)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((out.astype(np.float64) - photo) ** 2))
    assert psnr >= 30.0, f"posed by its own tokens the photo reads {psnr:.1f} dB against itself"
    raised: dict = {}
    _posed_by_own_tokens(ref, raised, raise_left_arm=True)
    assert raised["drawn"].sum() >= 200, "an arm swung out must show a drawn hand"


def test_a_photos_own_hand_stays_where_it_is_in_the_photos_pose(media):
    """The hand tracker and the body tracker disagree on where a wrist is (by a quarter of a forearm on the
    open-hands photo); hung on the body's wrist, the photo's own hands moved 24-28 px (at 512) in its own
    pose. Posed by its own tokens, its hands now keep their pixels."""
    from engine.io.image import load_image
    from engine.track.tracker import track_image

    photo_name = "photo_halfbody_woman_openhands.png"
    rgb = load_image(media / photo_name, max_side=1024)
    ref = Reference(rgb, track_image(rgb), name=photo_name)
    out = _posed_by_own_tokens(ref).astype(np.float64)
    photo = _photo_at(ref, 512).astype(np.float64)
    s = 512 / max(rgb.shape[:2])
    for side in ("left_hand", "right_hand"):
        p = ref.landmarks.points(side)[:, :2] * s
        x0, y0 = np.floor(p.min(0)).astype(int)
        x1, y1 = np.ceil(p.max(0)).astype(int)
        d = np.abs(out[y0:y1, x0:x1] - photo[y0:y1, x0:x1]).mean()
        assert d <= 6.0, f"the {side} moved in the photo's own pose: mean difference {d:.1f} levels"


def test_both_drawn_hands_share_one_skin_colour(media):
    # The open-hands woman's two hands look alike in the photo, but the pixels on her left hand's bones read
    # brown (154/131/115: shade and the field mixed in) against her right's 191/176/181: one drawn hand came
    # out brown beside a pale one. Both now take the lit one's colour. On the 9 photo x clip pairs with hands
    # (bench/finger_frames.py) hands found rose 496 -> 520 of 540, flexion +0.10 +- 0.14 deg on the frames
    # found in both.
    from engine.io.image import load_image
    from engine.track.tracker import track_image

    rgb = load_image(media / "photo_halfbody_woman_openhands.png")
    skins = InstantRenderer().analysis(Reference(rgb, track_image(rgb), name="open hands")).hand_skins
    assert set(skins) == {"left_hand", "right_hand"}
    left, right = skins["left_hand"].base, skins["right_hand"].base
    assert np.abs(left - right).max() < 1.0, (left, right)
    assert left @ np.array([0.299, 0.587, 0.114]) > 170, left


def test_a_face_close_up_gets_no_hands_that_nobody_shows(corpus):
    """A face close-up has no arms in the picture (the tracker only guesses them below the frame), and a
    talking-head driver shows no hands: nothing may be drawn. Two cartoon hands used to lie over her face in
    every frame: a hand neither side shows was drawn in full wherever the photo had no arm bones for it."""
    from engine.analyze import load_reference
    from engine.tokens.encode import encode_clip
    from engine.track.types import ClipLandmarks

    ref = load_reference(corpus / "photo_face_woman_blonde_closeup.jpg")
    assert not ref.landmarks.has("left_hand") and not ref.landmarks.has("right_hand")
    own = encode_clip(ClipLandmarks.stack([ref.landmarks.copy()] * 2))[0]
    for turn in (0.0, 15.0):  # its own pose, and the head turned as a talking head turns it
        tokens = own.copy()
        tokens.face.values[:, schema.FACE_HEAD.start] += turn
        layers = {}
        InstantRenderer().warp(ref, retarget.apply(tokens, ref.rig(), 0), 512, layers=layers)
        assert not layers["drawn"].any(), f"head turned {turn} deg: {int(layers['drawn'].sum())} px of drawn hands"
