"""The headless project document, its edit layer and project files (no Qt)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.errors import UserFacingError
from engine.jobs import drain
from engine.project import edits
from engine.project.document import Project, RenderSettings, ViewMode
from engine.project.events import Signal
from engine.project.export import export_video, request_from_project
from engine.project.projectfile import (
    Autosaver, ProjectFileError, find_recoveries, open_project, push_recent, prune_recent, read_project, recover,
    save_project)
from engine.render.base import RenderedFrame, Renderer, output_size
from engine.tokens.clipfile import TrackedClip
from engine.tokens.reference import Reference
from engine.tokens.schema import CHANNELS, GROUP_NAMES, MotionTokens, TokenGroup, channel_index
from engine.track.landmarks import N_BODY, N_FACE, N_HAND
from engine.track.types import ClipLandmarks, FrameLandmarks

JAW = ("face", "jaw_open")
FOREARM_Y = ("body", "l_forearm.y")


def synthetic_clip(n: int = 40, fps: float = 25.0) -> TrackedClip:
    """A clip whose jaw opens and closes once, with jitter; the left hand is missing in frames 10-14."""
    groups = {g: TokenGroup.empty(g, n) for g in GROUP_NAMES}
    for g in GROUP_NAMES:
        groups[g].confidence[:] = 1.0
    rng = np.random.default_rng(0)
    t = np.arange(n)
    groups["face"].values[:, channel_index(*JAW)] = 0.1 * np.sin(t / n * np.pi) + 0.01 * rng.standard_normal(n)
    groups["left_hand"].confidence[10:15] = 0.0
    nan = lambda *s: np.full(s, np.nan, np.float32)  # noqa: E731
    lm = ClipLandmarks(width=64, height=48, body=nan(n, N_BODY, 3), body_conf=np.zeros((n, N_BODY), np.float32),
                       body_world=nan(n, N_BODY, 3), face=nan(n, N_FACE, 3), face_conf=np.zeros((n, N_FACE), np.float32),
                       left_hand=nan(n, N_HAND, 3), left_hand_conf=np.zeros((n, N_HAND), np.float32),
                       right_hand=nan(n, N_HAND, 3), right_hand_conf=np.zeros((n, N_HAND), np.float32))
    return TrackedClip(tokens=MotionTokens(**groups), landmarks=lm, times=t / fps, fps=fps,
                       face_neutral=np.zeros(4), source_name="synthetic")


def jaw(tokens: MotionTokens) -> np.ndarray:
    return tokens.face.values[:, channel_index(*JAW)]


# -- events ----------------------------------------------------------------------------------------


def test_signal_calls_every_subscriber_and_can_disconnect_and_block():
    sig, seen = Signal("x"), []
    a = sig.connect(lambda v: seen.append(("a", v)))
    sig.connect(lambda v: seen.append(("b", v)))
    sig.emit(1)
    sig.disconnect(a)
    sig.emit(2)
    with sig.blocked():
        sig.emit(3)
    assert seen == [("a", 1), ("b", 1), ("b", 2)]


def test_signal_failing_subscriber_does_not_silence_others():
    sig, seen = Signal(), []
    sig.connect(lambda: 1 / 0)
    sig.connect(lambda: seen.append(1))
    with pytest.raises(ZeroDivisionError):
        sig.emit()
    assert seen == [1]


# -- operations ------------------------------------------------------------------------------------


def test_keyframes_override_between_keys_and_blend_back_outside():
    tracked = np.linspace(0.0, 1.0, 50)
    op = edits.Keyframes((edits.Key(20, 5.0), edits.Key(30, 5.0)), blend=5)
    out = edits.edited_curve(tracked, [op])
    assert np.allclose(out[20:31], 5.0)
    assert np.allclose(out[:14], tracked[:14], atol=1e-6) and np.allclose(out[36:], tracked[36:], atol=1e-6)
    ramp = out[14:21]
    assert np.all(np.diff(ramp) > 0), "the blend into the keys is monotone, no jump"
    assert np.max(np.abs(np.diff(out))) < 2.0


def test_keyframes_interpolate_monotone_without_overshoot():
    op = edits.Keyframes((edits.Key(0, 0.0), edits.Key(10, 1.0), edits.Key(20, 1.0), edits.Key(30, 0.0)))
    out = edits.edited_curve(np.zeros(31), [op])
    assert out[10] == pytest.approx(1.0) and out[5] == pytest.approx(0.5, abs=0.2)
    assert out.max() <= 1.0 + 1e-6 and out.min() >= -1e-6


def test_key_editing_functions_add_move_delete():
    ops: tuple = ()
    ops = edits.add_key(ops, 5, 1.0)
    ops = edits.add_key(ops, 15, 2.0)
    ops = edits.add_key(ops, 5, 3.0)  # replaces the key at 5
    assert edits.keys_of(ops) == (edits.Key(5, 3.0), edits.Key(15, 2.0))
    ops = edits.move_keys(ops, {15: (12, -1.0)})
    assert edits.keys_of(ops) == (edits.Key(5, 3.0), edits.Key(12, -1.0))
    ops = edits.delete_keys(ops, [5, 12])
    assert ops == ()


def test_key_layer_is_the_last_keyframes_op_so_later_ops_apply_on_top():
    ops = edits.add_key((), 10, 1.0) + (edits.Offset(0, 20, delta=0.5, blend=0),)
    ops = edits.add_key(ops, 12, 1.0)
    assert isinstance(ops[0], edits.Keyframes) and len(ops[0].keys) == 2 and isinstance(ops[1], edits.Offset)
    assert edits.edited_curve(np.zeros(25), ops)[11] == pytest.approx(1.5)


def test_smooth_removes_jitter_inside_the_range_only():
    rng = np.random.default_rng(1)
    x = np.sin(np.linspace(0, 3, 100)) + 0.1 * rng.standard_normal(100)
    out = edits.edited_curve(x, [edits.Smooth(20, 79, sigma=3.0, blend=0)])
    assert np.abs(np.diff(out[25:75], 2)).mean() < 0.2 * np.abs(np.diff(x[25:75], 2)).mean()
    assert np.array_equal(out[:20], x[:20].astype(np.float32))


def test_scale_hold_offset_reset_and_neutral():
    x = np.linspace(-1.0, 1.0, 21)
    up = edits.edited_curve(x, [edits.Scale(0, 20, factor=2.0, blend=0)], neutral=1.0)
    assert np.allclose(up, 1.0 + 2.0 * (x - 1.0))
    calm = edits.edited_curve(x, [edits.Scale(0, 20, factor=0.0, blend=0)], neutral=0.25)
    assert np.allclose(calm, 0.25)
    held = edits.edited_curve(x, [edits.Hold(5, 10, value=7.0, blend=2)])
    assert np.allclose(held[5:11], 7.0) and held[0] == pytest.approx(-1.0) and 7.0 > held[4] > x[4]
    off = edits.edited_curve(x, [edits.Offset(0, 4, delta=1.0, blend=0)])
    assert np.allclose(off[:5], x[:5] + 1) and np.allclose(off[5:], x[5:])
    reset = edits.edited_curve(x, [edits.Offset(0, 20, delta=1.0, blend=0), edits.ResetToTracked(10, 20, blend=0)])
    assert np.allclose(reset[10:], x[10:]) and np.allclose(reset[:10], x[:10] + 1)


def test_paste_lays_values_at_start():
    out = edits.edited_curve(np.zeros(20), [edits.Paste(start=5, values=(1.0, 2.0, 3.0), blend=0)])
    assert list(out[4:9]) == [0, 1, 2, 3, 0]


@pytest.mark.parametrize("bad", [lambda: edits.Smooth(5, 2), lambda: edits.Smooth(0, 5, sigma=0),
                                 lambda: edits.Scale(0, 5, factor=-1), lambda: edits.Keyframes(()),
                                 lambda: edits.Paste(0, ()), lambda: edits.Hold(0, 5, blend=-1)])
def test_invalid_operations_raise_value_error_naming_the_field(bad):
    with pytest.raises(ValueError, match=r"\.(stop|sigma|factor|keys|values|blend)"):
        bad()


def test_edit_layer_json_round_trip_and_key_check():
    layer = edits.EditLayer({JAW: (edits.Keyframes((edits.Key(1, 0.5), edits.Key(9, 0.2))), edits.Smooth(0, 9),
                                   edits.Paste(3, (1.0, 2.0))),
                             FOREARM_Y: (edits.Scale(2, 8, factor=1.25), edits.Hold(1, 2, value=0.3),
                                         edits.Offset(0, 1, delta=2), edits.ResetToTracked(4, 5))})
    again = edits.EditLayer.from_json(json.loads(json.dumps(layer.to_json())))
    assert again == layer and hash(again) == hash(layer)
    with pytest.raises(KeyError):
        edits.EditLayer({("face", "nope"): (edits.Offset(0, 1),)})
    with pytest.raises(ValueError, match="unknown kind"):
        edits.EditOp.from_json({"kind": "explode"})


def test_apply_edits_changes_only_edited_channels_and_revives_missing_frames():
    clip = synthetic_clip()
    hand_key = ("left_hand", "index.flex_base")
    layer = edits.EditLayer({JAW: (edits.Offset(0, 39, delta=1.0, blend=0),),
                             hand_key: (edits.Hold(8, 16, value=30.0, blend=0),)})
    out = edits.apply_edits(clip.tokens, layer)
    assert np.allclose(jaw(out), jaw(clip.tokens) + 1.0)
    assert np.array_equal(out.body.values, clip.tokens.body.values)
    assert (out.left_hand.confidence[10:15] == 1.0).all(), "an edited untracked frame counts as tracked"
    assert np.allclose(jaw(clip.tokens), jaw(synthetic_clip().tokens)), "tracked values are never touched"


# -- document --------------------------------------------------------------------------------------


def loaded_project(n: int = 40) -> Project:
    p = Project()
    p.set_clip(Path("/media/drive.mp4"), synthetic_clip(n))
    p.mark_saved()
    return p


def test_document_emits_events_and_tracks_dirty():
    p = loaded_project()
    seen: list = []
    p.edits_changed.connect(lambda keys: seen.append(("edits", keys)))
    p.dirty_changed.connect(lambda d: seen.append(("dirty", d)))
    p.frame_changed.connect(lambda f: seen.append(("frame", f)))
    p.set_channel_ops(JAW, (edits.Offset(0, 5, delta=1.0),))
    p.set_frame(7)
    p.set_frame(7)  # no change, no event
    p.set_frame(500)  # clamped to the last frame
    assert seen == [("dirty", True), ("edits", [JAW]), ("frame", 7), ("frame", 39)]
    p.mark_saved()
    assert not p.dirty and seen[-1] == ("dirty", False)
    p.set_view_mode(ViewMode.SKELETON)
    assert not p.dirty, "a view change alone does not dirty the project"


def test_live_preview_is_separate_from_committed_edits():
    p = loaded_project()
    live, committed = [], []
    p.edits_live.connect(live.append)
    p.edits_changed.connect(committed.append)
    base = jaw(p.edited_tokens()).copy()
    p.preview_channel_ops(JAW, (edits.Offset(0, 39, delta=2.0, blend=0),))
    assert np.allclose(jaw(p.edited_tokens()), base + 2.0) and not p.dirty
    assert live == [[JAW]] and committed == []
    p.set_channel_ops(JAW, (edits.Offset(0, 39, delta=2.0, blend=0),))  # the drag ends: one committed edit
    assert committed == [[JAW]] and live[-1] == [] and p.dirty and p.effective_edits() == p.edits
    p.preview_channel_ops(JAW, (edits.Offset(0, 39, delta=5.0, blend=0),))
    p.preview_channel_ops(JAW, None)  # cancelled drag
    assert np.allclose(jaw(p.edited_tokens()), base + 2.0)


def test_edited_tokens_snapshot_is_not_mutated_by_later_edits():
    p = loaded_project()
    snap = p.edited_tokens()
    before = jaw(snap).copy()
    p.set_channel_ops(JAW, (edits.Offset(0, 39, delta=1.0),))
    assert np.array_equal(jaw(snap), before) and p.edited_tokens() is not snap


def test_new_clip_clears_edits_and_range_unless_kept():
    p = loaded_project()
    p.set_channel_ops(JAW, (edits.Offset(0, 5, delta=1.0),))
    p.set_in_out((30, 5))
    assert p.in_out == (5, 30)
    p.set_clip(Path("/media/drive.mp4"), synthetic_clip(20), keep_edits=True)
    assert p.edits and p.in_out == (5, 19)
    p.set_clip(Path("/media/other.mp4"), synthetic_clip(20))
    assert not p.edits and p.in_out == (0, 19) and not p.has_custom_range


def test_render_settings_validate():
    with pytest.raises(ValueError, match="long_side"):
        RenderSettings(long_side=3)
    p = loaded_project()
    p.set_render_settings(side_by_side=True)
    assert p.render_settings.side_by_side and p.dirty


# -- project files ---------------------------------------------------------------------------------


def test_save_and_open_round_trip_atomic_and_relative_paths(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "drive.mp4").write_bytes(b"x")
    (media / "photo.png").write_bytes(b"x")
    p = Project()
    p.set_reference(media / "photo.png", None)
    p.set_clip(media / "drive.mp4", synthetic_clip())
    p.set_channel_ops(JAW, (edits.Keyframes((edits.Key(3, 0.4),)), edits.Smooth(0, 20)))
    p.set_in_out((2, 30))
    p.set_render_settings(long_side=384, side_by_side=True)
    path = save_project(p, tmp_path / "proj" / "take1")
    assert path.name == "take1.umproj" and not p.dirty and p.path == path
    assert [f.name for f in path.parent.iterdir()] == ["take1.umproj"], "no temp file left behind"
    q = Project()
    state = open_project(q, path)
    assert state.driving_path == (media / "drive.mp4").resolve()
    assert q.edits == p.edits and q.in_out == (2, 30) and q.render_settings.long_side == 384
    assert not q.dirty and q.path == path and q.clip is None
    q.set_clip(state.driving_path, synthetic_clip(), keep_edits=True)
    assert q.edits == p.edits and not q.dirty, "attaching the tracked clip of an opened project keeps it clean"


def test_moved_project_folder_finds_media_by_relative_path(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "drive.mp4").write_bytes(b"x")
    p = Project()
    p.set_clip(a / "drive.mp4", synthetic_clip())
    save_project(p, a / "p.umproj")
    a.rename(tmp_path / "b")
    assert read_project(tmp_path / "b" / "p.umproj").driving_path == (tmp_path / "b" / "drive.mp4").resolve()


@pytest.mark.parametrize("content,match", [("{not json", "not a UniMotion project"),
                                           ('{"app": "unimotion-studio", "format_version": 99}', "format 99"),
                                           ('{"app": "unimotion-studio", "format_version": 1, "edits": [{"group": '
                                            '"face"}]}', "damaged"), ('[1, 2]', "not a UniMotion project")])
def test_bad_project_files_raise_one_line_user_errors(tmp_path, content, match):
    f = tmp_path / "bad.umproj"
    f.write_text(content)
    with pytest.raises(ProjectFileError, match=match) as info:
        read_project(f)
    assert isinstance(info.value, UserFacingError) and "\n" not in str(info.value)


def test_recent_files_list():
    r = push_recent([], "/a.umproj")
    r = push_recent(r, "/b.umproj")
    r = push_recent(r, "/a.umproj")
    assert r == ["/a.umproj", "/b.umproj"]
    assert len(push_recent([f"/{i}" for i in range(20)], "/x", limit=5)) == 5
    assert prune_recent(["/definitely/not/here.umproj"]) == []


def test_autosave_writes_when_dirty_on_interval_and_recovery_after_crash(tmp_path):
    p = loaded_project()
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: no such process
    saver = Autosaver(tmp_path, interval_s=30, pid=dead_pid)
    assert saver.tick(p, now=0.0) is None  # clean: nothing to recover
    p.set_channel_ops(JAW, (edits.Offset(0, 5, delta=1.0),))
    assert saver.tick(p, now=1.0) == saver.path and saver.path.exists()
    p.set_channel_ops(JAW, (edits.Offset(0, 5, delta=2.0),))
    assert saver.tick(p, now=10.0) is None, "not before the interval"
    assert saver.tick(p, now=40.0) == saver.path
    live = Autosaver(tmp_path, interval_s=30)  # this process: alive, so never offered
    live.tick(p, now=0.0)
    found = find_recoveries(tmp_path)
    assert [r.path for r in found] == [saver.path]
    q = Project()
    recover(q, found[0])
    assert q.dirty and q.edits.ops(JAW) == (edits.Offset(0, 5, delta=2.0),) and not saver.path.exists()
    p.mark_saved()
    live.tick(p, now=100.0)
    assert not live.path.exists(), "a saved document leaves no recovery file"


# -- export (headless) -----------------------------------------------------------------------------


class StripeRenderer(Renderer):
    """Draws the jaw value as a bar: enough to see that edits reach the frames."""

    name = "stripes"

    def render(self, reference, motion, indices, *, size=None, cancel=None):
        w, h = output_size(reference, size)
        for i in indices:
            if cancel is not None:
                cancel.raise_if_cancelled()
            rgb = np.zeros((h, w, 3), np.uint8)
            rgb[:, : int(np.clip(jaw(motion)[i], 0, 1) * w)] = 255
            yield RenderedFrame(i, rgb)


def test_export_request_and_job_render_the_edited_range(tmp_path):
    from engine.io.video import iter_frames

    p = loaded_project()
    p.set_reference(None, Reference(rgb=np.zeros((48, 64, 3), np.uint8), landmarks=FrameLandmarks(64, 48)))
    p.set_channel_ops(JAW, (edits.Hold(0, 39, value=0.5, blend=0),))
    p.set_in_out((5, 14))
    req = request_from_project(p, tmp_path / "out.mp4", long_side=64)
    res = drain(export_video(req, StripeRenderer()))
    frames = [f.rgb for f in iter_frames(res.path)]
    assert res.frames == 10 and len(frames) == 10 and frames[0].shape == (48, 64, 3)
    assert abs(int((frames[3][24, :, 0] > 128).sum()) - 32) <= 2, "the held jaw value reached the frames"
    with pytest.raises(UserFacingError, match="reference"):
        request_from_project(loaded_project(), tmp_path / "x.mp4")


def test_retime_moves_edits_by_time_and_counts_what_falls_off():
    from engine.project.retime import FrameMap, retime_layer

    old_t, new_t = np.arange(100) / 25.0, np.arange(60) / 30.0  # 4 s at 25 fps -> 2 s at 30 fps
    fm = FrameMap.between(old_t, 25.0, new_t, 30.0)
    layer = edits.EditLayer({("face", "jaw_open"): (edits.Keyframes((edits.Key(25, 0.5), edits.Key(75, 0.1))),
                                                edits.Smooth(10, 40, sigma=2.0), edits.Paste(40, tuple(range(10))))})
    r = retime_layer(layer, (5, 90), fm)
    keys, smooth, paste = r.layer.ops(("face", "jaw_open"))
    assert [k.frame for k in keys.keys] == [30] and keys.keys[0].value == 0.5  # 1 s; the key at 3 s is gone
    assert (smooth.start, smooth.stop) == (12, 48) and smooth.blend == 5
    assert paste.start == 48 and len(paste.values) == 12 and paste.values[-1] == pytest.approx(9 * 1.0, abs=0.6)
    assert r.in_out == (6, 59) and r.lost == 1  # the key at 3 s; the range is clamped to the end
    same = retime_layer(layer, None, FrameMap.between(old_t, 25.0, old_t, 25.0))
    assert same.layer is layer and same.lost == 0


def test_keys_move_the_curve_through_them_and_keep_its_motion_between():
    x = np.sin(np.linspace(0, 6, 80))
    ops = edits.add_key((), 20, float(x[20]) + 0.5)
    ops = edits.add_key(ops, 60, float(x[60]) + 0.5)
    out = edits.edited_curve(x, ops)
    assert np.allclose(out[20:61], x[20:61] + 0.5, atol=1e-5), "the wiggle between keys stays"
    # a key added on the edited curve (as the studio's Add Key does) changes nothing beyond its interpolation
    for interp in ("linear", "constant"):
        lin = edits.set_interp(ops, [20, 60], interp)
        before = edits.edited_curve(x, lin)
        after = edits.edited_curve(x, edits.add_key(lin, 40, float(before[40])))
        assert np.allclose(after, before, atol=1e-5), interp
    assert edits.keys_of(edits.add_key(edits.set_interp(ops, [20], "linear"), 40, 0.0))[1].interp == "linear"
    # constant holds the offset until the next key; the interp survives a move and a JSON round trip
    held = edits.set_interp(edits.add_key(ops, 40, float(x[40]) + 1.0), [40], "constant")
    out = edits.edited_curve(x, held)
    assert np.allclose(out[40:60], x[40:60] + 1.0, atol=1e-5) and out[60] == pytest.approx(x[60] + 0.5, abs=1e-5)
    moved = edits.move_keys(held, {40: (42, 0.3)})
    assert [k.interp for k in edits.keys_of(moved)] == ["smooth", "constant", "smooth"]
    again = edits.EditLayer.from_json(json.loads(json.dumps(edits.EditLayer({JAW: moved}).to_json())))
    assert again.ops(JAW) == moved
    with pytest.raises(ValueError, match="interp"):
        edits.Key(1, 0.0, "bouncy")


def test_bone_angle_channels_edit_the_stored_unit_vectors():
    from engine.project import angles
    from engine.tokens.schema import BODY_BONE_NAMES

    rng = np.random.default_rng(3)
    for bone in BODY_BONE_NAMES:  # directions -> swing angles -> directions is exact (away from the antipode)
        d = rng.normal(size=(40, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        assert np.allclose(angles.angles_to_directions(angles.directions_to_angles(d, bone), bone), d, atol=1e-6)
    # a forearm hanging down, swung 90 degrees forward then out: the angles read 90 and 0, then 0 and 90
    assert np.allclose(angles.directions_to_angles(np.array([[0, 0, 1.0], [1, 0, 0]]), "l_forearm"), [[90, 0], [0, 90]])
    assert np.allclose(angles.directions_to_angles(np.array([[-1.0, 0, 0]]), "r_forearm"), [[0, 90]])

    from engine.demo import demo_clip

    tokens = demo_clip().tokens
    key = ("body", "l_upper_arm.out")
    layer = edits.EditLayer({key: (edits.Offset(10, 40, delta=25.0, blend=0), edits.ResetToTracked(30, 40, blend=0))})
    layer = edits.EditLayer.from_json(json.loads(json.dumps(layer.to_json())))
    out = edits.apply_edits(tokens, layer)
    before, after = angles.channel_curve(tokens, key), angles.channel_curve(out, key)
    assert np.allclose(after[10:30], before[10:30] + 25.0, atol=1e-3) and np.allclose(after[30:41], before[30:41],
                                                                                         atol=1e-3)
    cols = angles.bone_columns("l_upper_arm")
    assert np.allclose(np.linalg.norm(out.body.values[:, cols], axis=1), 1.0, atol=1e-5)
    other = angles.bone_columns("r_upper_arm")
    assert np.array_equal(out.body.values[:, other], tokens.body.values[:, other]), "other bones untouched"


def test_a_bone_swung_past_its_opposite_reads_and_edits_as_one_continuous_curve():
    """Exaggerated, a forearm swing passes the direction opposite its rest: the same direction reads as
    +179 or -179 degrees, and the curve editor drew a jump of 358 degrees there (smoothing across it
    averaged the two sides to a swing of about 0, the arm hanging down). Read in time order, the curve
    keeps climbing; a smoothed copy stays on the path."""
    from engine.demo import demo_clip
    from engine.project import angles

    bone, key = "l_forearm", ("body", "l_forearm.forward")
    swing = np.stack([np.linspace(100.0, 260.0, 41), np.full(41, 5.0)], axis=1)
    d = angles.angles_to_directions(swing, bone)
    read = angles.directions_to_angles(d, bone)
    assert np.abs(np.diff(read[:, 0])).max() < 10.0
    assert np.allclose(read, swing, atol=1e-6)

    tokens = demo_clip().tokens.slice(0, 41)
    tokens.body.values[:, angles.bone_columns(bone)] = d
    tokens.body.confidence[:] = 1.0
    out = edits.apply_edits(tokens, edits.EditLayer({key: (edits.Smooth(0, 40, sigma=2.0, blend=0),)}))
    smoothed = angles.channel_curve(out, key)
    assert np.abs(smoothed[5:36] - swing[5:36, 0]).max() < 5.0
