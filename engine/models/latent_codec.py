"""Where the DiT works: raw pixels (tiny preset) or the latents of a diffusers AutoencoderKL.

The autoencoder is built from GeneratorConfig.vae with random initialisation; nothing is downloaded. A random
VAE reconstructs nothing useful: a real model needs it trained (or a compatible pretrained VAE loaded into it
from a local file) before the DiT is trained on its latents. That is a later issue.
Frames are float (N, 3, H, W) in [-1, 1]; latents are (N, C, H / f, W / f).
"""
from __future__ import annotations

import torch
from torch import nn

from engine.models.config import GeneratorConfig


class PixelCodec(nn.Module):
    """The identity: the DiT denoises pixels directly (tiny sizes only)."""

    channels = 3
    downsample = 1

    def encode(self, frames: torch.Tensor, generator: torch.Generator | None = None,
               sample: bool = False) -> torch.Tensor:
        return frames

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return latents


class VAECodec(nn.Module):
    """diffusers' AutoencoderKL, random init; latents are scaled by VAEConfig.scaling_factor."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        from diffusers import AutoencoderKL  # lazy: diffusers is slow to import and the pixel path skips it

        v = cfg.vae
        n = len(v.channels)
        self.vae = AutoencoderKL(
            in_channels=3, out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=v.channels, layers_per_block=v.layers_per_block, latent_channels=v.latent_channels,
            norm_num_groups=v.norm_groups, sample_size=cfg.sample_size, scaling_factor=v.scaling_factor,
        )
        self.scaling_factor = v.scaling_factor
        self.channels = v.latent_channels
        self.downsample = v.downsample

    def encode(self, frames: torch.Tensor, generator: torch.Generator | None = None,
               sample: bool = False) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C, H/f, W/f); the posterior's mode unless `sample`."""
        dist = self.vae.encode(frames).latent_dist
        z = dist.sample(generator=generator) if sample else dist.mode()
        return z * self.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents / self.scaling_factor).sample  # (N, 3, H, W)


def build_codec(cfg: GeneratorConfig) -> PixelCodec | VAECodec:
    return PixelCodec() if cfg.latent == "pixels" else VAECodec(cfg)


def encode_frames(codec: nn.Module, frames: torch.Tensor, chunk: int = 8, **kwargs) -> torch.Tensor:
    """Encode (N, 3, H, W) a few frames at a time (bounded activation memory)."""
    return torch.cat([codec.encode(frames[i:i + chunk], **kwargs) for i in range(0, len(frames), chunk)])


def decode_latents(codec: nn.Module, latents: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """Decode (N, C, h, w) a few frames at a time (bounded activation memory)."""
    return torch.cat([codec.decode(latents[i:i + chunk]) for i in range(0, len(latents), chunk)])
