"""Training objectives: rectified-flow matching (velocity prediction) plus the auxiliary map losses.

Forward process, as diffusers' FlowMatchEulerDiscreteScheduler.scale_noise:
    x_t = (1 - t) * x0 + t * noise,   t = sigma in [0, 1],   timestep = t * num_train_timesteps
The model predicts v = dx_t/dt = noise - x0; the scheduler's Euler step is x_{t'} = x_t + (t' - t) * v.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.models.aux_decoders import heatmap_loss, normal_loss  # noqa: F401  (re-exported: all losses here)

LOGIT_NORMAL_MEAN, LOGIT_NORMAL_STD = 0.0, 1.0  # SD3 (Esser et al. 2024, sec. 3.1) logit-normal t sampling


def sample_sigmas(n: int, kind: str = "logit_normal", generator: torch.Generator | None = None) -> torch.Tensor:
    """(n,) noise levels t in (0, 1) for training."""
    if kind == "logit_normal":
        return torch.sigmoid(LOGIT_NORMAL_MEAN + LOGIT_NORMAL_STD * torch.randn(n, generator=generator))
    if kind == "uniform":
        return torch.rand(n, generator=generator).clamp(1e-4, 1 - 1e-4)
    raise ValueError(f"sample_sigmas.kind: unknown {kind!r}")


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - sigma) x0 + sigma noise; sigma (B,) broadcast over the remaining axes."""
    s = sigma.view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def flow_matching_loss(v_pred: torch.Tensor, v_target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(v_pred.float(), v_target.float())


@dataclass
class LossTerms:
    """Scalar tensors; `total` is the weighted sum that is back-propagated."""

    total: torch.Tensor
    flow: torch.Tensor
    heatmap: torch.Tensor
    normal: torch.Tensor
    projection: torch.Tensor

    def items(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach()) for k in ("total", "flow", "heatmap", "normal", "projection")}
