"""The diffusion renderer: the X-UniMotion video DiT behind the same interface as the instant renderer.

Two ways to give it motion:
  - paper mode: `DiTRenderer(checkpoint, driving=DrivingClip(frames, landmarks))`. The learned motion encoder
    reads the driving frames (whole frame + face and hand crops placed from the landmarks). The MotionTokens
    passed to `render` then only set which frames exist; edits to their values have no effect.
  - token mode (driving=None): the explicit MotionTokens.flat() channels of each frame are mapped into the
    latent token space by the model's linear TokenProjection, so an edited token file drives the DiT.
    (Placement dx/dy/scale and per-group confidence are not used.)

There is NO trained checkpoint yet (training on real data is a later issue). A checkpoint saved from a
freshly built model loads and runs, but its frames are noise-like and mean nothing.

`render` generates the span min(indices)..max(indices) as one clip (overlapping windows, see dit_pipeline),
then yields the requested frames; a frame's initial noise depends only on the seed and its clip index, but
its content depends on the span around it (temporal attention). Use `render_job` for progress and previews.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import UserFacingError
from engine.jobs import CancelToken, Job, drain
from engine.models.checkpoint import load_checkpoint
from engine.models.unimotion import UniMotion
from engine.render.base import Reference, RenderEvent, RenderedFrame, Renderer, output_size
from engine.render.dit_pipeline import (DEFAULT_MOTION_GUIDANCE, DEFAULT_REF_GUIDANCE, DEFAULT_STEPS, DrivingClip,
                                        TokenMotion, UniMotionPipeline, rgb_to_tensor, tensor_to_rgb, work_size)
from engine.tokens.schema import MotionTokens


class DiTRenderer(Renderer):
    name = "dit"

    def __init__(self, checkpoint: str | Path | UniMotion, steps: int = DEFAULT_STEPS,
                 driving: DrivingClip | None = None, *, ref_guidance: float = DEFAULT_REF_GUIDANCE,
                 motion_guidance: float = DEFAULT_MOTION_GUIDANCE, seed: int = 0,
                 window: int | None = None, overlap: int | None = None,
                 device: str | torch.device | None = None, scheduler=None) -> None:
        """checkpoint: a .safetensors path from engine.models.checkpoint.save_checkpoint (a missing or
        mismatched file raises UserFacingError), or a UniMotion model in memory."""
        if steps < 1:
            raise ValueError(f"DiTRenderer.steps: must be >= 1, got {steps}")
        model = checkpoint if isinstance(checkpoint, UniMotion) else load_checkpoint(checkpoint)
        self.pipeline = UniMotionPipeline(model, scheduler=scheduler, device=device)
        self.steps, self.driving, self.seed = steps, driving, seed
        self.ref_guidance, self.motion_guidance = ref_guidance, motion_guidance
        self.window, self.overlap = window, overlap

    @property
    def mode(self) -> str:
        """"driving" (learned encoder on driving frames) or "tokens" (projection of explicit tokens)."""
        return "tokens" if self.driving is None else "driving"

    def render(self, reference: Reference, motion: MotionTokens, indices: Sequence[int], *,
               size: tuple[int, int] | None = None, cancel: CancelToken | None = None) -> Iterator[RenderedFrame]:
        frames = drain(self.render_job(reference, motion, indices, size=size, cancel=cancel))
        for fr in frames:
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield fr

    def stream(self, reference: Reference, motion: MotionTokens, indices: Sequence[int], *,
               size: tuple[int, int] | None = None, cancel: CancelToken | None = None) -> Iterator[RenderEvent]:
        """The Renderer job: the sampler's Progress (with previews) during denoising, then the frames. The
        sampler returns the span as one array (its windows share every step), so frames follow it."""
        frames = yield from self.render_job(reference, motion, indices, size=size, cancel=cancel)
        for fr in frames:
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield fr

    def render_job(self, reference: Reference, motion: MotionTokens, indices: Sequence[int], *,
                   size: tuple[int, int] | int | None = None,
                   cancel: CancelToken | None = None) -> Job[list[RenderedFrame]]:
        """The same as `render`, as a job: yields Progress (with preview frames), returns the frames."""
        indices = [int(i) for i in indices]
        if not indices:
            return []
        lo, hi = min(indices), max(indices) + 1
        length = len(motion) if self.driving is None else len(self.driving)
        if lo < 0 or hi > length:
            raise UserFacingError(f"Frame {lo if lo < 0 else hi - 1} is outside the motion clip (0..{length - 1}).")
        out_w, out_h = output_size(reference, size)
        work = work_size(out_w, out_h, self.pipeline.config.generator)
        if self.driving is not None:
            source: DrivingClip | TokenMotion = self.driving.slice(lo, hi)
        else:
            source = TokenMotion.from_tokens(motion.slice(lo, hi))
        frames = yield from self.pipeline(
            reference.rgb, source, size=work, steps=self.steps, ref_guidance=self.ref_guidance,
            motion_guidance=self.motion_guidance, window=self.window, overlap=self.overlap, seed=self.seed,
            first_frame=lo, cancel=cancel, reference_key=reference.key)
        frames = _resize(frames, out_w, out_h)
        return [RenderedFrame(i, frames[i - lo]) for i in indices]


def _resize(frames: np.ndarray, w: int, h: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, h, w, 3) uint8, bilinear (anti-aliased when shrinking)."""
    if frames.shape[1:3] == (h, w):
        return frames
    x = torch.stack([rgb_to_tensor(f) for f in frames])  # (T, 3, H, W)
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=h < x.shape[-2])
    return tensor_to_rgb(x)
