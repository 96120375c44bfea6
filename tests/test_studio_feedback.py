"""Feedback that is current and plain: messages go when their state is gone, no class names, warnings for motion
that cannot apply, the empty window, Help, tooltips on greyed items, the export name, dialog titles, buttons
that keep their size. The real window (offscreen), real drops, keys and dialogs.
"""
from __future__ import annotations

import re

import numpy as np

from PySide6.QtCore import QPoint, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog  # noqa: E402

from tests.test_studio import (LONG_VIDEO, PHOTO, TRACK_TIMEOUT_MS, VIDEO, drop, window)  # noqa: E402,F401
from tests.test_studio_work import focus, when_dialog  # noqa: E402

CLASS_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(Error|Exception)\b")


def wall_photo(path):
    from PIL import Image

    yy, xx = np.mgrid[0:240, 0:320]
    Image.fromarray(np.stack([xx % 256, yy % 256, np.full_like(xx, 120)], -1).astype(np.uint8)).save(path)
    return path


def test_messages_clear_when_their_state_is_gone_and_warn_when_motion_cannot_apply(window, qtbot, media, tmp_path):
    from PIL import Image

    w, doc = window, window.project
    # the empty window: no ruler of frames that do not exist, tools that need a clip are greyed and say why
    assert w.timeline.empty_label.isVisible() and not w.timeline.getPlotItem().getAxis("bottom").isVisible()
    assert not w.actions["edit.smooth"].isEnabled() and "driving video" in w.actions["edit.smooth"].statusTip()
    curves = w.inspector.curves
    assert "drop a driving video" in curves.empty_label.text() and curves.empty_label.isVisible()
    assert not curves.getPlotItem().getAxis("left").isVisible()

    drop(w.reference_panel, wall_photo(tmp_path / "wall.png"))
    qtbot.waitUntil(lambda: "no person found" in w.banner.text.lower(), timeout=20_000)
    drop(w.reference_panel, media / PHOTO)
    qtbot.waitUntil(lambda: doc.reference is not None, timeout=20_000)
    assert w.banner.text == "", "the 'no person' error went with the photo it was about"
    assert "no person" not in w.reference_panel.status_text.lower()

    # a rejected photo while one is in use: the panel keeps showing what the result uses
    drop(w.reference_panel, tmp_path / "wall.png")
    qtbot.waitUntil(lambda: "Keeping" in w.reference_panel.status_text, timeout=20_000)
    assert w.reference_panel.canvas.rgb is doc.reference.rgb or np.array_equal(w.reference_panel.canvas.rgb,
                                                                               doc.reference.rgb)

    # while tracking, the driving panel says so (not "drop a video")
    drop(w.driving_panel, media / VIDEO)
    assert w.driving_panel.canvas.message.startswith("Tracking ")
    qtbot.waitUntil(lambda: doc.clip is not None, timeout=TRACK_TIMEOUT_MS)
    assert w.actions["edit.smooth"].isEnabled() and w.timeline.getPlotItem().getAxis("bottom").isVisible()
    assert w.driving_panel.canvas.message in ("", "Decoding frames…")

    # a photo with no face, driven by a clip with face motion: a warning, gone once a face is back
    im = Image.open(media / "photo_fullbody_man_studio.png").convert("RGB")
    im.crop((0, int(im.height * 0.2), im.width, im.height)).save(tmp_path / "headless.png")
    drop(w.reference_panel, tmp_path / "headless.png")
    qtbot.waitUntil(lambda: doc.reference_path == tmp_path / "headless.png", timeout=20_000)
    assert "No face found in the photo" in w.banner.text and w.banner.level == "warning"
    focus(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # back to the photo with a face
    assert doc.reference_path == media / PHOTO and w.banner.text == ""

    # a very large photo is downscaled to work on, and says so once, in its status line
    big = tmp_path / "big.jpg"
    Image.open(media / "photo_portrait_woman.jpg").resize((3000, 3000)).save(big, quality=80)
    drop(w.reference_panel, big)
    qtbot.waitUntil(lambda: doc.reference_path == big, timeout=30_000)
    assert "downscaled from 3000×3000 px" in w.reference_panel.status_text

    # a damaged project: one plain line, no exception class name
    bad = tmp_path / "bad.umproj"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    assert not w.files.open(bad)
    assert "bad.umproj" in w.banner.text and not CLASS_NAME.search(w.banner.text)
    from studio.jobs import _user_message

    assert _user_message("Preview", KeyError("jaw")) == "Preview failed: 'jaw'"


def test_help_tooltips_export_name_dialog_titles_and_buttons(window, qtbot, media, tmp_path, monkeypatch):
    w, doc = window, window.project
    # Help: F1 lists the shortcuts from the action table; About has the version and the documentation
    focus(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: any(type(x).__name__ == "ShortcutsDialog" and x.isVisible()
                                for x in QApplication.topLevelWidgets()))
    dlg = next(x for x in QApplication.topLevelWidgets() if type(x).__name__ == "ShortcutsDialog")
    rows = {(dlg.table.item(r, 1).text(), dlg.table.item(r, 2).text()) for r in range(dlg.table.rowCount())}
    assert ("Ctrl+Z", "Undo") in rows and ("F9", "Adjust Last Operation") in rows and ("Space", "Play / Pause") in rows
    dlg.close()
    from studio.help import about_html, version

    assert version() == "0.1.0" and "README.md" in about_html() and version() in about_html()

    # the greyed DiT items say how to enable them, in a tooltip the menu shows (a generator ships: point the
    # finder at a missing file, as on an install without one)
    from engine.models.checkpoint import CHECKPOINT_ENV

    monkeypatch.setenv(CHECKPOINT_ENV, str(tmp_path / "none.safetensors"))
    menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Render")
    menu.popup(w.mapToGlobal(QPoint(100, 100)))
    qtbot.waitUntil(menu.isVisible)
    tip = w.actions["render.dit_preview"].toolTip()
    menu.close()
    assert menu.toolTipsVisible() and "UNIMOTION_CHECKPOINT" in tip

    # the open dialog's title is plain text
    titles: list = []
    when_dialog(QFileDialog, lambda box: (titles.append(box.windowTitle()), box.reject()))
    w.reference_panel.open_button.click()
    assert titles == ["Open Reference photo"]

    # the export file name follows the clip until the user types one
    w.media.load_demo()
    qtbot.waitUntil(lambda: doc.clip is not None and doc.reference is not None, timeout=30_000)
    exp = w.open_export()
    assert exp.path_edit.text().endswith("astronaut_motion.mp4")
    exp.close()
    w.driving_panel.load_path(media / VIDEO)
    qtbot.waitUntil(lambda: doc.driving_path == media / VIDEO, timeout=TRACK_TIMEOUT_MS)
    exp = w.open_export()
    assert exp.path_edit.text().endswith(f"astronaut_{(media / VIDEO).stem}.mp4")
    exp.close()

    # a long progress text never squeezes the Cancel button
    w.resize(700, 600)
    w.driving_panel.load_path(media / LONG_VIDEO)
    w.driving_panel.progress.setFormat("Tracking a clip with a very long name indeed, " * 6)
    qtbot.waitUntil(lambda: w.driving_panel.cancel_button.isVisible())
    b = w.driving_panel.cancel_button
    assert b.width() >= b.sizeHint().width()
    b.click()
    qtbot.waitUntil(lambda: not w.runner.busy(), timeout=20_000)
