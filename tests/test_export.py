"""MP4 export: what a user notices (plays, right length and size, colours, audio in sync, no broken files)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine.errors import Cancelled, UserFacingError
from engine.io.compose import side_by_side
from engine.io.encode import EncodeConfig, Mp4Writer, export_frames, fps_fraction
from engine.io.video import iter_frames, probe
from engine.jobs import CancelToken, drain

from tests.conftest import MEDIA

WITH_AUDIO = MEDIA / "drive_fullbody_woman_dance.mp4"  # AAC, 44.1 kHz, 4.12 s
NO_AUDIO = MEDIA / "drive_face_expressions_greenscreen.mp4"
needs_media = pytest.mark.usefixtures("media")  # missing media: a failure, never a skip


def gradient(h: int, w: int, shift: int = 0) -> np.ndarray:
    """Smooth colour ramps: H.264 at the default CRF must keep them close to exact."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = (xx + shift) * 255 // max(1, w - 1 + shift)
    g = yy * 255 // max(1, h - 1)
    b = np.full_like(xx, 90)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def decode_all(path: Path) -> list[np.ndarray]:
    return [f.rgb for f in iter_frames(path)]


def audio_pcm(path: Path, rate: int = 44_100) -> np.ndarray:
    """Mono float samples of the first audio stream, from the stream's start."""
    out = []
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        for frame in c.decode(audio=0):
            out += [f.to_ndarray()[0] for f in resampler.resample(frame)]
    return np.concatenate(out)


def files_in(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# -- video -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [25, 29.97, Fraction(24000, 1001)])
def test_export_decodes_with_exact_count_size_and_fps(tmp_path, fps):
    out = tmp_path / "out.mp4"
    frames = [gradient(64, 96, shift=i * 4) for i in range(12)]
    progress = []
    result = drain(export_frames(iter(frames), out, fps, len(frames)), progress.append)

    assert (result.path, result.frames, result.has_audio) == (out, 12, False)
    assert result.duration_s == pytest.approx(12 / float(fps), abs=1e-3)
    info = probe(out)
    assert (info.width, info.height) == (96, 64)
    assert info.fps == pytest.approx(float(fps), abs=1e-3)
    assert not info.has_audio
    decoded = decode_all(out)
    assert len(decoded) == 12
    errors = [np.abs(d.astype(int) - f.astype(int)).mean() for d, f in zip(decoded, frames)]
    assert max(errors) < 3.0, errors
    # One Progress per frame, then one for the trailer, which can take a moment on long files.
    assert [p.done for p in progress] == list(range(1, 13)) + [12]
    assert all(p.total == 12 for p in progress)
    assert files_in(tmp_path) == ["out.mp4"]


def test_flat_colours_keep_their_hue(tmp_path):
    """Saturated and skin-like colours come back as themselves (no BT.601/709 mix-up in the round trip)."""
    colours = [(230, 20, 20), (20, 200, 40), (30, 40, 220), (205, 150, 120), (250, 250, 250), (5, 5, 5)]
    out = tmp_path / "colours.mp4"
    with Mp4Writer(out, 25) as w:
        for c in colours:
            w.write(np.full((48, 64, 3), c, np.uint8))
    for got, want in zip(decode_all(out), colours):
        assert np.abs(got[24, 32].astype(int) - np.array(want)).max() <= 4, (got[24, 32], want)


def test_odd_sizes_are_padded_to_even_without_losing_pixels(tmp_path):
    out = tmp_path / "odd.mp4"
    frame = gradient(37, 51)
    frame[:, -1] = (250, 30, 30)  # a red last column must survive the padding
    with Mp4Writer(out, 25) as w:
        w.write(frame)
        w.write(frame)
    info = probe(out)
    assert (info.width, info.height) == (52, 38)
    first = decode_all(out)[0]
    assert np.abs(first[:37, :51].astype(int) - frame.astype(int)).mean() < 3.0
    assert first[10, 51, 0] > 200 and first[10, 51, 1] < 80  # the pad repeats the edge, not black


def test_tiny_frames_still_encode(tmp_path):
    out = tmp_path / "tiny.mp4"
    with Mp4Writer(out, 25) as w:
        w.write(np.full((1, 1, 3), 128, np.uint8))
    assert (probe(out).width, probe(out).height) == (2, 2)


# -- audio -----------------------------------------------------------------------------------------


def audio_duration(path: Path) -> float:
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return float(s.duration * s.time_base)


@needs_media
def test_audio_is_copied_trimmed_and_in_sync(tmp_path):
    out = tmp_path / "with_audio.mp4"
    start = 1.0
    result = drain(export_frames((gradient(32, 32) for _ in range(50)), out, 25, 50, audio_from=WITH_AUDIO, audio_start_s=start))
    assert result.has_audio
    assert probe(out).has_audio
    assert audio_duration(out) == pytest.approx(2.0, abs=0.03)  # trimmed to the 50 frames, not the 4 s source

    # In sync: output audio at t is the source audio at t + start, to the sample.
    rate = 44_100
    src, got = audio_pcm(WITH_AUDIO, rate), audio_pcm(out, rate)
    seg = got[rate // 10 : rate * 19 // 10]

    def similarity(lag: int) -> float:
        ref = src[int(start * rate) + rate // 10 + lag :][: len(seg)]
        return float(np.dot(seg, ref) / (np.linalg.norm(seg) * np.linalg.norm(ref) + 1e-9))

    assert similarity(0) > 0.95
    assert similarity(0) > max(similarity(-441), similarity(441))  # 10 ms either way is worse


@needs_media
def test_audio_is_padded_with_silence_past_the_end_of_the_source(tmp_path):
    out = tmp_path / "tail.mp4"
    drain(export_frames((gradient(32, 32) for _ in range(25)), out, 25, 25, audio_from=WITH_AUDIO, audio_start_s=3.6))
    assert audio_duration(out) == pytest.approx(1.0, abs=0.03)
    tail = audio_pcm(out)[int(0.7 * 44_100) : int(0.95 * 44_100)]
    assert np.abs(tail).max() < 1e-3


@needs_media
def test_in_point_past_the_end_of_the_audio_gives_silence(tmp_path):
    out = tmp_path / "late.mp4"
    result = drain(export_frames((gradient(32, 32) for _ in range(10)), out, 25, 10, audio_from=WITH_AUDIO, audio_start_s=30.0))
    assert result.has_audio and audio_duration(out) == pytest.approx(0.4, abs=0.03)
    assert np.abs(audio_pcm(out)).max() < 1e-3


def test_unreadable_audio_source_is_a_user_error(tmp_path):
    not_media = tmp_path / "notes.mp4"
    not_media.write_text("not a video")
    for source in [not_media, tmp_path / "missing.mp4"]:
        with pytest.raises(UserFacingError):
            drain(export_frames([gradient(16, 16)], tmp_path / "out.mp4", 25, 1, audio_from=source))
    assert files_in(tmp_path) == ["notes.mp4"]


@needs_media
def test_clip_without_audio_gives_video_only(tmp_path):
    out = tmp_path / "silent.mp4"
    result = drain(export_frames((gradient(32, 32) for _ in range(5)), out, 25, 5, audio_from=NO_AUDIO))
    assert not result.has_audio
    assert not probe(out).has_audio
    assert len(decode_all(out)) == 5


# -- never a broken file ---------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [None, b"the user's earlier export"])
def test_cancel_leaves_no_file_and_keeps_an_existing_one(tmp_path, existing):
    out = tmp_path / "out.mp4"
    if existing is not None:
        out.write_bytes(existing)
    token = CancelToken()

    def on_progress(p):
        if p.done == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        drain(export_frames((gradient(48, 64, i) for i in range(20)), out, 25, 20, cancel=token), on_progress)
    if existing is None:
        assert files_in(tmp_path) == []
    else:
        assert files_in(tmp_path) == ["out.mp4"] and out.read_bytes() == existing


def test_exception_mid_write_leaves_no_temp_files(tmp_path):
    def frames():
        for i in range(4):
            yield gradient(48, 64, i)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError, match="renderer crashed"):
        drain(export_frames(frames(), tmp_path / "out.mp4", 25, 10))
    assert files_in(tmp_path) == []

    with pytest.raises(KeyError):
        with Mp4Writer(tmp_path / "direct.mp4", 25) as w:
            w.write(gradient(48, 64))
            raise KeyError("boom")
    assert files_in(tmp_path) == []


def test_dropping_the_job_midway_cleans_up(tmp_path):
    """The job runner may simply stop iterating: closing the generator must remove the temp file."""
    job = export_frames((gradient(48, 64, i) for i in range(20)), tmp_path / "out.mp4", 25, 20)
    next(job), next(job)
    assert len(files_in(tmp_path)) == 1 and files_in(tmp_path)[0].startswith(".out.mp4.partial-")
    job.close()
    assert files_in(tmp_path) == []


def test_abort_discards_and_overwrite_on_success_is_complete(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    with Mp4Writer(out, 25) as w:
        w.write(gradient(32, 32))
        w.abort()
    assert out.read_bytes() == b"old" and files_in(tmp_path) == ["out.mp4"]

    with Mp4Writer(out, 25) as w:
        for i in range(3):
            w.write(gradient(32, 32, i))
    assert len(decode_all(out)) == 3 and files_in(tmp_path) == ["out.mp4"]


# -- errors a user can cause -----------------------------------------------------------------------


def test_missing_or_unusable_folder_is_a_user_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")
    for target in [tmp_path / "nope" / "out.mp4", blocker / "out.mp4", tmp_path]:
        with pytest.raises(UserFacingError) as err:
            drain(export_frames([gradient(16, 16)], target, 25, 1))
        assert "\n" not in str(err.value)


def test_bad_sizes_are_user_errors_and_leave_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(UserFacingError, match="64x48 but the video is 32x32"):
        drain(export_frames([gradient(32, 32), gradient(48, 64)], out, 25, 2))
    with pytest.raises(UserFacingError, match="8193"):
        drain(export_frames([np.zeros((2, 8193, 3), np.uint8)], out, 25, 1))
    with pytest.raises(UserFacingError, match="no frames"):
        drain(export_frames([], out, 25, 0))
    assert files_in(tmp_path) == []


def test_write_error_partway_is_a_user_error_and_keeps_the_old_file(tmp_path):
    """A file-size limit makes writes fail the way a full disk does, without filling one."""
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    script = textwrap.dedent(
        f"""
        import resource, signal
        import numpy as np
        from engine.errors import UserFacingError
        from engine.io.encode import Mp4Writer
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))
        noise = np.random.default_rng(0).integers(0, 256, (20, 128, 128, 3), dtype=np.uint8)
        try:
            with Mp4Writer({str(out)!r}, 25, ) as w:
                for f in noise:
                    w.write(f)
        except UserFacingError as exc:
            print("USER:", exc)
        """
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("USER: Cannot export out.mp4"), proc.stdout + proc.stderr
    assert files_in(tmp_path) == ["out.mp4"] and out.read_bytes() == b"old"


def test_settings_are_validated():
    with pytest.raises(ValueError, match="crf"):
        EncodeConfig(crf=60)
    with pytest.raises(ValueError, match="preset"):
        EncodeConfig(preset="warp9")
    with pytest.raises(ValueError, match="fps"):
        fps_fraction(0)
    assert fps_fraction(29.97) == Fraction(30000, 1001)
    assert fps_fraction(12.5) == Fraction(25, 2)


# -- layout ----------------------------------------------------------------------------------------


def test_side_by_side_keeps_aspect_and_even_sizes():
    left = np.zeros((1080, 720, 3), np.uint8)
    left[:] = (255, 0, 0)
    right = np.zeros((512, 512, 3), np.uint8)
    right[:] = (0, 0, 255)
    both = side_by_side(left, right, 301)
    assert both.shape == (300, 200 + 300, 3)
    assert (both[:, :200] == (255, 0, 0)).all() and (both[:, 200:] == (0, 0, 255)).all()

    odd = side_by_side(gradient(33, 17), gradient(20, 31), 40)
    assert odd.shape[0] == 40 and odd.shape[1] % 2 == 0
    with pytest.raises(ValueError):
        side_by_side(left, right[..., :2], 100)


def test_side_by_side_exports(tmp_path):
    out = tmp_path / "sbs.mp4"
    frames = (side_by_side(gradient(90, 60, i), gradient(64, 64, i), 96) for i in range(4))
    drain(export_frames(frames, out, 25, 4))
    info = probe(out)
    assert (info.width, info.height) == (64 + 96, 96)
