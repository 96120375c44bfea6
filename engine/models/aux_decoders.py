"""Dual decoding of the motion guidance (X-UniMotion, arXiv 2508.09383, sec. 3.3: D_h and D_n in Fig. 2).

Two small decoders read the motion guidance tokens (not the raw motion tokens) and predict, per frame,
2D joint heatmaps (body and both hands) and a hand normal map. Their losses teach the guidance where the
joints are and which way the palms face. Both maps are at the latent grid's resolution (H/f, W/f).

Targets: `joint_heatmaps` builds Gaussian heatmaps from normalised 2D points. Hand normal-map targets need
a hand mesh fitted to the tracked skeleton and rendered; that belongs to the data pipeline (a later issue),
so `normal_loss` only takes them as given: (3, h, w) unit normals, zero where there is no hand.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.layers import unpatchify
from engine.track.landmarks import N_BODY, N_HAND

N_HEATMAP_JOINTS = N_BODY + 2 * N_HAND  # channel order: body (33), left hand (21), right hand (21)
NORMAL_CHANNELS = 3  # x right, y down, z towards the camera
NORMAL_MASK_MIN = 0.5  # target pixels whose normal is shorter than this are "no hand" and not scored


class MapDecoder(nn.Module):
    """Guidance tokens (B, T, N, D) -> per-frame maps (B, T, out, h*q, w*q): an MLP per token, unpatchified."""

    def __init__(self, in_dim: int, hidden: int, out_channels: int, patch: int) -> None:
        super().__init__()
        self.out_channels, self.patch = out_channels, patch
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, out_channels * patch ** 2))

    def forward(self, guidance: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        out = self.net(guidance)  # (B, T, N, out*q*q)
        return unpatchify(out, self.patch, grid, self.out_channels)  # (B, T, out, h*q, w*q)


class HeatmapDecoder(MapDecoder):
    """D_h: one heatmap per body and hand joint (N_HEATMAP_JOINTS channels)."""

    def __init__(self, in_dim: int, hidden: int, patch: int) -> None:
        super().__init__(in_dim, hidden, N_HEATMAP_JOINTS, patch)


class NormalDecoder(MapDecoder):
    """D_n: a hand normal map (3 channels, unit length after `normal_loss`'s normalisation)."""

    def __init__(self, in_dim: int, hidden: int, patch: int) -> None:
        super().__init__(in_dim, hidden, NORMAL_CHANNELS, patch)


# --- targets and losses ---------------------------------------------------------------------------------

def joint_heatmaps(points: torch.Tensor, visible: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """Gaussian heatmaps. points (..., J, 2) normalised x, y in [0, 1] (x right, y down); visible (..., J);
    size (h, w); sigma in heatmap pixels. -> (..., J, h, w), peak 1 at each visible joint, 0 elsewhere."""
    h, w = size
    ys = (torch.arange(h, dtype=torch.float32, device=points.device) + 0.5)  # pixel centres
    xs = (torch.arange(w, dtype=torch.float32, device=points.device) + 0.5)
    px = points[..., 0:1] * w  # (..., J, 1)
    py = points[..., 1:2] * h
    gx = torch.exp(-((xs - px) ** 2) / (2 * sigma ** 2))  # (..., J, w)
    gy = torch.exp(-((ys - py) ** 2) / (2 * sigma ** 2))  # (..., J, h)
    maps = gy[..., :, None] * gx[..., None, :]  # (..., J, h, w)
    ok = (visible > 0) & torch.isfinite(points).all(dim=-1)
    return torch.where(ok[..., None, None], torch.nan_to_num(maps), torch.zeros_like(maps))


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over pixels, per joint weighted (0 for an untracked joint). pred/target
    (B, T, J, h, w); weight (B, T, J)."""
    per_joint = ((pred - target) ** 2).mean(dim=(-2, -1))  # (B, T, J)
    if weight is None:
        return per_joint.mean()
    return (per_joint * weight).sum() / weight.sum().clamp_min(1.0)


def normal_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity over hand pixels. pred/target (B, T, 3, h, w); target pixels with
    |n| < NORMAL_MASK_MIN are ignored. Zero when no pixel is a hand."""
    mask = (target.norm(dim=2) >= NORMAL_MASK_MIN).to(pred.dtype)  # (B, T, h, w)
    cos = F.cosine_similarity(pred, target, dim=2, eps=1e-6)  # (B, T, h, w)
    return ((1 - cos) * mask).sum() / mask.sum().clamp_min(1.0)
