"""Editing motion in the studio as an animator does: one range, operations with an amount adjusted after the
fact, precise keys. The real window (offscreen) with the bundled demo motion (no tracking: fast), real keys
and mouse clicks.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from engine.project import edits as E  # noqa: E402
from engine.tokens.schema import channel_index  # noqa: E402
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
    assert isinstance(op, E.Smooth) and (op.start, op.stop) == (27, 39)
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
    assert isinstance(op, E.Scale) and (op.start, op.stop) == (100, 120) and op.factor > 1

    # a click on empty curve space clears the key selection; Alt+X clears In/Out: the whole clip again
    vp = curves.viewport()
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, pos=curves.view_to_widget(95, 0.25).toPoint())
    assert not curves.selected_keys() and "In/Out 27–39" in ins.range_label.text()
    press(w, Qt.Key.Key_X, Qt.KeyboardModifier.AltModifier)
    assert "whole clip 0–182" in ins.range_label.text() and not curves.edit_range.isVisible()
