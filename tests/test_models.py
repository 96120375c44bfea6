"""The X-UniMotion networks at the `tiny` preset on CPU, seeded: configs, shapes, crops, motion tokens,
training step, checkpoints. No weights, no network; the whole file runs in a few seconds."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from engine.errors import UserFacingError
from engine.models.aux_decoders import N_HEATMAP_JOINTS, joint_heatmaps
from engine.models.checkpoint import CheckpointError, config_sidecar, load_checkpoint, save_checkpoint
from engine.models.config import GeneratorConfig, UniMotionConfig, VAEConfig, config_diff, preset
from engine.models.latent_codec import build_codec
from engine.models.motion_encoder import (FLAT_DIM, PARTS, boxes_to_tensor, crop_boxes_from_landmarks,
                                          crop_resize)
from engine.models.unimotion import UniMotion
from engine.tokens.schema import GROUP_NAMES, MotionTokens, TokenGroup, channel_index
from engine.track import landmarks
from engine.track.types import FrameLandmarks
from engine.train.step import TrainBatch, evaluate, make_optimizer, train_step

SIZE, FRAMES = 32, 4


def _model(seed: int = 0, **groups) -> UniMotion:
    torch.manual_seed(seed)
    cfg = preset("tiny").replace(**groups) if groups else preset("tiny")
    return UniMotion(cfg).eval()


def _clip(frames: int = FRAMES, size: int = SIZE) -> torch.Tensor:
    """(1, T, 3, H, W) in [-1, 1]: a bright blob moving right over a gradient."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    out = [torch.stack([torch.exp(-((xx + 0.4 - 0.25 * t) ** 2 + yy ** 2) / 0.08) * 2 - 1, xx, yy])
           for t in range(frames)]
    return torch.stack(out)[None]


def _boxes(b: int, t: int) -> tuple[dict, dict]:
    box = {"face": (10.0, 2.0, 22.0, 14.0), "left_hand": (20.0, 16.0, 30.0, 26.0),
           "right_hand": (2.0, 16.0, 12.0, 26.0)}
    boxes = {p: torch.tensor(box[p]).expand(b, t, 4) for p in PARTS}
    return boxes, {p: torch.ones(b, t, dtype=torch.bool) for p in PARTS}


# --- configs ---------------------------------------------------------------------------------------------

def test_presets_build_and_round_trip_json():
    for name in ("tiny", "small", "base"):
        cfg = preset(name)
        assert UniMotionConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown name"):
        preset("huge")


def test_validation_names_the_field():
    with pytest.raises(ValueError, match=r"GeneratorConfig\.hidden"):
        GeneratorConfig(hidden=30, heads=4)
    with pytest.raises(ValueError, match=r"GeneratorConfig\.overlap"):
        GeneratorConfig(window=4, overlap=4)
    with pytest.raises(ValueError, match=r"GeneratorConfig\.latent"):
        GeneratorConfig(latent="jpeg")
    with pytest.raises(ValueError, match=r"TrainConfig\.p_drop_motion"):
        preset("tiny").replace(train={"p_drop_motion": 1.5})
    data = preset("tiny").to_dict()
    data["generator"]["hiden"] = 3
    with pytest.raises(ValueError, match=r"UniMotionConfig\.generator\.hiden: unknown field"):
        UniMotionConfig.from_dict(data)
    assert config_diff(preset("tiny"), preset("tiny").replace(generator={"depth": 3})) == ["generator.depth: 2 != 3"]


# --- shapes through every stage -------------------------------------------------------------------------

def test_shapes_through_every_stage():
    model = _model()
    cfg = model.config
    video = _clip()
    boxes, valid = _boxes(1, FRAMES)
    with torch.no_grad():
        codes = model.encode_driving(video, boxes, valid)
        assert codes.body.shape == (1, FRAMES, cfg.motion.body_dim)
        assert codes.face.shape == (1, FRAMES, cfg.motion.face_dim)
        assert codes.left_hand.shape == codes.right_hand.shape == (1, FRAMES, cfg.motion.hand_dim)
        projected = model.project_tokens(torch.zeros(1, FRAMES, FLAT_DIM))
        assert projected.body.shape == codes.body.shape and projected.left_hand.shape == codes.left_hand.shape
        ref = model.codec.encode(video[:, 0])
        grid = model.grid(ref)
        assert grid == (SIZE // cfg.generator.patch_size,) * 2
        guidance = model.motion_guidance(ref, codes)
        assert guidance.shape == (1, FRAMES, grid[0] * grid[1], cfg.generator.hidden)
        v = model.velocity(video, torch.tensor([500.0]), ref, guidance, codes.face)
        assert v.shape == video.shape
        heat, normals = model.aux_maps(guidance, grid)
        assert heat.shape == (1, FRAMES, N_HEATMAP_JOINTS, SIZE, SIZE)
        assert normals.shape == (1, FRAMES, 3, SIZE, SIZE)


def test_vae_latents_are_built_from_config_without_download():
    cfg = GeneratorConfig(latent="vae", vae=VAEConfig(channels=(8, 8), norm_groups=4), sample_size=16, patch_size=2,
                          hidden=16, heads=2, window=2, overlap=0)
    torch.manual_seed(0)
    codec = build_codec(cfg).eval()
    with torch.no_grad():
        z = codec.encode(torch.zeros(2, 3, 16, 16))
        assert z.shape == (2, 4, 8, 8)
        assert codec.decode(z).shape == (2, 3, 16, 16)
    model = UniMotion(preset("tiny").replace(generator=cfg))
    assert not any(p.requires_grad for p in model.codec.parameters())  # the autoencoder is frozen


def test_null_conditions_ignore_their_inputs():
    model = _model()
    with torch.no_grad():  # wake the zero-initialised layers so the outputs depend on their inputs at all
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.1)
    x, t = _clip(), torch.tensor([300.0])
    g = torch.Generator().manual_seed(1)
    guidance = torch.randn(1, FRAMES, 64, 32, generator=g)
    face = torch.randn(1, FRAMES, 8, generator=g)
    ref_a, ref_b = torch.randn(2, 1, 3, SIZE, SIZE, generator=g)
    no, yes = torch.tensor([False]), torch.tensor([True])
    with torch.no_grad():
        assert torch.equal(model.velocity(x, t, ref_a, guidance, face, ref_keep=no),
                           model.velocity(x, t, ref_b, guidance, face, ref_keep=no))
        assert not torch.allclose(model.velocity(x, t, ref_a, guidance, face, ref_keep=yes),
                                  model.velocity(x, t, ref_b, guidance, face, ref_keep=yes))
        assert torch.equal(model.velocity(x, t, ref_a, guidance, face, motion_keep=no),
                           model.velocity(x, t, ref_a, guidance * 2, face + 1, motion_keep=no))


# --- crops and motion tokens ----------------------------------------------------------------------------

def test_crop_boxes_from_landmarks():
    lm = FrameLandmarks(width=200, height=100)
    lm.face[:] = np.nan
    lm.face[:10, :2] = [[90, 20], [110, 20], [100, 40], [95, 30], [105, 30], [100, 25], [92, 35], [108, 35],
                        [100, 22], [100, 38]]
    lm.right_hand[:, :2] = np.stack([np.linspace(20, 30, 21), np.linspace(60, 70, 21)], 1)
    lm.body[landmarks.L_WRIST, :2] = [170, 60]
    lm.body[landmarks.L_INDEX, :2] = [175, 70]
    boxes = crop_boxes_from_landmarks(lm)
    assert set(boxes) == {"face", "left_hand", "right_hand"}
    x0, y0, x1, y1 = boxes["face"]
    assert x1 - x0 == pytest.approx(y1 - y0) and x0 < 90 and x1 > 110 and y0 < 20 and y1 > 40
    x0, y0, x1, y1 = boxes["left_hand"]  # from the body's wrist/index points, with a wider margin
    assert x0 < 170 and x1 > 175 and (x1 - x0) >= 3 * 10
    assert "face" not in crop_boxes_from_landmarks(FrameLandmarks(width=200, height=100))


def test_crop_resize_crops_mirrors_and_blanks():
    frame = torch.zeros(1, 3, 20, 20)
    frame[:, :, 4:11, 9:16] = 1.0  # a 7x7 square
    square = torch.tensor([[10.0, 5.0, 15.0, 10.0]])  # its 5x5 inside (bilinear sampling blurs edges)
    assert torch.allclose(crop_resize(frame, square, 5), torch.ones(1, 3, 5, 5))
    ramp = torch.linspace(-1, 1, 20).expand(1, 3, 20, 20).contiguous()
    box = torch.tensor([[3.0, 3.0, 17.0, 17.0]])
    assert torch.allclose(crop_resize(ramp, box, 7, flip=True), crop_resize(ramp, box, 7).flip(-1), atol=1e-6)
    assert not crop_resize(frame, square, 5, valid=torch.tensor([False])).any()


def _figure(arm_up: bool, size: int = 64) -> torch.Tensor:
    """A synthetic performer: torso, head, and a bright blob 'arm' hanging down or raised. (3, H, W)."""
    img = torch.full((3, size, size), -1.0)
    img[:, 24:50, 26:38] = 0.5  # torso
    img[:, 8:20, 27:37] = 0.2  # head
    if arm_up:
        img[:, 10:26, 40:45] = 1.0
    else:
        img[:, 26:42, 40:45] = 1.0
    return img


def test_motion_tokens_follow_the_pose_not_the_face():
    model = _model()
    frames = torch.stack([_figure(False), _figure(True), _figure(False)])[None]  # (1, 3, 3, 64, 64)
    box = {"face": (24.0, 6.0, 38.0, 20.0), "left_hand": (46.0, 40.0, 58.0, 52.0),
           "right_hand": (6.0, 40.0, 18.0, 52.0)}
    boxes = {p: torch.tensor(box[p]).expand(1, 3, 4) for p in PARTS}
    valid = {p: torch.ones(1, 3, dtype=torch.bool) for p in PARTS}
    with torch.no_grad():
        codes = model.encode_driving(frames, boxes, valid)
    body = codes.body[0]
    moved = (body[1] - body[0]).norm() / body[0].norm()
    assert moved > 0.05, f"the body token barely moved ({moved:.4f})"
    assert torch.equal(body[0], body[2])  # same pose, same token
    assert torch.allclose(codes.face[0, 0], codes.face[0, 1])  # the face crop did not change


def test_left_hand_is_mirrored_into_the_shared_hand_encoder():
    model = _model()
    half = torch.rand(1, 1, 3, 32, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    frame = torch.cat([half, half.flip(-1)], dim=-1)  # (1, 1, 3, 32, 32), left-right symmetric
    boxes = {"face": torch.tensor([8.0, 0, 24, 16]), "right_hand": torch.tensor([2.0, 14, 14, 26]),
             "left_hand": torch.tensor([18.0, 14, 30, 26])}  # mirror images of each other
    boxes = {p: b.expand(1, 1, 4) for p, b in boxes.items()}
    valid = {p: torch.ones(1, 1, dtype=torch.bool) for p in PARTS}
    with torch.no_grad():
        codes = model.encode_driving(frame, boxes, valid)
    assert torch.allclose(codes.left_hand, codes.right_hand, atol=1e-5)


def test_token_projection_is_per_group():
    model = _model()
    rest = MotionTokens(**{g: TokenGroup.empty(g, 2) for g in GROUP_NAMES})
    edited = rest.copy()
    edited.face.values[1, channel_index("face", "jaw_open")] = 0.3
    with torch.no_grad():
        a = model.project_tokens(torch.from_numpy(rest.flat())[None])
        b = model.project_tokens(torch.from_numpy(edited.flat())[None])
    assert torch.allclose(a.body[0, 0], model.token_projection.body.bias)  # neutral pose -> the bias
    assert not torch.allclose(a.face[0, 1], b.face[0, 1])
    for g in ("body", "left_hand", "right_hand"):
        assert torch.equal(getattr(a, g), getattr(b, g))


def test_joint_heatmaps_peak_at_the_joint():
    pts = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    maps = joint_heatmaps(pts, torch.tensor([1.0, 0.0]), (8, 8), sigma=1.0)
    assert maps.shape == (2, 8, 8)
    assert divmod(int(maps[0].argmax()), 8) in {(5, 1), (5, 2), (6, 1), (6, 2)}
    assert not maps[1].any()


# --- training step --------------------------------------------------------------------------------------

def _batch() -> TrainBatch:
    video = _clip()
    boxes, valid = _boxes(1, FRAMES)
    pts = torch.rand(1, FRAMES, N_HEATMAP_JOINTS, 2, generator=torch.Generator().manual_seed(0))
    heat = joint_heatmaps(pts, torch.ones(1, FRAMES, N_HEATMAP_JOINTS), (SIZE, SIZE), 1.5)
    normals = torch.zeros(1, FRAMES, 3, SIZE, SIZE)
    normals[:, :, 2, 20:28, 2:12] = 1.0  # a palm facing the camera
    return TrainBatch(video[:, 0], video, video, boxes, valid, heatmaps=heat,
                      heatmap_weight=torch.ones(1, FRAMES, N_HEATMAP_JOINTS), normals=normals,
                      tokens=torch.zeros(1, FRAMES, FLAT_DIM))


def test_training_loss_falls_on_an_overfit_clip():
    model = _model()
    batch = _batch()
    opt = make_optimizer(model)
    gen = torch.Generator().manual_seed(0)

    def flow_loss() -> float:
        return float(np.mean([evaluate(model, batch, seed=s)["flow"] for s in range(4)]))

    before, heat_before = flow_loss(), evaluate(model, batch)["heatmap"]
    results = [train_step(model, opt, batch, gen) for _ in range(30)]
    after = flow_loss()
    assert all(np.isfinite(list(r.losses.values())).all() and r.grad_norm > 0 for r in results)
    assert after < 0.85 * before, (before, after)
    assert evaluate(model, batch)["heatmap"] < heat_before


def test_same_seed_same_training():
    runs = []
    for _ in range(2):
        model = _model(seed=5)
        opt = make_optimizer(model)
        gen = torch.Generator().manual_seed(7)
        runs.append([train_step(model, opt, _batch(), gen).losses["total"] for _ in range(2)])
    assert runs[0] == runs[1]


# --- checkpoints ----------------------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    model = _model(seed=2)
    path = save_checkpoint(tmp_path / "tiny", model)
    assert path.suffix == ".safetensors" and config_sidecar(path).is_file()
    loaded = load_checkpoint(path, expected=preset("tiny"))
    assert loaded.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_checkpoint_mismatch_errors(tmp_path):
    path = save_checkpoint(tmp_path / "tiny.safetensors", _model())
    with pytest.raises(CheckpointError, match=r"generator\.depth: 3 != 2"):
        load_checkpoint(path, expected=preset("tiny").replace(generator={"depth": 3}))
    with pytest.raises(UserFacingError, match="No DiT checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")

    # a sidecar that disagrees with the config inside the file
    side = json.loads(config_sidecar(path).read_text())
    side["generator"]["hidden"] = 64
    config_sidecar(path).write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match=r"generator\.hidden"):
        load_checkpoint(path)

    # weights that do not fit the stored config
    from safetensors.torch import load_file, save_file

    other = dataclasses.replace(preset("tiny"), generator=GeneratorConfig(depth=1))
    config_sidecar(path).unlink()
    save_file(load_file(str(path)), str(path), metadata={"format": "unimotion", "format_version": "1",
                                                          "config": other.to_json()})
    with pytest.raises(CheckpointError, match="unexpected dit.blocks.1"):
        load_checkpoint(path)
