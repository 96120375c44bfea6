"""Every action of the studio, declared once: a stable id, text, shortcut and where it appears.

Menus, toolbars and tests all go through `Actions[id]`, so a test that triggers "edit.smooth" exercises exactly
what the menu item does. Handlers are connected by id in the main window (`actions.on(id, fn)`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from engine.render import registry as renderer_registry


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    shortcut: str | QKeySequence.StandardKey | None = None
    tip: str = ""
    checkable: bool = False
    group: str | None = None  # exclusive group (radio items)


SK = QKeySequence.StandardKey
ACTIONS: tuple[ActionSpec, ...] = (
    # file
    ActionSpec("file.new", "&New Project", SK.New, "Start an empty project"),
    ActionSpec("file.open", "&Open Project…", SK.Open, "Open a .umproj project"),
    ActionSpec("file.save", "&Save Project", SK.Save, "Save the project"),
    ActionSpec("file.save_as", "Save Project &As…", "Ctrl+Shift+S", "Save the project under a new name"),
    ActionSpec("file.open_photo", "Open Reference &Photo…", "Ctrl+Shift+P", "The person to animate"),
    ActionSpec("file.open_video", "Open Driving &Video…", "Ctrl+Shift+V", "The motion to copy"),
    ActionSpec("file.export", "&Export MP4…", "Ctrl+E", "Render the range to an MP4"),
    ActionSpec("file.clear_recent", "Clear Recent Files", None),
    ActionSpec("file.quit", "&Quit", SK.Quit),
    # edit
    ActionSpec("edit.undo", "&Undo", "Ctrl+Z"),
    ActionSpec("edit.redo", "&Redo", "Ctrl+Shift+Z"),
    ActionSpec("edit.add_key", "Add &Key", "K", "Key the current channel at the cursor"),
    ActionSpec("edit.delete_keys", "&Delete Keys", "Delete", "Delete the selected keys"),
    ActionSpec("edit.smooth", "&Smooth", "Ctrl+Shift+M", "Remove jitter over the edit range"),
    ActionSpec("edit.exaggerate", "E&xaggerate", "Ctrl+Up", "Scale motion up around the neutral"),
    ActionSpec("edit.calm", "&Calm", "Ctrl+Down", "Scale motion down around the neutral"),
    ActionSpec("edit.adjust_last", "Ad&just Last Operation", "F9",
               "Change the amount of the last Smooth, Exaggerate, Calm or Offset (still one undo step)"),
    ActionSpec("edit.hold", "&Hold", "Ctrl+H", "Hold the value at the range start over the range"),
    ActionSpec("edit.offset", "&Offset", "Ctrl+Shift+O", "Add the offset amount over the range"),
    ActionSpec("edit.reset_range", "&Reset Range to Tracked", "Ctrl+R", "Back to the tracked values in the range"),
    ActionSpec("edit.reset_channel", "Reset &Channel", "Ctrl+Shift+R", "Drop every edit of the selected channels"),
    ActionSpec("edit.copy_range", "Cop&y Range", "Ctrl+C", "Copy the edited values of the range"),
    ActionSpec("edit.paste_range", "&Paste at Cursor", "Ctrl+V", "Paste copied values from the cursor"),
    ActionSpec("edit.set_in", "Set &In", "I", "Start the range at the cursor"),
    ActionSpec("edit.set_out", "Set O&ut", "O", "End the range at the cursor"),
    ActionSpec("edit.clear_range", "C&lear In/Out", "Alt+X", "Use the whole clip"),
    # view
    ActionSpec("view.result", "&Result", "1", "The animated photo", True, "view"),
    ActionSpec("view.side_by_side", "&Side by Side", "2", "Driver beside the result", True, "view"),
    ActionSpec("view.skeleton", "Retargeted S&keleton", "3", "The retargeted skeleton over the result", True, "view"),
    # framing (engine/render/framing.py): saved in the project, used by the preview and the export
    ActionSpec("view.framing_follow", "&Follow the Driver's Travel", None,
               "The person travels as the driver does, at the photo's body size", True, "framing"),
    ActionSpec("view.framing_keep", "Keep &in Frame", None,
               "The whole person stays in the picture (zoomed out and held at the edges when needed)", True,
               "framing"),
    ActionSpec("view.framing_fixed", "Fi&xed in Place", None, "The person poses where the photo has them",
               True, "framing"),
    # playback
    ActionSpec("play.toggle", "&Play / Pause", "Space"),
    ActionSpec("play.step_back", "Step &Back", "Left"),
    ActionSpec("play.step_forward", "Step &Forward", "Right"),
    ActionSpec("play.home", "Go to &Start", "Home"),
    ActionSpec("play.end", "Go to &End", "End"),
    ActionSpec("play.loop", "&Loop", "L", "Loop playback over the in/out range", True),
    # render: one item per renderer in engine/render/registry.py
    *(ActionSpec(f"render.{r.name}", r.menu_text, None, r.tip, True, "renderer") for r in renderer_registry.RENDERERS),
    ActionSpec("render.compare", "&Compare with Instant", "C",
               "Toggle: the viewer shows the instant render instead of the DiT's", True),
    # help
    ActionSpec("help.shortcuts", "&Keyboard Shortcuts", "F1", "Every shortcut of the studio"),
    ActionSpec("help.about", "&About UniMotion Studio", None, "Version and where the documentation is"),
)

MENUS: dict[str, tuple[str, ...]] = {
    "&File": ("file.new", "file.open", "@recent", "file.save", "file.save_as", "-", "file.open_photo",
              "file.open_video", "-", "file.export", "-", "file.quit"),
    "&Edit": ("edit.undo", "edit.redo", "-", "edit.add_key", "edit.delete_keys", "-", "edit.smooth",
              "edit.exaggerate", "edit.calm", "edit.adjust_last", "edit.hold", "edit.offset", "edit.reset_range", "edit.reset_channel",
              "-", "edit.copy_range", "edit.paste_range", "-", "edit.set_in", "edit.set_out", "edit.clear_range"),
    "&View": ("view.result", "view.side_by_side", "view.skeleton", "-", "view.framing_follow", "view.framing_keep",
              "view.framing_fixed"),
    "&Playback": ("play.toggle", "play.step_back", "play.step_forward", "play.home", "play.end", "-", "play.loop"),
    "&Render": ("@render",),
    "&Help": ("help.shortcuts", "help.about"),
}


class Actions(QObject):
    """The QActions of one window, by id."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._by_id: dict[str, QAction] = {}
        groups: dict[str, QActionGroup] = {}
        for spec in ACTIONS:
            a = QAction(spec.text, parent)
            a.setObjectName(spec.id)
            if spec.shortcut is not None:
                a.setShortcut(QKeySequence(spec.shortcut))
                a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            if spec.tip:
                a.setStatusTip(spec.tip)
                a.setToolTip(f"{spec.text.replace('&', '')}: {spec.tip}")
            a.setCheckable(spec.checkable)
            if spec.group:
                groups.setdefault(spec.group, QActionGroup(parent)).addAction(a)
            self._by_id[spec.id] = a

    def __getitem__(self, action_id: str) -> QAction:
        return self._by_id[action_id]

    def __contains__(self, action_id: str) -> bool:
        return action_id in self._by_id

    def ids(self) -> list[str]:
        return list(self._by_id)

    def on(self, action_id: str, handler: Callable[[], object]) -> None:
        """Run `handler()` when the action triggers (checked state, if any, is read from the action)."""
        self._by_id[action_id].triggered.connect(lambda _checked=False: handler())

    def trigger(self, action_id: str) -> None:
        self._by_id[action_id].trigger()

    def enable(self, ids: list[str] | tuple[str, ...], enabled: bool, reason: str = "") -> None:
        for i in ids:
            a = self._by_id[i]
            a.setEnabled(enabled)
            spec = next(s for s in ACTIONS if s.id == i)
            a.setStatusTip(spec.tip if enabled or not reason else reason)
