"""Screenshots of the real window, for the README:

    xvfb-run -s "-screen 0 1600x1000x24" python -m studio.screenshots --demo OUT_DIR
    xvfb-run -s "-screen 0 1600x1000x24" python -m studio.screenshots PHOTO VIDEO OUT_DIR [PREFIX]

--demo uses the built-in demo (the public-domain astronaut and the bundled motion), which may be published;
a PHOTO and VIDEO of your own give the full set (with the driving video beside the result), named PREFIX*.png.
Event-driven: each step waits (QTimer polling, no sleeping) until the window shows what it should, grabs it,
then goes on. Writes main, curves, side_by_side (not for the demo: it has no video), skeleton (a limb clicked: its
angle channels), export, error.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Callable

POLL_MS = 50
STEP_TIMEOUT_MS = 120_000


class Script:
    def __init__(self, window, out: Path) -> None:
        self.w, self.out = window, out
        self.steps: list[tuple[str, Callable[[], object], Callable[[], bool]]] = []
        self.failed: str | None = None

    def step(self, name: str, action: Callable[[], object], until: Callable[[], bool]) -> None:
        self.steps.append((name, action, until))

    def run(self, app) -> int:
        from PySide6.QtCore import QTimer

        def next_step() -> None:
            if not self.steps:
                self.w.files.autosaver.discard()
                self.w.project.mark_saved()
                self.w.close()
                app.quit()
                return
            name, action, until = self.steps.pop(0)
            action()
            waited = [0]

            def poll() -> None:
                if until():
                    print(f"  {name}", flush=True)
                    QTimer.singleShot(150, next_step)  # let the last paint land
                    return
                waited[0] += POLL_MS
                if waited[0] > STEP_TIMEOUT_MS:
                    self.failed = name
                    print(f"timed out at: {name}", flush=True)
                    self.w.close()
                    app.quit()
                    return
                QTimer.singleShot(POLL_MS, poll)

            QTimer.singleShot(POLL_MS, poll)

        QTimer.singleShot(0, next_step)
        app.exec()
        return 1 if self.failed else 0

    prefix = ""

    def grab(self, name: str, widget=None) -> None:
        (widget or self.w).grab().save(str(self.out / (self.prefix + name)))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    demo = bool(argv) and argv[0] == "--demo"
    if not ((demo and len(argv) == 2) or (not demo and len(argv) in (3, 4))):
        print(__doc__)
        return 2
    if demo:
        photo = video = None
        out, prefix = Path(argv[1]), ""
    else:
        photo, video, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
        prefix = argv[3] if len(argv) == 4 else ""
    out.mkdir(parents=True, exist_ok=True)
    from engine.runtime import setup

    setup()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from engine.project.document import ViewMode
    from studio.app import DARK_QSS
    from studio.main_window import MainWindow
    from studio.settings import StudioSettings

    app = QApplication.instance() or QApplication(["studio-screenshots"])
    app.setStyle("Fusion")
    app.setStyleSheet(DARK_QSS)
    tmp = Path(tempfile.mkdtemp(prefix="umshots-"))
    w = MainWindow(StudioSettings(recovery_dir=tmp, ask_before_discard=False, offer_recovery=False),
                   QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    w.resize(1600, 1000)
    w.show()
    doc = w.project
    s = Script(w, out)
    s.prefix = prefix
    shown = lambda: w.viewer.is_current() and w.viewer.canvas.rgb is not None  # noqa: E731
    # The demo is a talking head: edit the head turn (a keyed look to the side) and the jaw (exaggerated over
    # In/Out, the adjust-last-operation panel showing its factor); a clip of your own shows an arm keyed up,
    # in degrees.
    face = [("face", "head.yaw"), ("face", "head.pitch"), ("face", "jaw_open")]
    arm = [("body", "l_forearm.forward"), ("body", "l_forearm.out"), ("body", "l_upper_arm.out")]

    def edit() -> None:
        from studio.commands import AddKeyCommand, ScaleCommand, SetRangeCommand

        n = len(doc.clip)
        keyed, lift = (("face", "head.yaw"), 12.0) if demo else (("body", "l_forearm.forward"), 40.0)
        w.inspector.select_channels(face if demo else arm)
        w.undo.push(SetRangeCommand(doc, (20, min(90, n - 1))))
        from engine.project.angles import channel_curve

        t = channel_curve(doc.edited_tokens(), keyed)
        for f, dy in ((30, 0.0), (45, lift), (60, 0.0)):
            w.undo.push(AddKeyCommand(doc, keyed, f, float(t[f]) + dy))
        scaled = ("face", "jaw_open") if demo else ("body", "l_upper_arm.out")
        w.undo.push(ScaleCommand(doc, [scaled], 20, min(90, n - 1), 1.6))  # last: the adjust panel shows it
        w.inspector.curves.select_keys(w.inspector.curves.key_items()[1:2])
        doc.set_frame(45)

    if demo:
        s.step("load demo", w.media.load_demo, lambda: doc.reference is not None and doc.clip is not None)
    else:
        s.step("load media", lambda: (w.reference_panel.load_path(photo), w.driving_panel.load_path(video)),
               lambda: doc.reference is not None and doc.clip is not None and w.media.driver_frames is not None)
    s.step("edit curves", edit, shown)
    s.step("main.png", lambda: s.grab("main.png"), lambda: True)
    s.step("curves.png", lambda: s.grab("curves.png", w.inspector), lambda: True)
    if not demo:
        s.step("side by side", lambda: doc.set_view_mode(ViewMode.SIDE_BY_SIDE), shown)
        s.step("side_by_side.png", lambda: s.grab("side_by_side.png"), lambda: True)
    def pick_forearm() -> None:
        """Click the left forearm on the retargeted skeleton, as a user would: its angle channels show."""
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtTest import QTest

        from engine.vocabulary import L_ELBOW, L_WRIST

        canvas = w.viewer.canvas
        rect, pick = canvas.image_rect(), canvas.pick
        mid = (pick.body[L_ELBOW] + pick.body[L_WRIST]) / 2
        at = QPoint(int(rect.x() + mid[0] * rect.width()), int(rect.y() + mid[1] * rect.height()))
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at)

    s.step("skeleton", lambda: doc.set_view_mode(ViewMode.SKELETON), shown)
    s.step("pick the forearm", pick_forearm, lambda: ("body", "l_forearm.forward") in w.inspector.selected_channels())
    s.step("skeleton.png", lambda: s.grab("skeleton.png"), lambda: True)
    s.step("back to the result", lambda: doc.set_view_mode(ViewMode.RESULT), shown)

    def export() -> None:
        dlg = w.open_export()
        dlg.path_edit.setText(str(tmp / "export.mp4"))
        dlg.size_combo.setCurrentIndex(dlg.size_combo.findData(384))
        dlg.start()

    s.step("export", export, lambda: w.export_dialog.result is not None and not w.export_dialog.running)
    s.step("export.png", lambda: (s.grab("export.png", w.export_dialog), w.export_dialog.close()), lambda: True)
    bad = tmp / "scan.pdf"
    bad.write_bytes(b"%PDF-1.4\n%%EOF\n")
    s.step("wrong drop", lambda: w.reference_panel.load_path(bad), lambda: bool(w.banner.text))
    s.step("error.png", lambda: s.grab("error.png"), lambda: True)
    return s.run(app)


if __name__ == "__main__":
    sys.exit(main())
