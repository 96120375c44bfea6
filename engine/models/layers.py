"""Building blocks shared by the networks: attention, MLP, adaLN modulation, sin-cos embeddings, patchify."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

TIMESTEP_FREQ_DIM = 256  # width of the sinusoidal timestep features (DiT, Peebles & Xie 2023, sec. 3.2)


# --- position and timestep embeddings ---------------------------------------------------------------------

def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(L,) positions -> (L, dim) fixed sin-cos features (Vaswani et al. 2017)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    angles = positions.float()[:, None] * freqs[None]  # (L, half)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)  # (L, dim)


def sincos_2d(h: int, w: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(h*w, dim) 2D sin-cos position embedding, half the channels for rows, half for columns (as in DiT).
    Fixed, so any frame size works without interpolating a learned table."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.cat([sincos_1d(ys.flatten(), dim // 2), sincos_1d(xs.flatten(), dim // 2)], dim=1)


class TimestepEmbedder(nn.Module):
    """Scheduler timestep (0..num_train_timesteps) -> (B, dim) conditioning vector."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(TIMESTEP_FREQ_DIM, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, timestep: torch.Tensor) -> torch.Tensor:
        freqs = sincos_1d(timestep, TIMESTEP_FREQ_DIM)  # (B, 256)
        return self.mlp(freqs.to(self.mlp[0].weight.dtype))  # (B, dim)


# --- attention and MLP ----------------------------------------------------------------------------------

class Attention(nn.Module):
    """Multi-head attention; self-attention when `context` is None, cross-attention otherwise."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None, zero_out: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim)
        self.to_out = nn.Linear(dim, dim)
        if zero_out:  # the block starts as the identity (adaLN-Zero style)
            nn.init.zeros_(self.to_out.weight)
            nn.init.zeros_(self.to_out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        ctx = x if context is None else context
        q = self.to_q(x).view(b, n, self.heads, -1).transpose(1, 2)  # (B, H, N, d/H)
        k, v = self.to_kv(ctx).view(b, ctx.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)  # (B, H, S, d/H)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, N, d/H)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))  # (B, N, D)


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class ViTBlock(nn.Module):
    """Pre-norm transformer block (self-attention + MLP)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: x * (1 + scale) + shift, with shift/scale broadcast over the token axes."""
    return x * (1 + scale) + shift


# --- patches --------------------------------------------------------------------------------------------

def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(..., C, H, W) -> (..., H/p * W/p, C*p*p), patches in row-major order."""
    *lead, c, h, w = x.shape
    if h % p or w % p:
        raise ValueError(f"patchify: frame {h}x{w} is not a multiple of the patch size {p}")
    x = x.reshape(-1, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # (L, h, w, C, p, p)
    return x.reshape(*lead, (h // p) * (w // p), c * p * p)


def unpatchify(tokens: torch.Tensor, p: int, grid: tuple[int, int], channels: int) -> torch.Tensor:
    """(..., h*w, C*p*p) -> (..., C, h*p, w*p); the inverse of `patchify`."""
    *lead, n, _ = tokens.shape
    h, w = grid
    x = tokens.reshape(-1, h, w, channels, p, p).permute(0, 3, 1, 4, 2, 5)  # (L, C, h, p, w, p)
    return x.reshape(*lead, channels, h * p, w * p)
