"""The video Diffusion Transformer (X-UniMotion, arXiv 2508.09383, sec. 3.2; DiT blocks after Peebles & Xie 2023).

Input: noised video latents x_t (B, T, C, H, W) (pixels at tiny sizes), patchified into (B, T, N, D) tokens.
Conditioning, as the paper's Fig. 2 draws it:
  - motion guidance (from the retargeting decoder) is added to the noised video tokens at the input;
  - the reference image's tokens are given to every block in context: each frame's spatial attention
    attends to [its own tokens ; the reference tokens], and the reference stream is updated by the same
    block's self-attention and MLP (computed once, not per frame);
  - the face token z_f enters again through cross-attention (per frame, expanded to a few keys);
  - the timestep conditions every block through adaLN-Zero.
Each block: spatial attention (within a frame, + reference), temporal attention (each patch location across
the frames of the window), face cross-attention, MLP.

Output: the flow-matching velocity v = noise - x0 (x_t = (1 - t) x0 + t noise, as diffusers'
FlowMatchEulerDiscreteScheduler.scale_noise), same shape as x_t. No sampling loop lives here.
"""
from __future__ import annotations

import torch
from torch import nn

from engine.models.config import GeneratorConfig
from engine.models.layers import Attention, Mlp, TimestepEmbedder, modulate, patchify, sincos_1d, sincos_2d, unpatchify

N_MODULATIONS = 9  # shift, scale, gate for spatial attention, temporal attention and MLP


class DiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm_s = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.spatial = Attention(dim, heads)
        self.norm_t = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.temporal = Attention(dim, heads)
        self.norm_c = nn.LayerNorm(dim, eps=1e-6)
        self.face_cross = Attention(dim, heads, zero_out=True)
        self.norm_m = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio)
        self.adaln = nn.Sequential(nn.SiLU(), nn.Linear(dim, N_MODULATIONS * dim))
        nn.init.zeros_(self.adaln[1].weight)  # adaLN-Zero: every block starts as the identity
        nn.init.zeros_(self.adaln[1].bias)

    def forward(self, x: torch.Tensor, ref: torch.Tensor, cond: torch.Tensor,
                face_ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, N, D) video tokens; ref (B, Nr, D) reference tokens; cond (B, D); face_ctx (B, T, K, D)."""
        b, t, n, d = x.shape
        mods = self.adaln(cond)[:, None, None].chunk(N_MODULATIONS, dim=-1)  # 9 x (B, 1, 1, D)
        sh_s, sc_s, g_s, sh_t, sc_t, g_t, sh_m, sc_m, g_m = mods

        # 1. spatial attention within each frame, with the reference tokens in context
        h = modulate(self.norm_s(x), sh_s, sc_s).reshape(b * t, n, d)  # (B*T, N, D)
        r = modulate(self.norm_s(ref), sh_s[:, 0], sc_s[:, 0])  # (B, Nr, D)
        ctx = torch.cat([h, r.repeat_interleave(t, dim=0)], dim=1)  # (B*T, N + Nr, D)
        x = x + g_s * self.spatial(h, ctx).view(b, t, n, d)
        ref = ref + g_s[:, 0] * self.spatial(r)  # (B, Nr, D): the reference stream, once per clip

        # 2. temporal attention: each patch location across the window's frames
        h = modulate(self.norm_t(x), sh_t, sc_t).transpose(1, 2).reshape(b * n, t, d)  # (B*N, T, D)
        x = x + g_t * self.temporal(h).view(b, n, t, d).transpose(1, 2)  # (B, T, N, D)

        # 3. cross-attention to the face token (starts at zero: to_out is zero-initialised)
        h = self.norm_c(x).reshape(b * t, n, d)  # (B*T, N, D)
        x = x + self.face_cross(h, face_ctx.reshape(b * t, -1, d)).view(b, t, n, d)

        # 4. MLP, on the video and the reference streams
        x = x + g_m * self.mlp(modulate(self.norm_m(x), sh_m, sc_m))
        ref = ref + g_m[:, 0] * self.mlp(modulate(self.norm_m(ref), sh_m[:, 0], sc_m[:, 0]))
        return x, ref


class FinalLayer(nn.Module):
    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.adaln = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, out_dim)
        for layer in (self.adaln[1], self.linear):  # the model predicts v = 0 before training
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaln(cond)[:, None, None].chunk(2, dim=-1)  # (B, 1, 1, D) each
        return self.linear(modulate(self.norm(x), shift, scale))  # (B, T, N, out_dim)


class VideoDiT(nn.Module):
    """Predicts the flow-matching velocity of a window of frames."""

    def __init__(self, cfg: GeneratorConfig, face_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        d, c, p = cfg.hidden, cfg.latent_channels, cfg.patch_size
        self.patch_in = nn.Linear(c * p * p, d)  # noised video patches
        self.ref_in = nn.Linear(c * p * p, d)  # clean reference patches
        self.guidance_in = nn.Linear(d, d)  # motion guidance from the retargeting decoder
        self.face_in = nn.Linear(face_dim, cfg.face_context_tokens * d)
        self.null_ref = nn.Parameter(torch.zeros(1, 1, d))  # stands in for a dropped reference (CFG)
        self.null_face = nn.Parameter(torch.zeros(1, 1, cfg.face_context_tokens, d))  # ... a dropped face token
        self.t_embed = TimestepEmbedder(d)
        self.blocks = nn.ModuleList([DiTBlock(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.final = FinalLayer(d, c * p * p)

    def forward(self, x_t: torch.Tensor, timestep: torch.Tensor, reference: torch.Tensor, guidance: torch.Tensor,
                face: torch.Tensor, ref_keep: torch.Tensor | None = None,
                motion_keep: torch.Tensor | None = None) -> torch.Tensor:
        """x_t (B, T, C, H, W); timestep (B,) in scheduler units (sigma * num_train_timesteps);
        reference (B, C, H, W) clean latent; guidance (B, T, N, D); face (B, T, face_dim);
        ref_keep / motion_keep (B,) bool: False drops that condition (classifier-free guidance).
        -> velocity (B, T, C, H, W)."""
        b, t, c, hgt, wid = x_t.shape
        p = self.cfg.patch_size
        grid = (hgt // p, wid // p)
        n, d = grid[0] * grid[1], self.cfg.hidden
        ones = torch.ones(b, dtype=torch.bool, device=x_t.device)
        ref_keep = ones if ref_keep is None else ref_keep
        motion_keep = ones if motion_keep is None else motion_keep
        pos = sincos_2d(*grid, d, device=x_t.device).to(x_t.dtype)  # (N, D)
        pos_t = sincos_1d(torch.arange(t, device=x_t.device), d).to(x_t.dtype)  # (T, D), window-relative

        # inputs: noised video tokens + motion guidance (added at the input, sec. 3.2)
        x = self.patch_in(patchify(x_t, p)) + pos + pos_t[:, None]  # (B, T, N, D)
        m_keep = motion_keep.view(b, 1, 1, 1).to(x.dtype)
        x = x + m_keep * self.guidance_in(guidance)  # (B, T, N, D)

        # in-context reference tokens, or the null token when dropped
        ref = self.ref_in(patchify(reference, p)) + pos  # (B, N, D)
        ref = torch.where(ref_keep.view(b, 1, 1), ref, self.null_ref.to(ref.dtype).expand(b, n, d))

        # face context for the cross-attention, or the null context when motion is dropped
        face_ctx = self.face_in(face).view(b, t, -1, d)  # (B, T, K, D)
        face_ctx = torch.where(motion_keep.view(b, 1, 1, 1), face_ctx, self.null_face.to(face_ctx.dtype))

        cond = self.t_embed(timestep)  # (B, D)
        for block in self.blocks:
            x, ref = block(x, ref, cond, face_ctx)  # (B, T, N, D), (B, N, D)
        out = self.final(x, cond)  # (B, T, N, C*p*p)
        return unpatchify(out, p, grid, c)  # (B, T, C, H, W)
