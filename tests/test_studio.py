"""The studio, driven like a user drives it: drops, tracking, scrubbing, a keyframe drag, undo, export.

Real media from the shared folder, the real instant renderer, the real window (offscreen). Every test fails
if it leaves a worker thread or a window behind.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, QSettings, Qt, QThreadPool, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.project import edits  # noqa: E402
from engine.project.document import ViewMode  # noqa: E402

PHOTO = "photo_halfbody_woman_openhands.png"
VIDEO = "drive_face_expressions_greenscreen.mp4"  # 78 frames, 25 fps, no audio
ARMS_VIDEO = "drive_fullbody_woman_dance.mp4"  # 103 frames, arms in view (a face clip leaves arms to the photo)
LONG_VIDEO = "drive_fullbody_man_dance.mp4"  # 194 frames: long enough to cancel mid-way
FOREARM = ("body", "l_forearm.y")
TRACK_TIMEOUT_MS = 60_000


def python_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}


@pytest.fixture
def window(qtbot, tmp_path):
    from studio.main_window import MainWindow
    from studio.settings import StudioSettings

    before = python_threads()
    settings = StudioSettings(recovery_dir=tmp_path / "recovery", ask_before_discard=False, offer_recovery=False)
    w = MainWindow(settings, QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat))
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
    assert w.runner.pool.activeThreadCount() == 0, "a job was still running after the window closed"
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    left = [x for x in QApplication.topLevelWidgets() if x.isVisible()]
    assert not left, f"windows left open: {left}"
    assert python_threads() <= before, f"threads left behind: {python_threads() - before}"
    w.deleteLater()


def drop(widget, path: Path) -> None:
    """A real drop: the drag-enter and drop events a file manager sends."""
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    ev = QDropEvent(pos, Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


COMPARE = "render.compare"


def wait_rendered(qtbot, w, timeout=20_000) -> np.ndarray:
    qtbot.waitUntil(lambda: w.viewer.is_current() and w.viewer.canvas.rgb is not None, timeout=timeout)
    assert w.viewer.last_error is None, w.viewer.last_error
    return w.viewer.canvas.rgb.copy()


def load_media(qtbot, w, media: Path, video: str = VIDEO) -> None:
    drop(w.reference_panel, media / PHOTO)
    w.driving_panel.load_path(media / video)
    qtbot.waitUntil(lambda: w.project.reference is not None and w.project.clip is not None, timeout=TRACK_TIMEOUT_MS)
    qtbot.waitUntil(lambda: w.media.driver_frames is not None, timeout=TRACK_TIMEOUT_MS)


def mouse(widget, kind, pos: QPoint, buttons=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier):
    """One mouse event carrying the pressed buttons (QTest.mouseMove does not), as a real mouse sends it."""
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else buttons
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, held, modifiers)
    QApplication.sendEvent(widget, ev)


def double_click(view, at: QPointF) -> None:
    """The events of a double click, in the order a window system sends them."""
    vp, p = view.viewport(), at.toPoint()
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick,
                 QEvent.Type.MouseButtonRelease):
        mouse(vp, kind, p)


def drag(view, start: QPointF, end: QPointF, steps: int = 6, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Press, move in steps, release: a mouse drag on a pyqtgraph view's viewport. pyqtgraph drops mouse moves
    closer than 1/mouseRateLimit s apart; a script moves faster than any hand, so the limit is lifted here."""
    import pyqtgraph as pg

    limit = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", -1)
    try:
        _drag(view, start, end, steps, modifiers)
    finally:
        pg.setConfigOption("mouseRateLimit", limit)


def _drag(view, start: QPointF, end: QPointF, steps: int, modifiers) -> None:
    vp = view.viewport()
    a, b = start.toPoint(), end.toPoint()
    mouse(vp, QEvent.Type.MouseMove, a, Qt.MouseButton.NoButton)
    mouse(vp, QEvent.Type.MouseButtonPress, a, modifiers=modifiers)
    for i in range(1, steps + 1):
        p = QPoint(a.x() + (b.x() - a.x()) * i // steps, a.y() + (b.y() - a.y()) * i // steps)
        mouse(vp, QEvent.Type.MouseMove, p, modifiers=modifiers)
    mouse(vp, QEvent.Type.MouseButtonRelease, b, modifiers=modifiers)


# -- the whole loop ------------------------------------------------------------------------------------------------


def test_drop_track_scrub_drag_key_undo_export(window, qtbot, media, tmp_path):
    w, doc = window, window.project
    load_media(qtbot, w, media, ARMS_VIDEO)
    assert "Found:" in w.reference_panel.status_text and "both hands" in w.reference_panel.status_text
    assert doc.frame_count == 103 and "103 frames" in w.driving_panel.status_text
    first = wait_rendered(qtbot, w)
    assert first.shape[2] == 3 and first.std() > 5, "the preview shows an image"

    # scrub: the Right action, then a click on the timeline
    w.actions.trigger("play.step_forward")
    assert doc.frame == 1
    QTest.mouseClick(w.timeline.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(w.timeline.frame_to_widget_x(40), w.timeline.height() // 2))
    assert doc.frame == 40
    assert w.driving_panel.canvas.rgb is not None and w.driving_panel.canvas._overlay is not None
    before = wait_rendered(qtbot, w)

    # key the left forearm at the cursor, then drag the key up: the arm moves, live, then one undo step
    w.inspector.select_channels([FOREARM])
    w.actions.trigger("edit.add_key")
    (k,) = edits.keys_of(doc.channel_ops(FOREARM))
    assert k.frame == 40 and k.value == pytest.approx(doc.clip.tokens.body.channel(FOREARM[1])[40], abs=1e-5)
    assert w.undo.count() == 1
    keyed = wait_rendered(qtbot, w)
    (item,) = w.inspector.curves.key_items(FOREARM)
    curves = w.inspector.curves
    curves.getPlotItem().getViewBox().setYRange(-1.2, 1.2, padding=0)
    live: list = []
    doc.edits_live.connect(live.append)
    start = curves.view_to_widget(item.frame, item.value)
    drag(curves, start, curves.view_to_widget(item.frame, 0.9))
    assert any(live), "dragging previews live before the release"
    assert w.undo.count() == 2 and w.undo.undoText().startswith("Move keys")
    (key,) = edits.keys_of(doc.channel_ops(FOREARM))
    assert key.frame == 40 and key.value > 0.5
    moved = wait_rendered(qtbot, w)
    assert np.abs(moved.astype(int) - keyed.astype(int)).mean() > 0.4, "the rendered frame changed"

    w.actions.trigger("edit.undo")
    undone = wait_rendered(qtbot, w)
    assert np.abs(undone.astype(int) - keyed.astype(int)).mean() < 0.1, "undo brings the frame back"
    w.actions.trigger("edit.undo")
    assert doc.channel_ops(FOREARM) == () and not doc.edits
    assert np.abs(wait_rendered(qtbot, w).astype(int) - before.astype(int)).mean() < 0.5
    w.actions.trigger("edit.redo")
    assert len(edits.keys_of(doc.channel_ops(FOREARM))) == 1

    # export frames 10..29 at 384 px and decode the file
    doc.set_in_out((10, 29))
    dlg = w.open_export()
    out = tmp_path / "export.mp4"
    dlg.path_edit.setText(str(out))
    dlg.size_combo.setCurrentIndex(dlg.size_combo.findData(384))
    assert dlg.in_out.isChecked()
    with qtbot.waitSignal(dlg.export_finished, timeout=60_000) as sig:
        dlg.export_button.click()
    from engine.io.video import iter_frames, probe

    frames = [f.rgb for f in iter_frames(out)]
    assert sig.args[0].frames == 20 and len(frames) == 20
    assert max(probe(out).width, probe(out).height) == 384
    assert dlg.show_button.isVisible()
    dlg.close()


def test_wrong_drops_show_one_line_messages(window, qtbot, tmp_path):
    from PIL import Image

    w = window
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    drop(w.reference_panel, pdf)
    qtbot.waitUntil(lambda: "not an image" in w.banner.text, timeout=10_000)
    assert w.reference_panel.status.styleSheet().startswith("color: #ff")

    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 255, 50_000, dtype=np.uint8).tobytes())
    drop(w.driving_panel, corrupt)
    qtbot.waitUntil(lambda: "broken.mp4" in w.banner.text, timeout=10_000)
    assert "not a readable video" in w.banner.text and not w.driving_panel.progress_row.isVisible()

    empty = tmp_path / "wall.png"
    yy, xx = np.mgrid[0:240, 0:320]
    Image.fromarray(np.stack([xx % 256, yy % 256, np.full_like(xx, 120)], -1).astype(np.uint8)).save(empty)
    drop(w.reference_panel, empty)
    qtbot.waitUntil(lambda: "no person found" in w.banner.text.lower(), timeout=20_000)
    assert w.reference_panel.canvas.rgb is not None, "the photo is shown with the reason"
    drop(w.reference_panel, corrupt)  # a video where the photo goes
    assert "drop it on the Driving video panel" in w.banner.text
    for text in (w.banner.text, w.reference_panel.status_text, w.driving_panel.status_text):
        assert "Traceback" not in text and "\n" not in text
    assert w.project.reference is None and w.project.clip is None


def test_tracking_runs_in_background_and_cancels(window, qtbot, media):
    w = window
    w.driving_panel.load_path(media / LONG_VIDEO)
    assert w.driving_panel.progress_row.isVisible()
    qtbot.waitUntil(lambda: w.driving_panel.progress.value() >= 3, timeout=TRACK_TIMEOUT_MS)
    w.driving_panel.cancel_button.click()
    qtbot.waitUntil(lambda: not w.runner.busy(), timeout=20_000)
    assert "cancelled" in w.driving_panel.status_text.lower() and w.project.clip is None
    assert not w.driving_panel.progress_row.isVisible()


def test_playback_keeps_the_clip_rate_and_view_modes(window, qtbot, media, tmp_path):
    w, doc = window, window.project
    load_media(qtbot, w, media)
    wait_rendered(qtbot, w)
    w.actions.trigger("play.toggle")
    t0 = time.monotonic()
    assert w.playback.playing
    qtbot.waitUntil(lambda: doc.frame >= 12, timeout=10_000)
    elapsed = time.monotonic() - t0
    w.actions.trigger("play.toggle")
    assert not w.playback.playing
    assert elapsed >= 12 / 25 - 0.05, "never faster than the clip"
    assert w.playback.frame_at(1.0) == 25 and w.playback.frame_at(78 / 25 + 0.2) == 5, "wall clock, looping"

    for aid, mode in (("view.side_by_side", ViewMode.SIDE_BY_SIDE), ("view.skeleton", ViewMode.SKELETON)):
        w.actions.trigger(aid)
        assert doc.view_mode == mode
        rgb = wait_rendered(qtbot, w)
        if mode == ViewMode.SIDE_BY_SIDE:
            assert rgb.shape[1] > rgb.shape[0] * 1.5, "driver beside the result"
        else:
            assert w.viewer.canvas._overlay is not None and w.viewer.canvas._overlay.has("body")

    # project round trip through the window: save, new, open (re-tracks from the cache) keeps the edits
    w.inspector.select_channels([("face", "jaw_open"), ("face", "smile.l")])
    for aid in ("edit.smooth", "edit.exaggerate", "edit.calm", "edit.hold", "edit.offset", "edit.reset_range"):
        w.actions.trigger(aid)
    assert w.undo.count() == 6 and len(doc.channel_ops(("face", "jaw_open"))) == 6
    w.actions.trigger("edit.copy_range")
    doc.set_frame(5)
    w.actions.trigger("edit.paste_range")
    assert isinstance(doc.channel_ops(("face", "jaw_open"))[-1], edits.Paste)
    saved_edits = doc.edits
    assert w.files.save_as(tmp_path / "take")
    assert not doc.dirty and "take" in w.windowTitle() and w.state.recent_files()[0].endswith("take.umproj")
    w.actions.trigger("file.new")
    assert doc.clip is None and not doc.edits and w.undo.count() == 0
    assert w.files.open(tmp_path / "take.umproj")
    qtbot.waitUntil(lambda: doc.clip is not None and doc.reference is not None, timeout=TRACK_TIMEOUT_MS)
    assert doc.edits == saved_edits and not doc.dirty
    wait_rendered(qtbot, w)


def test_actions_are_declared_once_with_the_promised_shortcuts(window):
    from studio.actions import ACTIONS

    ids = [s.id for s in ACTIONS]
    assert len(ids) == len(set(ids))
    keys = [w.shortcut().toString() for w in (window.actions[i] for i in ids) if not w.shortcut().isEmpty()]
    assert len(keys) == len(set(keys)), "no shortcut is bound twice"
    want = {"play.toggle": "Space", "play.step_back": "Left", "play.step_forward": "Right", "play.home": "Home",
            "play.end": "End", "edit.undo": "Ctrl+Z", "edit.redo": "Ctrl+Shift+Z", "file.save": "Ctrl+S",
            "file.open": "Ctrl+O", "file.export": "Ctrl+E"}
    for aid, key in want.items():
        assert window.actions[aid].shortcut() == QKeySequence(key), aid
    dit = window.actions["render.dit_preview"]
    assert not dit.isEnabled() and "no generator checkpoint found" in dit.text()
    assert not window.actions["render.full"].isEnabled() and window.actions["render.instant"].isChecked()


def test_demo_opens_with_the_bundled_motion(window, qtbot):
    w = window
    w.media.load_demo()
    qtbot.waitUntil(lambda: w.project.clip is not None and w.project.reference is not None, timeout=30_000)
    rgb = wait_rendered(qtbot, w)
    assert rgb.std() > 5 and "token file" in w.driving_panel.canvas.message


def test_keys_double_click_box_select_delete_and_recover_after_crash(window, qtbot, media, tmp_path):
    from engine.project.projectfile import Autosaver, find_recoveries

    w, doc = window, window.project
    load_media(qtbot, w, media)
    jaw = ("face", "jaw_open")
    w.inspector.select_channels([jaw])
    curves = w.inspector.curves
    curves.getPlotItem().getViewBox().setRange(xRange=(0, 77), yRange=(-0.2, 0.2), padding=0)
    double_click(curves, curves.view_to_widget(20, 0.1))
    assert [k.frame for k in edits.keys_of(doc.channel_ops(jaw))] == [20], "double-click adds a key there"
    for f in (30, 50):
        doc.set_frame(f)
        w.actions.trigger("edit.add_key")
    assert [k.frame for k in edits.keys_of(doc.channel_ops(jaw))] == [20, 30, 50]
    assert w.timeline.edited.opts["width"], "the timeline marks the edited frames"

    # Shift+drag a box around the first two keys, then Delete: one undo step
    drag(curves, curves.view_to_widget(15, 0.19), curves.view_to_widget(35, -0.19),
         modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert curves.selected_keys() == {jaw: [20, 30]}
    w.actions.trigger("edit.delete_keys")
    assert [k.frame for k in edits.keys_of(doc.channel_ops(jaw))] == [50]
    w.actions.trigger("edit.undo")
    assert [k.frame for k in edits.keys_of(doc.channel_ops(jaw))] == [20, 30, 50]

    # a crash: the autosave of a process that is gone is offered and restores the edits
    saver = Autosaver(tmp_path / "recovery", interval_s=1, pid=2 ** 22 + 4321)
    assert saver.tick(doc, now=0.0) is not None
    saved_edits = doc.edits
    w.actions.trigger("file.new")
    (rec,) = find_recoveries(tmp_path / "recovery")
    assert w.files.recover(rec)
    qtbot.waitUntil(lambda: doc.clip is not None and doc.reference is not None, timeout=TRACK_TIMEOUT_MS)
    assert doc.edits == saved_edits and doc.dirty and "*" in w.windowTitle()
    wait_rendered(qtbot, w)


def test_export_cancel_leaves_no_file(window, qtbot, media, tmp_path):
    w = window
    load_media(qtbot, w, media)
    dlg = w.open_export()
    out = tmp_path / "cancelled.mp4"
    dlg.path_edit.setText(str(out))
    dlg.size_combo.setCurrentIndex(0)  # photo size: slow enough to cancel mid-way
    handle = dlg.start()
    qtbot.waitUntil(lambda: dlg.progress.value() >= 2, timeout=60_000)
    with qtbot.waitSignal(handle.cancelled, timeout=20_000):
        dlg.cancel_button.click()
    qtbot.waitUntil(lambda: not dlg.running, timeout=5_000)
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.suffix in (".mp4", ".partial")] == []
    assert "cancelled" in dlg.status.text()
    dlg.close()


def test_dit_preview_is_greyed_without_a_checkpoint_and_refines_the_frame_with_the_shipped_one(
        window, qtbot, tmp_path, monkeypatch):
    """Without a generator the DiT items are greyed and say why. A fresh install finds the shipped generator:
    DiT Preview then repaints the viewer's frame as a correction of the instant render (close to it, not
    noise), and Compare with Instant flips back to the instant frame exactly."""
    from engine.models.checkpoint import CHECKPOINT_ENV

    w = window
    monkeypatch.setenv(CHECKPOINT_ENV, str(tmp_path / "none.safetensors"))
    w.render_menu.probe()
    qtbot.waitUntil(lambda: w.render_menu._probed and not w.runner.running("checkpoint"), timeout=20_000)
    assert not w.actions["render.dit_preview"].isEnabled()
    assert "no generator checkpoint" in w.actions["render.dit_preview"].text()

    monkeypatch.delenv(CHECKPOINT_ENV)
    w.render_menu._probed = False
    w.render_menu.probe()
    qtbot.waitUntil(lambda: w.actions["render.dit_preview"].isEnabled(), timeout=20_000)
    assert "assets" in str(w.render_menu.checkpoint)
    w.media.load_demo()
    qtbot.waitUntil(lambda: w.project.clip is not None and w.project.reference is not None, timeout=30_000)
    w.project.set_frame(60)
    instant = wait_rendered(qtbot, w)
    w.actions["render.dit_preview"].trigger()
    assert w.render_menu.label() == "DiT preview"

    def differs() -> bool:
        rgb = w.viewer.canvas.rgb
        return rgb is not None and rgb.shape == instant.shape and not np.array_equal(rgb, instant)

    qtbot.waitUntil(differs, timeout=60_000)
    dit = wait_rendered(qtbot, w, timeout=60_000)
    assert w.viewer.last_error is None
    change = np.abs(dit.astype(int) - instant).mean()
    # the shipped generator repaints the person's crop as a correction of the warp: measured 14.0 levels of
    # mean change on this frame (11.9 with the photo-aligned model before it; see its model card), asserted below 16
    # (noise in the crop would change it by several tens of levels)
    assert 0.05 < change < 16.0, f"mean change {change:.2f} levels"
    w.actions[COMPARE].trigger()
    qtbot.waitUntil(lambda: w.viewer.canvas.rgb is not None and np.array_equal(w.viewer.canvas.rgb, instant),
                    timeout=60_000)


def test_arrow_keys_step_frames_even_from_the_channel_tree(window, qtbot):
    w = window
    w.media.load_demo()
    qtbot.waitUntil(lambda: w.project.clip is not None and w.project.reference is not None, timeout=30_000)
    w.project.set_frame(10)
    w.inspector.select_channels([("face", "jaw_open")])  # a current item: the tree would expand/collapse
    w.inspector.tree.setCurrentItem(w.inspector.tree.topLevelItem(0))
    w.inspector.tree.setFocus()
    qtbot.waitUntil(lambda: w.inspector.tree.hasFocus())
    QTest.keyClick(w.inspector.tree, Qt.Key.Key_Right)
    assert w.project.frame == 11
    QTest.keyClick(w.inspector.tree, Qt.Key.Key_Left)
    QTest.keyClick(w.inspector.tree, Qt.Key.Key_Left)
    assert w.project.frame == 9
    wait_rendered(qtbot, w)
