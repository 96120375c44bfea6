"""Preview rendering off the GUI thread: an immutable request in, a frame out (no Qt in this module).

`RendererHost` builds the renderer lazily, once, on whichever worker first needs it, and turns a failure to
build it into one clear message. `render_preview` is what a worker runs for one viewer request.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from engine.errors import UserFacingError
from engine.jobs import CancelToken
from engine.project.document import RendererKind, ViewMode
from engine.render.base import Renderer, output_size
from engine.tokens.reference import Reference
from engine.tokens.schema import MotionTokens
from engine.track.types import FrameLandmarks


def instant_renderer() -> Renderer:
    from engine.render.instant.renderer import InstantRenderer

    return InstantRenderer()


def find_generator_checkpoint() -> str | None:
    """A generator checkpoint the DiT renderers can use, if the engine knows where one is. The engine has no
    finder yet (engine.models.checkpoint saves and loads given paths): until it has, there is none."""
    try:
        from engine.models import checkpoint
    except Exception:  # noqa: BLE001 - a broken optional stack just means "no DiT"
        return None
    finder = getattr(checkpoint, "find_checkpoint", None) or getattr(checkpoint, "default_checkpoint", None)
    if finder is None:
        return None
    try:
        found = finder()
    except Exception:  # noqa: BLE001
        return None
    return str(found) if found else None


def make_renderer(kind: RendererKind, checkpoint: str | None = None) -> Renderer:
    """The renderer for a kind, as engine.render.registry declares it (its default steps)."""
    from engine.render import registry

    if registry.spec(kind).needs_checkpoint and not checkpoint:
        raise UserFacingError("no generator checkpoint found")
    return registry.make(kind, checkpoint=checkpoint)


class RendererHost:
    """A renderer built on first use (thread-safe); a failure is kept and reported as a UserFacingError."""

    def __init__(self, factory: Callable[[], Renderer], label: str = "Instant renderer") -> None:
        self._factory, self.label = factory, label
        self._lock = threading.Lock()
        self._renderer: Renderer | None = None
        self._error: str | None = None

    def get(self) -> Renderer:
        with self._lock:
            if self._renderer is None and self._error is None:
                try:
                    self._renderer = self._factory()
                except Exception as exc:  # noqa: BLE001 - an unfinished or broken renderer is a message
                    detail = str(exc)  # never a class name at the user
                    self._error = f"{self.label} unavailable ({detail.splitlines()[0] if detail else '?'})"
            if self._error is not None:
                raise UserFacingError(self._error)
            return self._renderer

    @property
    def error(self) -> str | None:
        return self._error



@dataclass(frozen=True)
class PreviewRequest:
    serial: int
    generation: int  # what the content was when captured (edits, media, mode, live drags)
    hard_generation: int  # the same without live drags: results of an older one are stale
    reference: Reference
    tokens: MotionTokens  # never mutated after capture
    frame: int
    long_side: int
    mode: ViewMode
    driver: np.ndarray | None  # the driving frame, for side by side
    framing: str = "follow"  # engine.render.framing: where the person stands


@dataclass(frozen=True)
class PreviewResult:
    serial: int
    generation: int
    hard_generation: int
    frame: int
    rgb: np.ndarray
    overlay: FrameLandmarks | None  # the retargeted skeleton, in the reference's pixels
    overlay_space: tuple[int, int] | None
    pick: object | None = None  # studio.picking.PickMap: where the person's joints are on `rgb`


_FRAMED: dict = {}  # the last framed tokens (keep in frame fits the whole clip: once per content, not per frame)
_FRAMED_LOCK = threading.Lock()


def _framed(req: PreviewRequest) -> MotionTokens:
    from engine.render.framing import apply_framing

    if req.framing == "follow":
        return req.tokens
    key = (req.hard_generation, req.reference.key, req.framing, len(req.tokens))
    with _FRAMED_LOCK:
        hit = _FRAMED.get(key)
    if hit is None:
        hit = apply_framing(req.tokens, req.reference, req.framing)
        with _FRAMED_LOCK:
            _FRAMED.clear()
            _FRAMED[key] = hit
    return hit


def render_preview(req: PreviewRequest, host: RendererHost, cancel: CancelToken) -> PreviewResult:
    cancel.raise_if_cancelled()
    renderer = host.get()
    size = output_size(req.reference, req.long_side)
    tokens = _framed(req)
    rgb = None
    for fr in renderer.render(req.reference, tokens, [req.frame], size=size, cancel=cancel):
        rgb = fr.rgb
    if rgb is None:
        raise UserFacingError(f"{host.label} returned no frame")
    overlay = space = None
    from engine.tokens import retarget

    posed = retarget.apply(tokens, req.reference.rig(), req.frame)  # ~5 ms; also what a click picks
    out_h, out_w = rgb.shape[:2]
    if req.mode == ViewMode.SKELETON:
        overlay = posed
        space = req.reference.size
        # the renderer letterboxes the photo into `size`; map the overlay's space onto the same box
        rw, rh = req.reference.size
        s = min(size[0] / rw, size[1] / rh)
        if abs(size[0] - rw * s) > 1 or abs(size[1] - rh * s) > 1:
            space = (int(round(size[0] / s)), int(round(size[1] / s)))
            overlay = _shift(overlay, (space[0] - rw) / 2, (space[1] - rh) / 2)
    elif req.mode == ViewMode.SIDE_BY_SIDE and req.driver is not None:
        from engine.io.compose import side_by_side

        rgb = side_by_side(req.driver, rgb, rgb.shape[0])
    pick = _pick_map(posed, req.reference.size, (out_w, out_h), rgb)
    return PreviewResult(req.serial, req.generation, req.hard_generation, req.frame, rgb, overlay, space, pick)


def _pick_map(posed: FrameLandmarks, ref_size: tuple[int, int], out_size: tuple[int, int], shown: np.ndarray):
    """Where the posed person is on the shown image: the renderer letterboxes the reference into out_size;
    side by side scales that frame to the shown height and puts it on the right."""
    from studio.picking import PickMap

    (rw, rh), (ow, oh) = ref_size, out_size
    h, w = shown.shape[:2]
    k = h / oh
    s = min(ow / rw, oh / rh)
    ox, oy = (ow - rw * s) / 2 * k + (w - ow * k), (oh - rh * s) / 2 * k
    return PickMap.from_landmarks(posed, s * k, (ox, oy), (w, h))


def _shift(lm: FrameLandmarks, dx: float, dy: float) -> FrameLandmarks:
    out = lm.copy()
    for g in ("body", "face", "left_hand", "right_hand"):
        p = getattr(out, g)
        p[:, 0] += dx
        p[:, 1] += dy
    return out
