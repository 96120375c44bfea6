"""The X-UniMotion model: the networks of Fig. 2 (arXiv 2508.09383) under one module, no sampling loop.

    driving frame --E, E_f, E_h--> 4 motion tokens --D (+ reference patches)--> motion guidance
    motion guidance --> D_h (joint heatmaps), D_n (hand normals)              [training signal only]
    noised video + guidance, reference in context, z_f by cross-attention --DiT--> velocity

An edited token file takes the encoder's place through `TokenProjection`. Sampling lives in
engine/render/dit_pipeline.py, training in engine/train/step.py. No trained weights exist yet.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from engine.models.aux_decoders import HeatmapDecoder, NormalDecoder
from engine.models.config import UniMotionConfig
from engine.models.dit import VideoDiT
from engine.models.latent_codec import build_codec
from engine.models.layers import patchify
from engine.models.motion_encoder import MotionCodes, MotionEncoder, TokenProjection
from engine.models.retarget_decoder import RetargetDecoder


class UniMotion(nn.Module):
    def __init__(self, config: UniMotionConfig) -> None:
        super().__init__()
        self.config = config
        g = config.generator
        patch_dim = g.latent_channels * g.patch_size ** 2
        self.codec = build_codec(g)
        self.codec.requires_grad_(False)  # the autoencoder is trained apart from (before) the DiT
        self.motion_encoder = MotionEncoder(config.motion)
        self.token_projection = TokenProjection(config.motion)
        self.retarget = RetargetDecoder(config.retarget, config.motion, patch_dim, g.hidden)
        self.dit = VideoDiT(g, config.motion.face_dim)
        self.heatmap_decoder = HeatmapDecoder(g.hidden, config.aux.hidden, g.patch_size)
        self.normal_decoder = NormalDecoder(g.hidden, config.aux.hidden, g.patch_size)

    def grid(self, latent: torch.Tensor) -> tuple[int, int]:
        """The patch grid (h, w) of a latent (..., C, H, W)."""
        p = self.config.generator.patch_size
        return latent.shape[-2] // p, latent.shape[-1] // p

    # 1. motion tokens: learned (paper) or projected from explicit channels (edited token files)
    def encode_driving(self, frames: torch.Tensor, boxes: Mapping[str, torch.Tensor],
                       valid: Mapping[str, torch.Tensor], body_frames: torch.Tensor | None = None) -> MotionCodes:
        return self.motion_encoder(frames, boxes, valid, body_frames)

    def project_tokens(self, flat: torch.Tensor) -> MotionCodes:
        return self.token_projection(flat)

    # 2. latent motion retargeting onto the reference
    def motion_guidance(self, ref_latent: torch.Tensor, codes: MotionCodes) -> torch.Tensor:
        """ref_latent (B, C, H, W) -> guidance (B, T, N, hidden)."""
        ref_patches = patchify(ref_latent, self.config.generator.patch_size)  # (B, N, C*p*p)
        return self.retarget(ref_patches, self.grid(ref_latent), codes)

    # 3. the denoiser
    def velocity(self, x_t: torch.Tensor, timestep: torch.Tensor, ref_latent: torch.Tensor, guidance: torch.Tensor,
                 face: torch.Tensor, ref_keep: torch.Tensor | None = None,
                 motion_keep: torch.Tensor | None = None) -> torch.Tensor:
        return self.dit(x_t, timestep, ref_latent, guidance, face, ref_keep, motion_keep)

    # 4. auxiliary maps (training signal)
    def aux_maps(self, guidance: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> heatmaps (B, T, J, H, W), normals (B, T, 3, H, W) at latent resolution."""
        return self.heatmap_decoder(guidance, grid), self.normal_decoder(guidance, grid)


def parameter_counts(model: UniMotion) -> dict[str, int]:
    """Parameters per component and in total."""
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    counts["total"] = sum(counts.values())
    return counts
