"""The DiT sampling pipeline and renderer at the `tiny` preset on CPU, seeded: stages, determinism, window
seams, cancellation, the diffusers scheduler contract, checkpoints. Random weights: outputs mean nothing,
the tests check behaviour only."""
from __future__ import annotations

from pathlib import Path

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
from engine.track import landmarks
from engine.track.types import FrameLandmarks
from tests.conftest import require_input

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
        lm.body[landmarks.NOSE, :2] = [24, 6]
        lm.body[landmarks.L_WRIST, :2] = [42, 17 + t]
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


# --- the warp-guided generator (the model that ships) ---------------------------------------------------

def _warp_model(woken: bool, seed: int = 0):
    from engine.models.warp_dit import WarpDiT, warp_preset

    torch.manual_seed(seed)
    model = WarpDiT(warp_preset("tiny"))
    if woken:
        with torch.no_grad():
            for p in model.parameters():
                if not p.any():
                    p.normal_(0, 0.1)
    return model.eval()


def test_untrained_generator_returns_the_instant_render_exactly(media):
    """The zero-initialised output layer makes a fresh model the identity on the warp: training starts at
    the instant render's quality."""
    from engine.analyze import load_reference
    from engine.io.image import load_image
    from engine.render.dit_renderer import DiTRenderer
    from engine.render.instant.renderer import InstantRenderer

    photo = media / "photo_portrait_woman.jpg"
    small = load_image(photo, max_side=96)  # a small frame keeps the test fast
    ref = Reference(small, load_reference(photo).landmarks.rescaled(small.shape[1], small.shape[0]))
    tokens = _tokens(3)
    instant = [f.rgb for f in InstantRenderer().render(ref, tokens, [0, 2])]
    dit = [f.rgb for f in DiTRenderer(_warp_model(woken=False), steps=2).render(ref, tokens, [0, 2])]
    assert all(np.array_equal(a, b) for a, b in zip(instant, dit))
    woken = [f.rgb for f in DiTRenderer(_warp_model(woken=True), steps=2).render(ref, tokens, [0])]
    assert not np.array_equal(woken[0], instant[0])  # ... and a trained one changes the frame


def test_few_step_sampling_takes_real_steps_and_guidance_uses_three_branches():
    from engine.render.dit_warp import SampleRequest, preview_sigmas, sample_residual

    assert preview_sigmas(2) == (1.0, 0.5) and preview_sigmas(4)[-1] == 0.25  # no step wasted near sigma 0
    model = _warp_model(woken=True)
    s = model.config.size
    g = torch.Generator().manual_seed(0)
    req = SampleRequest(*(torch.rand(2, 3, s, s, generator=g) * 2 - 1 for _ in range(3)),
                        torch.randn(2, model.config.motion_dim, generator=g))
    seen = []
    one = drain(sample_residual(model, req, preview_sigmas(1), generator=torch.Generator().manual_seed(1)))
    two = drain(sample_residual(model, req, preview_sigmas(2), generator=torch.Generator().manual_seed(1)),
                seen.append)
    assert [p.done for p in seen] == [1, 2] and seen[-1].preview.shape == (2, 3, s, s)
    assert not torch.allclose(one, two)  # the second step changed the result
    plain = drain(sample_residual(model, req, (1.0,), generator=torch.Generator().manual_seed(1)))
    guided = drain(sample_residual(model, req, (1.0,), ref_guidance=2.0, motion_guidance=2.0,
                                   generator=torch.Generator().manual_seed(1)))
    assert plain.shape == guided.shape and not torch.allclose(plain, guided)
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        drain(sample_residual(model, req, (1.0,), cancel=cancel))


def test_the_calibrated_residual_gain_scales_the_preview_not_the_full_render(media):
    """The preview pastes the checkpoint's residual_gain x the sampled residual (the same noise: half the
    correction at 0.5); the full render pastes its guided sample whole (shrunk, it ghosts a moved limb);
    a gain outside (0, 2] is refused naming the field."""
    import dataclasses

    from engine.models.warp_dit import WarpDiTConfig
    from engine.render.dit_renderer import FULL_RESIDUAL_GAIN, DiTRenderer
    from engine.render.dit_warp import SampleRequest, sample_residual

    model = _warp_model(woken=True)
    s = model.config.size
    g = torch.Generator().manual_seed(3)
    req = SampleRequest(torch.rand(2, 3, s, s, generator=g) * 2 - 1, torch.rand(2, 3, s, s, generator=g) * 2 - 1,
                        torch.rand(2, 3, s, s, generator=g) * 2 - 1, torch.randn(2, model.config.motion_dim, generator=g))
    full = drain(sample_residual(model, req, (1.0, 0.5), generator=torch.Generator().manual_seed(0)))
    half = drain(sample_residual(model, req, (1.0, 0.5), generator=torch.Generator().manual_seed(0), gain=0.5))
    assert full.abs().mean() > 1e-3
    assert torch.allclose(half, 0.5 * full, atol=1e-6)

    from engine.analyze import load_reference
    from engine.io.image import load_image
    from engine.render.instant.renderer import InstantRenderer

    model.config = dataclasses.replace(model.config, residual_gain=0.5)
    photo = media / "photo_portrait_woman.jpg"
    small = load_image(photo, max_side=96)
    ref = Reference(small, load_reference(photo).landmarks.rescaled(small.shape[1], small.shape[0]))
    tokens = _tokens(2)
    instant = InstantRenderer().render_frame(ref, tokens, 1).astype(float)
    frames = {gain: DiTRenderer(model, steps=2, residual_gain=gain).render_frame(ref, tokens, 1).astype(float)
              for gain in (None, FULL_RESIDUAL_GAIN)}
    moved = {k: np.abs(v - instant).mean() for k, v in frames.items()}
    assert FULL_RESIDUAL_GAIN == 1.0 and moved[1.0] > 0.5
    assert abs(moved[None] / moved[1.0] - 0.5) < 0.1, moved  # the checkpoint's 0.5 (uint8 rounding aside)
    with pytest.raises(ValueError, match="residual_gain"):
        WarpDiTConfig(residual_gain=0.0)


def test_the_residual_gate_leaves_the_pixels_the_warp_got_right_as_they_are(media):
    """With a residual gate (the checkpoint's residual_gate: a gain per kind of instant-render pixel), the
    preview repairs only where the gate lets it: here only the plate where the photo's arm was before it was
    raised (the "hole"). Away from it the frame is the instant render's, pixel for pixel, while the same model
    pasted with one global gain changes the whole crop."""
    import dataclasses

    import cv2

    from engine.analyze import load_reference
    from engine.io.image import load_image
    from engine.render.dit_renderer import DiTRenderer
    from engine.render.instant.renderer import InstantRenderer
    from engine.tokens import retarget

    model = _warp_model(woken=True)
    model.config = dataclasses.replace(model.config, residual_gate=(0.0, 1.0, 0.0, 0.0, 0.0))
    photo = media / "photo_halfbody_woman_openhands.png"
    small = load_image(photo, max_side=160)
    ref = Reference(small, load_reference(photo).landmarks.rescaled(small.shape[1], small.shape[0]))
    tokens = MotionTokens(**{g: TokenGroup.empty(g, 2) for g in GROUP_NAMES})
    tokens.body.values[1, channel_index("body", "l_upper_arm.x")] += 1.0  # the left arm swings away
    tokens.body.confidence[:] = 1.0
    instant = InstantRenderer()
    layers: dict = {}
    base = instant.warp(ref, retarget.apply(tokens.frame(1), ref.rig()), ref.size, layers=layers).astype(float)
    assert np.array_equal(base, instant.render_frame(ref, tokens, 1))  # the layers change nothing
    hole = (layers["alpha"] < 8) & layers["inside"]
    assert hole.sum() > 300, "the moved arm must uncover the plate"
    # the gate is made at the model's 32 px and the residual resized to the ~160 px box: a crop pixel spans ~5
    # px, and a soft arm edge over where the photo's person was counts as part hole
    partly = (layers["alpha"] < 250) & layers["inside"]
    far = cv2.dilate(partly.astype(np.uint8), np.ones((25, 25), np.uint8)) == 0
    assert far.mean() > 0.3
    gated = DiTRenderer(model, steps=2).render_frame(ref, tokens, 1).astype(float)
    whole = DiTRenderer(model, steps=2, residual_gain=1.0).render_frame(ref, tokens, 1).astype(float)
    assert np.abs(gated - base)[far].max() == 0
    assert np.abs(gated - base)[hole].mean() > 1.0
    assert np.abs(whole - base)[far].mean() > 1.0
    with pytest.raises(ValueError, match="residual_gate"):
        dataclasses.replace(model.config, residual_gate=(1.0, 1.0))


def test_joint_dropout_trains_the_unconditional_branch():
    """Reference and motion are dropped together with p_drop_both (not only 1% by chance)."""
    from engine.train.generator import GeneratorTrainConfig, make_loss_fn

    calls = []

    class Spy(torch.nn.Module):
        def forward(self, z, sigma, warp, aligned, ref, motion, keep_ref, keep_motion):
            calls.append((keep_ref.clone(), keep_motion.clone()))
            return torch.zeros_like(z, requires_grad=True)

    torch.manual_seed(0)
    b = 4000
    batch = {"warp": torch.zeros(b, 3, 8, 8), "target": torch.zeros(b, 3, 8, 8), "aligned": torch.zeros(b, 3, 8, 8),
             "reference": torch.zeros(b, 3, 8, 8),
             "motion": torch.zeros(b, 5)}
    make_loss_fn(GeneratorTrainConfig(preset="tiny", p_drop_both=0.1, p_drop_reference=0.1, p_drop_motion=0.1))(Spy(), batch)
    keep_ref, keep_motion = calls[0]
    both = float((~keep_ref & ~keep_motion).float().mean())
    assert 0.08 < both < 0.13  # 0.1 + 0.9 * 0.01


def test_crop_and_paste_touch_only_the_box():
    from engine.render.dit_warp import Box, crop_square, feather_mask, paste_residual

    frame = np.full((60, 80, 3), 100, np.uint8)
    box = Box(70, 10, 20)  # leaves the frame on the right: edges repeated in the crop
    assert crop_square(frame, box, 16).shape == (16, 16, 3)
    out = paste_residual(frame, np.full((16, 16, 3), 0.4, np.float32), box)
    changed = np.argwhere((out != frame).any(axis=2))
    assert changed[:, 1].min() >= 70 and changed[:, 0].min() >= 10 and changed[:, 0].max() < 30
    assert out[20, 79, 0] > 140 and out[20, 60, 0] == 100  # inside the box, outside it
    m = feather_mask(20)
    assert m[10, 10] == 1 and m[0, 0] < 0.3


# --- the shipped model ------------------------------------------------------------------------------------

SHIPPED_PAIR = ("drive_fullbody_woman_dance.mp4", 0, 60)  # clip, reference frame, target frame (fixed in advance)
SHIPPED_SIDE = 512  # px, long side, as bench/generator_eval.py compares
# Preview PSNR minus instant PSNR on this pair, measured 0.68 dB with the shipped (plate-aligned) model, halved for
# slack. The photo-aligned models before it measured 1.11 and 0.76 dB, most of it copied from the reference frame.
SHIPPED_MARGIN_DB = 0.34


def _self_reenactment(clip_path: Path, r: int, targets: tuple[int, ...]):
    """(reference, tokens, size, {target: true frame}): frame r of the clip as the photo, at SHIPPED_SIDE
    px on the long side, as bench/generator_eval.py compares."""
    import cv2

    from engine.analyze import track_clip
    from engine.io.video import iter_frames
    from engine.track.tracker import track_image

    clip = drain(track_clip(clip_path))
    frames = {f.index: f.rgb for f in iter_frames(clip_path) if f.index in (r, *targets)}
    s = SHIPPED_SIDE / max(frames[r].shape[:2])
    small = {k: cv2.resize(v, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) for k, v in frames.items()}
    size = (small[r].shape[1] // 2 * 2, small[r].shape[0] // 2 * 2)
    ref = Reference(small[r], track_image(small[r], require_person=False))
    truth = {t: cv2.resize(small[t], size, interpolation=cv2.INTER_AREA) for t in targets}
    return ref, clip.tokens, size, truth


def test_the_shipped_generator_is_found_and_beats_the_instant_render_on_a_validation_pair(media):
    """assets/generator/ ships a checkpoint that find_checkpoint() picks up (so the DiT menu items are enabled
    in a fresh checkout), and its preview of a frame from a clip it never saw is closer to the real frame
    than the instant render of the same frame."""
    from skimage.metrics import peak_signal_noise_ratio

    from engine.models.checkpoint import SHIPPED_DIR, find_checkpoint
    from engine.render import registry
    from engine.render.instant.renderer import InstantRenderer

    found = find_checkpoint()
    assert found is not None and Path(found).parent == SHIPPED_DIR
    clip_name, r, t = SHIPPED_PAIR
    ref, tokens, size, truth = _self_reenactment(media / clip_name, r, (t,))
    instant = InstantRenderer().render_frame(ref, tokens, t, size=size)
    preview = registry.make("dit_preview").render_frame(ref, tokens, t, size=size)
    gain = peak_signal_noise_ratio(truth[t], preview) - peak_signal_noise_ratio(truth[t], instant)
    assert gain > SHIPPED_MARGIN_DB, f"preview - instant = {gain:.2f} dB"


# A clip the trainer holds out (engine.train.data.DEFAULT_HOLDOUT: never trained on; its prepared pairs choose the
# checkpoint and its residual gain), reference frame 0, targets fixed in advance, spread over the clip.
HELDOUT_CLIP, HELDOUT_REF, HELDOUT_TARGETS = "clip_halfbody_woman_hand_gesture.mp4", 0, (30, 90, 150)
# Mean SSIM of the preview minus the instant render's on these frames, measured: -0.032 with the model shipped
# before (residual pasted whole, PSNR +0.00 dB), -0.026 with the shipped weights at gain 1, -0.003 with their
# calibrated gain 0.4 (PSNR +0.46 dB). Allowed: -0.01. Stop 16 (the instant render of 2393a58 and later, much
# improved): the stop-15 checkpoint -0.0063 (PSNR +0.54 dB), the shipped residual gate -0.0043 (PSNR +0.68 dB).
HELDOUT_SSIM_SLACK = 0.01


def test_the_shipped_preview_keeps_the_instant_renders_structure_on_a_held_out_clip(corpus):
    """On a person and room it never trained on, the shipped model's correction is a hedge: where it is unsure
    it half-erases the warp's person towards the background, a ghost that lowers pixel error and loses
    structure. The calibrated residual gain (measured on the held-out pairs, saved in the checkpoint) keeps
    the preview's SSIM at the instant render's level while it still lowers the pixel error."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from engine.render import registry
    from engine.render.instant.renderer import InstantRenderer
    from engine.train.data import DEFAULT_HOLDOUT

    assert HELDOUT_CLIP in DEFAULT_HOLDOUT
    require_input((corpus / HELDOUT_CLIP).is_file(), f"corpus clip {HELDOUT_CLIP} missing at {corpus}")
    ref, tokens, size, truth = _self_reenactment(corpus / HELDOUT_CLIP, HELDOUT_REF, HELDOUT_TARGETS)
    instant = InstantRenderer()
    preview = registry.make("dit_preview")
    got = {name: [r.render_frame(ref, tokens, t, size=size) for t in HELDOUT_TARGETS]
           for name, r in (("instant", instant), ("preview", preview))}
    ssim = {k: float(np.mean([structural_similarity(truth[t], f, channel_axis=2)
                              for t, f in zip(HELDOUT_TARGETS, v)])) for k, v in got.items()}
    psnr = {k: float(np.mean([peak_signal_noise_ratio(truth[t], f) for t, f in zip(HELDOUT_TARGETS, v)]))
            for k, v in got.items()}
    print(f"SSIM {ssim}, PSNR {psnr}")
    assert ssim["preview"] > ssim["instant"] - HELDOUT_SSIM_SLACK, ssim
    assert psnr["preview"] > psnr["instant"], psnr


CROSS_PHOTO, CROSS_CLIP = "photo_halfbody_woman_openhands.png", "drive_fullbody_woman_dance.mp4"
ARM_JOINTS = [13, 14, 15, 16]  # elbows and wrists (MediaPipe pose)


def test_the_shipped_generator_shows_the_driven_pose_not_the_photos(media):
    """Cross-identity (someone else's clip drives the photo): the full render, the generator's most free one,
    must show the arms where the tokens put them, as the instant render does, not drift back to the photo's
    pose. Before its "aligned" input became the background plate it copied the photo's person from there.
    Measured (arm error / shoulder width): still 1.39, instant 0.28, full 0.24; the model and renderer this
    replaced: full 1.33 (the photo's pose)."""
    from engine.analyze import track_clip
    from engine.io.image import load_image
    from engine.render import registry
    from engine.render.instant.renderer import InstantRenderer
    from engine.tokens import retarget
    from engine.track.tracker import track_image

    rgb = load_image(media / CROSS_PHOTO, max_side=SHIPPED_SIDE)
    ref = Reference(rgb, track_image(rgb), name="cross")
    tokens = drain(track_clip(media / CROSS_CLIP)).tokens
    rig, photo = ref.rig(), ref.landmarks.body[ARM_JOINTS, :2]
    targets = {i: retarget.apply(tokens.frame(i), rig).body[ARM_JOINTS, :2] for i in range(0, len(tokens), 5)}
    moved = sorted(targets, key=lambda i: -np.nanmean(np.linalg.norm(targets[i] - photo, axis=1)))[:3]
    shoulders = float(np.linalg.norm(ref.landmarks.body[11, :2] - ref.landmarks.body[12, :2]))

    def arm_error(frames) -> float:
        errs = []
        for i, frame in zip(moved, frames):
            got = track_image(frame, require_person=False).body[ARM_JOINTS, :2]
            errs.append(np.nanmean(np.linalg.norm(got - targets[i], axis=1)) / shoulders)
        return float(np.mean(errs))

    size = ref.size
    still = arm_error([rgb] * len(moved))
    instant = arm_error([InstantRenderer().render_frame(ref, tokens, i, size=size) for i in moved])
    full = arm_error([f.rgb for f in registry.make("full").render(ref, tokens, moved, size=size)])
    print(f"arm error / shoulder width: still {still:.2f}, instant {instant:.2f}, full {full:.2f}")
    assert instant < 0.5 * still  # the pairs really move the arms
    assert full < instant + 0.25 * (still - instant), f"full {full:.2f} vs instant {instant:.2f}, still {still:.2f}"
