"""The render job and command: photo + driving clip -> a playable MP4, or a clear refusal."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.errors import Cancelled, NoPersonError
from engine.io.video import iter_frames, probe
from engine.jobs import CancelToken, drain
from engine.render.run import render_to_file
from tests.engine_helpers import frames_of, write_video

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def short_clip(media, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("r") / "face.mp4",
                       frames_of(media / "drive_face_expressions_greenscreen.mp4", 30))


def test_render_writes_an_mp4_with_every_frame_and_the_audio(media, tmp_path):
    out = tmp_path / "out.mp4"
    res = drain(render_to_file(media / "photo_portrait_woman.jpg", media / "drive_fullbody_woman_dance.mp4",
                               out, size=256, side_by_side=True, frame_range=(10, 40)))
    info = probe(out)
    assert res.frames == 30 and sum(1 for _ in iter_frames(out)) == 30
    assert info.has_audio and abs(info.fps - 25.0) < 1e-6
    assert info.height == 256 and info.width > 256, "driving | result side by side"


def test_the_rendered_face_follows_the_driver(media, tmp_path, short_clip):
    out = tmp_path / "face.mp4"
    drain(render_to_file(media / "photo_portrait_man_smiling.png", short_clip, out, size=256))
    frames = [f.rgb.astype(np.float32) for f in iter_frames(out)]
    assert len(frames) == 30
    assert max(np.abs(f - frames[0]).mean() for f in frames) > 1.0, "the photo moves"


def test_cancelled_render_leaves_no_file_and_keeps_the_old_one(media, tmp_path, short_clip):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous export")
    token = CancelToken()
    job = render_to_file(media / "photo_portrait_woman.jpg", short_clip, out, size=128, cancel=token)
    with pytest.raises(Cancelled):
        for i, _ in enumerate(job):
            if i == 5:
                token.cancel()
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_cancel_raises_to_the_caller(media, tmp_path, short_clip):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        drain(render_to_file(media / "photo_portrait_woman.jpg", short_clip, tmp_path / "x.mp4", cancel=token))


def test_photo_without_a_person_is_refused(tmp_path, short_clip):
    from PIL import Image

    empty = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 300, 3), 200, np.uint8)).save(empty)
    with pytest.raises(NoPersonError):
        drain(render_to_file(empty, short_clip, tmp_path / "x.mp4"))


def test_render_command_errors_are_one_line(tmp_path, short_clip):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4 nothing here")
    r = subprocess.run([sys.executable, "main.py", "render", "--ref", str(pdf), "--drive", str(short_clip),
                        "-o", str(tmp_path / "o.mp4")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error:") and "\n" not in r.stderr.strip()
    assert not (tmp_path / "o.mp4").exists()


def test_demo_command_renders_the_bundled_sample(tmp_path):
    out = tmp_path / "demo.mp4"
    r = subprocess.run([sys.executable, "main.py", "demo", "-o", str(out), "--size", "256"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    from engine.demo import demo_clip

    assert sum(1 for _ in iter_frames(out)) == len(demo_clip())


def test_every_registered_renderer_is_a_cli_choice_a_project_kind_and_a_menu_item():
    from engine.cli import build_parser
    from engine.project.document import RendererKind
    from engine.render import registry

    render_cmd = build_parser()._subparsers._group_actions[0].choices["render"]
    choices = next(a.choices for a in render_cmd._actions if a.dest == "renderer")
    assert tuple(choices) == registry.cli_choices()
    assert [k.value for k in RendererKind] == list(registry.names())
    assert registry.spec("dit") is registry.spec("full"), "the CLI's older name still works"
    assert registry.spec("dit_preview").default_steps < registry.spec("full").default_steps


def test_unknown_renderer_and_a_dit_without_checkpoint_are_one_line_refusals():
    from engine.errors import UserFacingError
    from engine.render import registry

    with pytest.raises(UserFacingError, match="unknown renderer 'warp'.*instant"):
        registry.make("warp")
    with pytest.raises(UserFacingError, match="checkpoint"):
        registry.make("full")
    with pytest.raises(UserFacingError, match="steps"):
        registry.make("full", steps=0, checkpoint="x.safetensors")
