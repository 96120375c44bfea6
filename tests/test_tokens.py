"""Motion tokens on real tracked clips: they move with the motion and ignore the performer's looks."""
from __future__ import annotations

import numpy as np
import pytest

from engine import vocabulary as vocab
from engine.tokens import body, face, hands
from engine.tokens.geometry import to_px
from engine.tokens.clipfile import load_clip, save_clip
from engine.tokens.encode import encode_clip
from engine.tokens.retarget import apply
from engine.tokens.rig import Rig
from engine.tokens.roundtrip import roundtrip_errors
from engine.tokens.schema import BODY_BONES, channel_index
from engine.errors import MediaError
from tests.engine_helpers import tracked

DANCE = "drive_fullbody_woman_dance.mp4"
FACE = "drive_face_expressions_greenscreen.mp4"
HANDS = "drive_upperbody_woman_hands.mp4"


def ch(clip, group, name):
    return clip.tokens.group(group).channel(name)


def test_raised_arm_moves_the_arm_channels(media):
    clip = tracked(str(media / DANCE))
    lm = clip.landmarks
    # How high the left elbow sits above the left shoulder in the image, in torso lengths.
    torso = np.linalg.norm(lm.body[:, vocab.L_SHOULDER, :2] - lm.body[:, vocab.L_HIP, :2], axis=1)
    raise_l = (lm.body[:, vocab.L_SHOULDER, 1] - lm.body[:, vocab.L_ELBOW, 1]) / torso
    up_l = ch(clip, "body", "l_upper_arm.y")
    assert np.ptp(up_l) > 0.5, "the arm swings in this clip; its direction channel must follow"
    assert np.corrcoef(raise_l, up_l)[0, 1] > 0.8
    raise_r = (lm.body[:, vocab.R_SHOULDER, 1] - lm.body[:, vocab.R_ELBOW, 1]) / torso
    assert np.corrcoef(raise_r, ch(clip, "body", "r_upper_arm.y"))[0, 1] > 0.8
    # Legs stay put while the arms swing: their channels barely move.
    assert np.ptp(ch(clip, "body", "l_thigh.y")) < np.ptp(up_l) / 2


def test_grin_moves_the_mouth_and_eye_darts_move_gaze(media):
    clip = tracked(str(media / FACE))
    width = ch(clip, "face", "mouth_width")
    n = len(clip)
    peak = int(np.argmax(width))
    assert width.max() - np.median(width[: n // 5]) > 0.05, "the big grin widens the mouth"
    assert n // 5 < peak < n - 3, "the grin is in the middle of the clip, not the neutral start"
    assert ch(clip, "face", "jaw_open")[peak] > np.median(ch(clip, "face", "jaw_open")[: n // 5]) + 0.02
    for g in ("gaze.l.x", "gaze.r.x"):
        assert np.ptp(ch(clip, "face", g)) > 0.1, "the eye darts move the gaze channels"


def test_curling_fingers_move_flexion(media):
    # The dancer points with some fingers and curls the others; the fiddling hands clip barely curls.
    clip = tracked(str(media / DANCE))
    lm = clip.landmarks
    for side in ("left", "right"):
        pts = getattr(lm, f"{side}_hand")
        ok = clip.tokens.group(f"{side}_hand").confidence > 0
        assert ok.mean() > 0.5
        for finger, (mcp, tip) in (("middle", (9, 12)), ("ring", (13, 16))):
            # Fingertip-to-knuckle reach in palm lengths: short when the finger is curled.
            reach = (np.linalg.norm(pts[ok, tip] - pts[ok, mcp], axis=1)
                     / np.linalg.norm(pts[ok, 9] - pts[ok, 0], axis=1))
            flex = sum(ch(clip, f"{side}_hand", f"{finger}.flex_{j}")[ok] for j in ("base", "mid", "tip"))
            assert np.ptp(flex) > 60, (side, finger)
            assert np.corrcoef(reach, flex)[0, 1] < -0.5, (side, finger)


def test_tokens_ignore_bone_lengths_face_shape_and_size(media):
    clip = tracked(str(media / DANCE))
    lm = clip.landmarks
    t = 40
    tok = body.encode_body_frame(lm.body_world[t], lm.body_conf[t])
    # Another skeleton in the same pose: long legs, short arms, twice the size, elsewhere in frame.
    lengths = body.bone_lengths(lm.body_world[t]) * 2.0
    names = [b[0] for b in BODY_BONES]
    for i, n in enumerate(names):
        if n.endswith(("thigh", "shin")):
            lengths[i] *= 1.3
        if n.endswith(("arm", "forearm")):
            lengths[i] *= 0.8
    other, _ = body.apply_body_frame(tok, lengths, np.array([3.0, -1.0, 0.2]))
    other_tok = body.encode_body_frame(other, lm.body_conf[t])
    assert np.abs(other_tok - tok).max() < 1e-4

    # A wider, shorter, deeper face, twice as big, elsewhere in frame, making the same expressions: the
    # whole clip's faces are reshaped, the neutral is measured on them, and every token comes out the same.
    def reshape(face_px):
        loc, r, c = face.local_face(face_px.astype(np.float64))
        return to_px((loc * np.array([1.25, 0.9, 1.1]) * 2.0) @ r.T + c + 50.0)

    faces = [lm.face[k].astype(np.float64) for k in range(len(lm))]
    neutral = face.estimate_neutral(np.stack([face.raw_expression(f) for f in faces]))
    other_neutral = face.estimate_neutral(np.stack([face.raw_expression(reshape(f)) for f in faces]))
    assert np.abs(face.raw_expression(reshape(faces[t])) - face.raw_expression(faces[t])).max() < 1e-9
    a = face.encode_face_frame(faces[t], neutral)
    b = face.encode_face_frame(reshape(faces[t]), other_neutral)
    assert np.abs(a[:3] - b[:3]).max() < 0.5, "head rotation in degrees"
    assert np.abs(a[3:] - b[3:]).max() < 1e-6

    # A bigger hand with longer fingers in the same pose gives the same angles.
    side = "right"
    hand = lm.right_hand[t]
    assert np.isfinite(hand).all()
    htok = hands.encode_hand_frame(hand, side)
    palm, seg = hands.hand_shape(hand, side)
    big = hands.apply_hand_frame(htok, palm * 1.5, seg * np.array([1.7, 1.6, 1.5])[None] * 1.5,
                              hand[0] + 100, side)
    assert np.abs(hands.encode_hand_frame(big, side) - htok).max() < 0.5


def test_limbs_the_driver_does_not_show_keep_the_photos_pose(media):
    talk = tracked(str(media / "drive_face_talking_headmotion.mp4"))  # head and shoulders only
    follow = {n: talk.tokens.body.channel(f"follow.{n}") for n in ("l_arm", "r_arm", "l_leg", "r_leg")}
    assert follow["l_leg"].max() == 0 and follow["r_leg"].max() == 0, "legs are out of view"
    ref = tracked(str(media / "photo_halfbody_woman_openhands.png"))
    rig = Rig.from_landmarks(ref.landmarks.frame(0))
    legs = [vocab.L_KNEE, vocab.R_KNEE, vocab.L_ANKLE, vocab.R_ANKLE]
    for t in (0, 60, 120):
        out = apply(talk.tokens, rig, t)
        s = talk.tokens.placement[t, 2]
        # Knees and ankles stay where the photo's own pose puts them (moved only with the whole body).
        own = apply(encode_clip(ref.landmarks)[0], rig, 0).body
        hip = lambda b: (b[vocab.L_HIP] + b[vocab.R_HIP]) / 2  # noqa: E731
        rel_out = (out.body[legs, :2] - hip(out.body)[:2]) / s
        rel_own = own[legs, :2] - hip(own)[:2]
        torso = rig.scale
        assert np.abs(rel_out - rel_own).max() < 0.35 * torso
    dance = tracked(str(media / DANCE))
    assert dance.tokens.body.channel("follow.l_arm").mean() > 0.9, "a full-body dancer's arms are followed"


def test_face_expression_is_relative_to_the_performers_neutral(media):
    clip = tracked(str(media / FACE))
    start = np.abs(np.median(clip.tokens.face.values[:10, 3:], axis=0))
    assert start[list(face.EYELIDS)].max() < 0.1, "eyelids within 10% of their neutral opening"
    others = [i for i in range(len(start)) if i not in face.EYELIDS]
    assert start[others].max() < 0.03, "the clip starts neutral: tokens near zero"


# Round-trip errors measured on this project's machine (python bench/roundtrip.py; body in torso lengths,
# face in face heights, hands in hand lengths). The limits are these plus 15%: room for MediaPipe's float
# differences between machines, not for a regression.
# The hands clip's hands and body are worse than they were (0.133 / 0.118 / 0.118) since its size and place
# follow the face and shoulders (its hips sit on the frame's bottom edge with no thighs below them, a guess):
# the performer steps back (face and shoulders shrink to 0.7) while her hands, held towards the camera, keep
# their size, and one zoom per frame cannot show both. Its face (0.063 -> 0.007) and its pixels (self-
# reenactment PSNR 18.7 -> 22.4 dB) are better: the guessed torso had it grow 9% in the first second.
ROUND_TRIP_MEASURED = {
    DANCE: {"body": 0.056, "face": 0.012, "left_hand": 0.190, "right_hand": 0.167},
    HANDS: {"body": 0.121, "face": 0.007, "left_hand": 0.366, "right_hand": 0.269},
}
ROUND_TRIP_MARGIN = 1.15


def test_round_trip_reproduces_landmarks(media):
    for name, measured in ROUND_TRIP_MEASURED.items():
        clip = tracked(str(media / name))
        errs = roundtrip_errors(clip.tokens, clip.landmarks)
        for g, value in measured.items():
            assert errs[g] < value * ROUND_TRIP_MARGIN, (name, g, errs[g])


def test_retargeting_keeps_the_reference_proportions(media):
    drive = tracked(str(media / DANCE))
    ref = tracked(str(media / "photo_fullbody_man_studio.png"))
    rig = Rig.from_landmarks(ref.landmarks.frame(0))
    for t in (0, 30, 60, 90):
        out = apply(drive.tokens, rig, t)
        got = body.bone_lengths(out.body) / drive.tokens.placement[t, 2]  # px, 3D, undoing the zoom
        # Arms and legs keep the photo's lengths (within the photo-fit correction near its own pose).
        limbs = [4, 5, 7, 8, 12, 13, 16, 17]
        assert np.allclose(got[limbs], rig.bone_lengths[limbs], rtol=0.12), t
    # The photo's own pose applied to its own rig lands on its own joints.
    own = encode_clip(ref.landmarks)[0]
    out = apply(own, rig, 0)
    err = np.linalg.norm(out.body[:, :2] - ref.landmarks.body[0][:, :2], axis=1)
    assert err[[11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]].max() < 1.0


def test_clip_file_round_trip_and_refusals(media, tmp_path):
    clip = tracked(str(media / FACE))
    p = tmp_path / "c.npz"
    save_clip(clip, p)
    back = load_clip(p)
    assert np.array_equal(back.tokens.flat(), clip.tokens.flat())
    assert np.allclose(back.times, clip.times) and back.fps == clip.fps
    assert back.source_hash == clip.source_hash
    with np.load(p, allow_pickle=False) as z:
        assert "meta" in z.files  # plain arrays only: loading never needs pickle
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(MediaError):
        load_clip(bad)


def test_channel_table_is_named_and_indexed():
    assert channel_index("face", "jaw_open") == 11
    assert channel_index("left_hand", "index.flex_mid") == 3 + 4 + 2
    with pytest.raises(KeyError):
        channel_index("body", "nope")


def test_grin_widens_the_mouth_and_keeps_the_lips_thickness(media):
    # A grin (wider mouth, corners up, jaw a little open, upper lip raised) on the performer's own face:
    # the corners move apart and up, the lips part, and each lip keeps its thickness (no swollen "O").
    lm = tracked(media / FACE).landmarks
    loc, _, _ = face.local_face(lm.face[0].astype(np.float64))
    e = np.zeros(len(face.EXPRESSION))
    for name, v in (("jaw_open", 0.08), ("mouth_width", 0.12), ("smile.l", 0.04), ("smile.r", 0.04),
                    ("lip_upper", -0.02)):
        e[face.EXPRESSION.index(name)] = v
    out = face.deform_expression(loc, e)
    fh = np.linalg.norm(loc[vocab.FACE_FOREHEAD] - loc[vocab.FACE_CHIN])
    width = lambda p: p[vocab.MOUTH_CORNER_L, 0] - p[vocab.MOUTH_CORNER_R, 0]  # noqa: E731
    assert width(out) > width(loc) + 0.05 * fh
    gap = lambda p: p[vocab.LIP_UPPER_INNER, 1] - p[vocab.LIP_LOWER_INNER, 1]  # noqa: E731  (y is up)
    assert gap(out) > gap(loc) + 0.07 * fh
    for a, b in ((vocab.LIP_UPPER_OUTER, vocab.LIP_UPPER_INNER), (vocab.LIP_LOWER_INNER, vocab.LIP_LOWER_OUTER)):
        assert abs((out[a, 1] - out[b, 1]) - (loc[a, 1] - loc[b, 1])) < 0.005 * fh
    mid = (out[vocab.LIP_UPPER_INNER, 1] + out[vocab.LIP_LOWER_INNER, 1]) / 2
    mid0 = (loc[vocab.LIP_UPPER_INNER, 1] + loc[vocab.LIP_LOWER_INNER, 1]) / 2
    for c in (vocab.MOUTH_CORNER_L, vocab.MOUTH_CORNER_R):  # corners rise against the mouth's middle, as measured
        assert (out[c, 1] - mid) - (loc[c, 1] - mid0) == pytest.approx(0.04 * fh, abs=0.005 * fh)


def test_adding_a_channel_is_one_schema_edit(media, tmp_path, monkeypatch):
    """A new face channel added to the schema (and the format version bumped), nothing else: encoders write
    every channel they measure by name, decoders read by name, files carry the new table and refuse the old.
    The new channel has no measure yet, so it holds its neutral."""
    from engine.errors import MediaError
    from engine.tokens import schema
    from engine.tokens.clipfile import load_clip

    clip = tracked(str(media / FACE))
    before, _ = encode_clip(clip.landmarks)
    old_file = tmp_path / "v1.npz"
    save_clip(clip, old_file)
    rig = Rig.from_landmarks(tracked(str(media / "photo_portrait_woman.jpg")).landmarks.frame(0))
    posed_before = apply(before, rig, 20)
    names = [c.name for c in before.face.channels]

    extra = schema.ChannelSpec("cheek_puff", "ratio", 0.25, "cheeks blown out (a channel added by this test)")
    monkeypatch.setitem(schema.CHANNELS, "face", schema.CHANNELS["face"] + (extra,))
    monkeypatch.setattr(schema, "TOKEN_FORMAT_VERSION", schema.TOKEN_FORMAT_VERSION + 1)

    after, _ = encode_clip(clip.landmarks)
    assert after.face.values.shape[1] == len(names) + 1
    assert np.all(after.face.channel("cheek_puff") == np.float32(0.25)), "unmeasured: its neutral"
    for n in names:
        assert np.array_equal(after.face.channel(n), before.face.channel(n)), n
    for g in ("body", "left_hand", "right_hand"):
        assert np.array_equal(after.group(g).values, before.group(g).values), g
    rig_after = Rig.from_landmarks(tracked(str(media / "photo_portrait_woman.jpg")).landmarks.frame(0))
    posed_after = apply(after, rig_after, 20)
    assert np.array_equal(posed_after.face, posed_before.face) and np.array_equal(posed_after.body, posed_before.body)

    clip.tokens = after
    save_clip(clip, tmp_path / "v2.npz")
    again = load_clip(tmp_path / "v2.npz")
    assert np.array_equal(again.tokens.face.values, after.face.values)
    with pytest.raises(MediaError, match="format 1, this version reads 2"):
        load_clip(old_file)


def _self_reenactment_error(media, name: str, frames: int = 30) -> float:
    """Mean body-joint distance (shoulder widths) between the clip's first frame, tracked as a photo and posed
    by the clip's own tokens, and where the clip really has those joints, over its first `frames` frames."""
    from engine.io.video import iter_frames
    from engine.tokens.reference import Reference
    from engine.track.tracker import track_image

    clip = tracked(str(media / name))
    first = next(iter(iter_frames(media / name))).rgb
    rig = Reference(rgb=first, landmarks=track_image(first), name=name).rig()
    lm = clip.landmarks
    joints = [j for j in (0, 11, 12, 13, 14, 15, 16, 23, 24) if np.median(lm.body_conf[:frames, j]) > 0.5]
    width = np.linalg.norm(lm.body[0, vocab.L_SHOULDER, :2] - lm.body[0, vocab.R_SHOULDER, :2])
    return float(np.mean([np.linalg.norm(apply(clip.tokens, rig, t).body[joints, :2] - lm.body[t, joints, :2],
                                         axis=1).mean() for t in range(frames)]) / width)


def test_a_clip_posed_on_its_own_first_frame_lands_where_the_clip_has_the_body(media):
    # Measured: hands clip 0.083 shoulder widths before the photo was tracked settled, with hips at the frame's
    # edge trusted and bones in the skeleton's own directions; 0.018 after. The dance 0.087 -> 0.043.
    assert _self_reenactment_error(media, HANDS) < 0.03
    assert _self_reenactment_error(media, DANCE) < 0.06


def test_body_tokens_point_bones_where_the_image_shows_them(media):
    clip = tracked(str(media / DANCE))
    lm = clip.landmarks
    seen_bones = [(vocab.L_SHOULDER, vocab.L_ELBOW), (vocab.L_ELBOW, vocab.L_WRIST),
                  (vocab.R_SHOULDER, vocab.R_ELBOW), (vocab.R_ELBOW, vocab.R_WRIST),
                  (vocab.L_HIP, vocab.L_KNEE), (vocab.R_HIP, vocab.R_KNEE)]
    rig = Rig.from_landmarks(lm.frame(0))
    worst = []
    for t in range(0, len(lm), 5):
        posed = apply(clip.tokens, rig, t).body
        for a, b in seen_bones:
            if min(lm.body_conf[t, a], lm.body_conf[t, b]) < 0.5:
                continue
            u, v = posed[b, :2] - posed[a, :2], lm.body[t, b, :2] - lm.body[t, a, :2]
            if np.linalg.norm(v) < 0.3 * rig.scale:  # pointing at the camera: no direction across the image
                continue
            cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
            worst.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    # The metric skeleton alone strays 4.5 degrees on average from the image (p90 10) on this clip.
    assert np.mean(worst) < 2.0 and np.percentile(worst, 90) < 5.0, (np.mean(worst), np.percentile(worst, 90))


def test_a_performer_standing_still_with_hips_on_the_frame_edge_keeps_her_size(media):
    # The hands clip's performer stands still for its first second; her hips sit on the frame's bottom edge with
    # no thighs below (MediaPipe rates them visible, 0.97). A zoom read off a torso measured to them grew to
    # 1.09 in that second (her face and shoulders shrank 3%); read off her face it stays within 1.2%.
    clip = tracked(str(media / HANDS))
    zoom = clip.tokens.placement[:30, 2]
    assert np.abs(zoom - 1).max() < 0.03, zoom


def test_opening_the_mouth_does_not_make_the_person_bigger(media):
    # The green-screen performer sits still and pulls faces. Read off the forehead-to-chin height, the zoom
    # grew with every open mouth (correlation with jaw_open 0.96, 2% from shut to wide open: the whole person
    # swelled); read off the skull's spread it moves 0.1%.
    clip = tracked(str(media / FACE))
    zoom, jaw = clip.tokens.placement[:, 2], ch(clip, "face", "jaw_open")
    wide, shut = jaw >= np.percentile(jaw, 90), jaw <= np.percentile(jaw, 10)
    assert np.ptp(jaw) > 0.05, "the performer opens the mouth wide in this clip"
    assert abs(zoom[wide].mean() - zoom[shut].mean()) < 0.004, (zoom[wide].mean(), zoom[shut].mean())
    assert np.abs(zoom - 1).max() < 0.006, np.abs(zoom - 1).max()
