"""The instant renderer on a photo whose head is turned three-quarters (issue 9: "non-frontal faces").

The corpus's half-body photo of a woman with curly hair, head turned about 30 degrees. Targets are the
photo's own landmarks, as is (the photo must come back: its soft, out-of-focus hair included) and with the
face mesh turned towards the camera in 3D (the far cheek the photo barely shows opens up: it must read as
a face, not a copy of the photo's eye and mouth smeared onto the cheek). Real MediaPipe tracks the photo
and re-tracks the output.

Thresholds from measurements at the photo's size (682 x 1024), before the fix (commit 1a225b0) / after:
- at rest, |output - photo| (max over channels): 99th percentile 52 / 8 levels, mean 2.48 / 0.66;
- turned 30 degrees: the face re-tracked on the output against the target, mean error 2.4% / 1.3% of
  the face's width (at 512 px); the far half's patches against the near half's, mirrored: 34.6 / 16.0
  levels.
"""
from __future__ import annotations


import cv2
import numpy as np
import pytest

from engine import vocabulary as vocab
from engine.render.instant import InstantRenderer
from engine.render.instant.face import mirror_index
from engine.tokens.reference import Reference
from engine.tokens.retarget import _head_points_from_face
from engine.track.types import FrameLandmarks
from tests.engine_helpers import posed_coverage
from tests.conftest import CORPUS, require_input

PHOTO = "photo_halfbody_woman_curlyhair_redjacket.jpg"
TURN_DEG = 30.0  # towards the camera: the photo's head is turned about this far
PATCH_R = 4  # px: half size of the patches compared across the face's midline


def _load(even: bool) -> Reference:
    """The three-quarter photo as a Reference. Missing, the test fails."""
    from engine.io.image import load_image
    from engine.track.tracker import track_image

    path = CORPUS / PHOTO
    require_input(path.is_file(), f"corpus photo {PHOTO} not found in {CORPUS} (set UNIMOTION_TEST_CORPUS)")
    rgb = load_image(path, max_side=1024)
    if even:  # output sizes are rounded to even: compared pixel for pixel, the photo must be even too
        rgb = np.ascontiguousarray(rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2])
    return Reference(rgb, track_image(rgb), name=PHOTO)


@pytest.fixture(scope="module")
def turned():
    """The photo cropped to even sizes (tracked once)."""
    return _load(even=True)


@pytest.fixture(scope="module")
def turned_whole():
    """The photo as the studio loads it (683 x 1024): MediaPipe tracks its shoulders a little differently
    from the cropped copy, and this is the tracking that tore the sleeve."""
    return _load(even=False)


def turn_face(fl: FrameLandmarks, deg: float) -> FrameLandmarks:
    """The face mesh turned about the vertical axis through its centre (in 3D, by its own depths); the
    body's head points follow, as the retargeting puts them."""
    t = fl.copy()
    f = t.face.astype(np.float64)
    c = f.mean(0)
    a = np.deg2rad(deg)
    x, z = f[:, 0] - c[0], f[:, 2] - c[2]
    f[:, 0] = c[0] + x * np.cos(a) + z * np.sin(a)
    f[:, 2] = c[2] - x * np.sin(a) + z * np.cos(a)
    t.face = f.astype(np.float32)
    _head_points_from_face(t.body, t.face)
    return t


def test_the_photo_at_rest_keeps_its_soft_hair(turned):
    """Segmentation stops short of out-of-focus curls: they were painted over with the inpainted wall
    (the hair's outline cut jagged, even standing still). Now the photo comes back."""
    out = InstantRenderer().warp(turned, turned.landmarks, None)
    d = np.abs(out.astype(np.int16) - turned.rgb.astype(np.int16)).max(-1)
    assert np.percentile(d, 99) < 20, np.percentile(d, 99)
    assert d.mean() < 1.5, d.mean()


def test_a_head_turned_to_the_camera_shows_a_face_not_pieces(turned):
    """The far cheek opens up: it used to show the photo's eye and mouth a second time (the head mesh under
    dropped face triangles). The output's face is found where the target puts it, and its far half looks
    like its near half mirrored (eye, brow, lips), as a face turned to the camera does."""
    from engine.track.tracker import track_image

    target = turn_face(turned.landmarks, TURN_DEG)
    out = InstantRenderer().warp(turned, target, 512)
    k = out.shape[1] / turned.rgb.shape[1]
    want = target.face[:, :2] * k
    got = track_image(out, require_person=False)
    assert got.has("face"), "no face found in the output"
    width = float(np.ptp(want[:468, 0]))
    err = np.linalg.norm(got.face[:468, :2] - want[:468], axis=1) / width
    assert err.mean() < 0.018, err.mean()

    mirror = mirror_index()
    grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def patch(p):
        x, y = int(round(p[0])), int(round(p[1]))
        return grey[y - PATCH_R:y + PATCH_R + 1, x - PATCH_R:x + PATCH_R + 1]

    far = [i for i in range(468) if want[i, 0] > want[mirror[i], 0] + 2]  # the far half: image right
    diff = [np.abs(patch(want[i]) - patch(want[mirror[i]])[:, ::-1]).mean() for i in far]
    assert np.mean(diff) < 24.0, np.mean(diff)


# How the talking-head clip's first frame retargets the photo (engine.tokens.retarget, measured): body
# points moved by these many shoulder widths (x, y), the face and the head's points by HEAD_SHIFT. A frontal
# driver turns the three-quarter torso to the camera: the shoulders move apart and down, the head sinks.
FRONTAL_MOVES = {vocab.L_SHOULDER: (1.03, 0.88), vocab.R_SHOULDER: (-0.83, 0.71), vocab.L_ELBOW: (0.55, 0.36),
                 vocab.R_ELBOW: (-0.38, 0.33)}
HEAD_SHIFT = (-0.53, 1.45)
WEDGE_REACH_U = 0.6  # a gap counts when it has the sleeve on both sides within this (shoulder widths)
SLEEVE_LAB = 30.0  # CIELAB distance within which a pixel has the sleeve's colour


def frontal(fl: FrameLandmarks, amount: float) -> FrameLandmarks:
    t = fl.copy()
    u = float(np.linalg.norm(fl.body[vocab.L_SHOULDER, :2] - fl.body[vocab.R_SHOULDER, :2]))
    for i, d in FRONTAL_MOVES.items():
        t.body[i, :2] += amount * np.array(d) * u
    shift = amount * np.array(HEAD_SHIFT) * u
    t.face[:, :2] += shift
    t.body[: vocab.MOUTH_R + 1, :2] += shift
    return t


def _wedge(out: np.ndarray, covered: np.ndarray, ref: Reference, target: FrameLandmarks) -> int:
    """Pixels showing the plate with the sleeve's colour on both sides of them in the same row (within
    WEDGE_REACH_U), below the shoulders and on the sleeve's side: a gap torn into the jacket."""
    fl = ref.landmarks
    sh = fl.body[vocab.R_SHOULDER, :2]
    u = float(np.linalg.norm(fl.body[vocab.L_SHOULDER, :2] - sh))
    out = out[: covered.shape[0], : covered.shape[1]]
    src = cv2.cvtColor(ref.rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    x0, y0 = int(sh[0]), int(sh[1])
    sleeve = np.median(src[y0 + int(0.7 * u):y0 + int(1.8 * u), max(0, x0 - int(0.9 * u)):x0].reshape(-1, 3), axis=0)
    on = (np.linalg.norm(cv2.cvtColor(out, cv2.COLOR_RGB2LAB).astype(np.float32) - sleeve, axis=-1) < SLEEVE_LAB)
    on &= covered
    h, w = on.shape
    x = np.arange(w)[None, :].repeat(h, 0)
    left = np.maximum.accumulate(np.where(on, x, -10 ** 6), axis=1)
    right = np.minimum.accumulate(np.where(on, x, 10 ** 6)[:, ::-1], axis=1)[:, ::-1]
    reach = WEDGE_REACH_U * u
    gap = ~covered & (x - left <= reach) & (right - x <= reach)
    gap[: int(max(target.body[vocab.L_SHOULDER, 1], target.body[vocab.R_SHOULDER, 1]))] = False
    gap[:, x0:] = False
    return int(gap.sum())


@pytest.mark.parametrize("amount", [0.5, 1.0])
def test_a_torso_turned_to_the_camera_tears_no_wedge_out_of_the_sleeve(turned_whole, amount):
    """The puffy sleeve was split lengthwise (its outer strip scored nearer the clavicle than the narrow
    arm bone of a three-quarter torso): turned to the camera, the strip stayed with the body and a wedge of
    wall opened in the jacket between the two (3,800 and 7,700 px at 683 x 1024; 8 at rest). The sleeve now
    moves as one piece (190 and 670 px: the seam's corners)."""
    ref = turned_whole
    renderer = InstantRenderer()
    target = frontal(ref.landmarks, amount)
    out = renderer.warp(ref, target, ref.size)
    gap = _wedge(out, posed_coverage(renderer, ref, target), ref, target)
    assert gap < 1500, f"a wedge of {gap} px of wall in the jacket"


def _bottom_change(ref: Reference, out: np.ndarray) -> float:
    """Mean |output - photo| (max over channels) over the photo's bottom fifth: the chest, far below the face."""
    h, w = ref.rgb.shape[:2]
    y0 = int(0.8 * h)
    return float(np.abs(out[y0:h, :w].astype(np.int16) - ref.rgb[y0:].astype(np.int16)).max(-1).mean())


@pytest.mark.parametrize("deg", [-30.0, 30.0])
def test_a_turning_head_leaves_the_chest_where_it_is(turned_whole, deg):
    """The photo's hips are below the picture, so the tracker only guesses them and the spine was not
    skinned: the chest went to the nearest bone left, the head, and a head turning towards or away from the
    camera dragged the whole jacket sideways (the wall showed through at the bottom). Only the face is
    turned here; the bottom fifth changed by 43 / 41 levels on average (-30 / +30 degrees) before the fix,
    14 / 16 after (what is left: the collar follows the throat)."""
    out = InstantRenderer().warp(turned_whole, turn_face(turned_whole.landmarks, deg), None)
    assert _bottom_change(turned_whole, out) < 25.0


def test_a_talking_head_driver_keeps_a_three_quarter_photo_as_it_stands(turned_whole, media):
    """A talking-head clip shows no hips, so its pelvis (and the neck and shoulder directions measured from
    it) is the tracker's guess, and frontal where this photo's is turned 54 degrees. Copied as they were,
    they turned the photo square to the camera at the clip's first frame: shoulders spread 2.9x and the head
    sank 19% of the picture's height into the collar. They now apply as changes since the clip's start:
    at the start the photo keeps its stance (nose within 2% of the height, shoulders within 10%)."""
    from engine.tokens import retarget
    from tests.engine_helpers import tracked

    clip = tracked(str(media / "drive_face_talking_headmotion.mp4"))
    fl, rig = turned_whole.landmarks, turned_whole.rig()
    h = turned_whole.rgb.shape[0]
    spread0 = abs(fl.body[vocab.L_SHOULDER, 0] - fl.body[vocab.R_SHOULDER, 0])
    for t in range(0, 6):
        out = retarget.apply(clip.tokens, rig, t)
        nose = np.hypot(*(out.body[vocab.NOSE, :2] - fl.body[vocab.NOSE, :2])) / h
        spread = abs(out.body[vocab.L_SHOULDER, 0] - out.body[vocab.R_SHOULDER, 0]) / spread0
        assert nose < 0.02, (t, nose)
        assert 0.9 < spread < 1.1, (t, spread)
