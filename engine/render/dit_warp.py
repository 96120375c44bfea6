"""Where the warp-guided generator works on a frame, and how it samples.

The model (engine/models/warp_dit.py) sees a square crop of `config.size` px around the person: the box of
the posed landmarks (the same ones the instant renderer warps to), enlarged by CROP_MARGIN. Its output is a
residual on the instant render; the residual is resized to the box and added to the full-size instant render
under a feathered mask, so the export keeps the warp's resolution and detail, and nothing outside the box
changes. Training pairs are cut with the same functions (engine/train/data.py), so train and use agree.

Sampling (flow matching in residual space, x0-prediction):
    z_1 = noise * sigma_0                     the instant render (residual 0) noised to sigma_0
    for each sigma_k -> sigma_{k+1}:          explicit sigmas, so 1 to 4 steps are all real steps
        x0 = model(z, sigma_k, ...)           (with compositional guidance when scales != 1)
        v = (z - x0) / sigma_k
        z = z + (sigma_{k+1} - sigma_k) * v   Euler (as diffusers' FlowMatchEulerDiscreteScheduler)
    residual = z at sigma = 0, times `gain` (the preview passes the checkpoint's calibrated residual_gain)
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.jobs import CancelToken, Progress
from engine.models.warp_dit import GATE_REGIONS
from engine.track.types import FrameLandmarks

CROP_MARGIN = 1.3  # box side = this x the larger side of the landmarks' extent
MIN_BOX = 32  # px: a box never shrinks below this (a lost track must not become a 1-px crop)
FEATHER = 0.12  # fraction of the box side over which the pasted residual fades to 0 at the box edge
VISIBLE = 0.3  # body landmarks below this confidence do not widen the box
PREVIEW_SIGMAS = {1: (1.0,), 2: (1.0, 0.5), 3: (1.0, 0.67, 0.33), 4: (1.0, 0.75, 0.5, 0.25)}
TRAIN_SIGMA_LEVELS = (1.0, 0.75, 0.67, 0.5, 0.33, 0.25)  # the preview's levels, seen often in training


@dataclass(frozen=True)
class Box:
    """A square in image pixels: left, top, side (may extend past the image)."""

    x: int
    y: int
    side: int


def person_box(lm: FrameLandmarks, width: int, height: int, visible: np.ndarray | None = None,
               margin: float = CROP_MARGIN) -> Box:
    """The square around the tracked points of `lm` (px of a width x height image), enlarged by margin,
    kept inside the image where it fits. Body joints count when `visible` (N_BODY,) says so (for posed
    landmarks: the joints the photo shows; a retargeted pose has every joint, guessed legs included), else
    by their own confidence. With nothing tracked: the centred square of the image's short side."""
    pts = []
    for group in ("face", "left_hand", "right_hand"):
        p = lm.points(group)[:, :2]
        pts.append(p[np.isfinite(p).all(axis=1)])
    body = lm.body[:, :2]
    seen = visible if visible is not None else lm.body_conf >= VISIBLE
    pts.append(body[np.isfinite(body).all(axis=1) & seen])
    pts = np.concatenate(pts)
    if len(pts) < 2:
        side = min(width, height)
        return Box((width - side) // 2, (height - side) // 2, side)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    side = int(round(max(hi - lo) * margin))
    side = max(MIN_BOX, min(side, max(width, height)))
    x, y = centre[0] - side / 2, centre[1] - side / 2
    # slide into the image where the box fits (less edge padding for the model to see)
    x = min(max(x, 0), width - side) if side <= width else (width - side) / 2
    y = min(max(y, 0), height - side) if side <= height else (height - side) / 2
    return Box(int(round(x)), int(round(y)), side)


def photo_plate(instant, reference) -> np.ndarray:
    """The photo's background with the person taken out (the instant renderer's stage-2 plate), at the photo's
    own size. It is the generator's "aligned" input: what the scene shows behind the person at the frame's box.
    The photo itself would show the person in the photo's own pose there, which self-reenactment pairs reward
    copying (the target frame often is close to the reference frame) and which drags a cross-identity frame
    back towards the photo's pose."""
    plate = instant.analysis(reference).plate
    w, h = reference.size
    if plate.shape[:2] == (h, w):
        return plate
    return cv2.resize(plate, (w, h), interpolation=cv2.INTER_LINEAR)


LAYER_CHANNELS = ("alpha", "inside", "drawn")  # the instant renderer's pixel layers, as one uint8 image


def layer_image(layers: dict) -> np.ndarray:
    """(H, W, 3) uint8 of the instant renderer's layers (InstantRenderer.warp(..., layers=)), one per
    LAYER_CHANNELS, so they crop and resize with crop_square like any frame."""
    return np.stack([layers["alpha"].astype(np.uint8), layers["inside"].astype(np.uint8) * 255,
                     layers["drawn"].astype(np.uint8) * 255], axis=-1)


GATE_OUTLINE = 3 / 128  # half-width of the band along the warped person's outline, as a fraction of the crop


def residual_gate(layers: np.ndarray, gains: tuple[float, ...], outline: float = GATE_OUTLINE) -> np.ndarray:
    """(S, S) float32: how much of the generator's residual each pixel of a crop takes, from the instant
    renderer's layers cropped at the same box ((S, S, 3) uint8, LAYER_CHANNELS) and one gain per GATE_REGIONS:
      background  the photo's own background (no person there, then or now): real pixels, only the camera moved
      hole        the plate where the photo's person was and the posed one is not: inpainted, invented
      person      the warped person away from its outline: photo pixels moved by a near-rigid warp
      outline     a band along the warped person's outline (a limb a few px off shows here first)
      drawn       the drawn hands and forearms (and a band around them): flat, not the photo's
    The regions are soft (alpha is fractional at the edge and after cropping) and sum to 1, drawn over
    outline over the other three. Why: on people it never saw the model hedges, half-erasing a right warp
    towards the background, which costs structure where the warp was right; its repairs pay where the warp
    invents pixels (engine/train/generator.calibrate_gate measures the gains on held-out clips)."""
    if len(gains) != len(GATE_REGIONS):
        raise ValueError(f"residual_gate.gains: one gain per region {GATE_REGIONS}, got {len(gains)}")
    lay = layers.astype(np.float32) / 255.0
    alpha, inside, drawn = lay[..., 0], lay[..., 1], lay[..., 2]
    r = max(1, int(round(outline * layers.shape[0])))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    edge = np.clip(cv2.dilate(alpha, k) - cv2.erode(alpha, k), 0, 1)
    drawn = cv2.dilate(drawn, k)
    rest = (1 - drawn) * (1 - edge)
    parts = (rest * (1 - alpha) * (1 - inside), rest * (1 - alpha) * inside, rest * alpha, (1 - drawn) * edge, drawn)
    gate = np.zeros_like(alpha)
    for g, m in zip(gains, parts):
        gate += float(g) * m
    return gate


def crop_square(rgb: np.ndarray, box: Box, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8: the box, edge pixels repeated where it leaves the image."""
    h, w = rgb.shape[:2]
    pad_l, pad_t = max(0, -box.x), max(0, -box.y)
    pad_r, pad_b = max(0, box.x + box.side - w), max(0, box.y + box.side - h)
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(w, box.x + box.side), min(h, box.y + box.side)
    patch = rgb[y0:y1, x0:x1]
    if pad_l or pad_t or pad_r or pad_b:
        patch = cv2.copyMakeBorder(patch, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if box.side > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interp)


def feather_mask(side: int, feather: float = FEATHER) -> np.ndarray:
    """(side, side) float32: 1 inside, ramping linearly to 0 over the outer `feather` of the box."""
    ramp = max(1.0, side * feather)
    d = np.minimum(np.arange(side) + 0.5, side - np.arange(side) - 0.5) / ramp
    d = np.clip(d, 0, 1).astype(np.float32)
    return np.minimum(d[:, None], d[None, :])


def paste_residual(frame: np.ndarray, residual: np.ndarray, box: Box) -> np.ndarray:
    """frame (H, W, 3) uint8 + residual (S, S, 3) float in [-2, 2] (units of [-1, 1] images), resized to the
    box, feathered and added where the box meets the frame. Returns a new uint8 frame."""
    h, w = frame.shape[:2]
    up = cv2.resize(residual.astype(np.float32), (box.side, box.side), interpolation=cv2.INTER_LINEAR)
    up = up * feather_mask(box.side)[..., None] * 127.5  # to uint8 units
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(w, box.x + box.side), min(h, box.y + box.side)
    out = frame.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    region = out[y0:y1, x0:x1].astype(np.float32) + up[y0 - box.y:y1 - box.y, x0 - box.x:x1 - box.x]
    out[y0:y1, x0:x1] = np.clip(np.round(region), 0, 255).astype(np.uint8)
    return out


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(..., S, S, 3) uint8 -> (..., 3, S, S) float32 in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).float() / 127.5 - 1
    return t.movedim(-1, -3)


def preview_sigmas(steps: int) -> tuple[float, ...]:
    """The noise levels of a 1..4-step preview (explicit: a shifted schedule wastes few steps near 0)."""
    if steps in PREVIEW_SIGMAS:
        return PREVIEW_SIGMAS[steps]
    return tuple(float(s) for s in np.linspace(1.0, 0.0, steps + 1)[:-1])


@dataclass(frozen=True)
class SampleRequest:
    """One batch of crops to refine (tensors on the model's device, [-1, 1])."""

    warp: torch.Tensor  # (B, 3, S, S)
    aligned: torch.Tensor  # (B, 3, S, S) the photo cropped at the warp's box
    reference: torch.Tensor  # (B, 3, S, S)
    motion: torch.Tensor  # (B, M)


@torch.no_grad()
def sample_residual(model, req: SampleRequest, sigmas: tuple[float, ...], *, ref_guidance: float = 1.0,
                    motion_guidance: float = 1.0, generator: torch.Generator | None = None,
                    cancel: CancelToken | None = None, draws: int = 1, gain: float = 1.0):
    """A Job: yields Progress per step (preview: the current x0 estimate), returns the residual x0
    (B, 3, S, S) (float32, CPU), scaled by `gain`.

    Guidance (compositional CFG, Brooks et al. 2023 eq. 3) on the x0 prediction, which is linear in v:
    x0 = x0(-, -) + s_ref [x0(ref, -) - x0(-, -)] + s_motion [x0(ref, motion) - x0(ref, -)]; the warp is
    never dropped (it is the frame's base)."""
    if draws > 1:  # the mean of several samples (noise draws): the posterior mean, what PSNR rewards
        k = draws
        rep = SampleRequest(*(t.repeat_interleave(k, dim=0) for t in (req.warp, req.aligned, req.reference,
                                                                         req.motion)))
        x0 = yield from sample_residual(model, rep, sigmas, ref_guidance=ref_guidance,
                                        motion_guidance=motion_guidance, generator=generator, cancel=cancel,
                                        gain=gain)
        return x0.view(-1, k, *x0.shape[1:]).mean(dim=1)
    b = req.warp.shape[0]
    dev = req.warp.device
    dtype = next(model.parameters()).dtype
    noise = torch.randn(req.warp.shape, generator=generator).to(dev, torch.float32)
    z = noise * sigmas[0]
    guided = ref_guidance != 1.0 or motion_guidance != 1.0
    levels = list(sigmas) + [0.0]
    x0 = torch.zeros_like(z)
    for k, (s, s_next) in enumerate(zip(levels[:-1], levels[1:])):
        if cancel is not None:
            cancel.raise_if_cancelled()
        sig = torch.full((b,), s, device=dev)
        if guided:
            ones, zeros = torch.ones(b, dtype=torch.bool, device=dev), torch.zeros(b, dtype=torch.bool, device=dev)
            out = model(torch.cat([z] * 3).to(dtype), torch.cat([sig] * 3).to(dtype),
                        torch.cat([req.warp] * 3).to(dtype), torch.cat([req.aligned] * 3).to(dtype),
                        torch.cat([req.reference] * 3).to(dtype),
                        torch.cat([req.motion] * 3).to(dtype), torch.cat([zeros, ones, ones]),
                        torch.cat([zeros, zeros, ones])).float()
            none, ref, full = out.chunk(3)
            x0 = none + ref_guidance * (ref - none) + motion_guidance * (full - ref)
        else:
            x0 = model(z.to(dtype), sig.to(dtype), req.warp.to(dtype), req.aligned.to(dtype),
                       req.reference.to(dtype), req.motion.to(dtype)).float()
        if s_next > 0:
            z = z + (s_next - s) * (z - x0) / s
        yield Progress(k + 1, len(sigmas), f"denoising step {k + 1}/{len(sigmas)}", preview=x0 * gain)
    return x0.cpu() * gain
