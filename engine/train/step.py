"""One training step of X-UniMotion: self-supervised reconstruction of a driving clip from a reference frame.

    loss = flow matching (velocity)  + w_h * heatmap loss (D_h) + w_n * hand-normal loss (D_n)
           + w_p * projection loss (explicit tokens -> the encoder's tokens, for edited token files)

Driving frames are augmented (colour for every crop; colour + spatial distortion for the whole frame that
the body encoder reads), so the tokens cannot carry the performer's looks. The reference and the motion
condition are each dropped with their TrainConfig probability, and both together with p_drop_both (so the
unconditional branch that 3-pass guidance uses is trained; independent drops alone give it 1%):
a dropped reference replaces the DiT's in-context reference tokens by a learned null token (the guidance is
still retargeted onto the real reference: it is part of the motion condition); dropped motion zeroes the
guidance and replaces the face cross-attention context by a learned null context.
The loop, data loading, schedules and logging belong to the trainer (a later issue); this step is what it
and the tests share.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.models.latent_codec import encode_frames
from engine.models.losses import (LossTerms, add_noise, flow_matching_loss, heatmap_loss, normal_loss,
                                  sample_sigmas, velocity_target)
from engine.models.motion_encoder import GROUP_NAMES_CODES, augment_colour, augment_spatial
from engine.models.unimotion import UniMotion


@dataclass
class TrainBatch:
    """Tensors on the model's device. Frames are float in [-1, 1]."""

    reference: torch.Tensor  # (B, 3, H, W): a frame of the same clip (or a re-rendering of it)
    video: torch.Tensor  # (B, T, 3, H, W): the clip to reconstruct, at the model's size
    driving: torch.Tensor  # (B, T, 3, Hd, Wd): the driving frames the motion encoder reads
    boxes: dict[str, torch.Tensor]  # part -> (B, T, 4) crop boxes in driving-frame pixels
    box_valid: dict[str, torch.Tensor]  # part -> (B, T) bool
    heatmaps: torch.Tensor | None = None  # (B, T, J, h, w) targets at latent resolution
    heatmap_weight: torch.Tensor | None = None  # (B, T, J): 0 for untracked joints
    normals: torch.Tensor | None = None  # (B, T, 3, h, w) unit hand normals, 0 off the hands
    tokens: torch.Tensor | None = None  # (B, T, FLAT_DIM) explicit MotionTokens.flat() of the driving clip


def make_optimizer(model: UniMotion) -> torch.optim.Optimizer:
    cfg = model.config.train
    params = [p for p in model.parameters() if p.requires_grad]  # the autoencoder is frozen
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def compute_losses(model: UniMotion, batch: TrainBatch, generator: torch.Generator | None = None,
                   training: bool = True) -> LossTerms:
    """All loss terms for one batch. With training=False: no augmentation, no condition dropout (evaluation).
    Randomness (noise, t, dropout, augmentation) comes from `generator` (a CPU generator)."""
    cfg = model.config.train
    dev = batch.video.device
    b, t = batch.video.shape[:2]

    # 1. latents of the clip and of the reference (the autoencoder is frozen)
    with torch.no_grad():
        x0 = encode_frames(model.codec, batch.video.flatten(0, 1), sample=training, generator=generator)
        x0 = x0.view(b, t, *x0.shape[1:])  # (B, T, C, h, w)
        ref = model.codec.encode(batch.reference)  # (B, C, h, w)

    # 2. motion tokens from augmented driving frames, retargeted onto the reference
    driving, body_frames = batch.driving, None
    if training and cfg.augment:
        driving = augment_colour(driving, cfg.augment_strength, generator)
        body_frames = augment_spatial(driving, cfg.augment_strength, generator)
    codes = model.encode_driving(driving, batch.boxes, batch.box_valid, body_frames)
    guidance = model.motion_guidance(ref, codes)  # (B, T, N, D)

    # 3. flow matching with classifier-free-guidance dropout of each condition
    sigma = sample_sigmas(b, cfg.timestep_sampling, generator).to(dev)  # (B,)
    noise = torch.randn(x0.shape, generator=generator).to(dev, x0.dtype)
    x_t = add_noise(x0, noise, sigma)
    keep_ref = torch.ones(b, dtype=torch.bool, device=dev)
    keep_motion = keep_ref.clone()
    if training:
        both = torch.rand(b, generator=generator) < cfg.p_drop_both  # the unconditional branch, often enough
        keep_ref = (~both & (torch.rand(b, generator=generator) >= cfg.p_drop_reference)).to(dev)
        keep_motion = (~both & (torch.rand(b, generator=generator) >= cfg.p_drop_motion)).to(dev)
    timestep = sigma * model.config.generator.num_train_timesteps
    v = model.velocity(x_t, timestep, ref, guidance, codes.face, keep_ref, keep_motion)
    flow = flow_matching_loss(v, velocity_target(x0, noise))

    # 4. auxiliary decoders on the guidance, when the batch has targets
    zero = flow.new_zeros(())
    heat = norm = proj = zero
    if batch.heatmaps is not None or batch.normals is not None:
        heat_pred, normal_pred = model.aux_maps(guidance, model.grid(ref))
        if batch.heatmaps is not None:
            heat = heatmap_loss(heat_pred, batch.heatmaps, batch.heatmap_weight)
        if batch.normals is not None:
            norm = normal_loss(normal_pred, batch.normals)

    # 5. explicit-token projection distilled from the (detached) learned tokens
    if batch.tokens is not None:
        projected = model.project_tokens(batch.tokens)
        proj = sum(F.mse_loss(getattr(projected, g), getattr(codes, g).detach()) for g in GROUP_NAMES_CODES) / 4

    total = flow + cfg.heatmap_weight * heat + cfg.normal_weight * norm + cfg.projection_weight * proj
    return LossTerms(total=total, flow=flow, heatmap=heat, normal=norm, projection=proj)


@dataclass(frozen=True)
class StepResult:
    losses: dict[str, float]
    grad_norm: float


def train_step(model: UniMotion, optimizer: torch.optim.Optimizer, batch: TrainBatch,
               generator: torch.Generator | None = None) -> StepResult:
    """One optimiser step: losses, backward, gradient clipping, update."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    terms = compute_losses(model, batch, generator, training=True)
    terms.total.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, model.config.train.grad_clip)
    optimizer.step()
    return StepResult(terms.items(), float(grad_norm))


@torch.no_grad()
def evaluate(model: UniMotion, batch: TrainBatch, seed: int = 0) -> dict[str, float]:
    """Losses with fixed noise and t (seeded), no augmentation or dropout: comparable across training."""
    was_training = model.training
    model.eval()
    terms = compute_losses(model, batch, torch.Generator().manual_seed(seed), training=False)
    model.train(was_training)
    return terms.items()
