"""The diffusion renderers behind the same interface as the instant renderer.

`DiTRenderer` (the one the CLI and the studio use): the trained warp-guided generator
(engine/models/warp_dit.py, shipped under assets/generator/). Per frame: the instant render at the output
size, a square crop around the posed person at the model's size (128 px for the shipped model), a residual
sampled from the instant render noised (1-4 steps for the preview, more steps and guidance for the full
render), pasted back into the full-size instant render under a feathered mask (engine/render/dit_warp.py).
Its motion is the instant renderer's (the tokens, retargeted and warped) plus the tokens themselves as a
condition, so every edit to the token curves reaches it. Frames are independent (no temporal attention):
frame i does not depend on which span is rendered.

`PaperDiTRenderer`: the paper's video DiT (engine/models/unimotion.py) with its learned motion encoder;
no trained weights exist for it. Two ways to give it motion:
  - paper mode: `PaperDiTRenderer(checkpoint, driving=DrivingClip(frames, landmarks))`. The learned motion
    encoder reads the driving frames (whole frame + face and hand crops placed from the landmarks).
  - token mode (driving=None): the explicit MotionTokens.flat() channels of each frame are mapped into the
    latent token space by the model's linear TokenProjection. (Placement is not used.)
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
from engine.render.base import RenderEvent, RenderedFrame, Renderer, output_size
from engine.render.dit_pipeline import (DEFAULT_MOTION_GUIDANCE, DEFAULT_REF_GUIDANCE, DEFAULT_STEPS, DrivingClip,
                                        TokenMotion, UniMotionPipeline, rgb_to_tensor, tensor_to_rgb, work_size)
from engine.tokens.reference import Reference
from engine.tokens.schema import MotionTokens


class PaperDiTRenderer(Renderer):
    name = "dit_paper"

    def __init__(self, checkpoint: str | Path | UniMotion, steps: int = DEFAULT_STEPS,
                 driving: DrivingClip | None = None, *, ref_guidance: float = DEFAULT_REF_GUIDANCE,
                 motion_guidance: float = DEFAULT_MOTION_GUIDANCE, seed: int = 0,
                 window: int | None = None, overlap: int | None = None,
                 device: str | torch.device | None = None, scheduler=None) -> None:
        """checkpoint: a .safetensors path from engine.models.checkpoint.save_checkpoint (a missing or
        mismatched file raises UserFacingError), or a UniMotion model in memory."""
        if steps < 1:
            raise ValueError(f"PaperDiTRenderer.steps: must be >= 1, got {steps}")
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


# --- the warp-guided generator ---------------------------------------------------------------------------

PREVIEW_STEPS = 2  # the studio's "DiT Preview"
FULL_STEPS = 8  # "Full Render"
FULL_REF_GUIDANCE = 1.5  # compositional guidance of the full render (the preview uses none)
FULL_MOTION_GUIDANCE = 1.5
BATCH = 8  # crops sampled together
# The full render pastes its residual whole: it is one guided sample that commits to where a limb is, and a
# shrunk copy of it ghosts the limb over the warp's (measured, cross-identity arm error / shoulder width of the
# round-4 model: 0.29 at gain 1, 0.50 at the preview's calibrated 0.4; the instant render 0.40).
FULL_RESIDUAL_GAIN = 1.0
PREVIEW_DRAWS = 4  # the preview averages this many samples (noise draws): measured +0.05-0.1 dB and SSIM


class DiTRenderer(Renderer):
    """The warp-guided generator: instant render + a learned residual on a crop around the person."""

    name = "dit"

    def __init__(self, checkpoint: str | Path | None = None, steps: int = PREVIEW_STEPS, *,
                 ref_guidance: float = 1.0, motion_guidance: float = 1.0, seed: int = 0,
                 device: str | torch.device | None = None, batch: int = BATCH, draws: int = 1,
                 residual_gain: float | None = None) -> None:
        """checkpoint: a generator .safetensors (engine.models.checkpoint.save_generator), a WarpDiT in memory,
        or None for find_checkpoint() (the shipped model). Steps 1-4 use the preview's noise levels.
        residual_gain: what the sampled residual is scaled by before it is pasted, everywhere; None: the
        checkpoint's calibration, measured for the preview's mean of samples: its residual gate when it has one
        (WarpDiTConfig.residual_gate: a gain per kind of instant-render pixel, engine/render/dit_warp.residual_gate),
        else its one residual_gain."""
        from engine.models.checkpoint import CheckpointError, find_checkpoint, load_generator
        from engine.models.warp_dit import WarpDiT
        from engine.render.dit_pipeline import select_device
        from engine.render.instant.renderer import InstantRenderer

        if steps < 1:
            raise ValueError(f"DiTRenderer.steps: must be >= 1, got {steps}")
        if checkpoint is None:
            checkpoint = find_checkpoint()
            if checkpoint is None:
                raise CheckpointError("no generator checkpoint found (assets/generator/ is missing its "
                                      ".safetensors; set UNIMOTION_CHECKPOINT or pass --checkpoint)")
        self.device, dtype = select_device(device)
        model = checkpoint if isinstance(checkpoint, WarpDiT) else load_generator(checkpoint)
        if not isinstance(model, WarpDiT):
            raise CheckpointError(f"{Path(str(checkpoint)).name} holds the paper's UniMotion DiT, which has no "
                                  "trained weights; use PaperDiTRenderer for it")
        self.model = model.to(self.device, dtype).eval()
        if draws < 1:
            raise ValueError(f"DiTRenderer.draws: must be >= 1, got {draws}")
        self.steps, self.seed, self.batch, self.draws = steps, seed, batch, draws
        self.residual_gain = model.config.residual_gain if residual_gain is None else float(residual_gain)
        if not self.residual_gain > 0:
            raise ValueError(f"DiTRenderer.residual_gain: must be > 0, got {residual_gain!r}")
        self.residual_gate = model.config.residual_gate if residual_gain is None else ()
        self.ref_guidance, self.motion_guidance = ref_guidance, motion_guidance
        self.instant = InstantRenderer()
        self._ref_crops: dict[str, torch.Tensor] = {}

    @property
    def size(self) -> int:
        """The square crop side the model works at, px."""
        return self.model.config.size

    def sigmas(self) -> tuple[float, ...]:
        from engine.render.dit_warp import preview_sigmas

        return preview_sigmas(self.steps)

    def _reference_crop(self, reference: Reference) -> torch.Tensor:
        from engine.render.dit_warp import crop_square, person_box, to_tensor

        hit = self._ref_crops.get(reference.key)
        if hit is None:
            w, h = reference.size
            crop = crop_square(reference.rgb, person_box(reference.landmarks, w, h), self.size)
            hit = to_tensor(crop).to(self.device)
            self._ref_crops = {reference.key: hit}  # one photo at a time: the studio edits one
        return hit

    def stream(self, reference: Reference, motion: MotionTokens, indices: Sequence[int], *,
               size: tuple[int, int] | int | None = None,
               cancel: CancelToken | None = None) -> Iterator[RenderEvent]:
        """Progress per denoising step of each batch (with the batch's first frame as preview), then the
        batch's frames, in order."""
        from engine.jobs import Progress
        from engine.render.dit_warp import (VISIBLE, SampleRequest, crop_square, layer_image, paste_residual,
                                            person_box, photo_plate, residual_gate, sample_residual, to_tensor)
        from engine.tokens import retarget
        from engine.train.data import motion_vector

        indices = [int(i) for i in indices]
        for i in indices:
            if not 0 <= i < len(motion):
                raise UserFacingError(f"Frame {i} is outside the motion clip (0..{len(motion) - 1}).")
        out_w, out_h = output_size(reference, size)
        rig = reference.rig()
        ref_crop = self._reference_crop(reference)
        plate = photo_plate(self.instant, reference)
        visible = reference.landmarks.body_conf >= VISIBLE
        to_out = _letterbox(reference.size, (out_w, out_h))
        steps = len(self.sigmas())
        for start in range(0, len(indices), self.batch):
            chunk = indices[start:start + self.batch]
            warps, boxes, crops, aligned, motions, gates = [], [], [], [], [], []
            for i in chunk:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                target = retarget.apply(motion.frame(i), rig)
                layers: dict | None = {} if self.residual_gate else None
                warp = self.instant.warp(reference, target, (out_w, out_h), layers=layers)
                ref_box = person_box(target, *reference.size, visible)  # in the photo's pixels
                box = to_out(ref_box)
                if layers is not None:
                    gates.append(residual_gate(crop_square(layer_image(layers), box, self.size), self.residual_gate))
                warps.append(warp)
                boxes.append(box)
                crops.append(crop_square(warp, box, self.size))
                aligned.append(crop_square(plate, ref_box, self.size))
                motions.append(motion_vector(motion, i, motion.placement[i]))
            dtype = next(self.model.parameters()).dtype
            req = SampleRequest(to_tensor(np.stack(crops)).to(self.device, dtype),
                                to_tensor(np.stack(aligned)).to(self.device, dtype),
                                ref_crop[None].expand(len(chunk), -1, -1, -1).to(dtype),
                                torch.from_numpy(np.stack(motions)).to(self.device, dtype))
            gen = torch.Generator().manual_seed(self.seed * 100_003 + chunk[0])
            job = sample_residual(self.model, req, self.sigmas(), ref_guidance=self.ref_guidance,
                                  motion_guidance=self.motion_guidance, generator=gen, cancel=cancel,
                                  draws=self.draws, gain=1.0 if gates else self.residual_gain)
            gate = torch.from_numpy(np.stack(gates))[:, None] if gates else None  # (B, 1, S, S)
            while True:
                try:
                    p = next(job)
                except StopIteration as stop:
                    residual = stop.value
                    break
                est = p.preview[:1].float().cpu() * (gate[:1] if gate is not None else 1.0)
                first = est[0].permute(1, 2, 0).numpy()  # (S, S, 3)
                yield Progress(start * steps + p.done * len(chunk), len(indices) * steps,
                               f"DiT frames {chunk[0]}-{chunk[-1]}: {p.message}",
                               preview=paste_residual(warps[0], first, boxes[0]))
            if gate is not None:
                residual = residual * gate
            res = residual.permute(0, 2, 3, 1).numpy()  # (B, S, S, 3)
            for i, warp, box, r in zip(chunk, warps, boxes, res):
                yield RenderedFrame(i, paste_residual(warp, r, box))


def _letterbox(src: tuple[int, int], dst: tuple[int, int]):
    """Map a Box in the reference photo's pixels to the output frame (the instant renderer letterboxes the
    photo into the output size, centred, aspect kept)."""
    from engine.render.dit_warp import Box

    (sw, sh), (dw, dh) = src, dst
    s = min(dw / sw, dh / sh)
    ox, oy = (dw - int(round(sw * s))) // 2, (dh - int(round(sh * s))) // 2

    def f(box: Box) -> Box:
        return Box(int(round(box.x * s + ox)), int(round(box.y * s + oy)), max(1, int(round(box.side * s))))
    return f


def make_dit_renderer(checkpoint: str | Path | None, steps: int, full: bool) -> Renderer:
    """The registry's DiT entries: the preview (no guidance) or the full render (guided), for the checkpoint
    given or the one find_checkpoint() finds. A paper-architecture (UniMotion) checkpoint gets the
    PaperDiTRenderer in token mode."""
    from engine.models.checkpoint import CHECKPOINT_FORMAT, checkpoint_format, find_checkpoint

    checkpoint = checkpoint or find_checkpoint()
    if not checkpoint:
        raise UserFacingError("the DiT renderer needs a generator checkpoint: none in assets/generator/ "
                              "(pass --checkpoint or set UNIMOTION_CHECKPOINT)")
    fmt, _ = checkpoint_format(checkpoint)
    if fmt == CHECKPOINT_FORMAT:
        return PaperDiTRenderer(checkpoint, steps=steps)
    if full:
        return DiTRenderer(checkpoint, steps, ref_guidance=FULL_REF_GUIDANCE, motion_guidance=FULL_MOTION_GUIDANCE,
                           residual_gain=FULL_RESIDUAL_GAIN)
    return DiTRenderer(checkpoint, steps, draws=PREVIEW_DRAWS)
