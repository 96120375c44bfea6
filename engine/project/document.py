"""The Project document: what the user is working on, as plain typed objects with change events.

No Qt: widgets subscribe to the `Signal`s below; undo commands call the setters. Two kinds of edit event, as
pyqtgraph names them: `edits_live` while a drag is in progress (preview only, nothing to undo), and
`edits_changed` when an edit is committed.

Saved state (what a project file holds and what makes the document dirty): media paths, the edit layer,
the in/out range, render settings and the view mode. The tracked clip, the analysed reference and the
current frame are runtime state: they are re-derived from the media when a project is opened.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from engine.project.edits import ChannelKey, EditLayer, EditOp, apply_edits
from engine.project.events import Signal
from engine.render import registry as renderer_registry
from engine.tokens.reference import Reference
from engine.tokens.clipfile import TrackedClip
from engine.tokens.schema import MotionTokens


class ViewMode(str, enum.Enum):
    RESULT = "result"
    SIDE_BY_SIDE = "side_by_side"
    SKELETON = "skeleton"  # the retargeted skeleton over the result


# A renderer by its registry name (engine/render/registry.py): one member per entry, the name upper-cased.
RendererKind = enum.Enum("RendererKind", [(n.upper(), n) for n in renderer_registry.names()], type=str,
                         module=__name__)


@dataclass(frozen=True)
class RenderSettings:
    """How to render and export. `long_side` None keeps the reference photo's size."""

    renderer: RendererKind = RendererKind.INSTANT
    long_side: int | None = 512
    side_by_side: bool = False
    audio: bool = True
    preview_long_side: int = 512  # the viewer renders at most this big while scrubbing
    framing: str = "follow"  # engine.render.framing: follow, keep_in_frame or fixed

    def __post_init__(self) -> None:
        object.__setattr__(self, "renderer", RendererKind(self.renderer))
        from engine.render.framing import parse

        try:
            object.__setattr__(self, "framing", parse(self.framing).value)
        except ValueError as exc:
            raise ValueError(f"RenderSettings.{exc}") from None
        if self.long_side is not None and not 16 <= int(self.long_side) <= 4096:
            raise ValueError(f"RenderSettings.long_side must be in 16..4096 or None, got {self.long_side}")
        if not 64 <= int(self.preview_long_side) <= 2048:
            raise ValueError(f"RenderSettings.preview_long_side must be in 64..2048, got {self.preview_long_side}")

    def to_json(self) -> dict:
        return {"renderer": self.renderer.value, "long_side": self.long_side, "side_by_side": self.side_by_side,
                "audio": self.audio, "preview_long_side": self.preview_long_side, "framing": self.framing}

    @classmethod
    def from_json(cls, d: dict) -> "RenderSettings":
        known = {k: d[k] for k in ("renderer", "long_side", "side_by_side", "audio", "preview_long_side", "framing")
                 if k in d}
        return cls(**known)


class Project:
    """One studio document. Every setter emits its event (and `changed`) only when something changed."""

    def __init__(self) -> None:
        self.reference_path: Path | None = None
        self.reference: Reference | None = None
        self.driving_path: Path | None = None
        self.clip: TrackedClip | None = None
        # Whom the driving clip's tracking follows, as an opened project names it: kept while that clip is still
        # tracking, so a save in the meantime does not forget the choice (the loaded clip's own key wins after).
        self.driving_person: int | None = None
        self._edits = EditLayer()
        self._live: dict[ChannelKey, tuple[EditOp, ...]] = {}
        self._in_out: tuple[int, int] | None = None  # None = the whole clip
        self._render = RenderSettings()
        self._view_mode = ViewMode.RESULT
        self._frame = 0
        self.path: Path | None = None  # the project file, once saved or opened
        self._revision = 0
        self._saved_revision = 0
        self._tokens_cache: tuple[object, MotionTokens] | None = None

        self.reference_changed = Signal("reference_changed")  # ()
        self.clip_changed = Signal("clip_changed")  # ()
        self.edits_changed = Signal("edits_changed")  # (keys: list[ChannelKey]) committed
        self.edits_live = Signal("edits_live")  # (keys: list[ChannelKey]) a drag in progress ([]: it ended)
        self.range_changed = Signal("range_changed")  # ()
        self.render_settings_changed = Signal("render_settings_changed")  # ()
        self.view_mode_changed = Signal("view_mode_changed")  # ()
        self.frame_changed = Signal("frame_changed")  # (frame: int)
        self.dirty_changed = Signal("dirty_changed")  # (dirty: bool)
        self.path_changed = Signal("path_changed")  # ()

    # -- dirty state -------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self._revision != self._saved_revision

    def _touch(self) -> None:
        was = self.dirty
        self._revision += 1
        if not was:
            self.dirty_changed.emit(True)

    def mark_dirty(self) -> None:
        self._touch()

    def mark_saved(self, path: Path | None = None) -> None:
        was = self.dirty
        self._saved_revision = self._revision
        if path is not None and Path(path) != self.path:
            self.path = Path(path)
            self.path_changed.emit()
        if was:
            self.dirty_changed.emit(False)

    @property
    def revision(self) -> int:
        return self._revision

    # -- media -------------------------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        return len(self.clip) if self.clip is not None else 0

    @property
    def fps(self) -> float:
        return float(self.clip.fps) if self.clip is not None else 25.0

    def set_reference(self, path: Path | None, reference: Reference | None) -> None:
        changed_path = (Path(path) if path else None) != self.reference_path
        self.reference_path = Path(path) if path else None
        self.reference = reference
        if changed_path:
            self._touch()
        self.reference_changed.emit()

    def set_clip(self, path: Path | None, clip: TrackedClip | None, keep_edits: bool = False) -> None:
        """A new driving clip. Unless `keep_edits` (a project being opened), edits and the range start over."""
        changed_path = (Path(path) if path else None) != self.driving_path
        self.driving_path = Path(path) if path else None
        self.clip = clip
        self._tokens_cache = None
        self._live = {}
        if not keep_edits:
            self._edits = EditLayer()
            self._in_out = None
        elif self._in_out is not None and clip is not None:
            self._in_out = self._clamp_range(*self._in_out)
        if changed_path or not keep_edits:
            self._touch()
        self._frame = min(self._frame, max(self.frame_count - 1, 0))
        self.clip_changed.emit()
        self.edits_changed.emit(self._edits.keys())
        self.range_changed.emit()
        self.frame_changed.emit(self._frame)

    def replace_clip(self, path: Path | None, clip: TrackedClip | None, edits: EditLayer,
                     in_out: tuple[int, int] | None) -> None:
        """Swap the driving clip together with the edits and range that go with it (the replace-video undo
        command calls this both ways, so the swap and its edits are one step)."""
        keys = sorted(set(self._edits.keys()) | set(edits.keys()))
        self.driving_path = Path(path) if path else None
        self.clip = clip
        self._edits = edits
        self._live = {}
        self._tokens_cache = None
        self._in_out = None
        if in_out is not None and clip is not None:
            rng = self._clamp_range(*in_out)
            self._in_out = None if rng == (0, max(self.frame_count - 1, 0)) else rng
        self._touch()
        self._frame = min(self._frame, max(self.frame_count - 1, 0))
        self.clip_changed.emit()
        self.edits_changed.emit(keys)
        self.range_changed.emit()
        self.frame_changed.emit(self._frame)

    @property
    def custom_range(self) -> tuple[int, int] | None:
        """The in/out range as set by the user (None: the whole clip)."""
        return self._in_out

    # -- edits -------------------------------------------------------------------------------------

    @property
    def edits(self) -> EditLayer:
        return self._edits

    def channel_ops(self, key: ChannelKey) -> tuple[EditOp, ...]:
        return self._edits.ops(key)

    def set_channel_ops(self, key: ChannelKey, ops: tuple[EditOp, ...]) -> None:
        self.set_ops({key: ops})

    def set_ops(self, changes: Mapping[ChannelKey, tuple[EditOp, ...]]) -> None:
        """Commit channels' operations (undo commands call this): one `edits_changed` for all of them.
        A live preview of any of these channels ends."""
        changes = {tuple(k): tuple(v) for k, v in changes.items()}
        live_ended = bool(self._live) and bool(set(self._live) & set(changes))
        if live_ended:
            self._live = {}
        changed = [k for k, v in changes.items() if self._edits.ops(k) != v]
        if changed:
            layer = self._edits
            for k in changed:
                layer = layer.with_ops(k, changes[k])
            self._edits = layer
            self._touch()
        if changed or live_ended:
            self._tokens_cache = None
        if live_ended:
            self.edits_live.emit([])
        if changed:
            self.edits_changed.emit(changed)

    def set_edits(self, layer: EditLayer) -> None:
        if layer == self._edits:
            return
        keys = sorted(set(self._edits.keys()) | set(layer.keys()))
        self._edits = layer
        self._live = {}
        self._tokens_cache = None
        self._touch()
        self.edits_changed.emit(keys)

    def preview_ops(self, changes: Mapping[ChannelKey, tuple[EditOp, ...]] | None) -> None:
        """Show `changes` without committing them (a drag in progress); None or {} drops the preview."""
        new = {tuple(k): tuple(v) for k, v in (changes or {}).items()}
        if new == self._live:
            return
        self._live = new
        self._tokens_cache = None
        self.edits_live.emit(list(new))

    def preview_channel_ops(self, key: ChannelKey, ops: tuple[EditOp, ...] | None) -> None:
        self.preview_ops(None if ops is None else {key: ops})

    @property
    def live_keys(self) -> list[ChannelKey]:
        return list(self._live)

    def effective_edits(self) -> EditLayer:
        """The committed layer with the live preview (if any) on top."""
        layer = self._edits
        for k, v in self._live.items():
            layer = layer.with_ops(k, v)
        return layer

    def edited_tokens(self) -> MotionTokens:
        """Tracked tokens with the edits applied. The object returned is never mutated afterwards, so it can
        be handed to a worker thread as a snapshot."""
        if self.clip is None:
            raise ValueError("Project.edited_tokens: no driving clip")
        layer = self.effective_edits()
        if self._tokens_cache is not None and self._tokens_cache[0] == layer:
            return self._tokens_cache[1]
        tokens = apply_edits(self.clip.tokens, layer)
        self._tokens_cache = (layer, tokens)
        return tokens

    # -- range, settings, view -----------------------------------------------------------------------

    def _clamp_range(self, a: int, b: int) -> tuple[int, int]:
        a, b = sorted((int(a), int(b)))
        if self.clip is None:
            return max(a, 0), max(b, 0)  # a project being opened: clamped once its clip is tracked
        last = max(self.frame_count - 1, 0)
        return min(max(a, 0), last), min(max(b, 0), last)

    @property
    def in_out(self) -> tuple[int, int]:
        """(in, out) frames, inclusive; the whole clip unless set."""
        if self._in_out is None:
            return 0, max(self.frame_count - 1, 0)
        return self._in_out

    @property
    def has_custom_range(self) -> bool:
        return self._in_out is not None

    def set_in_out(self, rng: tuple[int, int] | None) -> None:
        new = None if rng is None else self._clamp_range(*rng)
        if self.clip is not None and new == (0, max(self.frame_count - 1, 0)):
            new = None
        if new == self._in_out:
            return
        self._in_out = new
        self._touch()
        self.range_changed.emit()

    @property
    def render_settings(self) -> RenderSettings:
        return self._render

    def set_render_settings(self, settings: RenderSettings | None = None, **changes: object) -> None:
        new = replace(settings or self._render, **changes)  # type: ignore[arg-type]
        if new == self._render:
            return
        self._render = new
        self._touch()
        self.render_settings_changed.emit()

    @property
    def view_mode(self) -> ViewMode:
        return self._view_mode

    def set_view_mode(self, mode: ViewMode | str) -> None:
        mode = ViewMode(mode)
        if mode == self._view_mode:
            return
        self._view_mode = mode  # saved with the project, but a view change alone does not make it dirty
        self.view_mode_changed.emit()

    @property
    def frame(self) -> int:
        return self._frame

    def set_frame(self, frame: int) -> None:
        f = int(np.clip(int(frame), 0, max(self.frame_count - 1, 0)))
        if f == self._frame:
            return
        self._frame = f
        self.frame_changed.emit(f)

    def time_of(self, frame: int) -> float:
        """Seconds from the clip's first frame (real timestamps: variable frame rate kept)."""
        if self.clip is None or not len(self.clip):
            return frame / 25.0
        f = int(np.clip(frame, 0, len(self.clip) - 1))
        return float(self.clip.times[f] - self.clip.times[0])

    def missing_frames(self, group: str) -> np.ndarray:
        """(T,) bool: frames where `group` was not tracked."""
        if self.clip is None:
            return np.zeros(0, bool)
        return self.clip.tokens.group(group).confidence <= 0

    def reset(self) -> None:
        """Back to an empty, clean document (File > New)."""
        self.set_reference(None, None)
        self.set_clip(None, None)
        self.driving_person = None
        self._render = RenderSettings()
        self._view_mode = ViewMode.RESULT
        self.render_settings_changed.emit()
        self.view_mode_changed.emit()
        self.path = None
        self.path_changed.emit()
        self.mark_saved()
