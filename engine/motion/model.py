"""The motion model: a GRU that reads the last frames of the four token groups and rolls the motion forward.

Sections in reading order: config and presets, the network, checkpoint files. The network holds no sampling
loop beyond its own autoregressive rollout (which is the model: each frame is predicted from the ones
before, or a whole stretch at once with the "direct" decoder). Inputs are normalised token frames z = (x - mean) / scale (engine.motion.features), their last step,
the four tracked flags and a direction flag (+1 forward in time, -1 backward, so one network also extends
before the in point). The one-step head predicts the next step (a zero output is "keep moving as now"); the
direct head predicts offsets of the next `horizon` frames from the last one (a zero output is "hold"), so
each head learns corrections to a baseline.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import MediaError
from engine.motion.features import DIM, GROUP_OF_CHANNEL, N_GROUPS

MODEL_FPS = 25.0  # the rate the model is trained and run at; other clips are resampled to it and back


DECODERS = ("direct", "recurrent")


@dataclass(frozen=True)
class MotionModelConfig:
    hidden: int = 192
    layers: int = 1
    context: int = 32  # frames read (at MODEL_FPS)
    horizon: int = 25  # frames predicted per pass
    decoder: str = "direct"  # "direct": all `horizon` frames from the last state at once; "recurrent": frame by frame
    dropout: float = 0.0  # on the state the heads read (the corpus is small: ~9k frames)
    # "direct" only: the offset k frames ahead is predicted in units of k times each group's RMS step over the
    # last `recent` frames (1 = "as far as it has lately been moving"), so a group that stood still cannot be
    # set moving and a jittering one only jitters (0: plain offsets)
    recent: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.recent < self.context:
            raise ValueError(f"MotionModelConfig.recent must be in [0, context), got {self.recent}")
        for name in ("hidden", "layers", "context", "horizon"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"MotionModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"MotionModelConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.decoder not in DECODERS:
            raise ValueError(f"MotionModelConfig.decoder: one of {DECODERS}, got {self.decoder!r}")


PRESETS = {
    "tiny": MotionModelConfig(hidden=16, layers=1, context=8, horizon=4),
    "small": MotionModelConfig(hidden=192, layers=1, context=32, horizon=25, dropout=0.3),
    "small_scaled": MotionModelConfig(hidden=192, layers=1, context=32, horizon=25, dropout=0.3, recent=12),
    "small_recurrent": MotionModelConfig(hidden=192, layers=1, context=32, horizon=25, decoder="recurrent"),
}

IN_DIM = 2 * DIM + N_GROUPS + 1  # z, its last step, tracked flags, direction


class MotionGRU(nn.Module):
    def __init__(self, config: MotionModelConfig) -> None:
        super().__init__()
        self.config = config
        self.gru = nn.GRU(IN_DIM, config.hidden, num_layers=config.layers, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, DIM)  # next step (teacher-forced over the context; recurrent rollout)
        nn.init.zeros_(self.head.weight)  # start as constant velocity: the head adds corrections to it
        nn.init.zeros_(self.head.bias)
        if config.decoder == "direct":
            # offsets of the next frames from now; no bias: a constant drift would move what stands still
            self.future = nn.Linear(config.hidden, config.horizon * DIM, bias=False)
            nn.init.zeros_(self.future.weight)  # start as hold-last-pose, the strongest simple baseline

    def _inputs(self, z: torch.Tensor, dz: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, dz, cond], dim=-1)  # (B, T, IN_DIM)

    def forward(self, z: torch.Tensor, cond: torch.Tensor, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (B, C, DIM) context; cond: (B, N_GROUPS + 1) flags and direction.
        Returns (teacher-forced next-frame predictions over the context (B, C - 1, DIM),
                 the rollout (B, horizon, DIM))."""
        b, c, _ = z.shape
        dz = torch.cat([torch.zeros_like(z[:, :1]), z[:, 1:] - z[:, :-1]], dim=1)  # (B, C, DIM)
        cond_t = cond[:, None, :].expand(b, c, cond.shape[-1])
        y, h = self.gru(self._inputs(z, dz, cond_t))  # y: (B, C, H)
        y = self.drop(y)
        step = self.head(y) + dz  # (B, C, DIM) predicted next step
        teacher = z[:, :-1] + step[:, :-1]  # (B, C - 1, DIM): frame t+1 from frames <= t
        if self.config.decoder == "direct":
            return teacher, self._direct(z, cond, y[:, -1], horizon)
        frames = []
        z_prev, z_last = z[:, -1], z[:, -1] + step[:, -1]
        frames.append(z_last)
        for _ in range(horizon - 1):
            inp = self._inputs(z_last[:, None], (z_last - z_prev)[:, None], cond[:, None])  # (B, 1, IN_DIM)
            y, h = self.gru(inp, h)
            nxt = z_last + (z_last - z_prev) + self.head(y[:, 0])  # (B, DIM)
            z_prev, z_last = z_last, nxt
            frames.append(nxt)
        return teacher, torch.stack(frames, dim=1)  # (B, horizon, DIM)

    def _direct(self, z: torch.Tensor, cond: torch.Tensor, last: torch.Tensor, horizon: int) -> torch.Tensor:
        """Frames z_{C+1..C+horizon} as offsets from z_C; longer requests chain passes on their own output."""
        h = self.config.horizon
        offsets = self.future(last).view(-1, h, DIM)  # (B, h, DIM)
        if self.config.recent:
            ahead = torch.arange(1, h + 1, dtype=z.dtype, device=z.device)[None, :, None]  # (1, h, 1)
            offsets = offsets * ahead * recent_speed(z, self.config.recent)[:, None, :]
        out = z[:, -1:] + offsets
        while out.shape[1] < horizon:
            ctx = torch.cat([z, out], dim=1)[:, -self.config.context:]  # (B, C, DIM)
            _, more = self.forward(ctx, cond, h)
            out = torch.cat([out, more], dim=1)
        return out[:, :horizon]


def recent_speed(z: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, DIM): per group, the RMS step over the last `frames` frames of z (B, T, DIM), on every channel of
    the group. A group held still scores 0, a group that only jitters scores its jitter."""
    d = z[:, -frames:] - z[:, -frames - 1:-1]  # (B, frames, DIM)
    sq = (d ** 2).mean(dim=1)  # (B, DIM)
    groups = torch.as_tensor(GROUP_OF_CHANNEL, device=z.device)
    per_group = torch.zeros(z.shape[0], N_GROUPS, dtype=z.dtype, device=z.device).index_add_(1, groups, sq)
    per_group = per_group / torch.bincount(groups, minlength=N_GROUPS).to(z.dtype)
    return per_group.sqrt()[:, groups]


# -- checkpoint files: weights in safetensors, config and normalisation in its metadata --------------------------


@dataclass
class MotionModel:
    """A trained network with the normalisation it was trained with."""

    net: MotionGRU
    mean: np.ndarray  # (DIM,)
    scale: np.ndarray  # (DIM,)
    info: dict

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"config": json.dumps(asdict(self.net.config)), "mean": json.dumps(self.mean.tolist()),
                "scale": json.dumps(self.scale.tolist()), "info": json.dumps(self.info), "format_version": "1"}
        tmp = path.with_name(f".{path.name}.partial")
        save_file({k: v.detach().contiguous() for k, v in self.net.state_dict().items()}, str(tmp), metadata=meta)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "MotionModel":
        from safetensors import safe_open

        path = Path(path)
        if not path.exists():
            raise MediaError(f"{path.name}: motion model not found")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata()
                state = {k: f.get_tensor(k) for k in f.keys()}
            config = MotionModelConfig(**json.loads(meta["config"]))
            net = MotionGRU(config)
            net.load_state_dict(state)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise MediaError(f"{path.name}: not a motion model ({type(exc).__name__})") from None
        net.eval()
        return cls(net, np.array(json.loads(meta["mean"])), np.array(json.loads(meta["scale"])),
                   json.loads(meta.get("info", "{}")))

    @torch.no_grad()
    def rollout(self, values: np.ndarray, tracked: np.ndarray, n: int, direction: float = 1.0) -> np.ndarray:
        """(n, DIM) frames after `values` ((T, DIM) at MODEL_FPS; T >= 2). Shorter contexts than the model's
        are padded with their first frame held (the model saw such padding in training)."""
        c = self.net.config.context
        v = values[-c:]
        if len(v) < c:
            v = np.concatenate([np.repeat(v[:1], c - len(v), axis=0), v])
        z = torch.as_tensor((v - self.mean) / self.scale, dtype=torch.float32)[None]
        cond = torch.as_tensor(np.concatenate([tracked[-1], [direction]]), dtype=torch.float32)[None]
        _, roll = self.net(z, cond, n)
        return roll[0].double().numpy() * self.scale + self.mean
