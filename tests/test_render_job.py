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


def test_unknown_renderer_and_a_dit_without_checkpoint_are_one_line_refusals(monkeypatch, tmp_path):
    from engine.errors import UserFacingError
    from engine.render import registry

    with pytest.raises(UserFacingError, match="unknown renderer 'warp'.*instant"):
        registry.make("warp")
    # a generator ships in assets/generator/: point the finder at a missing file to see the refusal
    monkeypatch.setenv("UNIMOTION_CHECKPOINT", str(tmp_path / "none.safetensors"))
    with pytest.raises(UserFacingError, match="checkpoint"):
        registry.make("full")
    with pytest.raises(UserFacingError, match="steps"):
        registry.make("full", steps=0, checkpoint="x.safetensors")


def _late_stamped_clip(path: Path, frames: list[np.ndarray], first_s: float, tone_from_s: float) -> Path:
    """An MP4 whose first video and audio timestamps are `first_s` (as a clip cut from a longer recording
    keeps them), silent until `tone_from_s` on the file's clock, then a 440 Hz tone."""
    import av

    fps, rate = 25, 44_100
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        a = out.add_stream("aac", rate=rate)
        a.layout = "mono"
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            vf.pts = int(round(first_s * fps)) + i
            out.mux(v.encode(vf))
        out.mux(v.encode(None))
        n = int(len(frames) / fps * rate)
        t = first_s + np.arange(n) / rate
        pcm = np.where(t >= tone_from_s, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
        for k in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(pcm[None, k:k + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = rate, int(round(first_s * rate)) + k
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


def _tone_onset_s(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        pcm = np.concatenate([f.to_ndarray().mean(axis=0) for f in c.decode(audio=0)])
    return float(np.argmax(np.abs(pcm) > 0.1) / 44_100)


def test_audio_in_point_is_the_first_frames_timestamp_in_the_cli_and_the_studio(media, tmp_path):
    """The driving clip starts at 1.0 s on its own clock and the tone at 2.0 s: in an export from frame 10
    (1.4 s) the tone must start 0.6 s in, for `unimotion render` and the studio's export alike."""
    from engine.project.document import Project
    from engine.project.export import export_video, request_from_project
    from engine.render.export import audio_in_point
    from engine.analyze import load_reference

    frames = [np.ascontiguousarray(f) for f in frames_of(media / "drive_face_expressions_greenscreen.mp4", 50)]
    clip_path = _late_stamped_clip(tmp_path / "late.mp4", frames, first_s=1.0, tone_from_s=2.0)
    cli_out = tmp_path / "cli.mp4"
    drain(render_to_file(media / "photo_portrait_man_smiling.png", clip_path, cli_out, size=128,
                         frame_range=(10, 50)))
    expected = 2.0 - 1.4
    assert _tone_onset_s(cli_out) == pytest.approx(expected, abs=0.03)

    from tests.engine_helpers import tracked

    clip = tracked(str(clip_path))
    assert clip.times[0] == pytest.approx(1.0) and audio_in_point(clip.times, 10) == pytest.approx(1.4)
    project = Project()
    project.set_reference(media / "photo_portrait_man_smiling.png",
                          load_reference(media / "photo_portrait_man_smiling.png"))
    project.set_clip(clip_path, clip)
    studio_out = tmp_path / "studio.mp4"
    from engine.render import registry

    drain(export_video(request_from_project(project, studio_out, start=10, stop=49, long_side=128, audio=True),
                       registry.make("instant")))
    assert _tone_onset_s(studio_out) == pytest.approx(expected, abs=0.03)


def test_the_dit_renderers_steps_and_previews_reach_the_export_progress(tmp_path):
    """Export through the registry's DiT entry (a tiny untrained model): every denoising step shows in the
    export's progress with its preview frame, before the frames are encoded, and every frame is written."""
    import torch

    from engine.models.checkpoint import save_checkpoint
    from engine.models.config import preset
    from engine.models.unimotion import UniMotion
    from engine.render import registry
    from engine.tokens.reference import Reference
    from engine.render.export import ExportRequest, export_video
    from engine.tokens.schema import GROUP_NAMES, MotionTokens, TokenGroup
    from engine.track.types import FrameLandmarks

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "tiny.safetensors", UniMotion(preset("tiny")))
    renderer = registry.make("full", steps=3, checkpoint=str(ckpt))
    photo = (np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)
    tokens = MotionTokens(**{g: TokenGroup.empty(g, 4) for g in GROUP_NAMES})
    req = ExportRequest(Reference(photo, FrameLandmarks(width=30, height=40)), tokens, tmp_path / "dit.mp4",
                        25.0, 0, 3, 0.0, long_side=32)
    seen = []
    result = drain(export_video(req, renderer), seen.append)
    steps = [p for p in seen if isinstance(p.preview, np.ndarray)]
    assert len(steps) == 3 and all(p.done == 0 and p.total == 4 for p in steps)
    assert result.frames == 4 and sum(1 for _ in iter_frames(tmp_path / "dit.mp4")) == 4


def test_export_streams_each_frame_to_the_encoder_as_it_is_rendered(media, tmp_path):
    """The export pulls one frame from the renderer, encodes it, reports it, and only then asks for the next:
    no frame is rendered ahead or held (memory stays flat however long the clip)."""
    from engine.analyze import load_reference
    from engine.demo import demo_clip
    from engine.render.export import ExportRequest, export_video
    from engine.render.instant import InstantRenderer

    produced = []

    class Counted(InstantRenderer):
        def render(self, *args, **kwargs):
            for fr in super().render(*args, **kwargs):
                produced.append(fr.index)
                yield fr

    clip = demo_clip()
    req = ExportRequest(load_reference(media / "photo_portrait_woman.jpg"), clip.tokens, tmp_path / "s.mp4",
                        clip.fps, 5, 12, 0.0, long_side=64)
    for p in export_video(req, Counted()):
        if p.message.startswith("Exporting"):
            assert len(produced) == p.done, (len(produced), p.done)
    assert produced == list(range(5, 13))
