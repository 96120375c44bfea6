"""The command line as a new user meets it: bad input gets one line and a non-zero exit, never a traceback,
never a damaged or half-written file."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """`unimotion ARGV` in this process (the tracker's models load once per test run); (exit code, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and not CLASS_NAME.search(err), err
    for n in needles:
        assert n in err, err


@pytest.fixture(scope="module")
def photo(media) -> Path:
    return media / "photo_portrait_woman.jpg"


def test_a_folder_given_as_the_video_is_refused(capsys, tmp_path, photo):
    assert_one_line_error(*run_cli(capsys, "track", tmp_path), "is a folder")
    assert_one_line_error(*run_cli(capsys, "render", "--ref", photo, "--drive", tmp_path, "-o", tmp_path / "o.mp4"),
                          "is a folder")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", ["0", "-5", "100000"])
def test_output_sizes_outside_the_stated_range_are_refused(capsys, tmp_path, photo, media, size):
    out = tmp_path / "o.mp4"
    code, err = run_cli(capsys, "render", "--ref", photo, "--drive", media / "drive_face_talking_headmotion.mp4",
                        "-o", out, "--size", size)
    assert_one_line_error(code, err, "--size must be between 16 and 4096", size)
    assert_one_line_error(*run_cli(capsys, "demo", "-o", out, "--size", size), "between 16 and 4096")
    assert not out.exists()


@pytest.mark.parametrize("side", ["10", "0"])
def test_a_tracking_size_below_the_minimum_is_refused_in_the_flags_terms(capsys, tmp_path, photo, side):
    assert_one_line_error(*run_cli(capsys, "track", photo, "-o", tmp_path / "p.npz", "--max-side", side),
                          "--max-side must be at least 128", side)


def test_usage_errors_are_one_line_too(capsys):
    assert_one_line_error(*run_cli(capsys, "track", "x.mp4", "--max-side", "big"), "--max-side", "--help")


@pytest.mark.parametrize("command", ["render", "demo", "track"])
def test_an_output_named_for_another_kind_of_file_is_refused(capsys, tmp_path, photo, media, command):
    args = {"render": ["render", "--ref", photo, "--drive", media / "drive_face_talking_headmotion.mp4"],
            "demo": ["demo"], "track": ["track", photo]}[command]
    code, err = run_cli(capsys, *args, "-o", tmp_path / "result.txt")
    assert_one_line_error(code, err, "result.txt", "result.mp4" if command != "track" else "result.npz")
    assert list(tmp_path.iterdir()) == []


def test_track_into_a_folder_path_a_read_only_folder_or_a_full_disk_is_one_line(capsys, tmp_path, photo,
                                                                                   full_disk):
    assert_one_line_error(*run_cli(capsys, "track", photo, "-o", tmp_path), "is a folder")
    # sysfs refuses new files even to root: a real read-only folder on every Linux machine
    assert_one_line_error(*run_cli(capsys, "track", photo, "-o", "/sys/clip.npz"), "Cannot write clip.npz")
    code, err = run_cli(capsys, "track", photo, "-o", full_disk / "clip.npz")
    assert_one_line_error(code, err, "Cannot write clip.npz")
    assert "disk is full" in err or "too large" in err
    assert [p.name for p in full_disk.iterdir()] == ["ballast"], "no temp file is left behind"


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a real, full filesystem: a tiny tmpfs filled to the brim (needs root: mount), else a folder
    whose files may not grow (RLIMIT_FSIZE, which the OS enforces the same way for this process)."""
    import resource

    mnt = tmp_path / "full"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                             capture_output=True).returncode == 0
    limit = None
    if mounted:
        with open(mnt / "ballast", "wb") as fh:
            try:
                fh.write(b"\0" * (1 << 20))
            except OSError:
                pass  # ENOSPC: full, as wanted
    else:
        (mnt / "ballast").write_bytes(b"")
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, limit[1]))
    try:
        yield mnt
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)], check=False)
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, limit)


def test_a_16_bit_greyscale_png_reads_as_its_8_bit_self(tmp_path, photo):
    from PIL import Image

    from engine.analyze import load_reference
    from engine.io.image import load_image

    grey = np.asarray(Image.open(photo).convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    Image.fromarray(grey).save(tmp_path / "flat.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    deep, flat = load_image(tmp_path / "deep.png"), load_image(tmp_path / "flat.png")
    assert np.abs(deep.astype(int) - flat).max() <= 1
    assert load_reference(tmp_path / "deep.png").landmarks.has("face")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_token_file_with_nan_or_infinity_is_refused(capsys, tmp_path, photo, bad):
    from engine.demo import demo_clip
    from engine.tokens.clipfile import save_clip

    clip = demo_clip()
    clip.tokens.face.values[7, 3] = bad
    save_clip(clip, tmp_path / "bad.npz")
    code, err = run_cli(capsys, "render", "--ref", photo, "--drive", tmp_path / "bad.npz", "-o", tmp_path / "o.mp4")
    assert_one_line_error(code, err, "bad.npz", "face", "NaN or infinite", "frame 7")
    assert not (tmp_path / "o.mp4").exists()


def test_a_photo_with_three_people_warns_like_a_video_with_two(capsys, tmp_path, media):
    import cv2
    from PIL import Image

    from engine.demo import DEMO_MOTION
    from engine.io.image import load_image

    people = [load_image(media / n) for n in ("photo_portrait_woman.jpg", "photo_portrait_man_smiling.png",
                                              "photo_halfbody_woman_openhands.png")]
    h = 400
    row = np.hstack([cv2.resize(p, (int(p.shape[1] * h / p.shape[0]), h)) for p in people])
    Image.fromarray(row).save(tmp_path / "three.png")
    code, err = run_cli(capsys, "render", "--ref", tmp_path / "three.png", "--drive", DEMO_MOTION,
                        "-o", tmp_path / "o.mp4", "--size", "32")
    assert code == 0, err
    assert "warning: 3 people in the photo: animating the largest" in err


def test_an_unexpected_failure_is_one_line_and_its_traceback_only_on_request(capsys, monkeypatch, tmp_path):
    import engine.cli as cli

    def broken(args):  # stands in for a bug of ours deep inside a command
        raise RuntimeError("index 9 is out of bounds")

    monkeypatch.setattr(cli, "cmd_inspect", broken)
    monkeypatch.delenv("UNIMOTION_VERBOSE", raising=False)
    code, err = run_cli(capsys, "inspect", tmp_path / "x.npz")
    assert code == 1 and len(err.splitlines()) == 1 and "index 9 is out of bounds" in err
    assert "UNIMOTION_VERBOSE=1" in err and "Traceback" not in err and not CLASS_NAME.search(err)
    monkeypatch.setenv("UNIMOTION_VERBOSE", "1")
    with pytest.raises(RuntimeError):
        main(["inspect", str(tmp_path / "x.npz")])


def test_messages_name_the_problem_not_the_exception_class(capsys, tmp_path, photo):
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"this is not a video at all" * 100)
    assert_one_line_error(*run_cli(capsys, "track", fake), "not a readable video")
    fake_npz = tmp_path / "clip.npz"
    fake_npz.write_bytes(b"PK not really")
    assert_one_line_error(*run_cli(capsys, "inspect", fake_npz), "not a UniMotion token file")


def _wait_for(predicate, timeout_s: float = 60.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)  # polling another process's files: there is no signal to wait on
    return False


def test_sigterm_is_a_cancel_and_a_killed_runs_temp_file_is_cleared_next_time(tmp_path):
    """SIGKILL leaves a hidden temp file (nothing can run); the next export of the same output clears it.
    SIGTERM cancels like Ctrl+C: a message, no temp file, and the previous output kept."""
    out = tmp_path / "demo.mp4"
    out.write_bytes(b"previous export")

    def partials() -> set[str]:
        return {p.name for p in tmp_path.iterdir() if ".partial-" in p.name}

    cmd = [sys.executable, "main.py", "demo", "-o", str(out), "--size", "64"]
    killed = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: partials()), "the export started writing"
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    stale = partials()
    assert len(stale) == 1

    termed = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: partials() - stale), "the second export started writing"
    assert not (partials() & stale), "the killed run's temp file is gone"
    termed.send_signal(signal.SIGTERM)
    _, err = termed.communicate(timeout=30)
    assert termed.returncode == 130 and err.strip().splitlines()[-1] == "cancelled", err
    assert partials() == set() and out.read_bytes() == b"previous export"


def test_another_live_writers_temp_file_is_left_alone(tmp_path):
    from engine.io.output import clear_stale_partials

    out = tmp_path / "o.mp4"
    parent_alive = tmp_path / f".o.mp4.partial-{os.getppid()}-0123abcd"
    dead = tmp_path / ".o.mp4.partial-4194303-89abcdef"  # above pid_max's default: never a live process
    other_output = tmp_path / ".p.mp4.partial-4194303-89abcdef"
    for p in (parent_alive, dead, other_output):
        p.write_bytes(b"x")
    assert clear_stale_partials(out) == [dead]
    assert parent_alive.exists() and other_output.exists()


def test_the_wheel_carries_the_demo_motion(tmp_path):
    """A non-editable install must run `unimotion demo`: the motion file ships inside the engine package."""
    import zipfile

    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            str(ROOT), "-w", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    assert "engine/assets/demo_motion.npz" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                                str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}  # the installed copy, not this checkout
    r = subprocess.run([sys.executable, "-c", "import engine, engine.cli, sys; print(engine.__file__); "
                        "sys.exit(engine.cli.main(['demo', '-o', 'demo.mp4', '--size', '32']))"],
                       capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(site)) and (tmp_path / "demo.mp4").stat().st_size > 0


def test_missing_media_fails_the_suite_in_and_out_of_ci(tmp_path):
    """Missing media is a failure that names the folder, never a skip: a run without its media tests nothing."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_needs_media(media):\n    pass\n")
    env = {**os.environ, "CI": "true", "UNIMOTION_TEST_MEDIA": str(tmp_path / "nowhere"), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", str(probe)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode != 0 and "shared test media not found" in r.stdout, r.stdout
    env.pop("CI")
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    summary = r.stdout.strip().splitlines()[-1]
    assert r.returncode != 0 and "shared test media not found" in r.stdout and "skipped" not in summary, r.stdout


def test_the_progress_bar_shows_a_renderers_own_steps():
    """A DiT render spends its first minutes denoising before any frame is encoded: the bar says so."""
    import io

    from engine.cli import ProgressBar
    from engine.jobs import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    bar = ProgressBar("Rendering", out)
    bar(Progress(0, 40, "denoising step 3/8", np.zeros((4, 4, 3), np.uint8)))
    assert out.getvalue().endswith("0/40  denoising step 3/8")
    bar(Progress(1, 40, "Exporting out.mp4: frame 1/40"))
    last = out.getvalue().rsplit("\r", 1)[-1]
    assert last.rstrip().endswith("1/40") and "denoising" not in last


def test_extend_takes_a_video_as_well_as_a_token_file(capsys, tmp_path, media):
    """`extend` tracks a video first (users hand it the clip they have, not a token file), then extends it:
    the written token file is the clip's 183 frames plus 2 s at its 25 fps."""
    from engine.tokens.clipfile import load_clip

    out = tmp_path / "longer.npz"
    code, _ = run_cli(capsys, "extend", media / "drive_face_talking_headmotion.mp4", "--seconds", "2", "-o", out)
    assert code == 0
    assert len(load_clip(out)) == 183 + 50
