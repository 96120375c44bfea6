"""Sampling a video with the X-UniMotion DiT: reference photo + motion -> frames.

The run is a generator (an engine.jobs.Job): it yields Progress after every denoising step, with a preview
(the current estimate of the first frame, RGB uint8) as `preview`, checks the CancelToken between steps
(and between windows) and returns the frames, (T, H, W, 3) uint8. The stages:

    1. prepare reference   the photo, letterboxed to the working size, encoded to a latent
    2. encode motion       MotionCodes from driving frames (learned encoder) or explicit tokens (projection)
    3. prepare latents     Gaussian noise, seeded per absolute frame index (a frame's noise does not depend
                           on which span of the clip is rendered)
    4. denoise             the scheduler's loop (diffusers' FlowMatchEulerDiscreteScheduler unless another is
                           given) over overlapping temporal windows, with two classifier-free guidance scales
    5. decode              latents -> RGB, a few frames at a time

Any clip length with bounded memory: the DiT only ever sees one window of frames. Neighbouring windows
overlap, and at EVERY STEP their velocity predictions are crossfaded linearly over the overlapping frames in
latent space (weights ramp from one window to the next and sum to 1 per frame) before the one scheduler step
on the whole clip's latents. The seams are therefore blended throughout denoising, not patched afterwards.
The clip-wide state is just the latents (T x C x h x w) and the small motion codes.

Guidance: v = v(-, -) + s_ref [v(ref, -) - v(-, -)] + s_motion [v(ref, motion) - v(ref, -)]
(compositional CFG as in InstructPix2Pix, Brooks et al. 2023, eq. 3); three passes in one batch, one pass
when both scales are 1.

No trained checkpoint exists yet: with random weights the frames are noise-like and mean nothing.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from engine.jobs import CancelToken, Job, Progress
from engine.models.config import GeneratorConfig, UniMotionConfig
from engine.models.latent_codec import decode_latents
from engine.models.motion_encoder import (PARTS, FLAT_DIM, MotionCodes, boxes_to_tensor, crop_boxes_from_landmarks,
                                          crop_resize, letterbox_box)
from engine.models.unimotion import UniMotion
from engine.tokens.schema import MotionTokens
from engine.track.types import FrameLandmarks

DEFAULT_STEPS = 20
DEFAULT_REF_GUIDANCE = 1.5  # untuned: there is no trained model to tune them on
DEFAULT_MOTION_GUIDANCE = 2.0
GUIDANCE_CACHE_BYTES = 256 * 2 ** 20  # per-window motion guidance is kept across steps while it fits in this
REFERENCE_CACHE_SIZE = 4  # prepared reference latents kept per pipeline (keyed by Reference.key and size)
DECODE_CHUNK = 4  # frames decoded at once
FEW_STEPS = 4  # up to this many steps, explicit sigmas (see UniMotionPipeline._set_timesteps)


# --- inputs ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DrivingClip:
    """Driving frames and their tracked landmarks (paper mode: the learned motion encoder reads them)."""

    frames: Sequence[np.ndarray]  # T frames, (H, W, 3) uint8
    landmarks: Sequence[FrameLandmarks]  # T

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.landmarks):
            raise ValueError(f"DrivingClip.landmarks: {len(self.landmarks)} entries for {len(self.frames)} frames")

    def __len__(self) -> int:
        return len(self.frames)

    def slice(self, start: int, stop: int) -> "DrivingClip":
        return DrivingClip(self.frames[start:stop], self.landmarks[start:stop])


@dataclass(frozen=True)
class TokenMotion:
    """Explicit per-frame tokens, MotionTokens.flat() (T, FLAT_DIM), mapped into the token space linearly."""

    flat: np.ndarray

    def __post_init__(self) -> None:
        if self.flat.ndim != 2 or self.flat.shape[1] != FLAT_DIM:
            raise ValueError(f"TokenMotion.flat: needs shape (T, {FLAT_DIM}), got {self.flat.shape}")

    def __len__(self) -> int:
        return int(self.flat.shape[0])

    @classmethod
    def from_tokens(cls, tokens: MotionTokens) -> "TokenMotion":
        return cls(tokens.flat().astype(np.float32))


MotionInput = DrivingClip | TokenMotion


# --- helpers --------------------------------------------------------------------------------------------

def select_device(device: str | torch.device | None = None) -> tuple[torch.device, torch.dtype]:
    """CUDA with bf16 (fp16 where bf16 is unsupported) when present, else CPU float32."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type != "cuda":
        return dev, torch.float32
    return dev, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def work_size(out_w: int, out_h: int, cfg: GeneratorConfig) -> tuple[int, int]:
    """The (w, h) the model generates at: the output's aspect, long side ~ cfg.sample_size, multiples of
    cfg.multiple (latent downsampling x patch)."""
    m, scale = cfg.multiple, cfg.sample_size / max(out_w, out_h)
    return max(m, int(round(out_w * scale / m)) * m), max(m, int(round(out_h * scale / m)) * m)


def temporal_windows(length: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """[start, stop) windows of `window` frames, `overlap` shared between neighbours; the last is aligned to
    the clip's end (it may overlap its neighbour more). A clip shorter than a window is one window."""
    if length <= window:
        return [(0, length)]
    stride = window - overlap
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return [(s, s + window) for s in starts]


def window_weights(windows: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
    """Per window, (len,) crossfade weights: linear ramps over the frames shared with the previous and the
    next window, normalised so that every frame's weights sum to 1."""
    length = windows[-1][1]
    raw = []
    for k, (s, e) in enumerate(windows):
        f = torch.arange(s, e, dtype=torch.float32)
        w = torch.ones(e - s)
        lead = windows[k - 1][1] - s if k > 0 else 0  # frames shared with the previous window
        trail = e - windows[k + 1][0] if k + 1 < len(windows) else 0
        if lead > 0:
            w = torch.minimum(w, (f - s + 1) / (lead + 1))
        if trail > 0:
            w = torch.minimum(w, (e - f) / (trail + 1))
        raw.append(w)
    total = torch.zeros(length)
    for (s, e), w in zip(windows, raw):
        total[s:e] += w
    return [w / total[s:e] for (s, e), w in zip(windows, raw)]


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 127.5 - 1


def tensor_to_rgb(frames: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8."""
    x = ((frames.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


@functools.lru_cache(maxsize=8)
def _parameter_count(config: UniMotionConfig) -> int:
    with torch.device("meta"):  # shapes only, no memory
        return sum(p.numel() for p in UniMotion(config).parameters())


def estimate_memory(config: UniMotionConfig, window: int, size: tuple[int, int], *, frames: int = 0,
                    guidance_passes: int = 3, dtype_bytes: int = 4) -> int:
    """Rough peak bytes to sample `window` frames of (w, h) = size: weights + one guided DiT call's live
    activations (attention scores counted as materialised, as on CPU) + retargeting + decoding a chunk,
    plus the clip-wide latents of `frames` frames. An estimate for choosing window/size, not a bound."""
    g, r = config.generator, config.retarget
    w, h = size
    lh, lw = h // g.downsample, w // g.downsample
    n = (lh // g.patch_size) * (lw // g.patch_size)  # tokens per frame
    tokens = guidance_passes * window * n
    weights = _parameter_count(config) * dtype_bytes
    stream = tokens * g.hidden * (g.mlp_ratio + 8)  # residual, norms, q/k/v/out, MLP hidden
    scores = guidance_passes * g.heads * (window * n * 2 * n + n * window * window)  # spatial (+ref), temporal
    retarget = window * (n + 4) * (r.width * (r.mlp_ratio + 8) + r.heads * (n + 4))
    chunk = min(window, DECODE_CHUNK)
    decode = 0 if g.latent == "pixels" else chunk * g.vae.channels[0] * h * w * 6
    latents = frames * g.latent_channels * lh * lw * 4 * 4  # latents, velocity, preview, output (float32)
    return int(weights + (stream + scores + retarget + decode) * dtype_bytes + latents)


# --- the pipeline ---------------------------------------------------------------------------------------

class UniMotionPipeline:
    """Networks + scheduler; `__call__` returns the sampling job. Step count, size and guidance are per call."""

    def __init__(self, model: UniMotion, scheduler=None, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None) -> None:
        self.device, auto_dtype = select_device(device)
        self.dtype = dtype or auto_dtype
        self.model = model.to(self.device, self.dtype).eval()
        self.model.codec.to(torch.float32)  # autoencoders overflow in fp16; they are cheap next to the DiT
        self.config = model.config
        if scheduler is None:
            from diffusers import FlowMatchEulerDiscreteScheduler  # lazy: diffusers is slow to import

            g = self.config.generator
            scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=g.num_train_timesteps, shift=g.flow_shift)
        self.scheduler = scheduler
        self._ref_cache: dict[tuple, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, reference: np.ndarray, motion: MotionInput, *, size: tuple[int, int],
                 steps: int = DEFAULT_STEPS, ref_guidance: float = DEFAULT_REF_GUIDANCE,
                 motion_guidance: float = DEFAULT_MOTION_GUIDANCE, window: int | None = None,
                 overlap: int | None = None, seed: int = 0, first_frame: int = 0,
                 latents: torch.Tensor | None = None, cancel: CancelToken | None = None,
                 preview_every: int = 1, reference_key: str | None = None) -> Job[np.ndarray]:
        """reference (H, W, 3) uint8; size (w, h), multiples of config.generator.multiple; latents: optional
        initial noise (T, C, h, w); first_frame: the clip index of motion's first frame (noise seeding).
        Yields Progress per step; returns (T, h, w, 3) uint8."""
        g = self.config.generator
        window, overlap = window or g.window, g.overlap if overlap is None else overlap
        if steps < 1 or not 0 <= overlap < window:
            raise ValueError(f"steps must be >= 1 and 0 <= overlap < window (got {steps}, {overlap}, {window})")
        ref = self.prepare_reference(reference, size, reference_key)  # 1
        codes = self.encode_motion(motion, window)  # 2
        x = self.prepare_latents(len(codes), ref.shape[1:], seed, first_frame, latents)  # 3
        x = yield from self.denoise(x, ref, codes, steps, (ref_guidance, motion_guidance), window, overlap,
                                    cancel, preview_every)  # 4
        frames = self.decode(x)  # 5
        total = len(self.scheduler.timesteps)
        yield Progress(total, total, "decoded")
        return frames

    # 1. prepare reference
    def prepare_reference(self, reference: np.ndarray, size: tuple[int, int], key: str | None = None) -> torch.Tensor:
        """Letterbox the photo into a (w, h) canvas and encode it. -> (1, C, h/f, w/f) float32."""
        w, h = size
        m = self.config.generator.multiple
        if w % m or h % m or w <= 0 or h <= 0:
            raise ValueError(f"size: {w}x{h} must be positive multiples of {m} for this model")
        if key is not None and (key, size) in self._ref_cache:
            return self._ref_cache[(key, size)]
        img = rgb_to_tensor(reference)[None].to(self.device)  # (1, 3, H, W)
        box = torch.tensor([letterbox_box(img.shape[-1], img.shape[-2], w / h)])
        canvas = crop_resize(img, box, (h, w))  # (1, 3, h, w)
        latent = self.model.codec.encode(canvas)  # (1, C, h/f, w/f)
        if key is not None:
            if len(self._ref_cache) >= REFERENCE_CACHE_SIZE:
                self._ref_cache.pop(next(iter(self._ref_cache)))
            self._ref_cache[(key, size)] = latent
        return latent

    # 2. encode motion
    def encode_motion(self, motion: MotionInput, chunk: int) -> MotionCodes:
        """MotionCodes (1, T, *) in the model's dtype, `chunk` driving frames at a time."""
        if isinstance(motion, TokenMotion):
            flat = torch.from_numpy(motion.flat).to(self.device, self.dtype)[None]  # (1, T, FLAT_DIM)
            return self.model.project_tokens(flat)
        parts = []
        for s in range(0, len(motion), chunk):
            frames = torch.stack([rgb_to_tensor(f) for f in motion.frames[s:s + chunk]])  # (t, 3, H, W)
            boxes = [crop_boxes_from_landmarks(lm) for lm in motion.landmarks[s:s + chunk]]
            box_t, valid = zip(*(boxes_to_tensor(boxes, p) for p in PARTS))
            parts.append(self.model.encode_driving(
                frames[None].to(self.device, self.dtype),
                {p: b[None].to(self.device) for p, b in zip(PARTS, box_t)},
                {p: v[None].to(self.device) for p, v in zip(PARTS, valid)}))
        return MotionCodes.cat(parts)

    # 3. prepare latents
    def prepare_latents(self, length: int, latent_shape: torch.Size, seed: int, first_frame: int,
                        latents: torch.Tensor | None) -> torch.Tensor:
        """(1, T, C, h, w) float32 noise; frame k's noise is seeded by (seed, first_frame + k)."""
        if latents is not None:
            if tuple(latents.shape) != (length, *latent_shape):
                raise ValueError(f"latents: needs shape {(length, *latent_shape)}, got {tuple(latents.shape)}")
            return latents[None].to(self.device, torch.float32)
        noise = []
        for k in range(length):
            state = np.random.SeedSequence([seed, first_frame + k]).generate_state(1)[0]
            gen = torch.Generator().manual_seed(int(state))
            noise.append(torch.randn(tuple(latent_shape), generator=gen))
        return torch.stack(noise)[None].to(self.device)

    # 4. denoise
    def _set_timesteps(self, steps: int) -> None:
        """Few steps get explicit, evenly spaced sigmas (the scheduler still applies its shift): the default
        linspace through a shifted schedule puts the second of two sigmas near 0, wasting the step."""
        import inspect

        from engine.render.dit_warp import preview_sigmas

        takes_sigmas = "sigmas" in inspect.signature(self.scheduler.set_timesteps).parameters
        if steps <= FEW_STEPS and takes_sigmas:
            self.scheduler.set_timesteps(sigmas=list(preview_sigmas(steps)), device=self.device)
        else:
            self.scheduler.set_timesteps(steps, device=self.device)

    def denoise(self, x: torch.Tensor, ref: torch.Tensor, codes: MotionCodes, steps: int,
                scales: tuple[float, float], window: int, overlap: int, cancel: CancelToken | None,
                preview_every: int) -> Job[torch.Tensor]:
        windows = temporal_windows(x.shape[1], window, overlap)
        weights = [w.to(self.device).view(1, -1, 1, 1, 1) for w in window_weights(windows)]
        self._set_timesteps(steps)
        timesteps = self.scheduler.timesteps  # steps entries, or more for a higher-order scheduler (Heun)
        cache: dict[int, torch.Tensor] = {}
        g = self.config.generator
        tokens = (ref.shape[-2] // g.patch_size) * (ref.shape[-1] // g.patch_size)
        keep = len(windows) * window * tokens * g.hidden * 4 <= GUIDANCE_CACHE_BYTES  # cache guidance if small
        for i, t in enumerate(timesteps):
            v = torch.zeros_like(x)  # (1, T, C, h, w): the crossfaded velocity of the whole clip
            for k, ((s, e), w) in enumerate(zip(windows, weights)):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                guidance = cache.get(k)
                if guidance is None:
                    guidance = self.model.motion_guidance(ref.to(self.dtype), codes.frames(s, e))  # (1, t, N, D)
                    if keep:
                        cache[k] = guidance
                v[:, s:e] += w * self.guided_velocity(x[:, s:e], t, ref, guidance, codes.face[:, s:e], scales)
            preview = None
            if preview_every and (i + 1) % preview_every == 0:
                sigma = float(t) / self.scheduler.config.num_train_timesteps
                preview = tensor_to_rgb(self.model.codec.decode(x[:, 0] - sigma * v[:, 0]))[0]  # frame 0's x0 estimate
            x = self.scheduler.step(v, t, x, return_dict=False)[0]
            yield Progress(i + 1, len(timesteps), f"denoising step {i + 1}/{len(timesteps)}", preview)
        if cancel is not None:
            cancel.raise_if_cancelled()
        return x

    def guided_velocity(self, x: torch.Tensor, t: torch.Tensor, ref: torch.Tensor, guidance: torch.Tensor,
                        face: torch.Tensor, scales: tuple[float, float]) -> torch.Tensor:
        """Velocity of one window (1, t, C, h, w) with reference and motion guidance. -> float32."""
        s_ref, s_motion = scales
        if s_ref == 1 and s_motion == 1:
            keep_ref = keep_motion = torch.ones(1, dtype=torch.bool, device=self.device)
        else:  # (-, -), (ref, -), (ref, motion)
            keep_ref = torch.tensor([False, True, True], device=self.device)
            keep_motion = torch.tensor([False, False, True], device=self.device)
        n = len(keep_ref)
        timestep = t.to(self.device, torch.float32).expand(n)  # sin-cos features need fp32 precision
        v = self.model.velocity(x.to(self.dtype).expand(n, -1, -1, -1, -1), timestep,
                                ref.to(self.dtype).expand(n, -1, -1, -1), guidance.expand(n, -1, -1, -1),
                                face.expand(n, -1, -1), keep_ref, keep_motion).float()
        if n == 1:
            return v
        v_none, v_ref, v_full = v.chunk(3)
        return v_none + s_ref * (v_ref - v_none) + s_motion * (v_full - v_ref)

    # 5. decode
    def decode(self, x: torch.Tensor) -> np.ndarray:
        """(1, T, C, h, w) -> (T, H, W, 3) uint8."""
        return tensor_to_rgb(decode_latents(self.model.codec, x[0].float(), DECODE_CHUNK))
