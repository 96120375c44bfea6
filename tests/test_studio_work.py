"""The studio never loses a user's work: replacing the driving video or the photo, closing, recovering.

Driven through the real window (offscreen) with real drops, key presses and clicks on the real dialogs.
"""
from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from engine.project import edits  # noqa: E402
from tests.test_studio import (ARMS_VIDEO, PHOTO, TRACK_TIMEOUT_MS, VIDEO, drop, load_media,  # noqa: E402,F401
                               wait_rendered, window)

JAW = ("face", "jaw_open")
OTHER_PHOTO = "photo_portrait_woman.jpg"


DIALOG_WAIT_S = 300  # longer than any wait in these tests: a dialog is always answered, never left hanging


def modal(kind):
    """The open modal dialog of this kind, if any (found among the windows, not by activation, which a busy
    machine may deliver late)."""
    box = QApplication.activeModalWidget()
    if isinstance(box, kind):
        return box
    return next((x for x in QApplication.topLevelWidgets() if isinstance(x, kind) and x.isVisible()
                 and x.isModal()), None)


def when_dialog(kind, act, name: str | None = None) -> None:
    """Run `act(dialog)` on the next modal dialog of `kind` (named `name`), as soon as it opens."""
    import time

    deadline = time.monotonic() + DIALOG_WAIT_S

    def poll() -> None:
        box = modal(kind)
        if box is not None and (name is None or box.objectName() == name):
            act(box)
        elif time.monotonic() < deadline:
            QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)


def answer_dialog(qtbot, button_text: str, name: str | None = None) -> list:
    """Click `button_text` on the next message box (a real mouse click on its button), once it opens."""
    answered: list = []

    def act(box) -> None:
        button = next(b for b in box.buttons() if b.text().replace("&", "") == button_text)
        answered.append(box.text())
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)

    when_dialog(QMessageBox, act, name)
    return answered


def key_frames(doc, key=JAW) -> list[int]:
    return [k.frame for k in edits.keys_of(doc.channel_ops(key))]


def focus(qtbot, w) -> None:
    """Shortcuts reach only the active window: wait until it is (a loaded machine may take a moment)."""
    if not w.isActiveWindow():
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow)


def add_key_at(qtbot, w, frame: int, key=JAW) -> None:
    focus(qtbot, w)
    w.project.set_frame(frame)
    w.inspector.select_channels([key])
    QTest.keyClick(w, Qt.Key.Key_K)  # the Add Key shortcut, as a user presses it


def replace_video(qtbot, w, path) -> None:
    drop(w.driving_panel, path)
    qtbot.waitUntil(lambda: w.project.driving_path == path and not w.runner.running("track"),
                    timeout=TRACK_TIMEOUT_MS)


def test_replacing_the_video_keeps_edits_by_time_and_undoes_in_one_step(window, qtbot, media):
    w, doc = window, window.project
    load_media(qtbot, w, media)  # the 78-frame face clip
    add_key_at(qtbot, w, 40)
    add_key_at(qtbot, w, 60)
    doc.set_frame(20)
    QTest.keyClick(w, Qt.Key.Key_I)
    doc.set_frame(50)
    QTest.keyClick(w, Qt.Key.Key_O)
    assert key_frames(doc) == [40, 60] and doc.in_out == (20, 50)
    steps = w.undo.count()
    values = [k.value for k in edits.keys_of(doc.channel_ops(JAW))]

    # a longer clip at the same frame rate: every edit stays at its moment, nothing is asked
    replace_video(qtbot, w, media / ARMS_VIDEO)
    assert doc.frame_count == 103 and key_frames(doc) == [40, 60] and doc.in_out == (20, 50)
    assert [k.value for k in edits.keys_of(doc.channel_ops(JAW))] == values
    assert w.undo.count() == steps + 1 and w.actions["edit.undo"].isEnabled()
    assert w.undo.undoText().startswith("Replace driving video")
    assert "kept 1 edited channel" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: w.media.driver_frames is not None and len(w.media.driver_frames) == 103,
                    timeout=TRACK_TIMEOUT_MS)

    focus(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one step back: the old clip
    assert doc.driving_path == media / VIDEO and doc.frame_count == 78 and key_frames(doc) == [40, 60]
    assert len(w.media.driver_frames) == 78, "the old clip's frames are back at once"
    wait_rendered(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert doc.driving_path == media / ARMS_VIDEO and key_frames(doc) == [40, 60]

    # a key past the end of a shorter clip: the studio asks first; "keep" changes nothing
    add_key_at(qtbot, w, 95)
    steps = w.undo.count()
    w.media.settings = dataclasses.replace(w.settings, ask_before_discard=True)
    asked = answer_dialog(qtbot, "Keep Current Video", "replace_clip_question")
    drop(w.driving_panel, media / VIDEO)
    qtbot.waitUntil(lambda: bool(asked) and not w.runner.running("track"), timeout=TRACK_TIMEOUT_MS)
    assert "your edits reach" in asked[0]
    assert doc.driving_path == media / ARMS_VIDEO and key_frames(doc) == [40, 60, 95] and w.undo.count() == steps
    assert "Kept" in w.driving_panel.status_text

    # ... "replace" keeps what fits, drops the rest, says so, and Undo brings it all back
    asked = answer_dialog(qtbot, "Replace, Keep What Fits", "replace_clip_question")
    replace_video(qtbot, w, media / VIDEO)
    assert asked and key_frames(doc) == [40, 60] and doc.frame_count == 78
    assert "dropped" in w.statusBar().currentMessage()
    w.actions.trigger("edit.undo")
    assert doc.driving_path == media / ARMS_VIDEO and key_frames(doc) == [40, 60, 95]
    w.media.settings = w.settings


def test_photo_replacement_undoes_closing_asks_and_recovery_stays_safe(window, qtbot, media, tmp_path):
    from engine.project.projectfile import Autosaver, find_recoveries

    w, doc = window, window.project
    w.media.load_demo()
    qtbot.waitUntil(lambda: doc.clip is not None and doc.reference is not None, timeout=30_000)
    demo_ref = doc.reference
    add_key_at(qtbot, w, 10)
    drop(w.reference_panel, media / OTHER_PHOTO)
    qtbot.waitUntil(lambda: doc.reference_path == media / OTHER_PHOTO, timeout=20_000)
    assert w.undo.undoText().startswith("Replace photo")
    w.actions.trigger("edit.undo")
    assert doc.reference is demo_ref and key_frames(doc) == [10], "undo brings the photo back, edits stay"

    # closing with unsaved work asks; Cancel keeps the window and the work
    ask = dataclasses.replace(w.settings, ask_before_discard=True)
    w.files.settings = ask
    asked = answer_dialog(qtbot, "Cancel")
    w.close()
    assert asked and w.isVisible() and key_frames(doc) == [10]
    focus(qtbot, w)
    asked = answer_dialog(qtbot, "Cancel")
    QTest.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # File > New over unsaved work
    assert asked and doc.clip is not None and key_frames(doc) == [10]
    w.files.settings = w.settings

    # an earlier export is not replaced without asking
    earlier = tmp_path / "take.mp4"
    earlier.write_bytes(b"an earlier export")
    dlg = w.open_export()
    dlg.path_edit.setText(str(earlier))
    asked = answer_dialog(qtbot, "No")
    dlg.export_button.click()
    assert asked and "already exists" in asked[0] and not dlg.running
    assert earlier.read_bytes() == b"an earlier export"
    dlg.close()

    # recovered work is written to this session's own recovery file at once (the old one is consumed)
    saver = Autosaver(tmp_path / "recovery", interval_s=1, pid=2 ** 22 + 4321)
    assert saver.tick(doc, now=0.0) is not None
    w.actions.trigger("file.new")
    (rec,) = find_recoveries(tmp_path / "recovery")
    assert w.files.recover(rec)
    assert w.files.autosaver.path.exists(), "the recovered work is safe before the next autosave tick"
    assert doc.edits and doc.dirty


def grab_file_dialog(qtbot) -> list:
    """Read the next file dialog's folder and file name, then cancel it (as a user pressing Escape)."""
    from PySide6.QtWidgets import QFileDialog

    seen: list = []

    def act(box) -> None:
        seen.append((box.directory().absolutePath(), box.selectedFiles()))
        box.reject()  # what Escape does

    when_dialog(QFileDialog, act)
    return seen


def test_save_as_starts_in_a_sensible_folder_and_the_window_reopens_as_it_was(window, qtbot, media, tmp_path):
    from PySide6.QtCore import QSettings

    from studio.main_window import MainWindow

    w, doc = window, window.project
    drop(w.reference_panel, media / PHOTO)
    qtbot.waitUntil(lambda: doc.reference is not None, timeout=20_000)
    focus(qtbot, w)
    seen = grab_file_dialog(qtbot)
    QTest.keyClick(w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert seen and seen[0][0] == str(media), "Save As opens in the photo's folder, not the home folder"
    assert seen[0][1][0].endswith(f"{(media / PHOTO).stem}.umproj")
    saved = tmp_path / "projects"
    saved.mkdir()
    assert w.files.save_as(saved / "take")
    w.actions.trigger("file.new")
    drop(w.reference_panel, media / PHOTO)
    qtbot.waitUntil(lambda: doc.reference is not None, timeout=20_000)
    assert w.files.default_save_path().parent == saved, "then the folder used last"

    # the window opens where and as it was closed: geometry and the panels' splitters
    w.setGeometry(20, 40, 760, 520)
    w.splitters["top"].setSizes([200, 560])
    w.splitters["main"].setSizes([260, 220])
    sizes = {k: s.sizes() for k, s in w.splitters.items()}
    geometry = w.geometry()
    w.close()
    again = MainWindow(w.settings, QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat))
    again.show()
    qtbot.waitExposed(again)
    try:
        assert again.geometry() == geometry
        assert {k: s.sizes() for k, s in again.splitters.items()} == sizes
    finally:
        again.close()
        again.deleteLater()
