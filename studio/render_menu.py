"""The Render menu: which renderer the viewer and export use. The DiT renderers need a generator checkpoint
(the shipped one is under assets/generator/); without one they are greyed out and say so.

"DiT Preview" renders the viewer's current frame with the generator (two steps, as a job on a worker
thread; requests made meanwhile collapse into one), and the export dialog renders the in/out range with it,
with progress and Cancel. "Compare with Instant" (C) is a toggle: while on, the viewer shows the instant render of the same
frame, so the generator's repair can be judged by flipping. "Full Render" (more steps, guidance) is for
export, through the same dialog."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMenu

from engine.project.document import Project, RendererKind
from engine.render import registry
from studio.actions import ACTIONS, Actions
from studio.jobs import JobRunner
from studio.preview import find_generator_checkpoint, make_renderer

NO_CHECKPOINT = "no generator checkpoint found"
# One menu item per registry entry (studio.actions declares them from the same table).
KIND_OF = {f"render.{s.name}": RendererKind(s.name) for s in registry.RENDERERS}
DIT_IDS = tuple(f"render.{s.name}" for s in registry.RENDERERS if s.needs_checkpoint)
COMPARE_ID = "render.compare"


class RenderMenu(QObject):
    renderer_changed = Signal()

    def __init__(self, doc: Project, actions: Actions, runner: JobRunner, menu: QMenu,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.actions, self.runner, self.menu = doc, actions, runner, menu
        self.checkpoint: str | None = None
        self._probed = False
        self.comparing = False
        for aid in KIND_OF:
            menu.addAction(actions[aid])
            actions.on(aid, lambda aid=aid: self.choose(KIND_OF[aid]))
        menu.addSeparator()
        menu.addAction(actions[COMPARE_ID])
        actions.on(COMPARE_ID, lambda: self.compare(actions[COMPARE_ID].isChecked()))
        self._set_dit_available(False, f"Needs a trained generator: {NO_CHECKPOINT}")
        menu.aboutToShow.connect(self.probe)
        doc.render_settings_changed.connect(self._sync_checks)
        self._sync_checks()

    def _set_dit_available(self, ok: bool, reason: str) -> None:
        self.actions.enable(DIT_IDS, ok, reason)
        for aid in DIT_IDS:
            base = next(s.text for s in ACTIONS if s.id == aid)
            self.actions[aid].setText(base if ok else f"{base} ({NO_CHECKPOINT})")
            self.actions[aid].setToolTip("" if ok else reason)

    def probe(self) -> None:
        """Look for a checkpoint once, off the GUI thread (it imports torch)."""
        if self._probed:
            return
        self._probed = True
        h = self.runner.submit("Looking for a generator checkpoint", lambda _c: find_generator_checkpoint(),
                               key="checkpoint")
        h.succeeded.connect(self._probed_result)

    def _probed_result(self, path: str | None) -> None:
        self.checkpoint = path
        self._set_dit_available(bool(path), "" if path else f"Needs a trained generator: {NO_CHECKPOINT}")

    def choose(self, kind: RendererKind) -> None:
        if registry.spec(kind).needs_checkpoint and not self.checkpoint:
            kind = RendererKind.INSTANT
        self.doc.set_render_settings(renderer=kind)
        self.renderer_changed.emit()

    def compare(self, on: bool) -> None:
        """The viewer shows the instant render (on) or the chosen renderer again (off); export is unaffected."""
        self.comparing = bool(on)
        self.actions[COMPARE_ID].setChecked(self.comparing)
        self.renderer_changed.emit()

    def _viewer_kind(self) -> RendererKind:
        kind = self.doc.render_settings.renderer
        if self.comparing or (registry.spec(kind).needs_checkpoint and not self.checkpoint):
            return RendererKind.INSTANT
        return kind

    def factory(self):
        """A zero-argument renderer factory for the current choice (export's; the viewer's is viewer_factory)."""
        kind, ckpt = self.doc.render_settings.renderer, self.checkpoint
        if registry.spec(kind).needs_checkpoint and not ckpt:
            kind = RendererKind.INSTANT
        return lambda: make_renderer(kind, ckpt)

    def viewer_factory(self):
        """The viewer's renderer: the choice, or the instant renderer while comparing."""
        kind, ckpt = self._viewer_kind(), self.checkpoint
        return lambda: make_renderer(kind, ckpt)

    def label(self) -> str:
        base = registry.spec(self._viewer_kind()).label
        return f"{base} (comparing)" if self.comparing else base

    def _sync_checks(self) -> None:
        kind = self.doc.render_settings.renderer
        for aid, k in KIND_OF.items():
            self.actions[aid].setChecked(k == kind)
