"""Editing motion in the studio as an animator does: one range, operations with an amount adjusted after the
fact, precise keys. The real window (offscreen) with the bundled demo motion (no tracking: fast), real keys
and mouse clicks.
"""
from __future__ import annotations

import numpy as np
import pytest

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from engine.project import edits  # noqa: E402
from engine.tokens.schema import channel_index  # noqa: E402
from engine.vocabulary import L_ELBOW, L_WRIST  # noqa: E402
from tests.test_studio import drag, mouse, wait_rendered, window  # noqa: E402,F401

JAW = ("face", "jaw_open")
YAW = ("face", "head.yaw")
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def demo(window, qtbot):
    w = window
    w.media.load_demo()
    qtbot.waitUntil(lambda: w.project.clip is not None and w.project.reference is not None, timeout=30_000)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    return w


def press(w, key, mods=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(w, key, mods)


def curve(doc, key) -> np.ndarray:
    return doc.edited_tokens().group(key[0]).values[:, channel_index(*key)].astype(np.float64)


def click_key(curves, item, mods=Qt.KeyboardModifier.NoModifier) -> None:
    """A real click on a key's diamond in the curve editor."""
    from PySide6.QtCore import QEvent

    p = curves.view_to_widget(item.frame, item.value).toPoint()
    vp = curves.viewport()
    mouse(vp, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton)
    mouse(vp, QEvent.Type.MouseButtonPress, p, modifiers=mods)
    mouse(vp, QEvent.Type.MouseButtonRelease, p, modifiers=mods)


def drag_slider(slider, fraction: float) -> None:
    """Press on the slider's handle, move the mouse to `fraction` of the groove, release: a real drag."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderHandle, slider)
    start = handle.center()
    end = QPoint(int(handle.width() / 2 + fraction * (slider.width() - handle.width())), start.y())
    mouse(slider, QEvent.Type.MouseButtonPress, start)
    for i in range(1, 6):
        mouse(slider, QEvent.Type.MouseMove, QPoint(start.x() + (end.x() - start.x()) * i // 5, start.y()))
    mouse(slider, QEvent.Type.MouseButtonRelease, end)


def test_tools_act_on_selected_keys_else_in_out_else_the_clip_and_say_so(demo, qtbot):
    w, doc, ins = demo, demo.project, demo.inspector
    ins.select_channels([JAW])
    assert "whole clip 0–182" in ins.range_label.text()

    doc.set_frame(27)
    press(w, Qt.Key.Key_I)
    doc.set_frame(39)
    press(w, Qt.Key.Key_O)
    assert "In/Out 27–39" in ins.range_label.text(), "the UI says what the next tool acts on"
    assert ins.curves.edit_range.isVisible() and ins.curves.edit_range_frames == (27, 39)
    before = curve(doc, JAW)
    press(w, Qt.Key.Key_M, CTRL | SHIFT)  # Smooth
    (op,) = doc.channel_ops(JAW)
    assert isinstance(op, edits.Smooth) and (op.start, op.stop) == (27, 39)
    after = curve(doc, JAW)
    far = np.r_[0:27 - op.blend - 1, 39 + op.blend + 1:183]
    assert np.allclose(after[far], before[far]), "frames outside In/Out are untouched"
    assert not np.allclose(after[27:40], before[27:40])

    # keys selected: the tools act on their frames (and channels), and the label says so first
    for f in (100, 120):
        doc.set_frame(f)
        press(w, Qt.Key.Key_K)
    curves = ins.curves
    curves.getPlotItem().getViewBox().setRange(xRange=(90, 130), yRange=(-0.1, 0.3), padding=0)
    k100, k120 = sorted(curves.key_items(JAW), key=lambda k: k.frame)
    click_key(curves, k100)
    click_key(curves, k120, SHIFT)
    assert curves.selected_keys() == {JAW: [100, 120]}
    assert "selected keys 100–120" in ins.range_label.text()
    press(w, Qt.Key.Key_Up, CTRL)  # Exaggerate
    op = doc.channel_ops(JAW)[-1]
    assert isinstance(op, edits.Scale) and (op.start, op.stop) == (100, 120) and op.factor > 1

    # a click on empty curve space clears the key selection; Alt+X clears In/Out: the whole clip again
    vp = curves.viewport()
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, pos=curves.view_to_widget(95, 0.25).toPoint())
    assert not curves.selected_keys() and "In/Out 27–39" in ins.range_label.text()
    press(w, Qt.Key.Key_X, Qt.KeyboardModifier.AltModifier)
    assert "whole clip 0–182" in ins.range_label.text() and not curves.edit_range.isVisible()


def test_adjust_last_operation_changes_the_frame_live_and_undoes_in_one_step(demo, qtbot):
    w, doc, ins = demo, demo.project, demo.inspector
    panel = ins.adjust_panel
    assert not panel.isVisible()
    ins.select_channels([YAW])
    doc.set_frame(60)
    press(w, Qt.Key.Key_I)
    doc.set_frame(100)
    press(w, Qt.Key.Key_O)
    doc.set_frame(80)
    still = wait_rendered(qtbot, w)
    steps = w.undo.count()
    press(w, Qt.Key.Key_Up, CTRL)  # Exaggerate, at its default amount
    (op,) = doc.channel_ops(YAW)
    assert op.factor == edits.EXAGGERATE and panel.isVisible() and "Exaggerate" in panel.title.text()
    first = wait_rendered(qtbot, w)

    # F9 puts the keyboard on the amount; typing a new factor re-applies the operation (live, no new step)
    press(w, Qt.Key.Key_F9)
    qtbot.waitUntil(panel.spin.hasFocus)
    QTest.keyClicks(panel.spin, "3")
    QTest.keyClick(panel.spin, Qt.Key.Key_Return)
    (op,) = doc.channel_ops(YAW)
    assert op.factor == 3.0 and w.undo.count() == steps + 1
    stronger = wait_rendered(qtbot, w)
    assert np.abs(stronger.astype(int) - first.astype(int)).mean() > 0.3, "the frame changed with the amount"
    yaw = curve(doc, YAW)
    tracked = doc.clip.tokens.face.values[:, channel_index(*YAW)]
    assert yaw[80] == pytest.approx(3.0 * tracked[80], rel=1e-3)  # the neutral of head.yaw is 0

    # dragging the slider's handle with the mouse is live too (one undo step still)
    drag_slider(panel.slider, 0.5)
    factor = doc.channel_ops(YAW)[0].factor
    assert 2.2 < factor < 2.8 and w.undo.count() == steps + 1
    panel.spin.setValue(2.5)
    press(w, Qt.Key.Key_Z, CTRL)
    assert doc.channel_ops(YAW) == () and not panel.isVisible(), "one undo step takes it all back"
    assert np.abs(wait_rendered(qtbot, w).astype(int) - still.astype(int)).mean() < 0.05
    press(w, Qt.Key.Key_Z, CTRL | SHIFT)
    assert doc.channel_ops(YAW)[0].factor == pytest.approx(2.5) and panel.isVisible()

    # Smooth and Calm have amounts as well
    press(w, Qt.Key.Key_M, CTRL | SHIFT)
    assert isinstance(doc.channel_ops(YAW)[-1], edits.Smooth) and "Smooth" in panel.title.text()
    panel.spin.setValue(6.0)
    assert doc.channel_ops(YAW)[-1].sigma == 6.0
    press(w, Qt.Key.Key_Down, CTRL)
    assert doc.channel_ops(YAW)[-1].factor == edits.CALM and "Calm" in panel.title.text()
    press(w, Qt.Key.Key_Up, CTRL)
    assert doc.channel_ops(YAW)[-1].factor == pytest.approx(2.5), "Exaggerate remembers the amount last chosen"


def test_precise_keys_typed_values_interpolation_and_a_multi_channel_drag(demo, qtbot):
    w, doc, ins = demo, demo.project, demo.inspector
    curves, fields = ins.curves, ins.key_fields
    smile = ("face", "smile.l")
    ins.select_channels([JAW])
    before = curve(doc, JAW)
    for f in (40, 70, 100):
        doc.set_frame(f)
        press(w, Qt.Key.Key_K)
    assert np.allclose(curve(doc, JAW), before, atol=1e-5), "keys added at the curve's values change nothing"

    # click the middle key: its frame and value show; type a value, Enter: the key moves (one undo step)
    curves.getPlotItem().getViewBox().setRange(xRange=(30, 110), yRange=(-0.1, 0.3), padding=0)
    k70 = next(k for k in curves.key_items(JAW) if k.frame == 70)
    click_key(curves, k70)
    assert fields.frame.isEnabled() and fields.frame.value() == 70
    assert fields.value.value() == pytest.approx(k70.value, abs=1e-4)
    steps = w.undo.count()
    fields.value.setFocus()
    fields.value.selectAll()
    QTest.keyClicks(fields.value, "0.25")
    QTest.keyClick(fields.value, Qt.Key.Key_Return)
    assert [(k.frame, round(k.value, 4)) for k in edits.keys_of(doc.channel_ops(JAW))][1] == (70, 0.25)
    assert w.undo.count() == steps + 1 and curve(doc, JAW)[70] == pytest.approx(0.25, abs=1e-5)
    assert fields.frame.value() == 70, "the moved key stays selected"
    fields.frame.setFocus()
    fields.frame.selectAll()
    QTest.keyClicks(fields.frame, "75")
    QTest.keyClick(fields.frame, Qt.Key.Key_Return)
    assert [k.frame for k in edits.keys_of(doc.channel_ops(JAW))] == [40, 75, 100]

    # interpolation per key: constant holds the value to the next key
    fields.interp.setFocus()
    QTest.keyClick(fields.interp, Qt.Key.Key_Down)  # Smooth -> Linear -> Constant, from the keyboard
    QTest.keyClick(fields.interp, Qt.Key.Key_Down)
    assert [k.interp for k in edits.keys_of(doc.channel_ops(JAW))] == ["smooth", "constant", "smooth"]
    held = curve(doc, JAW)
    assert np.allclose(held[75:100] - before[75:100], held[75] - before[75], atol=1e-5)

    # keys of two channels, box-selected together, drag together
    ins.select_channels([JAW, smile])
    doc.set_frame(70)
    ins.select_channels([smile])
    press(w, Qt.Key.Key_K)
    ins.select_channels([JAW, smile])
    curves.getPlotItem().getViewBox().setRange(xRange=(30, 110), yRange=(-0.3, 0.5), padding=0)
    drag(curves, curves.view_to_widget(65, 0.45), curves.view_to_widget(80, -0.25), modifiers=SHIFT)
    sel = curves.selected_keys()
    assert sel == {JAW: [75], smile: [70]}, sel
    assert fields.label.text() == "2 keys" and not fields.value.isEnabled()
    k = next(k for k in curves.key_items(smile) if k.frame == 70)
    steps = w.undo.count()
    drag(curves, curves.view_to_widget(k.frame, k.value), curves.view_to_widget(k.frame + 5, k.value))
    assert [k.frame for k in edits.keys_of(doc.channel_ops(smile))] == [75]
    assert [k.frame for k in edits.keys_of(doc.channel_ops(JAW))] == [40, 80, 100]
    assert w.undo.count() == steps + 1, "both channels' keys moved in one step"


def test_bones_read_as_angles_and_a_click_in_the_viewer_selects_a_limb(demo, qtbot):
    from engine.project import angles

    w, doc, ins = demo, demo.project, demo.inspector
    tree = ins.tree
    fwd, out = ("body", "l_forearm.forward"), ("body", "l_forearm.out")
    item = tree.items[fwd]
    assert item.parent().text(0) == "Left forearm · screen right" and item.text(1) == "deg"
    assert tree.items[("face", "eyelid.l")].text(0) == "eyelid left · screen right"
    assert tree.items[("body", "l_forearm.x")].parent().text(0).startswith("Raw directions")

    # hovering the forearm in the viewer names it; a click selects its channels
    doc.set_frame(30)
    wait_rendered(qtbot, w)
    canvas = w.viewer.canvas
    rect, pick = canvas.image_rect(), canvas.pick
    mid = (pick.body[L_ELBOW] + pick.body[L_WRIST]) / 2
    at = QPoint(int(rect.x() + mid[0] * rect.width()), int(rect.y() + mid[1] * rect.height()))
    QTest.mouseMove(canvas, at)
    assert "Left forearm" in canvas.toolTip()
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at)
    assert ins.selected_channels() == [fwd, out] and tree.items[fwd].isSelected()
    assert ins.follow_hint.isVisible() and "follow.l_arm" in ins.follow_hint.text(), \
        "the demo's arm does not follow the talking-head driver: the studio says how to make edits show"
    face = pick.face.mean(axis=0)
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(rect.x() + face[0] * rect.width()), int(rect.y() + face[1] * rect.height())))
    assert ins.selected_channels()[0] == ("face", "head.yaw")

    # on the retargeted skeleton too; an angle key typed in degrees turns the stored direction by that much
    press(w, Qt.Key.Key_3)
    wait_rendered(qtbot, w)
    rect, pick = canvas.image_rect(), canvas.pick
    mid = (pick.body[L_ELBOW] + pick.body[L_WRIST]) / 2
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(rect.x() + mid[0] * rect.width()), int(rect.y() + mid[1] * rect.height())))
    assert ins.selected_channels() == [fwd, out]
    was = float(angles.channel_curve(doc.edited_tokens(), fwd)[30])
    press(w, Qt.Key.Key_K)
    curves = ins.curves
    (key,) = curves.key_items(fwd)
    curves.select_keys([key])
    ins.key_fields.value.setValue(was + 30.0)
    x = channel_index("body", "l_forearm.x")
    d = doc.edited_tokens().body.values[30, x:x + 3]
    assert np.linalg.norm(d) == pytest.approx(1.0, abs=1e-5), "stored tokens stay unit vectors"
    assert float(angles.channel_curve(doc.edited_tokens(), fwd)[30]) == pytest.approx(was + 30.0, abs=1e-3)
