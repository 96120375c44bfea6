"""The generator's data preparation and trainer, on a tiny prepared set cut from one real corpus clip.

Budget: the clip is tracked once (65 frames) and prepared at 32 px; every training run is the `tiny` model
for a few dozen steps on one thread.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.jobs import drain
from tests.conftest import require_input

ROOT = Path(__file__).resolve().parents[1]
CLIP = "clip_fullbody_woman_squats.mp4"  # the shortest corpus clip (65 frames at 5 fps)
OVERFIT_FACTOR = 3.0  # the loss on a fixed batch must fall at least this much


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, corpus) -> Path:
    """One real clip prepared into a shard at 32 px (the `tiny` model's size)."""
    from engine.train.data import PrepareConfig, prepare

    require_input((corpus / CLIP).is_file(), f"corpus clip {CLIP} missing at {corpus}")
    one = tmp_path_factory.mktemp("corpus")
    (one / CLIP).symlink_to(corpus / CLIP)
    out = tmp_path_factory.mktemp("prepared")
    torch.set_num_threads(1)
    summary = drain(prepare(PrepareConfig(corpus=str(one), out=str(out), size=32, frame_side=64,
                                          refs_per_clip=2, target_stride=2, holdout=())))
    assert summary["clips"] == 1 and summary["pairs"] >= 40
    return out


def _config(data: Path, out: Path, **loop):
    from engine.train.generator import GeneratorTrainConfig
    from engine.train.loop import LoopConfig

    base = dict(steps=20, batch_size=4, lr=2e-3, warmup_steps=2, save_every=10, log_every=1, cpu=True, seed=0)
    return GeneratorTrainConfig(preset="tiny", data=str(data), out=str(out), holdout=(), val_pairs=0,
                                loop=LoopConfig(**{**base, **loop}))


def _losses(run: Path) -> list[tuple[int, float]]:
    with (run / "losses.csv").open() as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


# --- data ----------------------------------------------------------------------------------------------

def test_prepared_pairs_are_crops_of_the_real_frame_and_its_warp(prepared):
    from engine.train.data import load_shards

    (shard,) = load_shards(prepared, 32)
    a = shard.arrays
    assert a["warp"].shape == a["target"].shape and a["warp"].shape[1:] == (32, 32, 3)
    assert a["refs"].shape[0] == 2 and set(np.unique(a["ref_index"])) == {0, 1}
    assert np.isfinite(a["motion"]).all()
    # The warp is of the same person in the same place: far closer to its own target than to another frame's.
    own = np.abs(a["warp"].astype(float) - a["target"]).mean()
    shuffled = np.abs(a["warp"].astype(float) - np.roll(a["target"], 7, axis=0)[:, ::-1]).mean()
    assert own < 0.7 * shuffled


def test_interrupted_and_wrong_data_give_clear_errors(prepared, tmp_path):
    import shutil

    from engine.train.data import DataError, load_shards

    copy = tmp_path / "data"
    shutil.copytree(prepared, copy)
    (shard,) = [p for p in copy.iterdir() if p.is_dir()]
    (tmp_path / "data" / ".tmp_half").mkdir()  # an interrupted shard is ignored, never read
    assert len(load_shards(copy, 32)) == 1
    with pytest.raises(DataError, match="32 px, the model needs 128 px"):
        load_shards(copy, 128)
    (shard / "meta.json").unlink()  # interrupted before its last write: the shard does not count
    with pytest.raises(DataError, match="no complete shards"):
        load_shards(copy, 32)
    with pytest.raises(DataError, match="prepare-data"):
        load_shards(tmp_path / "nothing", 32)


def test_preparing_again_keeps_finished_shards(prepared):
    """An interrupted or repeated preparation redoes only what is missing: a complete shard is not rewritten."""
    from engine.train.data import PrepareConfig, prepare

    meta = next(prepared.glob("*/meta.json"))
    before = meta.stat().st_mtime_ns
    corpus = next(prepared.parent.glob("corpus*"))
    summary = drain(prepare(PrepareConfig(corpus=str(corpus), out=str(prepared), size=32, frame_side=64,
                                          refs_per_clip=2, target_stride=2, holdout=())))
    assert summary["clips"] == 1 and meta.stat().st_mtime_ns == before


def test_pairs_are_prepared_again_once_the_renderer_changed(prepared, monkeypatch):
    """A shard holds the instant render of its day: once the renderer's code changes, preparing again redoes it
    (the generator learns to repair the warp it is given). Unchanged code keeps it (the test above)."""
    from engine.train import data
    from engine.train.data import PrepareConfig, shard_ok

    folder = next(prepared.glob("*/meta.json")).parent
    cfg = PrepareConfig(corpus="unused", out=str(prepared), size=32, frame_side=64, refs_per_clip=2,
                        target_stride=2, holdout=())
    assert shard_ok(folder, cfg.key())
    monkeypatch.setattr(data, "guidance_fingerprint", lambda: "a-changed-renderer")
    assert not shard_ok(folder, cfg.key())


def test_a_bad_clip_is_skipped_with_a_warning(tmp_path):
    from engine.train.data import PrepareConfig, prepare

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "clip_broken.mp4").write_bytes(b"not a video at all")
    messages = []
    summary = drain(prepare(PrepareConfig(corpus=str(corpus), out=str(tmp_path / "out"), size=32,
                                          frame_side=64)), lambda p: messages.append(p.message))
    assert summary["skipped"] == ["clip_broken.mp4"] and summary["pairs"] == 0
    assert any(m.startswith("warning: skipped clip_broken.mp4") for m in messages)


# --- trainer -------------------------------------------------------------------------------------------

def test_trainer_overfits_a_tiny_prepared_set(prepared, tmp_path):
    """With augmentation and dropout off and 8 pairs, the flow-matching loss falls by OVERFIT_FACTOR."""
    from engine.train.data import load_shards
    from engine.train.generator import PairDataset, build_model, make_loss_fn
    from engine.train.loop import LoopConfig, train

    torch.manual_seed(0)
    cfg = dataclasses.replace(_config(prepared, tmp_path), p_drop_reference=0, p_drop_motion=0, p_drop_both=0,
                              p_sigma_level=1.0)
    ds = PairDataset(load_shards(prepared, 32), cfg, augment=False)
    ds.index = ds.index[:8]
    model = build_model(cfg)
    result = drain(train(model, make_loss_fn(cfg), ds,
                         LoopConfig(steps=150, batch_size=8, lr=3e-3, warmup_steps=5, log_every=10, save_every=150,
                                    cpu=True), tmp_path / "run"))
    curve = [loss for _, loss in _losses(tmp_path / "run")]
    assert result.step == 150
    assert np.mean(curve[-3:]) * OVERFIT_FACTOR < np.mean(curve[:2]), curve


def test_resume_continues_the_same_loss_curve(prepared, tmp_path):
    from engine.train.generator import train_generator

    torch.manual_seed(0)
    drain(train_generator(_config(prepared, tmp_path / "straight", steps=20)))
    drain(train_generator(_config(prepared, tmp_path / "resumed", steps=10)))
    drain(train_generator(_config(prepared, tmp_path / "resumed", steps=20)))  # resumes at step 10
    straight, resumed = _losses(tmp_path / "straight"), _losses(tmp_path / "resumed")
    assert [s for s, _ in resumed] == list(range(1, 21))
    assert resumed == straight  # the same numbers: weights, AdamW moments, LR schedule and RNG all restored


def test_a_fine_tune_starts_from_the_weights_it_names(prepared, tmp_path):
    """init_from (a run's best_ema.safetensors) is where a fine-tune starts, not a fresh random model; a path
    that does not load is a one-line error naming the field."""
    from safetensors.torch import load_file

    from engine.train.generator import train_generator
    from engine.train.loop import TrainingError

    torch.manual_seed(0)
    drain(train_generator(_config(prepared, tmp_path / "first", steps=10)))
    start = tmp_path / "first" / "ema.safetensors"
    tune = dataclasses.replace(_config(prepared, tmp_path / "tune", steps=1, lr=1e-9, warmup_steps=0),
                               init_from=str(start))
    drain(train_generator(tune))
    want, got = load_file(str(start)), load_file(str(tmp_path / "tune" / "ema.safetensors"))
    out_w = "out.weight"  # zero at initialisation: a fresh model would still have it near 0
    assert want[out_w].abs().max() > 0
    assert torch.allclose(got[out_w], want[out_w], atol=1e-6)
    with pytest.raises(TrainingError, match="init_from"):
        drain(train_generator(dataclasses.replace(tune, out=str(tmp_path / "bad"),
                                                  init_from=str(tmp_path / "missing.safetensors"))))


def test_prepared_layers_mark_the_warped_person_and_the_export_calibrates_a_residual_gate(prepared, corpus, tmp_path,
                                                                                           monkeypatch):
    """Each prepared pair carries the instant renderer's layers cropped at its box: where they say no person is
    drawn the warp shows the background plate (the "aligned" crop), where they say the person is it does not.
    Exporting with a calibration config measures the preview's residual gate on the held-out clip: one gain
    per region, saved in the checkpoint, never worse on its worst measure than the one global gain it starts from.
    With calibration photos it also re-tracks a corpus photo animated by the held-out clip (as the bench's
    cross-identity part re-tracks media) for that gate and for lower drawn-hand gains: the gate it ships either
    finds hands as often and reads fingers as well as the instant render on those frames, or is the trial
    closest to it in finger error; its drawn-hand gain is never above the crop calibration's."""
    from engine.models.checkpoint import load_generator
    from engine.models.warp_dit import GATE_REGIONS
    from engine.train import generator
    from engine.train.data import load_shards
    from engine.train.generator import export_run, train_generator

    photo = "photo_halfbody_man_stage_talk.jpg"
    require_input((corpus / photo).is_file(), f"corpus photo {photo} missing at {corpus}")
    monkeypatch.setattr(generator, "HAND_WINDOWS", 1)  # one 8-frame window: the test's budget

    (shard,) = load_shards(prepared, 32)
    a = shard.arrays
    lay = np.asarray(a["layers"])
    assert lay.shape == a["warp"].shape
    diff = np.abs(np.asarray(a["warp"], float) - np.asarray(a["aligned"], float)).mean(-1)
    empty, person = (lay[..., 0] == 0) & (lay[..., 2] == 0), lay[..., 0] >= 200
    print(f"empty {empty.mean():.3f}, person {person.mean():.3f}, warp - plate {diff[empty].mean():.2f} / "
          f"{diff[person].mean():.2f}")
    assert empty.mean() > 0.1 and person.mean() > 0.02
    assert diff[empty].mean() < 2.0 and diff[person].mean() > 10.0, (diff[empty].mean(), diff[person].mean())

    torch.manual_seed(0)
    cfg = _config(prepared, tmp_path / "run", steps=10)
    drain(train_generator(cfg))
    cal = dataclasses.replace(cfg, holdout=(CLIP,), val_pairs=8, calibration_corpus=str(corpus),
                              calibration_photos=(photo,))
    monkeypatch.setattr(generator, "heldout_frames_report", lambda *a: None)  # whole frames: reported, not tested here
    path = export_run(cfg.out, tmp_path / "gated.safetensors", "last", calibrate=cal)
    gate = list(load_generator(path).config.residual_gate)
    assert len(gate) == len(GATE_REGIONS)
    table = json.loads((tmp_path / "run" / "calibration.json").read_text())
    report = table["gate"]
    assert [r["clip"] for r in report["clips"]] == [CLIP]
    start = min(r[k] for r in report["global"] for k in ("rel_mse", "rel_ssim"))
    assert report["worst"] >= start

    cross, d = table["cross"], GATE_REGIONS.index("drawn")
    assert cross["pairs"] == 1 and cross["instant"]["hand_deg"] is not None, cross["instant"]
    assert gate == cross["chosen"] and gate[d] <= report["chosen"][d]
    pick = next(t for t in cross["trials"] if t["gains"] == gate)
    if cross["met"]:
        assert pick["hand_deg"] <= cross["instant"]["hand_deg"] and pick["found"] >= cross["instant"]["found"]
    else:
        assert pick["hand_deg"] == min(t["hand_deg"] for t in cross["trials"])


def test_a_held_gate_region_stays_where_it_is_put():
    """ascend_gate (the residual gate's search) finds the gains that repair a synthetic crop: the residual is
    right on the background region and wrong on the drawn hands, so it takes the first whole and drops the second;
    held at 0.5 (`fixed`, as the hand check holds the drawn hands), the drawn gain stays 0.5 and the rest is still
    searched."""
    from engine.models.warp_dit import GATE_REGIONS
    from engine.train.generator import ascend_gate

    g = torch.Generator().manual_seed(0)
    n, s = 4, 32
    warp = torch.rand(n, 3, s, s, generator=g) * 2 - 1
    fix = torch.randn(n, 3, s, s, generator=g) * 0.2
    masks = torch.zeros(n, len(GATE_REGIONS), s, s)
    bg, d = GATE_REGIONS.index("background"), GATE_REGIONS.index("drawn")
    masks[:, bg, :, : s // 2] = 1
    masks[:, d, :, s // 2:] = 1
    target = (warp + fix * masks[:, bg:bg + 1]).clamp(-1, 1)
    x0 = fix * masks[:, bg:bg + 1] + torch.randn(n, 3, s, s, generator=g) * 0.3 * masks[:, d:d + 1]
    clip = {"name": "synthetic", "warp": warp, "target": target, "x0": x0, "masks": masks,
            "mse_w": float(((warp - target) ** 2).mean()), "ssim_w": 0.0}
    from engine.train.generator import ssim
    clip["ssim_w"] = float(ssim(warp, target).mean())
    free, _ = ascend_gate([clip], 0.3)
    assert free[bg] == pytest.approx(1.0) and free[d] == 0.0, free
    held, report = ascend_gate([clip], 0.3, fixed={d: 0.5})
    assert held[d] == 0.5 and held[bg] == pytest.approx(1.0) and report["fixed"] == {d: 0.5}, held


def test_the_gate_report_scores_frames_as_the_bench_does():
    """engine.train.calibrate scores held-out frames with skimage's SSIM (as bench/generator_eval.py scores
    media), computed in torch: the same number on real-looking frames, and it ranks a blurred copy below the
    original."""
    import cv2
    from skimage.metrics import structural_similarity

    from engine.train.calibrate import frame_ssim

    rng = np.random.default_rng(0)
    a = cv2.GaussianBlur(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), (0, 0), 1.5)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    assert abs(frame_ssim(a, b) - structural_similarity(a, b, channel_axis=2)) < 1e-9
    assert frame_ssim(a, cv2.GaussianBlur(a, (0, 0), 3)) < frame_ssim(a, a) == pytest.approx(1.0)


def test_wrong_checkpoint_version_is_a_clear_error(tmp_path):
    from safetensors.torch import load_file, save_file

    from engine.models.checkpoint import CheckpointError, load_generator, save_generator
    from engine.models.warp_dit import WarpDiT, warp_preset

    path = save_generator(tmp_path / "g.safetensors", WarpDiT(warp_preset("tiny")))
    assert isinstance(load_generator(path), WarpDiT)
    cfg = json.loads(path.with_suffix(".json").read_text())
    cfg["format_version"] = 99
    save_file(load_file(str(path)), str(tmp_path / "v99.safetensors"),
              metadata={"format": "unimotion-warp-dit", "config": json.dumps(cfg)})
    with pytest.raises(CheckpointError, match="format_version: 99 is not supported"):
        load_generator(tmp_path / "v99.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_generator(tmp_path / "junk.safetensors")


DDP_SCRIPT = """
import sys, json, torch
sys.path.insert(0, {root!r})
torch.set_num_threads(1)
from engine.jobs import drain
from engine.train.generator import GeneratorTrainConfig, train_generator
from engine.train.loop import LoopConfig
from accelerate.state import PartialState
cfg = GeneratorTrainConfig(preset="tiny", data={data!r}, out={out!r}, holdout=(), val_pairs=0,
                           loop=LoopConfig(steps=4, batch_size=2, warmup_steps=1, save_every=4, log_every=1, cpu=True))
result = drain(train_generator(cfg))
from safetensors.torch import load_file
state = PartialState()
weights = load_file({out!r} + "/state/step_0000004/model.safetensors")
# One file per process: two processes printing to one pipe can interleave their lines.
with open({out!r} + f"/rank_{{state.process_index}}.json", "w") as fh:
    json.dump({{"rank": state.process_index, "world": state.num_processes, "step": result.step,
               "weights": len(weights)}}, fh)
"""


def test_two_processes_step_in_step(prepared, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on a machine without CUDA: two gloo CPU processes.
    (`--cpu --num_processes 2` starts only one process in accelerate 1.x.) Both reach the same step, the
    checkpoint holds one RNG state per process, and the logged loss is their mean."""
    script = tmp_path / "ddp.py"
    out = tmp_path / "run"
    script.write_text(DDP_SCRIPT.format(root=str(ROOT), data=str(prepared), out=str(out)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                           "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                           str(script)], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ranks = sorted((json.loads(p.read_text()) for p in out.glob("rank_*.json")), key=lambda r: r["rank"])
    assert [r["rank"] for r in ranks] == [0, 1], proc.stdout[-1500:] + proc.stderr[-1500:]
    assert all(r["world"] == 2 and r["step"] == 4 and r["weights"] > 0 for r in ranks)
    state = out / "state" / "step_0000004"
    assert (state / "random_states_0.pkl").is_file() and (state / "random_states_1.pkl").is_file()
    assert [s for s, _ in _losses(out)] == [1, 2, 3, 4]


def test_cli_train_refuses_a_bad_config_in_one_line(tmp_path, capsys):
    from engine.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"preset": "huge"}))
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: preset: unknown name 'huge'") and "\n" not in err



def test_a_flipped_training_sample_gets_the_tokens_of_the_mirrored_video(media, tmp_path):
    """The trainer flips crops horizontally; the motion condition it pairs them with must be what tracking the
    flipped frames gives (hands swapped, sideways components negated), not the original tokens."""
    from engine.motion.features import GROUP_SLICES
    from engine.train.data import motion_vector
    from engine.train.generator import mirror_motion
    from engine.tokens.schema import GROUP_NAMES
    from tests.engine_helpers import frames_of, tracked, write_video

    frames = list(frames_of(media / "drive_fullbody_woman_dance.mp4", 24))  # turns, arms and hands apart
    a = tracked(str(write_video(tmp_path / "a.mp4", frames)))
    b = tracked(str(write_video(tmp_path / "b.mp4", (f[:, ::-1] for f in frames))))
    ok = np.ones(len(a.tokens), bool)
    for g in GROUP_NAMES:
        ok &= (a.tokens.group(g).confidence > 0) & (b.tokens.group(g).confidence > 0)
    assert ok.sum() >= 12, "both videos must show the face, body and both hands"
    ma = torch.from_numpy(np.stack([motion_vector(a.tokens, i, a.tokens.placement[i]) for i in np.where(ok)[0]]))
    mb = torch.from_numpy(np.stack([motion_vector(b.tokens, i, b.tokens.placement[i]) for i in np.where(ok)[0]]))
    mirrored = mirror_motion(ma)
    spans = {**GROUP_SLICES, "placement": slice(ma.shape[1] - 3, ma.shape[1])}
    for group, sl in spans.items():  # measured: mirrored / plain = 0.19 to 0.54 per group
        plain, mirr = float((ma - mb)[:, sl].abs().mean()), float((mirrored - mb)[:, sl].abs().mean())
        assert mirr < 0.7 * plain, f"{group}: mirrored {mirr:.3f} vs unmirrored {plain:.3f}"
    assert torch.allclose(mirror_motion(mirrored), ma)
