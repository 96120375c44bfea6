"""The main window: layout, menus and the wiring of actions to the parts that do the work.

    +-----------------------------------------------------------------------+
    | banner (errors)                                                       |
    | reference photo |                                                     |
    |-----------------|           viewer (result / side by side / skeleton) |
    | driving video   |                                                     |
    | timeline (time ruler, cursor, in/out, missing-tracking and edit marks) |
    | inspector: channel tree | curve editor (tracked, edited, keys)        |
    +-----------------------------------------------------------------------+
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QToolBar, QVBoxLayout, QWidget

from engine.project.document import Project, ViewMode
from studio.actions import MENUS, Actions
from studio.banner import Banner
from studio.driving_panel import DrivingPanel
from studio.export_dialog import ExportDialog
from studio.feedback import motion_warnings
from studio.help import ShortcutsDialog, about_html
from studio.extend_menu import ExtendMenu
from studio.inspector import Inspector
from studio.jobs import JobRunner
from studio.media import MediaController
from studio.playback import Playback
from studio.project_io import ProjectController
from studio.reference_panel import ReferencePanel
from studio.render_menu import DIT_IDS, RenderMenu
from studio.settings import StudioSettings, WindowState
from studio.timeline import Timeline
from studio.viewer import Viewer

APP_TITLE = "UniMotion Studio"
VIEW_ACTIONS = {"view.result": ViewMode.RESULT, "view.side_by_side": ViewMode.SIDE_BY_SIDE,
                "view.skeleton": ViewMode.SKELETON}
FRAMING_ACTIONS = {"view.framing_follow": "follow", "view.framing_keep": "keep_in_frame", "view.framing_fixed": "fixed"}
TRANSPORT = ("play.home", "play.step_back", "play.toggle", "play.step_forward", "play.end", "play.loop")
DIT_HINT = ("To enable it: set UNIMOTION_CHECKPOINT to a trained generator checkpoint (.safetensors), or put one "
            "in ~/.cache/unimotion/checkpoints/ or assets/generator/ (see the README)")
NEEDS_CLIP = ("edit.add_key", "edit.delete_keys", "edit.smooth", "edit.exaggerate", "edit.calm", "edit.hold",
              "edit.offset", "edit.reset_range", "edit.reset_channel", "edit.copy_range", "edit.paste_range",
              "edit.set_in", "edit.set_out", "edit.clear_range")


class MainWindow(QMainWindow):
    def __init__(self, settings: StudioSettings | None = None, qsettings: QSettings | None = None,
                 renderer_factory=None) -> None:
        super().__init__()
        self.settings = settings or StudioSettings()
        self.state = WindowState(qsettings)
        self.project = doc = Project()
        self.undo = QUndoStack(self)
        self.runner = JobRunner(self.settings.worker_threads, self)
        self.actions = Actions(self)
        self.export_dialog: ExportDialog | None = None

        # -- parts ------------------------------------------------------------------------------------------------
        self.banner = Banner()
        self.reference_panel = ReferencePanel(doc)
        self.driving_panel = DrivingPanel(doc, lambda: self.media.driver_frames)
        self.media = MediaController(doc, self.runner, self.reference_panel, self.driving_panel, self.settings, self,
                                     undo=self.undo)
        self.viewer = Viewer(doc, self.runner, lambda: self.media.driver_frames)
        self.timeline = Timeline(doc, self.undo)
        self.inspector = Inspector(doc, self.undo)
        self.inspector.curves.setXLink(self.timeline.getPlotItem().getViewBox())
        self.playback = Playback(doc, self)
        self.playback.loop = self.settings.loop
        self.files = ProjectController(doc, self.undo, self.media, self.state, self.settings, self)

        # -- layout -------------------------------------------------------------------------------------------------
        self.splitters: dict[str, QSplitter] = {}  # by name: their sizes are kept with the window geometry
        left = self.splitters["media"] = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.reference_panel)
        left.addWidget(self.driving_panel)
        top = self.splitters["top"] = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(self.viewer)
        top.setStretchFactor(1, 1)
        top.setSizes([380, 1100])
        self.transport = QToolBar("Transport")
        for aid in TRANSPORT:
            self.transport.addAction(self.actions[aid])
        self.transport.addSeparator()
        for aid in VIEW_ACTIONS:
            self.transport.addAction(self.actions[aid])
        self.inspector.set_timeline(self.timeline)
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(0)
        ll.addWidget(self.transport)
        ll.addWidget(self.inspector, 1)
        main = self.splitters["main"] = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(lower)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)
        main.setSizes([540, 440])
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(4, 4, 4, 4)
        cl.addWidget(self.banner)
        cl.addWidget(main, 1)
        self.setCentralWidget(central)
        self.resize(1560, 980)
        self._build_menus()
        self.extend_menu = ExtendMenu(doc, self.undo, self.runner, self)  # Edit > Generate Motion, timeline menu
        self.extend_menu.install(self.menuBar(), self.timeline, self.statusBar())
        self.extend_menu.message.connect(self.show_message)
        self.inspector.add_toolbar_actions(self.actions)
        if renderer_factory is not None:
            self.viewer.set_renderer_factory(renderer_factory)

        # -- wiring -------------------------------------------------------------------------------------------------
        self.media.message.connect(self.show_message)
        self.media.problem.connect(lambda topic, text: self.show_message(text, True, topic))
        self.files.message.connect(lambda text, error: self.show_message(text, error, "project"))
        self.inspector.message.connect(lambda text, error: self.show_message(text, error, "edit"))
        # an error goes when the state it described is gone
        doc.reference_changed.connect(lambda: self._state_fixed("reference", doc.reference is not None))
        doc.clip_changed.connect(lambda: self._state_fixed("driving", doc.clip is not None))
        self.undo.indexChanged.connect(lambda _i: self.banner.clear("edit"))
        self.inspector.tree.itemSelectionChanged.connect(lambda: self.banner.clear("edit"))
        self.media.driver_frames_changed.connect(self.viewer.driver_frames_changed)
        self.media.project_dropped.connect(self.files.open)
        self.viewer.preview_failed.connect(self._preview_failed)
        self.viewer.canvas.picked.connect(self._picked)
        self.files.recent_changed.connect(self._rebuild_recent)
        self.undo.cleanChanged.connect(self._update_title)
        doc.dirty_changed.connect(self._update_title)
        doc.path_changed.connect(self._update_title)
        doc.clip_changed.connect(self._update_enabled)
        doc.reference_changed.connect(self._update_enabled)
        doc.view_mode_changed.connect(self._sync_view_actions)
        doc.render_settings_changed.connect(self._sync_view_actions)
        self.playback.playing_changed.connect(self._playing_changed)
        self._connect_actions()
        self._sync_view_actions()
        self._update_enabled()
        self._update_title()
        geometry, window_state = self.state.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if window_state is not None:
            self.restoreState(window_state)
        self.splitters["inspector"] = self.inspector.splitter
        for name, sizes in self.state.splitter_sizes().items():
            if name in self.splitters and len(sizes) == self.splitters[name].count():
                self.splitters[name].setSizes(sizes)

    # -- menus and actions -----------------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        bar = self.menuBar()
        for title, ids in MENUS.items():
            menu = bar.addMenu(title)
            for aid in ids:
                if aid == "-":
                    menu.addSeparator()
                elif aid == "@recent":
                    self.recent_menu = menu.addMenu("Open &Recent")
                elif aid == "@render":
                    self.render_menu = RenderMenu(self.project, self.actions, self.runner, menu, self)
                    menu.setToolTipsVisible(True)  # a greyed renderer says in its tooltip how to enable it
                    menu.aboutToShow.connect(self._hint_greyed_renderers)
                    menu.hovered.connect(lambda _a: self._hint_greyed_renderers())
                else:
                    menu.addAction(self.actions[aid])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.state.recent_files()
        for p in recent:
            self.recent_menu.addAction(Path(p).name, lambda p=p: self.files.open(p)).setStatusTip(p)
        if recent:
            self.recent_menu.addSeparator()
        self.recent_menu.addAction(self.actions["file.clear_recent"])
        self.recent_menu.setEnabled(True)

    def _connect_actions(self) -> None:
        a, ins, pb, doc = self.actions, self.inspector, self.playback, self.project
        handlers = {
            "file.new": self.files.new, "file.open": self.files.open, "file.save": self.files.save,
            "file.save_as": self.files.save_as, "file.open_photo": self.reference_panel.browse,
            "file.open_video": self.driving_panel.browse, "file.export": self.open_export,
            "file.clear_recent": lambda: (self.state.clear_recent(), self._rebuild_recent()), "file.quit": self.close,
            "edit.undo": self.undo.undo, "edit.redo": self.undo.redo, "edit.add_key": ins.add_key,
            "edit.delete_keys": ins.delete_keys, "edit.smooth": ins.smooth,
            "edit.exaggerate": lambda: ins.scale(kind="exaggerate"), "edit.calm": lambda: ins.scale(kind="calm"),
            "edit.adjust_last": ins.adjust_last,
            "edit.hold": ins.hold, "edit.offset": ins.offset, "edit.reset_range": ins.reset_range,
            "edit.reset_channel": ins.reset_channels, "edit.copy_range": ins.copy_range,
            "edit.paste_range": ins.paste_range, "edit.set_in": lambda: self._set_range_end(0),
            "edit.set_out": lambda: self._set_range_end(1), "edit.clear_range": self._clear_range,
            "play.toggle": pb.toggle, "play.step_back": lambda: pb.step(-1), "play.step_forward": lambda: pb.step(1),
            "play.home": pb.home, "play.end": pb.end,
            "play.loop": lambda: setattr(pb, "loop", a["play.loop"].isChecked()),
            "help.about": self._about, "help.shortcuts": self.show_shortcuts,
        }
        for aid, fn in handlers.items():
            a.on(aid, fn)
        for aid, mode in VIEW_ACTIONS.items():
            a.on(aid, lambda mode=mode: doc.set_view_mode(mode))
        for aid, framing in FRAMING_ACTIONS.items():
            a.on(aid, lambda framing=framing: doc.set_render_settings(framing=framing))
        a["play.loop"].setChecked(pb.loop)
        a["edit.undo"].setEnabled(False)
        a["edit.redo"].setEnabled(False)
        self.undo.canUndoChanged.connect(a["edit.undo"].setEnabled)
        self.undo.canRedoChanged.connect(a["edit.redo"].setEnabled)
        self.undo.undoTextChanged.connect(self._undo_text)
        self.undo.redoTextChanged.connect(self._redo_text)
        self.render_menu.renderer_changed.connect(self._renderer_changed)

    def _set_range_end(self, which: int) -> None:
        from studio.commands import SetRangeCommand

        a, b = self.project.in_out
        f = self.project.frame
        rng = (f, max(b, f)) if which == 0 else (min(a, f), f)
        if self.project.clip is not None and rng != self.project.in_out:
            self.undo.push(SetRangeCommand(self.project, rng))

    def _clear_range(self) -> None:
        from studio.commands import SetRangeCommand

        if self.project.has_custom_range:
            self.undo.push(SetRangeCommand(self.project, None))

    def _sync_view_actions(self) -> None:
        for aid, mode in VIEW_ACTIONS.items():
            self.actions[aid].setChecked(self.project.view_mode == mode)
        for aid, framing in FRAMING_ACTIONS.items():
            self.actions[aid].setChecked(self.project.render_settings.framing == framing)

    def _update_enabled(self) -> None:
        has_clip = self.project.clip is not None
        ready = has_clip and self.project.reference is not None
        self.actions.enable(("file.export",), ready, "Needs a reference photo and a driving video")
        self.actions.enable(TRANSPORT[:-1], has_clip, "Needs a driving video")
        self.actions.enable(NEEDS_CLIP, has_clip, "Needs a driving video")

    def _hint_greyed_renderers(self) -> None:
        for aid in DIT_IDS:
            a = self.actions[aid]
            if not a.isEnabled() and DIT_HINT not in a.toolTip():
                a.setToolTip(f"{a.toolTip()}. {DIT_HINT}" if a.toolTip() else DIT_HINT)

    def _state_fixed(self, topic: str, fine: bool) -> None:
        if fine:
            self.banner.clear(topic)
        warnings = motion_warnings(self.project)
        if warnings:
            self.show_message(" ".join(warnings), "warning", "apply")
        else:
            self.banner.clear("apply")

    def _undo_text(self, text: str) -> None:
        self.actions["edit.undo"].setText(f"&Undo {text}" if text else "&Undo")

    def _redo_text(self, text: str) -> None:
        self.actions["edit.redo"].setText(f"&Redo {text}" if text else "&Redo")

    def _picked(self, what: str, keys: list) -> None:
        """A limb, the face or a hand clicked in the viewer: its channels in the curve editor."""
        self.inspector.select_channels([tuple(k) for k in keys])
        self.statusBar().showMessage(f"{what}: {len(keys)} channels selected", 5000)

    def _preview_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Preview: {message}", 8000)

    def _playing_changed(self, on: bool) -> None:
        self.actions["play.toggle"].setText("&Pause" if on else "&Play")

    def _renderer_changed(self) -> None:
        self.viewer.set_renderer_factory(self.render_menu.viewer_factory(), self.render_menu.label())

    def _update_title(self, *_args) -> None:
        doc = self.project
        name = doc.path.stem if doc.path else "Untitled"
        self.setWindowTitle(f"{name}{' *' if doc.dirty else ''} — {APP_TITLE}")

    # -- messages, dialogs -----------------------------------------------------------------------------------------

    def show_message(self, text: str, error: bool | str = False, topic: str = "") -> None:
        """Errors and warnings: the banner (until dismissed, or until `topic`'s state is fine again) and the
        status bar. Notes: the status bar; a note on a topic clears that topic's error (a project that opens
        after one that did not)."""
        self.statusBar().showMessage(text, 10_000)
        if error:
            self.banner.show_message(text, error, topic)
        elif topic:
            self.banner.clear(topic)

    def open_export(self) -> ExportDialog:
        if self.export_dialog is None:
            self.export_dialog = ExportDialog(self.project, self.runner, lambda: self.render_menu.factory()(), self)
            self.export_dialog.export_finished.connect(self._exported)
            self.export_dialog.export_failed.connect(self._export_failed)
        self.export_dialog.prepare()
        self.export_dialog.show()
        self.export_dialog.raise_()
        return self.export_dialog

    def _exported(self, result) -> None:
        self.show_message(f"Exported {result.path} ({result.frames} frames)", False, "export")

    def _export_failed(self, message: str) -> None:
        self.show_message(f"Export failed: {message}", True, "export")

    def _about(self) -> None:
        QMessageBox.about(self, f"About {APP_TITLE}", about_html())

    def show_shortcuts(self) -> ShortcutsDialog:
        dlg = ShortcutsDialog(self.actions, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.files.confirm_discard():
            event.ignore()
            return
        self.playback.stop()
        if self.export_dialog is not None:
            self.export_dialog.close()
        self.state.save_geometry(self.saveGeometry(), self.saveState())
        self.state.save_splitter_sizes({name: s.sizes() for name, s in self.splitters.items()})
        self.state.sync()
        self.runner.shutdown()
        self.files.shutdown()
        event.accept()
