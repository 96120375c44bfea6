"""The channel tree: the four token groups and their channels, named so a person can read them.

Body bones are listed by their swing angles in degrees (engine.project.angles), with the stored unit-vector
components under "Raw directions" for those who want them. Sides are the performer's own, with a hint of the
side of the screen that is (a performer facing the camera: their left is on the screen's right).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem, QWidget

from engine.project import angles
from engine.project import edits
from engine.tokens.schema import BODY_BONE_NAMES, CHANNELS, GROUP_NAMES, LIMBS

KEY_ROLE = Qt.ItemDataRole.UserRole + 1
SCREEN = {"l": "screen right", "r": "screen left"}  # where the performer's left / right appear
GROUP_TITLES = {"face": "Face", "body": "Body", "left_hand": "Left hand · screen right",
                "right_hand": "Right hand · screen left"}
RAW_TITLE = "Raw directions (unit vectors)"


def side_of(name: str) -> str | None:
    """'l' / 'r' for a channel or bone of one side of the performer, else None."""
    parts = name.replace("_", ".").split(".")
    for p in parts:
        if p in ("l", "r"):
            return p
    return None


def bone_title(bone: str) -> str:
    side, _, rest = bone.partition("_")
    if side in angles.SIDE_WORDS:
        return f"{angles.SIDE_WORDS[side].capitalize()} {rest.replace('_', ' ')} · {SCREEN[side]}"
    return bone.capitalize()


def channel_title(group: str, name: str) -> str:
    """A readable label for a stored channel (face and hand channels keep their names, sides spelled out)."""
    if name.startswith("follow."):
        limb = name.split(".", 1)[1]
        return f"follow {angles.SIDE_WORDS[limb[0]]} {'arm' if limb.endswith('arm') else 'leg'} · {SCREEN[limb[0]]}"
    side = side_of(name) if group == "face" else None
    if side:
        words = [angles.SIDE_WORDS[side] if p == side else p for p in name.split(".")]
        return f"{' '.join(words)} · {SCREEN[side]}"
    return name


class ChannelTree(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Channel", "Unit"])
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setSectionResizeMode(1, header.ResizeMode.ResizeToContents)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(220)
        self.items: dict[edits.ChannelKey, QTreeWidgetItem] = {}
        for g in GROUP_NAMES:
            top = self._folder(self.invisibleRootItem(), GROUP_TITLES[g])
            if g == "body":
                self._body(top)
            else:
                for spec in CHANNELS[g]:
                    self._channel(top, (g, spec.name), channel_title(g, spec.name), spec)
        self.expandItem(self.topLevelItem(0))

    def _folder(self, parent: QTreeWidgetItem, title: str, tip: str = "") -> QTreeWidgetItem:
        it = QTreeWidgetItem([title, ""])
        it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsSelectable)
        it.setToolTip(0, tip or title)
        parent.addChild(it)
        return it

    def _channel(self, parent: QTreeWidgetItem, key: edits.ChannelKey, title: str, spec) -> QTreeWidgetItem:
        it = QTreeWidgetItem([title, spec.unit])
        it.setData(0, KEY_ROLE, key)
        side = side_of(key[1])
        hint = f" (the performer's {angles.SIDE_WORDS[side]}: {SCREEN[side]} when they face the camera)" if side else ""
        it.setToolTip(0, f"{key[0]} {key[1]}: {spec.description}{hint}")
        parent.addChild(it)
        self.items[key] = it
        return it

    def _body(self, top: QTreeWidgetItem) -> None:
        for spec in CHANNELS["body"][:3]:  # torso yaw / pitch / roll
            self._channel(top, ("body", spec.name), spec.name, spec)
        for bone in BODY_BONE_NAMES:
            folder = self._folder(top, bone_title(bone), "Swing from the rest direction, in degrees (a direction "
                                                          "has no twist); stored as a unit vector")
            for name in angles.angle_names(bone):
                self._channel(folder, ("body", name), name.split(".", 1)[1], angles.ANGLE_SPECS[name])
        for limb in LIMBS:
            name = f"follow.{limb}"
            spec = next(s for s in CHANNELS["body"] if s.name == name)
            self._channel(top, ("body", name), channel_title("body", name), spec)
        raw = self._folder(top, RAW_TITLE, "The stored bone directions: x = the performer's left, y = up, "
                                           "z = forward, in the pelvis frame")
        for spec in CHANNELS["body"]:
            if spec.unit == "unit":
                self._channel(raw, ("body", spec.name), spec.name, spec)

    # -- selection ----------------------------------------------------------------------------------------------

    def selected_channels(self) -> list[edits.ChannelKey]:
        return [tuple(it.data(0, KEY_ROLE)) for it in self.selectedItems() if it.data(0, KEY_ROLE)]

    def current_channel(self) -> edits.ChannelKey | None:
        cur = self.currentItem()
        return tuple(cur.data(0, KEY_ROLE)) if cur is not None and cur.data(0, KEY_ROLE) else None

    def select(self, keys: list[edits.ChannelKey]) -> None:
        """Select these channels (the first becomes current), opening their folders; no signals."""
        self.blockSignals(True)
        self.clearSelection()
        for k in keys:
            it = self.items[tuple(k)]
            it.setSelected(True)
            p = it.parent()
            while p is not None:
                self.expandItem(p)
                p = p.parent()
        if keys:
            self.setCurrentItem(self.items[tuple(keys[0])], 0, self.selectionModel().SelectionFlag.NoUpdate)
            self.scrollToItem(self.items[tuple(keys[0])])
        self.blockSignals(False)

    def mark_edited(self, edited: set[edits.ChannelKey]) -> None:
        for k, it in self.items.items():
            f = QFont(it.font(0))
            f.setBold(k in edited)
            it.setFont(0, f)
        for i, g in enumerate(GROUP_NAMES):
            top = self.topLevelItem(i)
            n = sum(1 for k in edited if k[0] == g)
            top.setText(0, GROUP_TITLES[g] + (f"  ({n} edited)" if n else ""))
