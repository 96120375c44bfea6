"""The DiT sampling pipeline and renderer at the `tiny` preset on CPU, seeded: stages, determinism, window
seams, cancellation, the diffusers scheduler contract, checkpoints. Random weights: outputs mean nothing,
the tests check behaviour only."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import Cancelled, UserFacingError
from engine.jobs import CancelToken, drain
from engine.models.checkpoint import save_checkpoint
from engine.models.config import preset
from engine.models.losses import add_noise
from engine.models.motion_encoder import FLAT_DIM
from engine.models.unimotion import UniMotion
from engine.render.base import Reference
from engine.render.dit_pipeline import (DrivingClip, TokenMotion, UniMotionPipeline, estimate_memory,
                                        temporal_windows, window_weights, work_size)
from engine.render.dit_renderer import PaperDiTRenderer
from engine.tokens.schema import GROUP_NAMES, MotionTokens, TokenGroup, channel_index
from engine.track import landmarks as L
from engine.track.types import FrameLandmarks

SIZE = (32, 32)


def _woken_model(seed: int = 0) -> UniMotion:
    """A tiny model whose zero-initialised layers (adaLN-Zero, final layer, nulls) are randomised, so the
    output depends on every input (a freshly built DiT predicts v = 0 and returns its noise)."""
    torch.manual_seed(seed)
    model = UniMotion(preset("tiny"))
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.1)
    return model


@pytest.fixture(scope="module")
def pipe() -> UniMotionPipeline:
    return UniMotionPipeline(_woken_model())


def _reference(h: int = 40, w: int = 30) -> np.ndarray:
    return (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)


def _tokens(frames: int) -> MotionTokens:
    tokens = MotionTokens(**{g: TokenGroup.empty(g, frames) for g in GROUP_NAMES})
    tokens.body.values[:, channel_index("body", "l_upper_arm.x")] = np.linspace(0, 1, frames)  # raise an arm
    return tokens


def _driving(frames: int, size: int = 48) -> DrivingClip:
    imgs, lms = [], []
    for t in range(frames):
        img = np.zeros((size, size, 3), np.uint8)
        img[10:40, 18:30] = 120  # torso
        img[14 + t:20 + t, 30:44] = 255  # an arm moving down
        lm = FrameLandmarks(width=size, height=size)
        lm.body[L.NOSE, :2] = [24, 6]
        lm.body[L.L_WRIST, :2] = [42, 17 + t]
        imgs.append(img)
        lms.append(lm)
    return DrivingClip(imgs, lms)


# --- stages -----------------------------------------------------------------------------------------------

def test_pipeline_stages_progress_and_previews(pipe):
    progress = []
    frames = drain(pipe(_reference(), TokenMotion.from_tokens(_tokens(5)), size=SIZE, steps=3), progress.append)
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    steps = [p for p in progress if p.preview is not None]
    assert [p.done for p in steps] == [1, 2, 3] and all(p.total == 3 for p in progress)
    assert steps[0].preview.shape == (32, 32, 3) and steps[0].preview.dtype == np.uint8
    ref = pipe.prepare_reference(_reference(), SIZE)
    assert ref.shape == (1, 3, 32, 32)
    assert len(pipe.encode_motion(_driving(3), chunk=2)) == 3
    with pytest.raises(ValueError, match="multiples of 4"):
        drain(pipe(_reference(), TokenMotion.from_tokens(_tokens(2)), size=(30, 32), steps=1))


def test_same_seed_same_frames(pipe):
    motion = TokenMotion.from_tokens(_tokens(4))
    a = drain(pipe(_reference(), motion, size=SIZE, steps=2, seed=3))
    b = drain(pipe(_reference(), motion, size=SIZE, steps=2, seed=3))
    c = drain(pipe(_reference(), motion, size=SIZE, steps=2, seed=4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_driving_mode_and_token_edits_change_the_frames(pipe):
    out = drain(pipe(_reference(), _driving(4), size=SIZE, steps=2))
    assert out.shape == (4, 32, 32, 3)
    tokens = _tokens(4)
    edited = tokens.copy()
    edited.face.values[:, channel_index("face", "jaw_open")] = 0.5
    a = drain(pipe(_reference(), TokenMotion.from_tokens(tokens), size=SIZE, steps=2))
    b = drain(pipe(_reference(), TokenMotion.from_tokens(edited), size=SIZE, steps=2))
    assert not np.array_equal(a, b)


def test_flow_matching_convention_matches_the_scheduler(pipe):
    sched = pipe.scheduler
    sched.set_timesteps(10)
    x0, noise = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    t = sched.timesteps[3]
    sigma = t / sched.config.num_train_timesteps
    ours = add_noise(x0, noise, sigma.expand(2))
    assert torch.allclose(ours, sched.scale_noise(x0, t.expand(2), noise), atol=1e-6)


def test_scheduler_is_swappable():
    from diffusers import FlowMatchHeunDiscreteScheduler  # second order: two model calls per step

    pipe = UniMotionPipeline(_woken_model(), scheduler=FlowMatchHeunDiscreteScheduler())
    progress = []
    frames = drain(pipe(_reference(), TokenMotion.from_tokens(_tokens(2)), size=SIZE, steps=2), progress.append)
    assert frames.shape == (2, 32, 32, 3) and progress[-1].done == progress[-1].total == 3


# --- windows ----------------------------------------------------------------------------------------------

def test_windows_cover_the_clip_and_weights_sum_to_one():
    for length, window, overlap in [(12, 6, 2), (11, 5, 2), (3, 4, 2), (10, 4, 0)]:
        windows = temporal_windows(length, window, overlap)
        assert windows[0][0] == 0 and windows[-1][1] == length
        total = torch.zeros(length)
        for (s, e), w in zip(windows, window_weights(windows)):
            total[s:e] += w
        assert torch.allclose(total, torch.ones(length))


def test_window_seams_are_continuous(pipe):
    """Same noise in every frame and a smooth motion ramp: frame-to-frame change comes from the motion and
    the window context only. A hard cut between windows shows as a jump; the crossfade must not."""
    frames, window = 12, 6
    flat = np.zeros((frames, FLAT_DIM), np.float32)
    flat[:, 20:40] = np.linspace(0, 1, frames)[:, None]
    noise = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)).expand(frames, -1, -1, -1)

    def steps_between_frames(overlap: int) -> np.ndarray:
        out = drain(pipe(_reference(), TokenMotion(flat), size=SIZE, steps=3, window=window, overlap=overlap,
                         latents=noise.clone())).astype(np.float32)
        return np.abs(np.diff(out, axis=0)).mean(axis=(1, 2, 3))  # (T-1,) mean change between neighbours

    blended = steps_between_frames(2)  # windows (0, 6), (4, 10), (6, 12)
    within = blended[:3]  # frames 0-3 belong to the first window only
    assert blended.max() <= 1.5 * within.max(), (blended, within)
    hard = steps_between_frames(0)  # windows (0, 6), (6, 12): the seam is between frames 5 and 6
    assert hard[5] > 1.5 * within.max(), (hard, within)  # the test has teeth: a hard cut shows


def test_memory_estimate_grows_with_window_and_size():
    cfg = preset("tiny")
    small = estimate_memory(cfg, 4, SIZE)
    assert 0 < small < estimate_memory(cfg, 8, SIZE) < estimate_memory(cfg, 8, (64, 64))
    assert estimate_memory(preset("base"), 16, (512, 512)) > 2 ** 30


# --- cancellation -----------------------------------------------------------------------------------------

def test_cancel_stops_between_steps(pipe):
    cancel = CancelToken()
    job = pipe(_reference(), TokenMotion.from_tokens(_tokens(4)), size=SIZE, steps=5, cancel=cancel)
    first = next(job)
    assert first.done == 1
    cancel.cancel()
    with pytest.raises(Cancelled):
        next(job)


# --- renderer ---------------------------------------------------------------------------------------------

def test_renderer_from_checkpoint_in_both_modes(tmp_path):
    path = save_checkpoint(tmp_path / "tiny.safetensors", _woken_model())
    ref = Reference(_reference(), FrameLandmarks(width=30, height=40))
    renderer = PaperDiTRenderer(path, steps=2)
    assert renderer.mode == "tokens"
    frames = list(renderer.render(ref, _tokens(6), [1, 3, 2], size=(24, 18)))
    assert [f.index for f in frames] == [1, 3, 2]
    assert all(f.rgb.shape == (18, 24, 3) and f.rgb.dtype == np.uint8 for f in frames)
    again = renderer.render_frame(ref, _tokens(6), 3, size=(24, 18))
    assert again.shape == (18, 24, 3)

    driven = PaperDiTRenderer(path, steps=1, driving=_driving(5))
    assert driven.mode == "driving"
    assert len(list(driven.render(ref, _tokens(5), [0, 4]))) == 2
    with pytest.raises(UserFacingError, match="outside the motion clip"):
        list(driven.render(ref, _tokens(5), [5]))

    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        list(renderer.render(ref, _tokens(6), [0, 1], cancel=cancel))


def test_renderer_without_checkpoint_says_so(tmp_path):
    with pytest.raises(UserFacingError, match="No DiT checkpoint"):
        PaperDiTRenderer(tmp_path / "unimotion.safetensors")


def test_work_size_keeps_aspect_and_multiples():
    g = preset("small").generator
    w, h = work_size(1920, 1080, g)
    assert w == g.sample_size and h % g.multiple == 0 and abs(w / h - 16 / 9) < 0.1
