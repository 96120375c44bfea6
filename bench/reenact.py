"""Reenactment quality of a renderer on the shared media, against a do-nothing baseline in the same run.

Self-reenactment (each clip's first frame is the reference, the clip drives it, compare with the real
frames): PSNR, SSIM, and the distance of the body joints in view after re-tracking the output (in shoulder
widths). Baseline: the first frame held still.
Cross-reenactment (every photo x clip): agreement between the driving tokens and the tokens re-tracked
from the output, per group: body = mean angle between arm/leg bone directions (deg), face = mean abs
difference of expression channels, hands = mean abs finger-flexion difference (deg). The baseline is the
photo held still (what you get with no animation at all).

Usage: python bench/reenact.py [--frames N] [--size PX] [--renderer instant]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
LIMB_BONES = ("l_upper_arm", "l_forearm", "r_upper_arm", "r_forearm", "l_thigh", "l_shin", "r_thigh", "r_shin")


def retrack(frames: list[np.ndarray], fps: float):
    """Track rendered frames as a clip (video mode) and encode their tokens."""
    from engine.tokens.encode import encode_clip
    from engine.track.config import TrackerConfig
    from engine.track.holistic import HolisticTracker
    from engine.track.tracker import postprocess
    from engine.track.types import ClipLandmarks

    cfg = TrackerConfig()
    with HolisticTracker(cfg) as tr:
        lms = [tr.process(f, f.shape[1], f.shape[0]) for f in frames]
    lm = ClipLandmarks.stack(lms)
    postprocess(lm, np.arange(len(frames)) / fps, cfg)
    return lm, encode_clip(lm)[0]


def token_agreement(drive, got) -> dict[str, float]:
    """Per-group disagreement between two token sets over frames where both tracked the group."""
    out = {}
    b_ok = (drive.body.confidence > 0) & (got.body.confidence > 0)
    if b_ok.any():
        angles = []
        for bone in LIMB_BONES:
            # Only limbs in view in both the driver and the output: an unseen limb is not driven, and a
            # limb the photo does not show cannot be rendered.
            limb = f"follow.{bone[0]}_{'arm' if 'arm' in bone else 'leg'}"
            seen = b_ok & (drive.body.channel(limb) >= 0.5) & (got.body.channel(limb) >= 0.5)
            if not seen.any():
                continue
            idx = [i for i, c in enumerate(drive.body.channels) if c.name.split(".")[0] == bone]
            a, b = drive.body.values[seen][:, idx], got.body.values[seen][:, idx]
            angles.append(np.degrees(np.arccos(np.clip((a * b).sum(1), -1, 1))))
        if angles:
            out["body_deg"] = float(np.mean(np.concatenate(angles)))
    f_ok = (drive.face.confidence > 0) & (got.face.confidence > 0)
    if f_ok.any():
        # Expression relative to each clip's own first frame: the photo's resting face is its own neutral.
        a = drive.face.values[f_ok, 3:] - drive.face.values[f_ok, 3:][:1]
        b = got.face.values[f_ok, 3:] - got.face.values[f_ok, 3:][:1]
        out["face"] = float(np.abs(a - b).mean())
    for side in ("left_hand", "right_hand"):
        g1, g2 = drive.group(side), got.group(side)
        ok = (g1.confidence > 0) & (g2.confidence > 0)
        if ok.sum() >= 3:
            idx = [i for i, c in enumerate(g1.channels) if "flex" in c.name]
            out[side + "_deg"] = float(np.abs(g1.values[ok][:, idx] - g2.values[ok][:, idx]).mean())
    return out


def fmt(d: dict[str, float], keys) -> str:
    return "  ".join(f"{d[k]:7.3f}" if k in d else "      –" for k in keys)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=50, help="frames per clip (from the start)")
    ap.add_argument("--size", type=int, default=512, help="render long side, px")
    ap.add_argument("--renderer", default="instant")
    args = ap.parse_args()
    setup()
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from engine.analyze import track_clip
    from engine.io.image import load_image
    from engine.io.video import iter_frames
    from engine.jobs import drain
    from engine.tokens.reference import Reference
    from engine.render.run import make_renderer
    from engine.track.tracker import track_image
    import cv2

    renderer = make_renderer(args.renderer)
    clips = sorted(MEDIA.glob("drive_*.mp4"))
    photos = sorted(p for p in MEDIA.iterdir() if p.name.startswith("photo_"))

    print(f"Self-reenactment ({args.frames} frames, {args.size} px): output vs real frames; "
          f"baseline = first frame held still")
    print(f"{'clip':<40} {'PSNR':>7} {'still':>7} {'SSIM':>6} {'still':>6} {'kp err':>7} {'still':>7}")
    for clip_path in clips:
        clip = drain(track_clip(clip_path))
        real = [f.rgb for f, _ in zip(iter_frames(clip_path), range(args.frames))]
        n = len(real)
        ref = Reference(rgb=real[0], landmarks=track_image(real[0], require_person=False), name=clip_path.stem)
        out = [f.rgb for f in renderer.render(ref, clip.tokens, range(n), size=None)]
        s = args.size / max(real[0].shape[:2])
        small = lambda im: cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)  # noqa: E731
        psnr = np.mean([peak_signal_noise_ratio(small(a), small(b)) for a, b in zip(real, out)])
        psnr0 = np.mean([peak_signal_noise_ratio(small(a), small(real[0])) for a in real[1:]])
        ssim = np.mean([structural_similarity(small(a), small(b), channel_axis=2) for a, b in zip(real, out)])
        ssim0 = np.mean([structural_similarity(small(a), small(real[0]), channel_axis=2) for a in real[1:]])
        lm_out, _ = retrack(out, clip.fps)
        lm_real = clip.landmarks
        # Joints in view in the real clip (the tracker only guesses the others).
        joints = [j for j in (11, 12, 13, 14, 15, 16, 23, 24) if np.median(lm_real.body_conf[:n, j]) > 0.5]
        torso = np.linalg.norm(lm_real.body[:n, 11, :2] - lm_real.body[:n, 12, :2], axis=1)  # shoulder width
        kp = np.nanmean(np.linalg.norm(lm_out.body[:, joints, :2] - lm_real.body[:n, joints, :2], axis=2).mean(1)
                        / torso)
        kp0 = np.nanmean(np.linalg.norm(lm_real.body[:1, joints, :2] - lm_real.body[:n, joints, :2], axis=2)
                         .mean(1) / torso)
        print(f"{clip_path.name:<40} {psnr:7.2f} {psnr0:7.2f} {ssim:6.3f} {ssim0:6.3f} {kp:7.3f} {kp0:7.3f}")

    keys = ("body_deg", "face", "left_hand_deg", "right_hand_deg")
    print(f"\nCross-reenactment: driving tokens vs tokens re-tracked from the output (lower is better); "
          f"'still' = the photo not animated")
    print(f"{'photo x clip':<62} {'body°':>7}  {'face':>7}  {'lhand°':>7}  {'rhand°':>7}")
    totals = {"out": [], "still": []}
    for photo in photos:
        rgb = load_image(photo, max_side=args.size * 2)
        ref = Reference(rgb=rgb, landmarks=track_image(rgb), name=photo.stem)
        for clip_path in clips:
            clip = drain(track_clip(clip_path))
            n = min(args.frames, len(clip))
            tokens = clip.tokens.slice(0, n)
            out = [f.rgb for f in renderer.render(ref, tokens, range(n), size=args.size)]
            _, got = retrack(out, clip.fps)
            _, still = retrack([out[0] * 0 + cv2.resize(rgb, (out[0].shape[1], out[0].shape[0]))] * n, clip.fps)
            a, b = token_agreement(tokens, got), token_agreement(tokens, still)
            totals["out"].append(a)
            totals["still"].append(b)
            name = f"{photo.stem[6:]} x {clip_path.stem[6:]}"
            print(f"{name:<62} {fmt(a, keys)}")
            print(f"{'   still':<62} {fmt(b, keys)}")
    mean = lambda rows, k: np.mean([r[k] for r in rows if k in r])  # noqa: E731
    print(f"{'MEAN output':<62} " + "  ".join(f"{mean(totals['out'], k):7.3f}" for k in keys))
    print(f"{'MEAN still':<62} " + "  ".join(f"{mean(totals['still'], k):7.3f}" for k in keys))


if __name__ == "__main__":
    main()
