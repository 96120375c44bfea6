"""Training the warp-guided generator (`python main.py train --config configs/generator_small.json`).

What one sample is (engine/train/data.py prepares them): reference crop, instant-render crop, real-frame
crop (same box), motion vector. Augmented here, on the fly, with torch's global RNG (checkpointed):
  - colour: one random gain/offset per channel and a saturation change, the same for all three crops (the
    model must take colours from the photo and the warp, not remember them);
  - geometry: a random zoom and shift shared by the warp, the real frame and the aligned photo crop, another
    for the reference
    (the reference is never pixel-aligned with the frame: it is read through attention);
  - horizontal flip of all crops, with the motion vector mirrored to match (engine.motion.features.mirror's
    tables: hands swap groups, left/right channels swap, yaw, roll and sideways components change sign, and
    the placement's sideways shift too).

Objective: flow matching in residual space. x0 = target - warp, z = (1 - s) x0 + s * noise, the model
predicts x0, and the loss is the velocity loss |v_hat - v|^2 with v = (z - x0) / s, i.e. |x0_hat - x0|^2 / s^2
with s clamped at SIGMA_WEIGHT_FLOOR (near s = 0 the weight would explode). Noise levels: half the samples at
the preview's discrete levels (engine/render/dit_warp.TRAIN_SIGMA_LEVELS), half uniform: the levels the
sampler uses are the ones trained most. Condition dropout for guidance: both dropped together with
p_drop_both, else each alone with its probability, so the unconditional branch is trained too.

An optional structure term, ssim_weight * (1 - SSIM) of the predicted frame crop, keeps the repair from
trading structure for mean squared error (the goal is both PSNR and SSIM).

Early stopping: `eval_fn` samples a one-step preview on pairs of the held-out clips (never trained on) and
scores MSE and 1 - SSIM, each relative to the instant render's (2.0 = no better than the warp);
best_ema.safetensors is the EMA with the lowest.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.jobs import CancelToken, Job, Progress
from engine.models.warp_dit import WarpDiT, WarpDiTConfig, warp_preset
from engine.train.data import DEFAULT_HOLDOUT, DataError, Shard, load_shards
from engine.train.loop import LoopConfig, TrainResult, TrainingError, latest_state, train

SIGMA_WEIGHT_FLOOR = 0.25  # the velocity loss's 1/s^2 weight is capped at 1 / floor^2
MIN_SIGMA = 0.02


@dataclass(frozen=True)
class GeneratorTrainConfig:
    preset: str = "small"
    data: str = "out/generator/data"
    out: str = "out/generator/run"
    holdout: tuple[str, ...] = DEFAULT_HOLDOUT
    p_drop_reference: float = 0.1
    p_drop_motion: float = 0.1
    p_drop_both: float = 0.1
    p_sigma_level: float = 0.5
    colour: float = 0.15  # +- relative gain per channel
    saturation: float = 0.3
    zoom: float = 0.12  # +- relative
    shift: float = 0.06  # +- fraction of the crop
    flip: float = 0.5
    val_pairs: int = 96
    ssim_weight: float = 0.0  # + weight * (1 - SSIM) of the predicted frame crop (structure, not only MSE)
    # A fine-tune's starting weights (a run's best_ema.safetensors): loaded into the model (and so the EMA)
    # when the run starts fresh; ignored once the run has a state of its own to resume (that holds them).
    init_from: str = ""
    # Where `--export` calibrates the preview (the held-out clips' shards, prepared with the instant renderer's
    # layers, which the residual gate needs); empty: `data`. Never the validation media.
    calibration_data: str = ""
    # The corpus folder holding the held-out clips themselves: when set, `--export` also scores the preview (global
    # gain and gate) on their whole frames as bench/generator_eval.py scores media (engine/train/calibrate.py),
    # into calibration.json. Needs the clips' tracking (through the cache). Never the validation media.
    calibration_corpus: str = ""
    # Corpus photos (never trained on) that the held-out clips animate when `--export` checks the gate's drawn-hand
    # gain against the bench's cross-identity hand measures (engine/train/calibrate.heldout_cross); needs
    # calibration_corpus. Empty: no check.
    calibration_photos: tuple[str, ...] = ()
    # Full-body motion is scarce in the corpus (4 clips of 35): its pairs are repeated this often per epoch.
    repeat_fullbody: int = 3
    repeat_halfbody: int = 2
    loop: LoopConfig = field(default_factory=LoopConfig)

    def __post_init__(self) -> None:
        for n in ("p_drop_reference", "p_drop_motion", "p_drop_both", "p_sigma_level", "flip"):
            v = getattr(self, n)
            if not 0 <= v <= 1:
                raise ValueError(f"GeneratorTrainConfig.{n}: must lie in [0, 1], got {v!r}")
        if self.ssim_weight < 0:
            raise ValueError(f"GeneratorTrainConfig.ssim_weight: must be >= 0, got {self.ssim_weight!r}")
        for n in ("colour", "saturation", "zoom", "shift"):
            if not 0 <= getattr(self, n) < 1:
                raise ValueError(f"GeneratorTrainConfig.{n}: must lie in [0, 1), got {getattr(self, n)!r}")
        if self.repeat_fullbody < 1 or self.repeat_halfbody < 1:
            raise ValueError("GeneratorTrainConfig.repeat_fullbody/repeat_halfbody: must be >= 1")
        if self.val_pairs < 0:
            raise ValueError(f"GeneratorTrainConfig.val_pairs: must be >= 0, got {self.val_pairs}")
        warp_preset(self.preset)  # raises ValueError naming the choices

    @classmethod
    def from_json(cls, path: str | Path) -> "GeneratorTrainConfig":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable JSON config ({exc})") from exc
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"GeneratorTrainConfig.{unknown[0]}: unknown field")
        if "loop" in data:
            data["loop"] = LoopConfig.from_dict(data["loop"])
        for name in ("holdout", "calibration_photos"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- data ----------------------------------------------------------------------------------------------

class PairDataset(torch.utils.data.Dataset):
    """Prepared pairs as tensors in [-1, 1], augmented when `augment`."""

    def __init__(self, shards: list[Shard], cfg: GeneratorTrainConfig, augment: bool = True) -> None:
        self.shards, self.cfg, self.augment = shards, cfg, augment
        repeat = {"fullbody": cfg.repeat_fullbody, "halfbody": cfg.repeat_halfbody} if augment else {}
        self.index = [(s, i) for s, sh in enumerate(shards) for _ in range(repeat.get(sh.framing, 1))
                      for i in range(len(sh))]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        s, i = self.index[k]
        a = self.shards[s].arrays
        ref = _tensor(a["refs"][int(a["ref_index"][i])])
        warp, target, aligned = _tensor(a["warp"][i]), _tensor(a["target"][i]), _tensor(a["aligned"][i])
        motion = torch.from_numpy(np.array(a["motion"][i], np.float32))
        if self.augment:
            ref, warp, target, aligned, flipped = self._augment(ref, warp, target, aligned)
            if flipped:
                motion = mirror_motion(motion)
        return {"reference": ref, "warp": warp, "target": target, "aligned": aligned, "motion": motion}

    def _augment(self, ref, warp, target, aligned):
        c = self.cfg
        gain = 1 + (torch.rand(3) * 2 - 1) * c.colour
        offset = (torch.rand(3) * 2 - 1) * c.colour * 0.5
        sat = 1 + (torch.rand(()) * 2 - 1) * c.saturation

        def colour(x: torch.Tensor) -> torch.Tensor:
            grey = x.mean(0, keepdim=True)
            x = grey + (x - grey) * sat
            return (x * gain[:, None, None] + offset[:, None, None]).clamp(-1, 1)

        frame = torch.stack([colour(warp), colour(target), colour(aligned)])  # (3, 3, S, S): one geometry
        frame = _affine(frame, c.zoom, c.shift)
        ref = _affine(colour(ref)[None], c.zoom, c.shift)[0]
        flipped = bool(torch.rand(()) < c.flip)
        if flipped:
            frame, ref = frame.flip(-1), ref.flip(-1)
        return ref, frame[0], frame[1], frame[2], flipped


def mirror_motion(motion: torch.Tensor) -> torch.Tensor:
    """The motion vector (tokens + placement dx, dy, zoom) of the horizontally flipped frame."""
    from engine.motion.features import DIM, MIRROR_PERM, MIRROR_SIGN

    sign = torch.from_numpy(MIRROR_SIGN).to(motion.dtype)
    tokens = motion[..., :DIM][..., torch.from_numpy(MIRROR_PERM)] * sign
    placement = motion[..., DIM:] * torch.tensor([-1.0, 1.0, 1.0], dtype=motion.dtype)
    return torch.cat([tokens, placement], dim=-1)


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float() / 127.5 - 1  # a copy: shards are read-only maps


def _affine(x: torch.Tensor, zoom: float, shift: float) -> torch.Tensor:
    """One random zoom + shift for the whole stack (N, 3, S, S), edges repeated."""
    z = 1 + (float(torch.rand(())) * 2 - 1) * zoom
    tx, ty = ((torch.rand(2) * 2 - 1) * shift * 2).tolist()  # grid units span 2
    theta = torch.tensor([[1 / z, 0, tx], [0, 1 / z, ty]], dtype=x.dtype)[None].expand(x.shape[0], -1, -1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def motion_stats(shards: list[Shard]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and spread of the motion vectors (constant channels get spread 1)."""
    m = np.concatenate([np.asarray(s.arrays["motion"]) for s in shards]).astype(np.float64)
    std = m.std(axis=0)
    std[std < 1e-6] = 1.0
    return torch.from_numpy(m.mean(axis=0)).float(), torch.from_numpy(std).float()


# --- objective -----------------------------------------------------------------------------------------

def sample_sigma(b: int, p_level: float) -> torch.Tensor:
    from engine.render.dit_warp import TRAIN_SIGMA_LEVELS

    levels = torch.tensor(TRAIN_SIGMA_LEVELS)
    discrete = levels[torch.randint(len(levels), (b,))]
    uniform = MIN_SIGMA + (1 - MIN_SIGMA) * torch.rand(b)
    return torch.where(torch.rand(b) < p_level, discrete, uniform)


def make_loss_fn(cfg: GeneratorTrainConfig):
    def loss_fn(model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        warp, target = batch["warp"], batch["target"]
        b, dev = warp.shape[0], warp.device
        x0 = target - warp  # (B, 3, S, S) the residual to learn
        sigma = sample_sigma(b, cfg.p_sigma_level).to(dev)
        noise = torch.randn(x0.shape).to(dev)
        s4 = sigma.view(-1, 1, 1, 1)
        z = (1 - s4) * x0 + s4 * noise
        both = torch.rand(b) < cfg.p_drop_both
        keep_ref = (~both & (torch.rand(b) >= cfg.p_drop_reference)).to(dev)
        keep_motion = (~both & (torch.rand(b) >= cfg.p_drop_motion)).to(dev)
        x0_hat = model(z, sigma, warp, batch["aligned"], batch["reference"], batch["motion"], keep_ref, keep_motion)
        weight = 1 / s4.clamp(min=SIGMA_WEIGHT_FLOOR) ** 2
        flow = ((x0_hat.float() - x0) ** 2 * weight).mean()
        loss = flow
        out = {"flow": flow.detach()}
        if cfg.ssim_weight:
            structure = 1 - ssim((warp + x0_hat.float()).clamp(-1, 1), target).mean()
            loss = loss + cfg.ssim_weight * structure
            out["ssim_loss"] = structure.detach()
        with torch.no_grad():
            out.update({"x0_mse": F.mse_loss(x0_hat.float(), x0), "warp_mse": (x0 ** 2).mean()})
        return {"loss": loss, **out}
    return loss_fn


SSIM_WINDOW = 11  # Gaussian window of SSIM (Wang et al. 2004), sigma 1.5
SSIM_SIGMA = 1.5
SSIM_C1, SSIM_C2 = 0.01 ** 2, 0.03 ** 2


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) mean SSIM of images in [-1, 1] (computed on [0, 1], per channel, Gaussian window)."""
    a, b = (a + 1) / 2, (b + 1) / 2
    c = a.shape[1]
    x = torch.arange(SSIM_WINDOW, dtype=a.dtype, device=a.device) - SSIM_WINDOW // 2
    g = torch.exp(-x ** 2 / (2 * SSIM_SIGMA ** 2))
    g = (g / g.sum())
    # the Gaussian window is separable: a row pass then a column pass (valid region only, as skimage crops)
    row, col = g.view(1, 1, 1, -1).expand(c, 1, 1, SSIM_WINDOW), g.view(1, 1, -1, 1).expand(c, 1, SSIM_WINDOW, 1)
    blur = lambda t: F.conv2d(F.conv2d(t, row, groups=c), col, groups=c)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mu_a ** 2 + mu_b ** 2 + SSIM_C1) * (var_a + var_b + SSIM_C2))
    return s.mean(dim=(1, 2, 3))


def make_eval_fn(val: PairDataset, batch_size: int = 32):
    """One-step previews (sigma 1, fixed noise) of the held-out pairs: frame MSE and PSNR vs the warp's."""
    from engine.jobs import drain
    from engine.render.dit_warp import SampleRequest, sample_residual

    items = [val[k] for k in range(len(val))]

    def eval_fn(model) -> dict[str, float]:
        dev = next(model.parameters()).device
        err_model = err_warp = ssim_model = ssim_warp = 0.0
        gen = torch.Generator().manual_seed(0)
        for s in range(0, len(items), batch_size):
            chunk = items[s:s + batch_size]
            stack = {k: torch.stack([c[k] for c in chunk]).to(dev)
                     for k in ("warp", "aligned", "reference", "motion", "target")}
            req = SampleRequest(stack["warp"], stack["aligned"], stack["reference"], stack["motion"])
            x0 = drain(sample_residual(model, req, (1.0,), generator=gen)).to(dev)
            frame = (stack["warp"] + x0).clamp(-1, 1)
            err_model += float(((frame - stack["target"]) ** 2).mean(dim=(1, 2, 3)).sum())
            err_warp += float(((stack["warp"] - stack["target"]) ** 2).mean(dim=(1, 2, 3)).sum())
            ssim_model += float(ssim(frame, stack["target"]).sum())
            ssim_warp += float(ssim(stack["warp"], stack["target"]).sum())
        n = len(items)
        mse, mse_w, sm, sw = err_model / n, err_warp / n, ssim_model / n, ssim_warp / n
        psnr = lambda e: 10 * math.log10(4 / max(e, 1e-12))  # noqa: E731 - images span [-1, 1]: peak 2
        # Both goals, each relative to the instant render's own error (2.0 = the warp's level; lower is better).
        score = mse / max(mse_w, 1e-12) + (1 - sm) / max(1 - sw, 1e-12)
        return {"score": score, "psnr": psnr(mse), "psnr_warp": psnr(mse_w), "ssim": sm, "ssim_warp": sw}

    return eval_fn


GAIN_GRID = tuple(round(0.1 * k, 1) for k in range(1, 11))  # residual gains tried by calibrate_gain


@torch.no_grad()
def calibrate_gain(model: WarpDiT, val: PairDataset, steps: int | None = None, draws: int | None = None,
                   grid: tuple[float, ...] = GAIN_GRID) -> tuple[float, list[dict[str, float]]]:
    """The residual gain the shipped preview should use, measured on held-out pairs with the studio's preview
    (its steps and draws): the gain in `grid` that maximises the smaller of its two gains over the instant
    render, in pixel error and in 1 - SSIM, each relative to the instant render's (the two terms of the
    trainer's score). The goal is to beat the warp on both; the score alone (their sum) is happy to trade
    structure for pixel error, which is what the uncalibrated model does on people it never saw.
    Returns (gain, one row per gain: gain, psnr, ssim, psnr_warp, ssim_warp, score, worst). The residual is
    sampled once (at gain 1) and scaled, so every row sees the same noise."""
    from engine.jobs import drain
    from engine.render.dit_renderer import PREVIEW_DRAWS, PREVIEW_STEPS
    from engine.render.dit_warp import SampleRequest, preview_sigmas, sample_residual

    dev = next(model.parameters()).device
    items = [val[k] for k in range(len(val))]
    st = {k: torch.stack([c[k] for c in items]).to(dev) for k in ("warp", "aligned", "reference", "motion", "target")}
    req = SampleRequest(st["warp"], st["aligned"], st["reference"], st["motion"])
    x0 = drain(sample_residual(model, req, preview_sigmas(steps or PREVIEW_STEPS),
                               generator=torch.Generator().manual_seed(0), draws=draws or PREVIEW_DRAWS))
    warp, target, x0 = st["warp"].cpu(), st["target"].cpu(), x0.cpu()
    mse_w = float(((warp - target) ** 2).mean())
    ssim_w = float(ssim(warp, target).mean())
    rows = []
    for g in grid:
        frame = (warp + g * x0).clamp(-1, 1)
        mse, sm = float(((frame - target) ** 2).mean()), float(ssim(frame, target).mean())
        rel_mse, rel_ssim = mse / max(mse_w, 1e-12), (1 - sm) / max(1 - ssim_w, 1e-12)
        rows.append({"gain": g, "psnr": 10 * math.log10(4 / max(mse, 1e-12)), "ssim": sm,
                     "psnr_warp": 10 * math.log10(4 / max(mse_w, 1e-12)), "ssim_warp": ssim_w,
                     "score": rel_mse + rel_ssim, "worst": 1 - max(rel_mse, rel_ssim)})
    best = max(rows, key=lambda r: r["worst"])
    return best["gain"], rows


GATE_GRID = tuple(round(0.1 * k, 1) for k in range(0, 16))  # per-region gains tried by calibrate_gate
GATE_ROUNDS = 4  # coordinate-ascent sweeps over the regions (it settles in two on the shipped model)


@torch.no_grad()
def calibrate_gate(model: WarpDiT, shards: list[Shard], start: float, steps: int | None = None,
                   draws: int | None = None, grid: tuple[float, ...] = GATE_GRID,
                   batch: int = 32) -> tuple[tuple[float, ...], dict]:
    """The preview's residual gate (one gain per engine.models.warp_dit.GATE_REGIONS, applied by
    engine/render/dit_warp.residual_gate), measured on held-out clips' pairs that carry the instant renderer's
    layers (prepared since stop 16). The goal is per clip (the preview beats the instant render on PSNR and SSIM
    on every clip), so the criterion is the smallest, over the clips and the two measures, of the relative gain
    over the instant render (pixel error, 1 - SSIM), ties broken by the mean; coordinate ascent over `grid`
    from the global gain `start` everywhere. The residual is sampled once (at gain 1, the studio's preview).
    The residual is sampled by gate_samples, the gains searched by ascend_gate.
    Returns (gains, a report: regions, chosen, per-clip figures of the global gain and of the gate, the path)."""
    clips = gate_samples(model, shards, steps, draws, batch)
    return ascend_gate(clips, start, grid)


@torch.no_grad()
def gate_samples(model: WarpDiT, shards: list[Shard], steps: int | None = None, draws: int | None = None,
                 batch: int = 32) -> list[dict]:
    """The held-out clips' pairs (they must carry the instant renderer's layers) with the preview's residual
    sampled once at gain 1 and each gate region's mask: what ascend_gate scores any gains on."""
    from engine.jobs import drain
    from engine.models.warp_dit import GATE_REGIONS
    from engine.render.dit_renderer import PREVIEW_DRAWS, PREVIEW_STEPS
    from engine.render.dit_warp import SampleRequest, preview_sigmas, residual_gate, sample_residual, to_tensor

    dev = next(model.parameters()).device
    clips = []
    for shard in shards:
        a = shard.arrays
        if "layers" not in a:
            raise DataError(f"{shard.name}: prepared without the instant renderer's layers; prepare the held-out "
                            "clips again (python main.py prepare-data) to calibrate the residual gate")
        x0 = []
        for s in range(0, len(shard), batch):
            sl = slice(s, min(len(shard), s + batch))
            req = SampleRequest(to_tensor(np.array(a["warp"][sl])).to(dev), to_tensor(np.array(a["aligned"][sl])).to(dev),
                                to_tensor(np.array(a["refs"][np.array(a["ref_index"][sl])])).to(dev),
                                torch.from_numpy(np.array(a["motion"][sl], np.float32)).to(dev))
            x0.append(drain(sample_residual(model, req, preview_sigmas(steps or PREVIEW_STEPS),
                                            generator=torch.Generator().manual_seed(s),
                                            draws=draws or PREVIEW_DRAWS)).cpu())
        # the gate is linear in the gains: each region's mask once, then any gains are a weighted sum
        one_hot = np.eye(len(GATE_REGIONS))
        masks = torch.from_numpy(np.stack([np.stack([residual_gate(lay, tuple(e)) for e in one_hot])
                                           for lay in np.array(a["layers"])]))  # (N, R, S, S)
        warp, target = to_tensor(np.array(a["warp"])), to_tensor(np.array(a["target"]))
        clips.append({"name": shard.name, "warp": warp, "target": target, "x0": torch.cat(x0), "masks": masks,
                      "mse_w": float(((warp - target) ** 2).mean()), "ssim_w": float(ssim(warp, target).mean())})
    return clips


def ascend_gate(clips: list[dict], start: float, grid: tuple[float, ...] = GATE_GRID,
                fixed: dict[int, float] | None = None) -> tuple[tuple[float, ...], dict]:
    """The coordinate ascent of calibrate_gate on gate_samples' clips; `fixed` {region index: gain} holds those
    regions (the drawn hands, when the cross-identity hand check rules their gain out) out of the search."""
    from engine.models.warp_dit import GATE_REGIONS

    fixed = fixed or {}

    def measure(gains) -> tuple[float, float, list[dict]]:
        rows = []
        for c in clips:
            gate = (c["masks"] * torch.tensor(gains, dtype=torch.float32).view(1, -1, 1, 1)).sum(1, keepdim=True)
            frame = (c["warp"] + gate * c["x0"]).clamp(-1, 1)
            mse, sm = float(((frame - c["target"]) ** 2).mean()), float(ssim(frame, c["target"]).mean())
            rows.append({"clip": c["name"], "psnr": 10 * math.log10(4 / max(mse, 1e-12)),
                         "psnr_warp": 10 * math.log10(4 / max(c["mse_w"], 1e-12)), "ssim": sm, "ssim_warp": c["ssim_w"],
                         "rel_mse": 1 - mse / max(c["mse_w"], 1e-12),
                         "rel_ssim": 1 - (1 - sm) / max(1 - c["ssim_w"], 1e-12)})
        rel = [r[k] for r in rows for k in ("rel_mse", "rel_ssim")]
        return min(rel), float(np.mean(rel)), rows

    report = {"regions": list(GATE_REGIONS), "global_gain": start,
              "global": measure([float(start)] * len(GATE_REGIONS))[2], "path": [], "fixed": dict(fixed)}
    gains = [float(fixed.get(j, start)) for j in range(len(GATE_REGIONS))]
    best = measure(gains)
    for _ in range(GATE_ROUNDS):
        moved = False
        for j in (j for j in range(len(gains)) if j not in fixed):
            for v in grid:
                trial = gains[:j] + [v] + gains[j + 1:]
                got = measure(trial)
                if got[:2] > best[:2]:
                    best, gains, moved = got, trial, True
        report["path"].append({"gains": list(gains), "worst": best[0], "mean": best[1]})
        if not moved:
            break
    report.update(chosen=list(gains), worst=best[0], mean=best[1], clips=best[2])
    return tuple(gains), report


def heldout_frames_report(model: WarpDiT, cfg: GeneratorTrainConfig, gain: float, gate: tuple[float, ...]) -> dict:
    """The held-out clips' whole frames scored as the bench scores media (engine/train/calibrate.py), for the one
    global gain and the gate: a report in calibration.json, not a chooser."""
    from engine.jobs import drain
    from engine.models.warp_dit import GATE_REGIONS
    from engine.train.calibrate import heldout_frames, score_gate

    records = drain(heldout_frames(model, cfg.calibration_corpus, tuple(cfg.holdout)))
    return {"global_gain": score_gate(records, (gain,) * len(GATE_REGIONS))[2],
            "gate": score_gate(records, gate)[2] if gate else None}


HAND_WINDOWS = 3  # 8-frame windows per photo x clip in check_hands (6 photos x 2 clips x 3: 288 frames)


def check_hands(model: WarpDiT, cfg: GeneratorTrainConfig, samples: list[dict], start: float,
                gate: tuple[float, ...]) -> tuple[tuple[float, ...], dict]:
    """The drawn hands' gain, checked against the bench's cross-identity hand measures on held-out corpus data
    (cfg.calibration_photos animated by the held-out clips, engine/train/calibrate.heldout_cross): the gate keeps
    its drawn gain when the preview's finger error is no larger and its hands-found share no smaller than the
    instant render's; otherwise the drawn gain is lowered a grid step at a time (the other regions kept: the
    regions barely overlap, and a search of them per trial costs minutes) to the first that keeps both, down to 0
    (leave the instant render's drawn hands alone). When none keeps both, the one with the smallest finger
    error. Each trial's held-out crop figures are reported beside it. Returns (gate, report)."""
    from engine.jobs import drain
    from engine.models.warp_dit import GATE_REGIONS
    from engine.train.calibrate import heldout_cross, score_hands

    d = GATE_REGIONS.index("drawn")
    # the held-out clips that show hands (a talking face's clip has none to measure)
    clips = tuple(c for c in cfg.holdout if "_face_" not in c) or tuple(cfg.holdout)
    pairs = drain(heldout_cross(model, cfg.calibration_corpus, cfg.calibration_photos, clips, windows=HAND_WINDOWS))
    instant = score_hands(pairs, (0.0,) * len(GATE_REGIONS))
    def ok(h: dict) -> bool:  # a measure the pairs cannot give (no hand tracked) does not rule a gain out
        deg = h["hand_deg"] is None or instant["hand_deg"] is None or h["hand_deg"] <= instant["hand_deg"]
        return deg and (h["found"] is None or instant["found"] is None or h["found"] >= instant["found"])

    trials, report = [], {"photos": list(cfg.calibration_photos), "pairs": len(pairs), "instant": instant}
    lower = [v for v in GATE_GRID if v < gate[d]]
    for v in [gate[d], *reversed(lower)]:
        gains = gate[:d] + (v,) + gate[d + 1:]
        hands = score_hands(pairs, gains)
        _, crop = ascend_gate(samples, start, grid=(), fixed=dict(enumerate(gains)))  # measures, searches nothing
        trials.append({"gains": list(gains), **hands, "keeps_hands": ok(hands), "worst": crop["worst"],
                       "mean": crop["mean"], "clips": crop["clips"]})
        if ok(hands):
            break
    keep = [t for t in trials if t["keeps_hands"]]
    pick = keep[0] if keep else min(trials, key=lambda t: (t["hand_deg"] if t["hand_deg"] is not None else 1e9))
    report.update(trials=trials, chosen=pick["gains"], met=bool(keep))
    return tuple(pick["gains"]), report


def heldout_shards(cfg: GeneratorTrainConfig, size: int, data: str | None = None) -> list[Shard]:
    """The prepared shards of the config's held-out clips (the early-stopping score and the calibration), from
    `data` (default: the training data folder)."""
    holdout = set(cfg.holdout)
    return [s for s in load_shards(data or cfg.data, size) if s.name in holdout]


def validation_subset(shards: list[Shard], cfg: GeneratorTrainConfig) -> PairDataset:
    """`val_pairs` pairs spread evenly over the held-out shards, not augmented."""
    ds = PairDataset(shards, cfg, augment=False)
    if len(ds) > cfg.val_pairs:
        keep = np.linspace(0, len(ds) - 1, cfg.val_pairs).round().astype(int)
        ds.index = [ds.index[k] for k in keep]
    return ds


# --- the run -------------------------------------------------------------------------------------------

def build_model(cfg: GeneratorTrainConfig | WarpDiTConfig) -> WarpDiT:
    model_cfg = cfg if isinstance(cfg, WarpDiTConfig) else warp_preset(cfg.preset)
    return WarpDiT(model_cfg)


def train_generator(cfg: GeneratorTrainConfig, *, resume: bool = True, cancel: CancelToken | None = None,
                    model_config: WarpDiTConfig | None = None) -> Job[TrainResult]:
    """Load the prepared shards, build the model (its motion statistics from the training shards) and run
    the generic loop. The held-out clips give the early-stopping score."""
    torch.manual_seed(cfg.loop.seed)  # the initial weights are part of the run (a resume then overwrites them)
    model = build_model(model_config or cfg)
    size = model.config.size
    train_shards = load_shards(cfg.data, size, exclude=set(cfg.holdout))
    val_shards = heldout_shards(cfg, size)
    model.motion_mean, model.motion_std = motion_stats(train_shards)
    out = Path(cfg.out)
    if cfg.init_from and not (resume and latest_state(out) is not None):
        _load_init(model, cfg.init_from)
    dataset = PairDataset(train_shards, cfg)
    eval_fn = make_eval_fn(validation_subset(val_shards, cfg)) if (val_shards and cfg.val_pairs) else None
    yield Progress(0, cfg.loop.steps, f"{len(dataset)} training pairs from {len(train_shards)} clips; "
                                      f"{len(val_shards)} held-out clips")
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_config.json").write_text(model.config.to_json() + "\n")
    (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=list) + "\n")
    return (yield from train(model, make_loss_fn(cfg), dataset, cfg.loop, out, eval_fn=eval_fn, resume=resume,
                             cancel=cancel))


def _load_init(model: WarpDiT, path: str) -> None:
    """The fine-tune's starting weights (the whole state dict, motion statistics included)."""
    from safetensors.torch import load_file

    try:
        model.load_state_dict(load_file(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise TrainingError(f"GeneratorTrainConfig.init_from: {path} does not load into a "
                            f"{model.config.name} model ({str(exc).splitlines()[0][:200]})") from exc


def export_run(run_dir: str | Path, path: str | Path, which: str = "best",
               calibrate: GeneratorTrainConfig | None = None) -> Path:
    """Write a run's EMA weights (`best` by the held-out score, or `last`) as a generator checkpoint. With
    `calibrate` (the run's config): its residual gain is measured on the held-out pairs (calibrate_gain) and
    saved in the checkpoint's config; the table is written beside the run as calibration.json. When the held-out
    shards of `calibrate.calibration_data` (or its data) carry the instant renderer's layers, the preview's
    residual gate is calibrated as well (calibrate_gate, its report in calibration.json under "gate")."""
    from safetensors.torch import load_file

    from engine.models.checkpoint import save_generator
    from engine.train.data import DataError
    from engine.train.loop import BEST_FILE, EMA_FILE

    run_dir = Path(run_dir)
    src = run_dir / (BEST_FILE if which == "best" else EMA_FILE)
    cfg_path = run_dir / "model_config.json"
    if not src.is_file() or not cfg_path.is_file():
        raise DataError(f"{run_dir}: no {src.name} or model_config.json to export (train first)")
    model = WarpDiT(WarpDiTConfig.from_dict(json.loads(cfg_path.read_text())))
    model.load_state_dict(load_file(str(src)))
    extra = {"trained_from": str(run_dir.name), "weights": src.name}
    if calibrate is not None:
        data = calibrate.calibration_data or calibrate.data
        val_shards = heldout_shards(calibrate, model.config.size, data)
        if not val_shards or not calibrate.val_pairs:
            raise DataError(f"{data}: no held-out pairs to calibrate the residual gain on")
        gain, rows = calibrate_gain(model.eval(), validation_subset(val_shards, calibrate))
        table: dict = {"data": data, "chosen": gain, "rows": rows}
        gate: tuple[float, ...] = ()
        if all("layers" in s.arrays for s in val_shards):
            samples = gate_samples(model, val_shards)
            gate, table["gate"] = ascend_gate(samples, gain)
            if calibrate.calibration_photos and calibrate.calibration_corpus:
                gate, table["cross"] = check_hands(model, calibrate, samples, gain, gate)
        if calibrate.calibration_corpus:  # a report: the held-out clips' whole frames, as the bench scores media
            table["frames"] = heldout_frames_report(model, calibrate, gain, gate)
        model.config = dataclasses.replace(model.config, residual_gain=gain, residual_gate=gate)
        (run_dir / "calibration.json").write_text(json.dumps(table, indent=1) + "\n")
        extra["residual_gain"] = f"{gain} (measured on the held-out pairs; see calibration.json)"
        if gate:
            extra["residual_gate"] = f"{list(gate)} (measured per held-out clip; see calibration.json)"
    return save_generator(path, model, extra=extra)
