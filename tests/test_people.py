"""Choosing whom to follow when a video shows several people: the tracker setting, the CLI flag and the studio's
"Follow" choice. The two-person video is made here from two real clips of the shared media, side by side."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.jobs import drain
from engine.track.config import TrackerConfig, person_of
from tests.test_studio import TRACK_TIMEOUT_MS, window  # noqa: F401 - the real studio window, as a fixture

LEFT_CLIP = "drive_upperbody_woman_hands.mp4"  # the smaller face: person 1, never the largest
RIGHT_CLIP = "drive_face_talking_headmotion.mp4"  # the larger face: the default follows him
FRAMES = 8  # a third of a second at 25 fps: enough for the tracker, quick to track
HEIGHT = 360  # px of each clip in the composite
NOSE = 0  # body landmark index of the nose


def compose(clips: list[Path], out: Path, frames: int = FRAMES, height: int = HEIGHT) -> Path:
    """The clips' first `frames` frames side by side (each scaled to `height`), as an H.264 MP4."""
    import av
    import cv2

    from engine.io.video import iter_frames

    streams = [iter_frames(c) for c in clips]
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            parts = []
            for s in streams:
                rgb = next(s).rgb
                w = int(round(rgb.shape[1] * height / rgb.shape[0])) // 2 * 2
                parts.append(cv2.resize(rgb, (w, height), interpolation=cv2.INTER_AREA))
            img = np.ascontiguousarray(np.hstack(parts))
            if i == 0:
                stream.width, stream.height = img.shape[1], img.shape[0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


@pytest.fixture(scope="module")
def two_people(media, tmp_path_factory) -> Path:
    return compose([media / LEFT_CLIP, media / RIGHT_CLIP], tmp_path_factory.mktemp("people") / "two.mp4")


@pytest.fixture(scope="module")
def one_person(media, tmp_path_factory) -> Path:
    return compose([media / RIGHT_CLIP], tmp_path_factory.mktemp("people") / "one.mp4")


def nose_x(clip) -> np.ndarray:
    lm = clip.landmarks
    assert lm.present("body").all(), "the followed person is tracked in every frame"
    return lm.body[:, NOSE, 0]


# -- the setting ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_the_person_setting_is_checked_and_named(bad):
    with pytest.raises(ValueError, match="TrackerConfig.person"):
        TrackerConfig(person=bad)


def test_the_default_keeps_old_cache_keys_and_a_choice_makes_its_own():
    assert "person" not in TrackerConfig().key(), "caches made before the setting existed must still hit"
    assert TrackerConfig(person=2).key() != TrackerConfig(person=1).key() != TrackerConfig().key()
    assert person_of(TrackerConfig(person=2).key()) == 2
    assert person_of(TrackerConfig().key()) is None and person_of("") is None


# -- the engine --------------------------------------------------------------------------------------------

def test_person_1_and_person_2_are_the_left_and_the_right_performer(two_people):
    from engine.analyze import track_clip

    tracked = {p: drain(track_clip(two_people, TrackerConfig(person=p))) for p in (None, 1, 2)}
    half = tracked[1].size[0] / 2
    assert (nose_x(tracked[1]) < half).all(), "person 1 is the one on the left"
    assert (nose_x(tracked[2]) > half).all(), "person 2 is the one on the right"
    np.testing.assert_allclose(nose_x(tracked[None]), nose_x(tracked[2]), atol=2,
                               err_msg="the default still follows the largest face (the man on the right)")
    assert tracked[1].warnings == ["2 people in frame: tracking person 1 from the left"]
    assert tracked[None].warnings == ["2 people in frame: tracking the largest"]
    assert person_of(tracked[1].tracker) == 1 and person_of(tracked[None].tracker) is None


def test_a_photo_follows_the_chosen_person_too(media, tmp_path):
    import cv2
    from PIL import Image

    from engine.analyze import track_clip
    from engine.io.image import load_image

    people = [load_image(media / n) for n in ("photo_portrait_woman.jpg", "photo_portrait_man_smiling.png")]
    row = np.hstack([cv2.resize(p, (HEIGHT, HEIGHT)) for p in people])
    Image.fromarray(row).save(tmp_path / "two.png")
    left, right = (drain(track_clip(tmp_path / "two.png", TrackerConfig(person=p))) for p in (1, 2))
    assert left.landmarks.face[0, :, 0].mean() < HEIGHT < right.landmarks.face[0, :, 0].mean()
    assert right.warnings == ["2 people in frame: tracking person 2 from the left"]


# -- the command line ----------------------------------------------------------------------------------------

def test_track_person_picks_and_too_few_people_is_one_line(capsys, tmp_path, two_people, one_person):
    from engine.tokens.clipfile import load_clip
    from tests.test_cli import assert_one_line_error, run_cli

    code, err = run_cli(capsys, "track", two_people, "--person", "1", "-o", tmp_path / "p1.npz")
    assert code == 0, err
    assert "warning: 2 people in frame: tracking person 1 from the left" in err
    clip = load_clip(tmp_path / "p1.npz")
    assert (nose_x(clip) < clip.size[0] / 2).all()

    code, err = run_cli(capsys, "track", one_person, "--person", "2", "-o", tmp_path / "p2.npz")
    assert_one_line_error(code, err, "person 2", "at most 1 person")
    assert not (tmp_path / "p2.npz").exists()
    code, err = run_cli(capsys, "track", two_people, "--person", "3", "-o", tmp_path / "p3.npz")
    assert_one_line_error(code, err, "person 3", "at most 2 people")
    code, err = run_cli(capsys, "render", "--ref", two_people, "--drive", two_people, "-o", tmp_path / "o.mp4",
                        "--person", "0")
    assert_one_line_error(code, err, "--person")


# -- the studio ------------------------------------------------------------------------------------------------

def test_the_studio_offers_the_people_and_follows_the_one_picked(window, qtbot, two_people, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from engine.project import edits

    w = window
    doc, panel = w.project, w.driving_panel
    panel.load_path(two_people)
    qtbot.waitUntil(lambda: doc.clip is not None and not w.runner.running("track"), timeout=TRACK_TIMEOUT_MS)
    half = doc.clip.size[0] / 2
    assert (nose_x(doc.clip) > half).all(), "by default the largest (right) person is followed"
    combo = panel.follow
    assert panel.follow_row.isVisible() and combo.isEnabled()
    assert [combo.itemText(i) for i in range(combo.count())] == ["Largest", "Person 1 (left)", "Person 2 (right)"]
    assert combo.currentText() == "Largest"

    jaw = ("face", "jaw_open")
    doc.set_channel_ops(jaw, edits.add_key((), 3, 0.8))  # an edit made before the choice
    steps = w.undo.count()
    largest = doc.clip

    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Down)  # the user picks "Person 1 (left)"
    qtbot.waitUntil(lambda: doc.clip is not largest and not w.runner.running("track"), timeout=TRACK_TIMEOUT_MS)
    assert (nose_x(doc.clip) < half).all(), "the motion now follows the person on the left"
    assert combo.currentText() == "Person 1 (left)" and combo.isEnabled()
    assert [k.frame for k in edits.keys_of(doc.channel_ops(jaw))] == [3], "the edits are kept"
    assert w.undo.count() == steps + 1 and w.undo.undoText() == "Follow person 1 from the left"

    w.actions.trigger("edit.undo")  # one step back: the largest again, edits still there
    assert doc.clip is largest and combo.currentText() == "Largest"
    assert [k.frame for k in edits.keys_of(doc.channel_ops(jaw))] == [3]

    # the choice is saved with the project: reopening follows the same person
    w.actions.trigger("edit.redo")
    assert combo.currentText() == "Person 1 (left)"
    assert w.files.save_as(tmp_path / "two")
    w.actions.trigger("file.new")
    assert doc.clip is None and not panel.follow_row.isVisible()
    assert w.files.open(tmp_path / "two.umproj")
    qtbot.waitUntil(lambda: doc.clip is not None and not w.runner.running("track"), timeout=TRACK_TIMEOUT_MS)
    assert (nose_x(doc.clip) < half).all() and combo.currentText() == "Person 1 (left)"
    assert [k.frame for k in edits.keys_of(doc.channel_ops(jaw))] == [3] and not doc.dirty


def test_the_project_file_keeps_the_person_and_omits_the_default(tmp_path):
    from engine.project.projectfile import ProjectFileError, ProjectState, state_from_json, state_to_json

    video = tmp_path / "two.mp4"
    chosen = state_to_json(ProjectState(driving_path=video, driving_person=2), tmp_path)
    assert chosen["driving"]["person"] == 2
    assert state_from_json(chosen, tmp_path).driving_person == 2
    default = state_to_json(ProjectState(driving_path=video), tmp_path)
    assert "person" not in default["driving"] and state_from_json(default, tmp_path).driving_person is None
    chosen["driving"]["person"] = 0
    with pytest.raises(ProjectFileError, match="damaged"):
        state_from_json(chosen, tmp_path)


def test_saving_while_the_reopened_clip_still_tracks_keeps_the_person(tmp_path):
    """A project reopened with person 2 and saved before its clip has tracked must not forget the choice."""
    from engine.project.document import Project
    from engine.project.projectfile import ProjectState, apply_state, state_of

    project = Project()
    apply_state(project, ProjectState(driving_path=tmp_path / "two.mp4", driving_person=2), None)
    assert project.clip is None  # the clip is still tracking: the document only names it
    assert state_of(project).driving_person == 2
    project.reset()
    assert state_of(project).driving_person is None
