"""Latent motion tokens from a driving frame (X-UniMotion, arXiv 2508.09383, sec. 3.1 and Fig. 2).

Four low-dimensional tokens per frame: a global body token z from the whole (augmented) frame (encoder E),
a face token z_f from a face crop (E_f), and one token per hand from hand crops through one shared hand
encoder E_h (the performer's left hand is mirrored so both hands look like right hands to E_h). The small
token sizes are the identity bottleneck; augmentation of the driving frames during training does the rest.

Also here: crop boxes from tracked landmarks, a grid_sample crop-and-resize, the training augmentations,
and `TokenProjection`, the linear map from explicit MotionTokens channels into the same token space (so an
edited token file can drive the DiT without driving frames).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.models.config import MotionEncoderConfig
from engine.tokens.schema import CHANNELS, GROUP_NAMES, TOKEN_DIMS
from engine.track import landmarks
from engine.track.types import FrameLandmarks

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the frame (pixel i spans [i, i+1))
PARTS = ("face", "left_hand", "right_hand")  # the cropped parts; the body token reads the whole frame

FACE_BOX_SCALE = 1.3  # square side / the face mesh's larger extent
FACE_FROM_BODY_SCALE = 2.0  # same, when only the body's head points (eyes, ears, mouth) are known
HAND_BOX_SCALE = 1.5  # square side / the hand skeleton's larger extent
HAND_FROM_BODY_SCALE = 3.0  # same, from the body's wrist/pinky/index/thumb points only
MIN_BOX_FRACTION = 0.04  # a crop is at least this fraction of the frame's long side
FACE_BODY_POINTS = (landmarks.NOSE, landmarks.L_EYE, landmarks.R_EYE, landmarks.L_EAR, landmarks.R_EAR,
                    landmarks.MOUTH_L, landmarks.MOUTH_R)
HAND_BODY_POINTS = {
    "left_hand": (landmarks.L_WRIST, landmarks.L_PINKY, landmarks.L_INDEX, landmarks.L_THUMB),
    "right_hand": (landmarks.R_WRIST, landmarks.R_PINKY, landmarks.R_INDEX, landmarks.R_THUMB),
}
CROP_SUPERSAMPLE = 2  # crops are sampled at 2x and average-pooled: a cheap anti-alias when shrinking


# --- crop boxes and crops -------------------------------------------------------------------------------

def _square_box(points: np.ndarray, scale: float, min_side: float) -> Box | None:
    pts = points[np.isfinite(points[:, :2]).all(axis=1), :2]
    if len(pts) == 0:
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    cx, cy = (lo + hi) / 2
    side = max(float((hi - lo).max()) * scale, min_side)
    return (float(cx - side / 2), float(cy - side / 2), float(cx + side / 2), float(cy + side / 2))


def crop_boxes_from_landmarks(frame_landmarks: FrameLandmarks) -> dict[str, Box]:
    """Square crop boxes for "face", "left_hand", "right_hand" (performer's sides) from tracked landmarks.

    Uses the face mesh / hand skeletons when tracked, else the body's head or hand points with a wider
    margin. A part that cannot be located at all is left out of the dict (its crop is then blank)."""
    lm = frame_landmarks
    min_side = MIN_BOX_FRACTION * max(lm.width, lm.height)
    boxes: dict[str, Box | None] = {
        "face": _square_box(lm.face, FACE_BOX_SCALE, min_side)
        or _square_box(lm.body[list(FACE_BODY_POINTS)], FACE_FROM_BODY_SCALE, min_side),
    }
    for hand in ("left_hand", "right_hand"):
        boxes[hand] = (_square_box(lm.points(hand), HAND_BOX_SCALE, min_side)
                       or _square_box(lm.body[list(HAND_BODY_POINTS[hand])], HAND_FROM_BODY_SCALE, min_side))
    return {k: v for k, v in boxes.items() if v is not None}


def boxes_to_tensor(boxes: Sequence[Mapping[str, Box]], part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame box dicts -> ((N, 4) float boxes, (N,) bool valid) for one part."""
    arr = np.array([b.get(part, (0.0, 0.0, 1.0, 1.0)) for b in boxes], np.float32).reshape(-1, 4)
    valid = np.array([part in b for b in boxes], bool)
    return torch.from_numpy(arr), torch.from_numpy(valid)


def letterbox_box(width: int, height: int, aspect: float = 1.0) -> Box:
    """The centred box of the given aspect (w / h) that just contains a width x height frame."""
    bw, bh = (width, width / aspect) if width / height >= aspect else (height * aspect, height)
    return ((width - bw) / 2, (height - bh) / 2, (width + bw) / 2, (height + bh) / 2)


def crop_resize(frames: torch.Tensor, boxes: torch.Tensor, size: int | tuple[int, int], *,
                flip: bool | torch.Tensor = False, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Crop boxes out of frames and resample them to `size` (bilinear grid_sample, zero padding outside).

    frames (N, C, H, W); boxes (N, 4) x0, y0, x1, y1 in pixels; size an int (square) or (h, w);
    flip mirrors crops left-right; crops where `valid` is False come out as zeros. -> (N, C, h, w)."""
    n, _, h_in, w_in = frames.shape
    out_h, out_w = (size, size) if isinstance(size, int) else size
    boxes = boxes.to(frames.device, torch.float32)
    cx = (boxes[:, 0] + boxes[:, 2]) / w_in - 1  # box centre, normalised to [-1, 1] (align_corners=False)
    cy = (boxes[:, 1] + boxes[:, 3]) / h_in - 1
    sx = (boxes[:, 2] - boxes[:, 0]) / w_in  # half box width, normalised
    sy = (boxes[:, 3] - boxes[:, 1]) / h_in
    sign = 1.0 - 2.0 * torch.as_tensor(flip, dtype=torch.float32, device=frames.device).expand(n)
    zero = torch.zeros_like(cx)
    theta = torch.stack([torch.stack([sx * sign, zero, cx], 1), torch.stack([zero, sy, cy], 1)], 1)  # (N, 2, 3)
    s = CROP_SUPERSAMPLE
    grid = F.affine_grid(theta, [n, 1, out_h * s, out_w * s], align_corners=False)  # (N, h*s, w*s, 2)
    crops = F.grid_sample(frames, grid.to(frames.dtype), mode="bilinear", padding_mode="zeros",
                          align_corners=False)  # (N, C, h*s, w*s)
    crops = F.avg_pool2d(crops, s) if s > 1 else crops  # (N, C, h, w)
    if valid is not None:
        crops = crops * valid.to(crops.device, crops.dtype).view(n, 1, 1, 1)
    return crops


# --- training augmentations (driving frames only) --------------------------------------------------------

def _uniform(shape: tuple[int, ...], lo: float, hi: float, generator: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator)


def augment_colour(frames: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-clip brightness, contrast, saturation and channel gains. frames (B, T, 3, H, W) in [-1, 1]."""
    b = frames.shape[0]
    shape = (b, 1, 1, 1, 1)
    gain = _uniform((b, 1, 3, 1, 1), 1 - strength, 1 + strength, generator)
    contrast = _uniform(shape, 1 - 2 * strength, 1 + 2 * strength, generator)
    bright = _uniform(shape, -strength, strength, generator)
    sat = _uniform(shape, 1 - 3 * strength, 1 + 3 * strength, generator)
    dev = frames.device
    gray = frames.mean(dim=2, keepdim=True)  # (B, T, 1, H, W)
    x = gray + (frames - gray) * sat.to(dev)
    mean = x.mean(dim=(2, 3, 4), keepdim=True)  # (B, T, 1, 1, 1)
    x = (x * gain.to(dev) - mean) * contrast.to(dev) + mean
    return (x + bright.to(dev)).clamp(-1, 1)


def augment_spatial(frames: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-clip random rotation, anisotropic scale and shift (the paper's "spatial distortion"), so the
    global token cannot encode the performer's exact proportions. frames (B, T, 3, H, W)."""
    b, t, c, h, w = frames.shape
    angle = _uniform((b,), -strength * math.pi / 6, strength * math.pi / 6, generator)
    scale = _uniform((b, 2), 1 - strength, 1 + strength, generator)
    shift = _uniform((b, 2), -strength / 2, strength / 2, generator)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos * scale[:, 0], -sin * scale[:, 1], shift[:, 0]], 1),
                         torch.stack([sin * scale[:, 0], cos * scale[:, 1], shift[:, 1]], 1)], 1)  # (B, 2, 3)
    theta = theta.to(frames.device, frames.dtype).repeat_interleave(t, dim=0)  # (B*T, 2, 3)
    grid = F.affine_grid(theta, [b * t, c, h, w], align_corners=False)
    out = F.grid_sample(frames.flatten(0, 1), grid, padding_mode="border", align_corners=False)
    return out.view(b, t, c, h, w)


# --- tokens ----------------------------------------------------------------------------------------------

GROUP_NAMES_CODES = ("body", "face", "left_hand", "right_hand")  # MotionCodes' field order


@dataclass
class MotionCodes:
    """The four latent motion tokens of a clip, each (B, T, dim)."""

    body: torch.Tensor
    face: torch.Tensor
    left_hand: torch.Tensor
    right_hand: torch.Tensor

    def __len__(self) -> int:
        return int(self.body.shape[1])

    def frames(self, start: int, stop: int) -> "MotionCodes":
        return MotionCodes(*(getattr(self, g)[:, start:stop] for g in GROUP_NAMES_CODES))

    def to(self, *args, **kwargs) -> "MotionCodes":
        return MotionCodes(*(getattr(self, g).to(*args, **kwargs) for g in GROUP_NAMES_CODES))

    @staticmethod
    def cat(parts: Sequence["MotionCodes"]) -> "MotionCodes":
        return MotionCodes(*(torch.cat([getattr(p, g) for p in parts], dim=1) for g in GROUP_NAMES_CODES))



class ConvEncoder(nn.Module):
    """A square image -> one token: stride-2 conv stages down to `final_size`, then the map is flattened
    (not pooled, so where things are in the crop stays in the token) and projected."""

    def __init__(self, in_size: int, width: int, final_size: int, out_dim: int) -> None:
        super().__init__()
        stages = int(math.log2(in_size // final_size))
        chans = [width * min(2 ** i, 8) for i in range(stages + 1)]
        layers: list[nn.Module] = [nn.Conv2d(3, chans[0], 3, padding=1), nn.SiLU()]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(min(8, c_out), c_out), nn.SiLU()]
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1] * final_size * final_size, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.convs(x)  # (N, C, final, final)
        return self.head(feats.flatten(1))  # (N, out_dim)


class MotionEncoder(nn.Module):
    """Driving frames + crop boxes -> MotionCodes (z, z_f, z_lh, z_rh)."""

    def __init__(self, cfg: MotionEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.body = ConvEncoder(cfg.image_size, cfg.width, cfg.final_size, cfg.body_dim)  # E
        self.face = ConvEncoder(cfg.crop_size, cfg.width, cfg.final_size, cfg.face_dim)  # E_f
        self.hand = ConvEncoder(cfg.crop_size, cfg.width, cfg.final_size, cfg.hand_dim)  # E_h, both hands

    def forward(self, frames: torch.Tensor, boxes: Mapping[str, torch.Tensor], valid: Mapping[str, torch.Tensor],
                body_frames: torch.Tensor | None = None) -> MotionCodes:
        """frames (B, T, 3, H, W) in [-1, 1]; boxes[part] (B, T, 4) px; valid[part] (B, T) bool;
        body_frames: the (spatially augmented) frames E reads, default `frames`."""
        b, t, _, h, w = frames.shape
        flat = frames.flatten(0, 1)  # (B*T, 3, H, W)
        src = flat if body_frames is None else body_frames.flatten(0, 1)
        whole = torch.tensor(letterbox_box(w, h), dtype=torch.float32).expand(b * t, 4)
        z = self.body(crop_resize(src, whole, self.cfg.image_size))  # (B*T, body_dim)
        crop = {p: crop_resize(flat, boxes[p].flatten(0, 1), self.cfg.crop_size, flip=(p == "left_hand"),
                               valid=valid[p].flatten()) for p in PARTS}  # (B*T, 3, c, c) each
        z_f = self.face(crop["face"])  # (B*T, face_dim)
        z_hands = self.hand(torch.cat([crop["left_hand"], crop["right_hand"]]))  # (2*B*T, hand_dim)
        z_lh, z_rh = z_hands.chunk(2)
        return MotionCodes(z.view(b, t, -1), z_f.view(b, t, -1), z_lh.view(b, t, -1), z_rh.view(b, t, -1))


FLAT_DIM = sum(TOKEN_DIMS[g] for g in GROUP_NAMES)  # width of MotionTokens.flat()


class TokenProjection(nn.Module):
    """Explicit MotionTokens.flat() (T, FLAT_DIM) -> MotionCodes, one linear map per group (both hands share
    one, as they share E_h). Channels are taken relative to their neutral so a rest pose maps to the bias.

    Trained by distillation to match the learned encoder's tokens on tracked clips (TrainConfig
    .projection_weight); until then it is random and its output means nothing."""

    def __init__(self, cfg: MotionEncoderConfig) -> None:
        super().__init__()
        self.body = nn.Linear(TOKEN_DIMS["body"], cfg.body_dim)
        self.face = nn.Linear(TOKEN_DIMS["face"], cfg.face_dim)
        self.hand = nn.Linear(TOKEN_DIMS["right_hand"], cfg.hand_dim)
        neutral = np.concatenate([[c.neutral for c in CHANNELS[g]] for g in GROUP_NAMES]).astype(np.float32)
        self.register_buffer("neutral", torch.from_numpy(neutral), persistent=False)  # (FLAT_DIM,)

    def forward(self, flat: torch.Tensor) -> MotionCodes:
        """flat (B, T, FLAT_DIM) in GROUP_NAMES order (face, body, left_hand, right_hand)."""
        if flat.shape[-1] != FLAT_DIM:
            raise ValueError(f"TokenProjection: expected {FLAT_DIM} channels, got {flat.shape[-1]}")
        x = flat - self.neutral.to(flat.dtype)
        face, body, lh, rh = x.split([TOKEN_DIMS[g] for g in GROUP_NAMES], dim=-1)
        return MotionCodes(self.body(body), self.face(face), self.hand(lh), self.hand(rh))
