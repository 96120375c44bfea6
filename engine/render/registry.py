"""Every renderer, declared once: name -> factory, default steps, menu text and label.

The CLI's `--renderer` choices, the studio's Render menu and preview, and the project's `RendererKind` all
read this table, so adding a renderer is one `RendererSpec` in `RENDERERS` (its factory imports lazily: this
module is imported by the studio at start-up and must not pull torch in).

    renderer = make("instant")
    renderer = make("full", checkpoint="generator.safetensors")   # "dit" is the CLI's older name for it
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from engine.errors import UserFacingError
from engine.render.base import Renderer

# steps: the spec's default steps unless the caller gives some; checkpoint: a generator file, or None.
Factory = Callable[[int | None, str | None], Renderer]


@dataclass(frozen=True)
class RendererSpec:
    name: str  # CLI value and the value a project file stores
    label: str  # status-bar / export-dialog name ("Instant renderer")
    menu_text: str  # Render-menu item, with its mnemonic
    tip: str
    factory: Factory
    default_steps: int | None = None  # None: the renderer has no steps (a single pass)
    needs_checkpoint: bool = False  # greyed out in the studio until a generator checkpoint is found
    aliases: tuple[str, ...] = ()  # other names the CLI accepts

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"RendererSpec.name: a lower-case identifier, got {self.name!r}")
        if self.default_steps is not None and self.default_steps < 1:
            raise ValueError(f"RendererSpec.default_steps: must be >= 1, got {self.default_steps}")


def _instant(steps: int | None, checkpoint: str | None) -> Renderer:
    from engine.render.instant.renderer import InstantRenderer

    return InstantRenderer()


def _dit_preview(steps: int | None, checkpoint: str | None) -> Renderer:
    from engine.render.dit_renderer import make_dit_renderer  # None: the shipped generator (assets/generator)

    return make_dit_renderer(checkpoint, int(steps), full=False)


def _dit_full(steps: int | None, checkpoint: str | None) -> Renderer:
    from engine.render.dit_renderer import make_dit_renderer

    return make_dit_renderer(checkpoint, int(steps), full=True)


RENDERERS: tuple[RendererSpec, ...] = (
    RendererSpec("instant", "Instant renderer", "&Instant Preview (CPU)", "Mesh-warp renderer", _instant),
    RendererSpec("dit_preview", "DiT preview", "&DiT Preview", "Diffusion renderer, few steps", _dit_preview,
                 default_steps=2, needs_checkpoint=True),
    RendererSpec("full", "Full render", "&Full Render", "Diffusion renderer, full quality", _dit_full,
                 default_steps=8, needs_checkpoint=True, aliases=("dit",)),
)
DEFAULT = "instant"


def names() -> tuple[str, ...]:
    """The canonical names, in menu order."""
    return tuple(s.name for s in RENDERERS)


def cli_choices() -> tuple[str, ...]:
    """Canonical names and aliases, for argparse."""
    return names() + tuple(a for s in RENDERERS for a in s.aliases)


def spec(name: str) -> RendererSpec:
    """The spec for a name or alias; UserFacingError naming the choices for anything else."""
    key = getattr(name, "value", name)  # a RendererKind member is accepted as its value
    for s in RENDERERS:
        if key == s.name or key in s.aliases:
            return s
    raise UserFacingError(f"unknown renderer {key!r} (use {', '.join(cli_choices())})")


def make(name: str, *, steps: int | None = None, checkpoint: str | None = None) -> Renderer:
    """Build the named renderer. `steps` None takes the spec's default."""
    s = spec(name)
    if steps is not None and steps < 1:
        raise UserFacingError(f"--steps must be at least 1, got {steps}")
    return s.factory(s.default_steps if steps is None else steps, checkpoint)
