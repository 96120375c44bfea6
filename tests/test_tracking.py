"""Tracking real footage: left/right, framing invariance, rotation, timing, cache and bad input."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine.analyze import track_clip
from engine.errors import MediaError, NoPersonError
from engine.io.video import iter_frames, probe
from engine.jobs import CancelToken, drain
from engine.errors import Cancelled
from tests.engine_helpers import frames_of, tracked, write_video

DANCE = "drive_fullbody_woman_dance.mp4"
N = 40  # frames of the dance clip used for derived videos: enough motion, quick to track


@pytest.fixture(scope="module")
def dance_short(media, tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "dance.mp4", frames_of(media / DANCE, N))


def _tok(clip, group):
    g = clip.tokens.group(group)
    return g.values, g.confidence > 0


def test_mirrored_video_swaps_left_and_right(dance_short, tmp_path):
    mirrored = write_video(tmp_path / "mirror.mp4", (f[:, ::-1] for f in frames_of(dance_short)))
    a, b = tracked(str(dance_short)), tracked(str(mirrored))
    # Hands: the mirrored clip's left hand is the original's right hand, channel for channel.
    ra, oka = _tok(a, "right_hand")
    lb, okb = _tok(b, "left_hand")
    both = oka & okb
    assert both.sum() > N // 2
    flex = [i for i, c in enumerate(a.tokens.right_hand.channels) if "flex" in c.name]
    assert np.median(np.abs(ra[both][:, flex] - lb[both][:, flex])) < 12.0  # degrees
    # Body: the left upper arm of the mirror is the right upper arm of the original, x flipped.
    ia = [i for i, c in enumerate(a.tokens.body.channels) if c.name.startswith("r_upper_arm.")]
    ib = [i for i, c in enumerate(a.tokens.body.channels) if c.name.startswith("l_upper_arm.")]
    va, vb = a.tokens.body.values[:, ia], b.tokens.body.values[:, ib] * np.array([-1, 1, 1])
    assert np.median(np.abs(va - vb)) < 0.15


def test_scaled_and_shifted_framing_gives_the_same_tokens(dance_short, tmp_path):
    import cv2

    def reframe(f):
        h, w = f.shape[:2]
        small = cv2.resize(f, (int(w * 0.7), int(h * 0.7)), interpolation=cv2.INTER_AREA)
        canvas = np.full_like(f, 245)  # the clip's white studio
        canvas[int(h * 0.25):int(h * 0.25) + small.shape[0], int(w * 0.05):int(w * 0.05) + small.shape[1]] = small
        return canvas

    other = write_video(tmp_path / "reframed.mp4", (reframe(f) for f in frames_of(dance_short)))
    a, b = tracked(str(dance_short)), tracked(str(other))
    arms = [i for i, c in enumerate(a.tokens.body.channels) if c.name.split(".")[0] in
            ("l_upper_arm", "l_forearm", "r_upper_arm", "r_forearm", "spine")]
    assert np.median(np.abs(a.tokens.body.values[:, arms] - b.tokens.body.values[:, arms])) < 0.1
    fa, fb = a.tokens.face.values[:, 3:], b.tokens.face.values[:, 3:]
    assert np.median(np.abs(fa - fb)) < 0.03
    # Placement is measured in the performer's own size: the same moves, wherever they stand.
    assert np.abs(a.tokens.placement[:, :2] - b.tokens.placement[:, :2]).max() < 0.1


def test_rotation_metadata_is_honoured(dance_short, tmp_path):
    out = tmp_path / "rotated.mp4"
    frames = list(frames_of(dance_short, 20))
    with av.open(str(out), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.height, s.width = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuv420p"
        s.set_display_rotation(90)  # stored turned clockwise; players turn it back
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(f, k=-1)), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    info = probe(out)
    assert (info.width, info.height) == (frames[0].shape[1], frames[0].shape[0])
    first = next(iter_frames(out)).rgb
    assert np.abs(first.astype(int) - frames[0].astype(int)).mean() < 6  # upright, as displayed
    clip = tracked(str(out))
    nose = clip.landmarks.body[:, 0, 1]
    hip = clip.landmarks.body[:, 23, 1]
    assert (nose < hip).all(), "the person stands upright in the tracked coordinates"


def test_variable_frame_rate_keeps_timestamps(dance_short, tmp_path):
    out = tmp_path / "vfr.mp4"
    frames = list(frames_of(dance_short, 12))
    times_ms = np.cumsum([0] + [40, 40, 80, 40, 120, 40, 40, 60, 40, 40, 100])
    with av.open(str(out), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for f, t in zip(frames, times_ms):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = int(t), Fraction(1, 1000)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    clip = tracked(str(out))
    assert len(clip) == 12
    assert np.allclose(clip.times - clip.times[0], times_ms / 1000.0, atol=0.002)


def test_cache_makes_reopening_instant(dance_short, monkeypatch):
    """Re-opening reads the cached tracking and tokens: no decoding, no tracking, no re-encoding, and the
    file is not hashed again while its size and modification time are unchanged."""
    import engine.analyze as analyze
    from engine import cache

    first = drain(track_clip(dance_short))
    messages = []

    def fail(*args, **kwargs):
        raise AssertionError("re-opening did work it should have kept")

    with monkeypatch.context() as m:
        for name in ("encode_clip", "track_video", "track_image"):
            m.setattr(analyze, name, fail)
        m.setattr(cache, "file_hash", fail)
        again = drain(track_clip(dance_short), lambda p: messages.append(p.message))
    assert messages == ["Loaded tracking from cache"]
    assert np.array_equal(again.tokens.flat(), first.tokens.flat())
    # Tokens encoded by other code (another encoder version) are encoded again from the cached landmarks.
    monkeypatch.setattr(analyze, "encoder_key", lambda: "another encoder")
    calls = []

    def counted(lm):
        calls.append(len(lm))
        return first.tokens, first.face_neutral

    monkeypatch.setattr(analyze, "encode_clip", counted)
    drain(track_clip(dance_short))
    assert calls == [len(first)]


def test_cancel_stops_tracking(dance_short):
    token = CancelToken()
    job = track_clip(dance_short, use_cache=False, cancel=token)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        drain(job)


def test_a_photo_is_a_one_frame_clip(media):
    clip = tracked(str(media / "photo_halfbody_woman_openhands.png"))
    assert len(clip) == 1
    for g in ("body", "face", "left_hand", "right_hand"):
        assert clip.tokens.group(g).confidence[0] > 0, g


def test_bad_input_is_refused_with_a_message(tmp_path, media):
    txt = tmp_path / "notes.mp4"
    txt.write_text("this is not a video")
    with pytest.raises(MediaError, match="not a readable video"):
        probe(txt)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError):
        drain(track_clip(empty))
    with pytest.raises(MediaError, match="image, not a video"):
        probe(media / "photo_portrait_woman.jpg")
    blank = write_video(tmp_path / "blank.mp4", (np.full((240, 320, 3), c, np.uint8) for c in range(0, 200, 20)))
    with pytest.raises(NoPersonError):
        drain(track_clip(blank))


def test_truncated_video_keeps_the_frames_that_decode(dance_short, tmp_path):
    """Our own exports put the index first (faststart), so a download cut at half its bytes still plays
    its first half: 18 of the 40 frames decode here; x264's exact sizes vary a little between builds."""
    src = dance_short.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src[: len(src) // 2])
    frames = [f.rgb for f in iter_frames(cut)]
    assert 14 <= len(frames) <= 22, len(frames)
    whole = list(frames_of(dance_short, len(frames)))
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(frames, whole)) < 1.0, "the same pictures"


def test_a_video_cut_before_its_index_is_refused_clearly(media, tmp_path):
    """A camera file keeps its index at the end: cut short, nothing can be located and it says so."""
    src = (media / DANCE).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises(MediaError, match="not a readable video"):
        next(iter_frames(cut))


def test_two_people_tracks_the_largest_and_says_so(media, tmp_path):
    import cv2

    from PIL import Image

    photo = np.asarray(Image.open(media / "photo_fullbody_man_studio.png").convert("RGB"))
    small = cv2.resize(photo, (photo.shape[1] * 2 // 3, photo.shape[0] * 2 // 3))
    canvas = np.full((photo.shape[0], photo.shape[1] + small.shape[1], 3), 255, np.uint8)
    canvas[:, : photo.shape[1]] = photo
    canvas[-small.shape[0]:, photo.shape[1]:] = small
    clip = drain(track_clip(write_video(tmp_path / "two.mp4", [canvas] * 6)))
    assert any("2 people" in w for w in clip.warnings)
    hip_x = clip.landmarks.body[0, 23, 0]
    assert hip_x < photo.shape[1], "the larger person (left) is the one tracked"


def test_cli_track_and_inspect(dance_short, tmp_path):
    out = tmp_path / "t.npz"
    run = lambda *a: subprocess.run([sys.executable, "main.py", *a], capture_output=True, text=True,  # noqa
                                    cwd=Path(__file__).resolve().parents[1])
    r = run("track", str(dance_short), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.exists() and "40 frames" in r.stdout
    r = run("inspect", str(out))
    assert r.returncode == 0 and "left_hand" in r.stdout and "placement" in r.stdout
    bad = tmp_path / "x.mp4"
    bad.write_text("nope")
    r = run("track", str(bad))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert "not a readable video" in r.stderr


def test_engine_never_imports_qt():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], capture_output=True, text=True,
                       cwd=root)
    assert r.returncode == 0, r.stdout + r.stderr


def test_large_frames_are_tracked_downscaled_with_source_pixel_coordinates(dance_short, tmp_path):
    import cv2

    frames = list(frames_of(dance_short, 8))
    big = write_video(tmp_path / "big.mp4", (cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2)) for f in frames))
    small = write_video(tmp_path / "small.mp4", frames)
    a, b = tracked(str(small)), tracked(str(big))
    assert b.size == (a.size[0] * 2, a.size[1] * 2)
    torso = np.linalg.norm(a.landmarks.body[:, 11, :2] - a.landmarks.body[:, 23, :2], axis=1).mean()
    err = np.linalg.norm(b.landmarks.body[:, 11:17, :2] / 2 - a.landmarks.body[:, 11:17, :2], axis=2).mean()
    assert err < 0.05 * torso
