"""Latent motion retargeting (X-UniMotion, arXiv 2508.09383, sec. 3.2, decoder D in Fig. 2).

A small ViT reads, per frame, the reference image's patch tokens together with the four motion tokens
and outputs one "motion guidance" token per reference patch: the driving motion, already laid out on the
reference person's body. The DiT adds these to its noised video tokens at the input; the auxiliary
decoders (heatmaps, hand normals) supervise them.
"""
from __future__ import annotations

import torch
from torch import nn

from engine.models.config import MotionEncoderConfig, RetargetConfig
from engine.models.layers import ViTBlock, sincos_2d
from engine.models.motion_encoder import MotionCodes

N_MOTION_TOKENS = 4  # body, face, left hand, right hand


class RetargetDecoder(nn.Module):
    """(reference patches, motion tokens) -> spatial motion guidance aligned to the reference."""

    def __init__(self, cfg: RetargetConfig, motion: MotionEncoderConfig, patch_dim: int, out_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.width
        self.ref_in = nn.Linear(patch_dim, d)
        self.body_in = nn.Linear(motion.body_dim, d)
        self.face_in = nn.Linear(motion.face_dim, d)
        self.hand_in = nn.Linear(motion.hand_dim, d)  # shared by both hands, told apart by part_embed
        self.part_embed = nn.Parameter(torch.randn(N_MOTION_TOKENS, d) * 0.02)
        self.blocks = nn.ModuleList([ViTBlock(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm_out = nn.LayerNorm(d)
        self.out = nn.Linear(d, out_dim)

    def forward(self, ref_patches: torch.Tensor, grid: tuple[int, int], codes: MotionCodes) -> torch.Tensor:
        """ref_patches (B, N, C*p*p) of the reference latent on an (h, w) patch grid; codes (B, T, *).
        -> guidance (B, T, N, out_dim)."""
        b, n, _ = ref_patches.shape
        t = len(codes)
        pos = sincos_2d(*grid, self.cfg.width, device=ref_patches.device).to(ref_patches.dtype)  # (N, d)
        ref = self.ref_in(ref_patches) + pos  # (B, N, d)
        ref = ref[:, None].expand(b, t, n, -1).reshape(b * t, n, -1)  # (B*T, N, d): one copy per frame
        motion = torch.stack([self.body_in(codes.body), self.face_in(codes.face),
                              self.hand_in(codes.left_hand), self.hand_in(codes.right_hand)], dim=2)  # (B, T, 4, d)
        motion = (motion + self.part_embed).reshape(b * t, N_MOTION_TOKENS, -1)  # (B*T, 4, d)
        x = torch.cat([motion, ref], dim=1)  # (B*T, 4 + N, d)
        for block in self.blocks:
            x = block(x)  # (B*T, 4 + N, d)
        guidance = self.out(self.norm_out(x[:, N_MOTION_TOKENS:]))  # (B*T, N, out_dim)
        return guidance.view(b, t, n, -1)
