"""Motion extension (engine/motion): joins, loops, seeds, errors, the edit layer and undo, the CLI, the studio.

The motion is the bundled demo token file (tracked by this project from a shared clip); the shipped model
and motion library are used as a user gets them. The join bound is measured on the same clip: the 95th
percentile of the steps between its consecutive real frames (engine/motion/metrics.py).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.demo import DEMO_MOTION
from engine.motion import metrics as M
from engine.motion.features import DIM, Sequence, from_tokens, mirror, renormalise, resample
from engine.motion.generate import (ExtendError, GenerateOptions, continue_motion, extend_after, extend_before, fill,
                                    frames_for, make_loop)
from engine.motion.library import default_library
from engine.tokens.clipfile import load_clip


@pytest.fixture(scope="module")
def clip():
    return load_clip(DEMO_MOTION)


@pytest.fixture(scope="module")
def seq(clip) -> Sequence:
    return from_tokens(clip.tokens, clip.fps, "demo")


@pytest.fixture(scope="module")
def bound(seq) -> float:
    scales = default_library().scales
    return float(np.percentile(M.steps(seq.values, seq.tracked, scales), M.JOIN_PERCENTILE))


def _step(a, b, tracked) -> float:
    return M.step(a, b, tracked, default_library().scales)


def test_extension_joins_without_a_jump_and_keeps_moving(seq, bound):
    cut = 120
    span = extend_after(seq, cut, 50, GenerateOptions(seed=1))
    assert (span.start, span.stop) == (cut, cut + 49)
    assert _step(seq.values[cut - 1], span.values[0], seq.tracked[cut - 1]) <= bound
    inner = [_step(span.values[t], span.values[t + 1], seq.tracked[cut - 1]) for t in range(49)]
    assert max(inner) <= 2 * bound, "the generated motion itself must not pop"
    assert np.mean(inner) > 0.1 * np.median(M.steps(seq.values, seq.tracked, default_library().scales)), "froze"
    bones = span.values[:, 3 + 16:3 + 16 + 60].reshape(len(span.values), 20, 3)  # body bone directions
    assert np.allclose(np.linalg.norm(bones, axis=-1), 1.0, atol=1e-6), "bone directions stay unit vectors"
    # a hand the demo does not show at the cut is left alone, not invented
    assert span.groups == tuple(bool(x) for x in seq.tracked[cut - 1] > 0) and not span.groups[2]


def test_before_and_fill_join_both_ends(seq, bound):
    before = extend_before(seq, 40, 30, GenerateOptions(seed=2))
    assert before.stop == 40 and _step(before.values[-1], seq.values[41], seq.tracked[41]) <= bound
    gap = fill(seq, 80, 104, GenerateOptions(seed=3))
    assert _step(seq.values[79], gap.values[0], seq.tracked[79]) <= bound
    assert _step(gap.values[-1], seq.values[105], seq.tracked[105]) <= bound


def test_a_fill_keeps_moving_like_the_performer(seq, bound):
    """A 1 s gap filled by the default moves as briskly as the performer, not as a slowed glide between its
    ends: the mean log speed, acceleration and jerk of its 8-frame windows (the bench's naturalness features)
    match the clip's own per group. Measured on five gaps of the demo (seed 0): within 0.13 of the clip's;
    with the extension's late detail schedule, which fills used before, the body's speed was 0.44 and its
    acceleration 0.43 below, the face's speed 0.25 below."""
    scales = default_library().scales
    feats = []
    for a in (30, 60, 80, 110, 140):
        gap = fill(seq, a, a + 24, GenerateOptions(seed=0))
        assert _step(seq.values[a - 1], gap.values[0], seq.tracked[a - 1]) <= bound
        assert _step(gap.values[-1], seq.values[a + 25], seq.tracked[a + 25]) <= bound
        feats.append(M.window_features(gap.values, np.repeat(seq.tracked[a - 1:a], 25, axis=0), scales, seq.fps))
    ours = np.concatenate(feats).mean(axis=0).reshape(3, -1)  # (speed / acceleration / jerk, group)
    real = M.window_features(seq.values, seq.tracked, scales, seq.fps).mean(axis=0).reshape(3, -1)
    shown = [0, 1]  # face and body: the demo's hands are in view too briefly to fill
    assert np.abs(ours[:, shown] - real[:, shown]).max() <= 0.2, (ours[:, shown], real[:, shown])


def test_a_loop_flows_from_its_last_frame_into_its_first(seq, bound):
    first, last = 10, 160
    plain = _step(seq.values[last], seq.values[first], seq.tracked[first])
    span = make_loop(seq, first, last, GenerateOptions(seed=0))
    assert span.stop == last and span.start > first
    looped = seq.values.copy()
    looped[span.start:span.stop + 1] = span.values
    wrap = _step(looped[last], looped[first], seq.tracked[first])
    assert wrap <= bound and wrap < plain
    assert _step(seq.values[span.start - 1], looped[span.start], seq.tracked[span.start]) <= bound


def test_the_same_seed_gives_the_same_motion_and_another_seed_another_take(seq):
    a = extend_after(seq, 150, 30, GenerateOptions(seed=7)).values
    b = extend_after(seq, 150, 30, GenerateOptions(seed=7)).values
    c = extend_after(seq, 150, 30, GenerateOptions(seed=8)).values
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_calm_moves_less_than_lively(seq):
    def travel(energy):
        v = extend_after(seq, 150, 30, GenerateOptions(seed=4, energy=energy)).values
        return np.abs(np.diff(v[:, :16], axis=0)).sum()  # face channels: the demo is a talking head

    assert travel(0.6) < travel(1.5)


def test_the_hybrid_leads_with_the_forecast_then_plays_the_matched_take(seq, bound):
    """The default starts from the forecast (not the take); after the handover it moves as the very take motion
    matching plays from the real context: the same slow motion, the take's detail raised (never lowered) to the
    performer's own level; and the detail is there from the start, so the start is not a smooth glide."""
    from scipy.ndimage import gaussian_filter1d

    from engine.motion import generate

    cut, n = 150, 50
    hybrid = continue_motion(seq.slice(0, cut), n, GenerateOptions(seed=3))
    take = continue_motion(seq.slice(0, cut), n, GenerateOptions(method="matching", seed=3))
    m = int(round((generate.MODEL_SPAN_S + generate.HANDOVER_S) * seq.fps))
    sigma = generate.DETAIL_SIGMA_S * seq.fps
    slow = gaussian_filter1d(take, sigma, axis=0, mode="nearest")
    face = slice(0, 16)  # the demo is a talking head: face channels (unit-free angles and ratios, no renormalising)
    detail_h, detail_t = hybrid[m:, face] - slow[m:, face], take[m:, face] - slow[m:, face]
    gain = float((detail_h * detail_t).sum() / (detail_t ** 2).sum())
    assert np.allclose(detail_h, gain * detail_t, atol=1e-9), "then it plays the take, its detail scaled"
    assert 1.0 - 1e-9 <= gain <= generate.DETAIL_GAIN_MAX + 1e-9
    assert not np.allclose(hybrid[:m], take[:m], atol=1e-3), "the near future is the forecast, not the take"
    lead = int(round(generate.MODEL_SPAN_S * seq.fps))
    wiggle = np.abs(np.diff(hybrid[:lead, face], n=3, axis=0)).mean()
    forecast = generate._near_forecast(seq.slice(0, cut), lead, backward=False)
    assert wiggle > 2 * np.abs(np.diff(forecast[:, face], n=3, axis=0)).mean(), "real detail from the start"
    steps = [_step(hybrid[t], hybrid[t + 1], seq.tracked[cut - 1]) for t in range(n - 1)]
    assert max(steps) <= bound, "the handover does not pop"


def test_the_forecast_carries_motion_on_and_settles(seq, tmp_path):
    """The shipped linear forecast continues a steady head turn the way it was going, then settles (within what
    the last half second covered: no drift into poses the motion was not near); still channels stay still; it
    saves and loads exactly, and a broken file is a one-line error."""
    from engine.errors import MediaError
    from engine.motion.forecast import FORECAST_PATH, LinearForecast

    fc = LinearForecast.load(FORECAST_PATH)
    ctx = seq.slice(0, 120)
    values = np.repeat(ctx.values[-1:], len(ctx), axis=0)
    values[:, 0] += np.linspace(-6.0, 0.0, len(ctx))  # head yaw turning steadily (6 degrees over the context)
    turning = Sequence(values, ctx.tracked, ctx.fps)
    out = fc.predict(turning, 50)
    ahead = out[:, 0] - values[-1, 0]
    assert ahead[0] > 0, "it goes on turning the way it was"
    recent = 6.0 * (0.5 * ctx.fps) / (len(ctx) - 1)  # degrees turned over the last 0.5 s
    assert np.abs(ahead).max() < recent, "no drift beyond where the motion has just been"
    assert abs(ahead[-1] - ahead[-10]) < 0.1 * recent, "it settles"
    assert np.allclose(out[:, 1:16], values[-1, 1:16], atol=1e-9), "still channels stay still"
    fc.save(tmp_path / "f.npz")
    assert np.array_equal(LinearForecast.load(tmp_path / "f.npz").weights, fc.weights)
    (tmp_path / "bad.npz").write_bytes(b"not a forecast")
    with pytest.raises(MediaError, match="not a motion forecast"):
        LinearForecast.load(tmp_path / "bad.npz")


def test_a_continued_head_comes_back_from_an_excursion_instead_of_freezing():
    """On corpus clips neither forecast trained on (the GRU's held-out clips), the hybrid's near-future forecast
    of the head, the expression and the fingers is closer to what the performer did over the next 0.5 s than
    holding the last pose: a head turned away from where it has been carries on a little, then comes back.
    Before the settling forecast the head was 0.09 deg closer than hold here; now 0.31 (its 15 numbers were
    chosen on all 34 corpus clips, these 3 among them: engine/motion/settle.py)."""
    from engine.motion import generate, settle
    from engine.motion.train import HELD_OUT

    gain = {k: [] for k in ("head", "face", "hands")}
    for s in default_library().sequences:
        if s.name not in HELD_OUT:
            continue
        near = int(round(settle.NEAR_S * s.fps))
        for c in range(int(round(generate.MIN_CONTEXT_S * s.fps)), len(s) - near, 5):
            truth, tracked = s.values[c:c + near], s.tracked[c:c + near]
            forecast = M.errors(generate._near_forecast(s.slice(0, c), near, backward=False), truth, tracked)
            hold = M.errors(np.repeat(s.values[c - 1:c], near, axis=0), truth, tracked)
            for k in gain:
                gain[k].append(hold[k] - forecast[k])
    assert len(gain["head"]) > 80 and np.isfinite(gain["hands"]).sum() > 15
    assert np.nanmean(gain["head"]) > 0.2, "the head carries on and settles back (0.09 deg before)"
    assert np.nanmean(gain["face"]) > 0 and np.nanmean(gain["hands"]) > 0
    # the settling forecast starts at the last frame: the join is the last frame itself, not a jump to a guess
    s = next(q for q in default_library().sequences if q.name in HELD_OUT)
    first = settle.blend_into(s.slice(0, 60), np.repeat(s.values[59:60], 3, axis=0))[0]
    assert _step(s.values[59], first, s.tracked[59]) < 0.25 * np.median(M.steps(s.values, s.tracked,
                                                                                default_library().scales))


def test_a_filled_gap_follows_the_head_more_closely_than_the_held_poses(monkeypatch):
    """Fills on a talking head neither forecast trained on (motion matching searches a library without it): over
    each gap's first 0.5 s the head is closer to what the performer did than the two held poses cross-faded, and
    both joins stay under the clip's bound. With the takes' slow motion taking over after 0.5 s (before
    FILL_MODEL_SPAN_S) the head was 0.06 deg closer than the held poses here; now 0.23 (better on 5 of 6 gaps,
    was 4). The fill settings were checked on this clip among the 3 held-out ones (bench --validation)."""
    from engine.motion import generate
    from engine.motion import library as L
    from engine.motion.train import HELD_OUT

    lib = default_library()
    s = next(q for q in lib.sequences if q.name == "clip_face_woman_flag_speech")
    monkeypatch.setattr(L, "_default", L.MotionLibrary([q for q in lib.sequences if q.name not in HELD_OUT],
                                                        _scales=lib.scales))
    monkeypatch.setattr(generate, "_matchers", {})
    limit = float(np.percentile(M.steps(s.values, s.tracked, lib.scales), M.JOIN_PERCENTILE))
    n = int(round(s.fps))
    near = n // 2
    closer = []
    for g in range(n, len(s) - n - near, n):
        made = fill(s, g, g + n - 1, GenerateOptions()).values
        held = fill(s, g, g + n - 1, GenerateOptions(method="hold")).values
        truth, tracked = s.values[g:g + near], s.tracked[g:g + near]
        closer.append(M.errors(held[:near], truth, tracked)["head"] - M.errors(made[:near], truth, tracked)["head"])
        assert _step(s.values[g - 1], made[0], s.tracked[g - 1]) <= limit
        assert _step(made[-1], s.values[g + n], s.tracked[g + n]) <= limit
    assert len(closer) >= 5 and np.mean(closer) > 0.14, f"head {np.mean(closer):+.3f} deg closer than the held poses"


def test_a_fill_starts_as_close_to_what_happened_as_the_held_poses(monkeypatch):
    """On the held-out half-body clip (hands and body in view; neither forecast trained on it, motion matching
    searches a library without it), seeds 0-2, a 1 s gap every 0.5 s, against the two held poses cross-faded:
    - the first 0.1 s (before the takes' detail comes in) is no further (within 0.05 deg) from what the performer
      did, whichever take a seed plays. The detail used to be taken from the take as joined, so the blend that
      carries the join's pose difference (not motion) leaked into it, the more the worse the take fitted:
      fingers 0.11 deg further than the held poses, body 0.09 closer; now fingers 0.03 and body 0.14 closer;
    - over the first 0.5 s the fingers are closer by more than 0.8 deg (the hands' detail from 0.2 s: 0.90;
      from 0.1 s, as before, 0.66), and the hands do not freeze: the mean log speed, acceleration and jerk of
      the fills' 8-frame windows stay within 0.45 of the clip's own (0.41 below; before this round 0.42, with
      the blend-free detail from 0.1 s 0.22; held poses move not at all).
    The matcher hands the carried differences back with the frames."""
    from engine.motion import generate
    from engine.motion import library as L
    from engine.motion.matching import MotionMatcher
    from engine.motion.train import HELD_OUT

    lib = default_library()
    s = next(q for q in lib.sequences if q.name == "clip_halfbody_man_singing_mic")
    monkeypatch.setattr(L, "_default", L.MotionLibrary([q for q in lib.sequences if q.name not in HELD_OUT],
                                                        _scales=lib.scales))
    monkeypatch.setattr(generate, "_matchers", {})
    n, first, near = int(round(s.fps)), int(round(0.1 * s.fps)), int(round(0.5 * s.fps))
    closer = {"body": [], "hands": [], "hands 0.5 s": []}
    feats = []
    for seed in (0, 1, 2):
        for g in range(n // 2, len(s) - n - n // 2, n // 2):
            made = fill(s, g, g + n - 1, GenerateOptions(seed=seed)).values
            held = fill(s, g, g + n - 1, GenerateOptions(method="hold")).values
            for k, span in (("", first), (" 0.5 s", near)):
                truth, tracked = s.values[g:g + span], s.tracked[g:g + span]
                ours, theirs = M.errors(made[:span], truth, tracked), M.errors(held[:span], truth, tracked)
                for group in ("body", "hands"):
                    if group + k in closer:
                        closer[group + k].append(theirs[group] - ours[group])
            around = np.concatenate([s.values[g - 3:g], made, s.values[g + n:g + n + 3]])
            feats.append(M.window_features(around, s.tracked[g - 3:g + n + 3], lib.scales, s.fps))
    means = {k: float(np.mean(v)) for k, v in closer.items()}
    assert len(closer["hands"]) >= 12 and np.isfinite(closer["hands 0.5 s"]).all()
    assert means["hands"] > -0.05 and means["body"] > 0.05 and means["hands 0.5 s"] > 0.8, means
    hands = [2, 3]  # left and right hand: mean log speed / acceleration / jerk of their windows
    ours = np.concatenate(feats).reshape(-1, 3, 4)[:, :, hands]
    real = M.window_features(s.values, s.tracked, lib.scales, s.fps).reshape(-1, 3, 4)[:, :, hands]
    ours = np.array([[ours[:, d, h][ours[:, d, h] > 0].mean() for h in range(2)] for d in range(3)])
    real = np.array([[real[:, d, h][real[:, d, h] > 0].mean() for h in range(2)] for d in range(3)])
    assert np.abs(ours - real).max() < 0.45, ours - real
    # the carried differences are what the frames hold beyond the source played: they fade out within the blend
    matcher = MotionMatcher(L._default.at_fps(s.fps), lib.scales, s.fps)
    frames, carried = matcher.continue_motion(s.slice(0, 40), 30, np.random.default_rng(0)), None
    steps = matcher.continue_steps(s.slice(0, 40), 30, np.random.default_rng(0), with_offset=True)
    while carried is None:
        try:
            next(steps)
        except StopIteration as done:
            again, carried = done.value
    assert np.array_equal(frames, again) and np.abs(carried[0]).max() > 0
    assert np.abs(carried[matcher.blend:matcher.segment]).max() < 1e-9


def test_an_extension_starts_moving_like_the_performer_and_still_beats_holding_the_pose(monkeypatch):
    """The first 0.6 s of an extension (the forecast's part) moves more like the performer, not as a slowed
    glide: on a talking head neither forecast trained on (motion matching searches a library without it), the
    mean log speed, acceleration and jerk of those 8-frame windows (the bench's naturalness features) are within
    0.5 of the clip's own for the face (measured: 0.43; before the seventh round's finest detail 0.57) and 0.7
    for the body (0.54; before 0.91), while the head and expression over the first 0.5 s stay closer to what
    happened than holding the last pose (head 0.104 deg closer, face 0.0062; before 0.103 and 0.0059)."""
    from engine.motion import generate
    from engine.motion import library as L
    from engine.motion.train import HELD_OUT

    lib = default_library()
    s = next(q for q in lib.sequences if q.name == "clip_face_woman_flag_speech")
    monkeypatch.setattr(L, "_default", L.MotionLibrary([q for q in lib.sequences if q.name not in HELD_OUT],
                                                        _scales=lib.scales))
    monkeypatch.setattr(generate, "_matchers", {})
    lead, near = int(round(0.6 * s.fps)), int(round(0.5 * s.fps))
    feats, closer = [], {"head": [], "face": []}
    for c in range(int(s.fps), len(s) - lead, int(round(0.4 * s.fps))):
        made = continue_motion(s.slice(0, c), lead, GenerateOptions())
        around = np.concatenate([s.values[c - 3:c], made])  # as the bench: the windows across the join too
        feats.append(M.window_features(around, s.tracked[c - 3:c + lead], lib.scales, s.fps))
        truth, tracked = s.values[c:c + near], s.tracked[c:c + near]
        ours, held = M.errors(made[:near], truth, tracked), M.errors(np.repeat(s.values[c - 1:c], near, 0), truth,
                                                                     tracked)
        for k in closer:
            closer[k].append(held[k] - ours[k])
    ours = np.concatenate(feats).mean(axis=0).reshape(3, -1)  # (speed / acceleration / jerk, group)
    real = M.window_features(s.values, s.tracked, lib.scales, s.fps).mean(axis=0).reshape(3, -1)
    face, body = 0, 1
    assert len(feats) >= 12
    assert np.abs(ours[:, face] - real[:, face]).max() < 0.5, (ours[:, face], real[:, face])
    assert np.abs(ours[:, body] - real[:, body]).max() < 0.7, (ours[:, body], real[:, body])
    assert np.mean(closer["head"]) > 0.05 and np.mean(closer["face"]) > 0.003, closer


def test_generation_reports_its_progress_as_a_fraction(seq):
    """The job counts up through the motion matching searches (a real fraction, not just start and end)."""
    from engine.jobs import drain
    from engine.motion.generate import PROGRESS_STEPS, generate_job

    seen = []
    span = drain(generate_job(seq, "fill", 80, 119, GenerateOptions(seed=1)), seen.append)
    assert span.start == 80 and span.stop == 119
    assert all(p.total == PROGRESS_STEPS for p in seen)
    done = [p.done for p in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == PROGRESS_STEPS
    assert len({d for d in done if 0 < d < PROGRESS_STEPS}) >= 4, "intermediate steps, both sides of the gap"


def test_a_motion_scaled_model_cannot_set_a_still_group_moving():
    """With `recent` set, each group's predicted change is in units of its recent motion: a group held still
    in the context is predicted exactly still whatever the weights, a moving one is not."""
    import torch

    from engine.motion.model import MotionGRU, MotionModelConfig

    torch.manual_seed(0)
    net = MotionGRU(MotionModelConfig(hidden=16, context=8, horizon=4, recent=4))
    torch.nn.init.normal_(net.future.weight, std=0.5)  # an untrained network that predicts large changes
    z = torch.randn(1, 8, DIM)
    z[:, :, :16] = z[:, -1:, :16]  # the face (channels 0-15) holds still
    _, roll = net(z, torch.ones(1, 5), 6)
    assert torch.equal(roll[0, :, :16], z[0, -1:, :16].expand(6, 16))
    assert (roll[0, :, 16:] - z[0, -1, 16:]).abs().max() > 0.1


def test_bad_lengths_and_ranges_are_one_line_errors(seq):
    for bad in (0, -1, float("nan"), 1e6):
        with pytest.raises(ExtendError, match="extend by"):
            frames_for(bad, 25.0)
    with pytest.raises(ExtendError, match="needs at least"):
        extend_after(seq, 3, 10)
    with pytest.raises(ExtendError, match="outside the clip"):
        fill(seq, 100, 400)
    with pytest.raises(ExtendError, match="too short to loop"):
        make_loop(seq, 0, 12)
    with pytest.raises(ValueError, match="method"):
        GenerateOptions(method="magic")


def test_mirroring_and_resampling_keep_the_motion(seq):
    twice = mirror(mirror(seq))
    assert np.allclose(twice.values, seq.values) and np.array_equal(twice.tracked, seq.tracked)
    m = mirror(seq)
    assert np.array_equal(m.tracked[:, 2], seq.tracked[:, 3]), "mirroring swaps the hands"
    r = resample(resample(seq, 50.0), 25.0)
    assert len(r) == len(seq) and np.abs(r.values - renormalise(seq.values)).max() < 0.05


def test_cli_extends_the_token_file_and_refuses_bad_requests(clip, tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "longer.npz"
    assert main(["extend", str(DEMO_MOTION), "--seconds", "2", "--seed", "1", "-o", str(out)]) == 0
    longer = load_clip(out)
    assert len(longer) == len(clip) + 50
    assert np.all(np.diff(longer.times) > 0)
    assert np.array_equal(longer.tokens.flat()[:len(clip)], clip.tokens.flat())
    assert (longer.tokens.body.confidence[len(clip):] == 1).all() and "generated" in longer.warnings[-1]

    bad = tmp_path / "none.npz"
    capsys.readouterr()
    for argv in (["--seconds", "0"], ["--fill", "100", "900"], ["--seconds", "1", "--loop"], ["--before"]):
        assert main(["extend", str(DEMO_MOTION), *argv, "-o", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert not bad.exists()
    assert main(["extend", str(DEMO_MOTION), "--seconds", "1", "-o", str(tmp_path / "longer.txt")]) == 2
    assert "must be named .npz" in capsys.readouterr().err


def test_a_generated_span_is_one_undoable_edit_that_saves_with_the_project(clip, tmp_path):
    from engine.project.document import Project
    from engine.project.generated import Generated, GeneratedEdit, generated_frames
    from engine.project.projectfile import state_from_json, state_of, state_to_json

    doc = Project()
    doc.set_clip(tmp_path / "demo.npz", clip)
    before_tokens = doc.edited_tokens().flat()
    doc.set_in_out((0, 120))
    span = extend_after(from_tokens(doc.edited_tokens(), doc.fps), 121, 25, GenerateOptions(seed=5))
    edit = GeneratedEdit.build(doc, span.start, span.values, span.groups, span.label(doc.fps), (0, 145))
    edit.apply(doc)
    after = doc.edited_tokens().flat()
    assert np.allclose(after[121:146, :16 + 67], span.values[:, :16 + 67], atol=1e-5)
    assert np.array_equal(after[:121], before_tokens[:121]) and np.array_equal(after[146:], before_tokens[146:])
    assert doc.in_out == (0, 145)
    assert generated_frames(doc.edits, "body", doc.frame_count)[121:146].all()

    data = json.loads(json.dumps(state_to_json(state_of(doc), tmp_path)))
    assert state_from_json(data, tmp_path).edits == doc.edits, "generated spans save and load with the project"
    assert any(isinstance(op, Generated) for _, ops in doc.edits.items() for op in ops)

    edit.revert(doc)
    assert not doc.edits and doc.in_out == (0, 120)
    assert np.array_equal(doc.edited_tokens().flat(), before_tokens)


def test_tiny_motion_model_trains_through_the_loop(tmp_path):
    import torch

    from engine.jobs import drain
    from engine.motion.model import PRESETS, MotionGRU
    from engine.motion.train import WindowDataset, loss_fn
    from engine.train.loop import LoopConfig, train

    torch.manual_seed(0)
    lib = default_library()
    seqs = [lib.sequences[0].slice(0, 80)]
    config = PRESETS["tiny"]
    data = WindowDataset(seqs, config, np.concatenate([s.values for s in seqs]).mean(0), lib.scales)
    net = MotionGRU(config)
    batch = torch.utils.data.default_collate([data[i] for i in range(16)])
    with torch.no_grad():
        start = float(loss_fn(net, batch)["loss"])
    drain(train(net, loss_fn, torch.utils.data.Subset(data, range(16)),
                LoopConfig(steps=30, batch_size=8, lr=1e-2, warmup_steps=0, ema_decay=0.0, save_every=30,
                           log_every=10, cpu=True), tmp_path / "run"))
    with torch.no_grad():
        end = float(loss_fn(net, batch)["loss"])
    assert end < 0.8 * start, (start, end)  # measured: 0.62 of the start after 30 steps
    teacher, roll = net(batch["context"], batch["cond"], 6)
    assert teacher.shape == (16, config.context - 1, DIM) and roll.shape == (16, 6, DIM)


def test_studio_extends_after_the_out_point_and_undoes_in_one_step(qtbot, tmp_path):
    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from engine.motion.generate import PROGRESS_STEPS
    from engine.tokens.schema import CHANNELS
    from studio.main_window import MainWindow
    from studio.settings import StudioSettings

    YAW = ("face", CHANNELS["face"][0].name)

    settings = StudioSettings(recovery_dir=tmp_path / "recovery", ask_before_discard=False, offer_recovery=False)
    w = MainWindow(settings, QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    doc = w.project
    doc.set_clip(DEMO_MOTION, load_clip(DEMO_MOTION))
    doc.set_in_out((0, 120))
    w.undo.clear()
    menu = w.extend_menu
    edit_menu = next(a.menu() for a in w.menuBar().actions() if a.text().replace("&", "") == "Edit")
    assert menu.menu in [a.menu() for a in edit_menu.actions() if a.menu()]

    bar = []  # (maximum, value) of the status bar's progress bar as the job reports
    menu.busy.valueChanged.connect(lambda v: bar.append((menu.busy.maximum(), v)))
    with qtbot.waitSignal(menu.finished, timeout=30_000) as done:
        menu.request("after", seconds=1.0)
    assert done.args == ["succeeded"]
    assert doc.in_out == (0, 145) and doc.edits
    assert w.timeline.generated.opts["width"], "the timeline shows the generated frames"
    assert w.undo.count() == 1
    assert bar and bar[-1] == (PROGRESS_STEPS, PROGRESS_STEPS), "a determinate bar that ends full, not a busy bar"

    # the curve editor shades the generated frames of the shown channels in the timeline's teal
    curves = w.inspector.curves
    w.inspector.select_channels([YAW])
    assert curves.generated_spans() == [(121, 145)]
    curves.getPlotItem().getViewBox().setXRange(0, 150, padding=0)
    qtbot.wait(50)

    def column(frame: int) -> np.ndarray:  # the median colour of the plot's column at a frame
        img = curves.grab().toImage()
        x = int(curves.view_to_widget(frame, 0).x())
        rows = range(int(curves.height() * 0.2), int(curves.height() * 0.8))
        return np.median([[img.pixelColor(x, y).red(), img.pixelColor(x, y).green(), img.pixelColor(x, y).blue()]
                          for y in rows], axis=0)

    inside, outside = column(135), column(60)  # both under the In/Out band; only one generated
    assert inside[1] - outside[1] > 10 and inside[1] - inside[0] > outside[1] - outside[0] + 10, (inside, outside)

    with qtbot.waitSignal(menu.finished, timeout=10_000) as done:
        menu.request("after", seconds=3.0)  # past the clip's end: a one-line error, nothing changes
    assert done.args == ["failed"] and w.undo.count() == 1

    w.actions["edit.undo"].trigger()
    assert not doc.edits and doc.in_out == (0, 120)
    assert curves.generated_spans() == []
    qtbot.wait(50)
    after = column(135)
    assert after[1] - after[0] < inside[1] - inside[0] - 10, ("undo takes the teal away", after, inside)

    # the timeline's right-click menu offers the same actions; a loop of the range from it
    x, y = w.timeline.frame_to_widget_x(60), w.timeline.height() // 2
    with qtbot.waitSignal(w.timeline.context_requested, timeout=5_000) as clicked:
        QTest.mouseClick(w.timeline.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(x, y))
    assert abs(clicked.args[0] - 60) <= 1
    popup = QApplication.activePopupWidget()
    assert popup is not None
    loop = next(a for a in popup.actions() if a.objectName() == "motion.loop")
    popup.close()
    with qtbot.waitSignal(menu.finished, timeout=30_000) as done:
        loop.trigger()
    assert done.args == ["succeeded"] and doc.in_out == (0, 120) and w.undo.count() == 1
    looped, real = doc.edited_tokens().flat(), doc.clip.tokens.flat()
    tracked0 = from_tokens(doc.clip.tokens, doc.fps).tracked[0]
    assert _step(looped[120], looped[0], tracked0) < _step(real[120], real[0], tracked0), "the wrap got smoother"
    w.close()
    assert w.runner.pool.waitForDone(10_000)
