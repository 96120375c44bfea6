"""Reenactment quality of a renderer on the shared media, against a do-nothing baseline in the same run.

Self-reenactment (each clip's first frame is the reference, the clip drives it, compare with the real
frames): PSNR, SSIM, and the distance of the body joints in view after re-tracking the output (in shoulder
widths). Baseline: the first frame held still.
Cross-reenactment (every photo x clip): agreement between the driving tokens and the tokens re-tracked
from the output, per group: body = mean angle between arm/leg bone directions (deg, 3D, in the pelvis's frame),
body2D = the same bones' angle across the image as the camera sees them (depth and the pelvis's turn left out: what
a 2D renderer controls; the tracker itself re-tracking the real dance frames at 512 px gets 1.1-1.6 deg on body), face = mean abs
difference of expression channels, hands = mean abs finger-flexion difference (deg, both hands pooled),
found = the share of the frames with a driver's hand in which the output's same hand is found too,
inview = the same share among the driver's hands that the retargeting puts wholly inside the photo's canvas
(a portrait photo cannot show the hands of a dancer, whatever the hand layer draws). The
baseline is the photo held still (what you get with no animation at all).
Halo (instant renderer only): along the outline of the rendered person where it lies away from the
photo's own outline (a limb moved there), how much brighter the bands 0-4 px outside and inside the
outline are than the same side 7-12 px away (luma levels, summed): a light halo is the photo's wall
carried along a moving limb. Beside
it the same measure along the photo's own outline (what the photo's edges already have).
Rest (instant renderer only): each photo rendered at its own landmarks against the photo itself, at the
bench size: the mean and 99th percentile of the largest channel difference (levels): what standing
still costs (soft hair painted over with the plate, a seam).

Usage: python bench/reenact.py [--frames N] [--size PX] [--renderer instant] [--media DIR]
                               [--pairs PHOTO:CLIP,...] [--cross-only]
       (`--frames 30` is what the README table uses: about ten minutes on two busy cores)
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
HALO_NEAR_PX = 4.0  # the band just outside the outline (output px) ...
HALO_FAR_PX = (7.0, 12.0)  # ... against the band this far out
HALO_WINDOW = 15  # local averaging window (px) for the bands
HALO_MOVED_PX = 3.0  # an outline pixel this far from the photo's own outline lies where a limb moved
HALO_EVERY = 3  # halo is measured on every this-many frames


def retrack(frames: list[np.ndarray], fps: float):
    """Track rendered frames as a clip (video mode) and encode their tokens."""
    from engine.analyze import track_frames

    return track_frames(frames, fps)


ACROSS_MIN = 0.5  # a bone whose direction has less than this across the image points at the camera: no angle


def _across_image(dirs_a, torso_a, dirs_b, torso_b) -> np.ndarray:
    """(N,) degrees between two bones' directions as the camera sees them across the image (pelvis rotation
    applied, depth dropped); NaN where either points at the camera. The body angle above is measured in the
    pelvis's own frame and in 3D, so it also holds the re-tracker's guesses of the pelvis's turn and of each
    bone's depth, which a picture of another person does not pin down; this is the part a renderer draws."""
    from engine.tokens.geometry import rot_yxz

    ca = np.array([rot_yxz(*t) @ d for t, d in zip(torso_a, dirs_a)])[:, :2]
    cb = np.array([rot_yxz(*t) @ d for t, d in zip(torso_b, dirs_b)])[:, :2]
    na, nb = np.linalg.norm(ca, axis=1), np.linalg.norm(cb, axis=1)
    cos = (ca * cb).sum(1) / np.maximum(na * nb, 1e-9)
    return np.where((na > ACROSS_MIN) & (nb > ACROSS_MIN), np.degrees(np.arccos(np.clip(cos, -1, 1))), np.nan)


def token_agreement(drive, got, in_view: dict | None = None) -> dict[str, float]:
    """Per-group disagreement between two token sets over frames where both tracked the group.
    `in_view` ({hand group: (N,) bool}): the frames whose retargeted hand lies inside the output; with it,
    "found_in_view" is the share of those driver hands that are found."""
    out = {}
    b_ok = (drive.body.confidence > 0) & (got.body.confidence > 0)
    if b_ok.any():
        angles, flat = [], []
        torso = [i for i, c in enumerate(drive.body.channels) if c.name.startswith("torso")]
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
            flat.append(_across_image(a, drive.body.values[seen][:, torso], b, got.body.values[seen][:, torso]))
        if angles:
            out["body_deg"] = float(np.mean(np.concatenate(angles)))
            out["body2d_deg"] = float(np.nanmean(np.concatenate(flat)))
    f_ok = (drive.face.confidence > 0) & (got.face.confidence > 0)
    if f_ok.any():
        # Expression relative to each clip's own first frame: the photo's resting face is its own neutral.
        a = drive.face.values[f_ok, 3:] - drive.face.values[f_ok, 3:][:1]
        b = got.face.values[f_ok, 3:] - got.face.values[f_ok, 3:][:1]
        out["face"] = float(np.abs(a - b).mean())
    from engine.train.calibrate import hand_agreement  # the generator's gate check scores hands the same way

    out.update(hand_agreement(drive, got))
    if in_view is not None:
        want_in = found_in = 0
        for side in ("left_hand", "right_hand"):
            shown = (drive.group(side).confidence > 0) & in_view[side]
            want_in += int(shown.sum())
            found_in += int((shown & (got.group(side).confidence > 0)).sum())
        if want_in:
            out["found_in_view"] = found_in / want_in
    return out


def hands_in_view(ref, tokens) -> dict[str, np.ndarray]:
    """{hand group: (N,) bool}: the frames whose retargeted hand lies wholly inside the photo's canvas
    (a hand the placement puts past the edge cannot be found in the output, whatever it looks like)."""
    from engine.tokens import retarget

    rig = ref.rig()
    w, h = ref.size
    n = len(tokens.body.confidence)
    out = {side: np.zeros(n, bool) for side in ("left_hand", "right_hand")}
    for i in range(n):
        t = retarget.apply(tokens.frame(i), rig)
        for side in out:
            if t.has(side):
                p = t.points(side)[:, :2]
                out[side][i] = bool((p[:, 0] >= 0).all() and (p[:, 0] < w).all()
                                    and (p[:, 1] >= 0).all() and (p[:, 1] < h).all())
    return out


def _band_mean(luma: np.ndarray, band: np.ndarray) -> np.ndarray:
    import cv2

    k = (HALO_WINDOW, HALO_WINDOW)
    num = cv2.boxFilter(luma * band, -1, k, normalize=False)
    den = cv2.boxFilter(band.astype(np.float32), -1, k, normalize=False)
    return np.where(den > 0, num / np.maximum(den, 1e-6), np.nan)


def fringe(rgb: np.ndarray, mask: np.ndarray, select: np.ndarray | None = None) -> float:
    """How much brighter the thin bands along the outline (0-4 px outside it, and 0-4 px inside) are than
    the same side a little further away (7-12 px), summed, in 8-bit luma levels, mean over the outline
    pixels in `select` (all if None): a light halo is a band of the photo's wall carried along a limb onto
    whatever it moved over; nan without enough outline."""
    import cv2

    m = mask.astype(np.uint8)
    if m.all() or not m.any():
        return float("nan")
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    step = np.zeros(m.shape, np.float32)
    ok = np.ones(m.shape, bool)
    for side in (1 - m, m):  # the band just outside the outline, and just inside it
        d = cv2.distanceTransform(side, cv2.DIST_L2, 3)
        near = _band_mean(luma, ((d > 0) & (d <= HALO_NEAR_PX)).astype(np.float32))
        far = _band_mean(luma, ((d >= HALO_FAR_PX[0]) & (d <= HALO_FAR_PX[1])).astype(np.float32))
        ok &= np.isfinite(near) & np.isfinite(far)
        step += np.maximum(np.nan_to_num(near - far), 0.0)
    pick = edge & ok
    if select is not None:
        pick &= select
    if pick.sum() < 20:
        return float("nan")
    return float(step[pick].mean())


def instant_alpha(renderer, ref, target, size) -> np.ndarray:
    """The instant renderer's coverage (alpha 0..1) of the posed person at the output size."""
    import cv2

    from engine.render.base import output_size
    from engine.render.instant.raster import affine_table, backward_map, rasterise_ids

    photo = renderer._photo(ref)
    out = output_size(ref, size)
    sz = renderer._sized(photo, out)
    fr = photo.deformer.deform(target.rescaled(*ref.size))
    dst = (fr.dst + 0.5) * sz.scale - 0.5 + sz.offset
    src = (fr.src + 0.5) * sz.atlas_scale - 0.5
    ids, box = rasterise_ids(dst, fr.order, out)
    alpha = np.zeros(out[::-1], np.float32)
    if box[2] > box[0]:
        mx, my = backward_map(ids, box, affine_table(dst, src))
        a = cv2.remap(np.ascontiguousarray(sz.atlas[..., 3]), mx, my, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        alpha[box[1]:box[3], box[0]:box[2]] = a / 255.0
    return alpha


def halo(renderer, ref, tokens, frames: list[np.ndarray]) -> tuple[float, float]:
    """(fringe along moved outlines in the output, fringe along the photo's own outline)."""
    import cv2

    from engine.tokens import retarget

    rig = ref.rig()
    size = (frames[0].shape[1], frames[0].shape[0])
    rest = instant_alpha(renderer, ref, ref.landmarks, size) > 0.5
    rest_edge = cv2.morphologyEx(rest.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    far = cv2.distanceTransform(1 - rest_edge, cv2.DIST_L2, 3) > HALO_MOVED_PX
    photo = renderer.warp(ref, ref.landmarks, size)
    vals = []
    for i in range(0, len(frames), HALO_EVERY):
        a = instant_alpha(renderer, ref, retarget.apply(tokens.frame(i), rig), size) > 0.5
        vals.append(fringe(frames[i], a, far))
    vals = [v for v in vals if np.isfinite(v)]
    return (float(np.mean(vals)) if vals else float("nan")), fringe(photo, rest)


def fmt(d: dict[str, float], keys) -> str:
    return "  ".join(f"{d[k]:7.3f}" if k in d and np.isfinite(d[k]) else "      –" for k in keys)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=50, help="frames per clip (from the start)")
    ap.add_argument("--size", type=int, default=512, help="render long side, px")
    ap.add_argument("--renderer", default="instant")
    ap.add_argument("--media", type=Path, default=MEDIA, help="folder with photo_* and drive_*.mp4")
    ap.add_argument("--pairs", default="", help="only these cross pairs, for iteration: comma-separated "
                    "PHOTO:CLIP name parts, e.g. 'fullbody:upperbody,halfbody:dance' (the README uses all)")
    ap.add_argument("--cross-only", action="store_true", help="skip the self-reenactment and rest sections")
    args = ap.parse_args()
    pairs = [tuple(p.split(":", 1)) for p in args.pairs.split(",") if ":" in p]
    setup()
    import cv2
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from engine.analyze import track_clip
    from engine.io.image import load_image
    from engine.io.video import iter_frames
    from engine.jobs import drain
    from engine.render.run import make_renderer
    from engine.tokens.reference import Reference
    from engine.track.tracker import track_image

    renderer = make_renderer(args.renderer)
    clips = sorted(args.media.glob("drive_*.mp4"))
    photos = sorted(p for p in args.media.iterdir() if p.name.startswith("photo_"))
    tracked = {c: drain(track_clip(c)) for c in clips}
    if args.cross_only:
        clips_self, photos_rest = [], []
    else:
        clips_self, photos_rest = clips, photos

    print(f"Self-reenactment ({args.frames} frames, {args.size} px): output vs real frames; "
          f"baseline = first frame held still")
    print(f"{'clip':<40} {'PSNR':>7} {'still':>7} {'SSIM':>6} {'still':>6} {'kp err':>7} {'still':>7}")
    for clip_path in clips_self:
        clip = tracked[clip_path]
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
        lm_out, _ = retrack([small(o) for o in out], clip.fps)
        lm_real = clip.landmarks
        # Joints in view in the real clip (the tracker only guesses the others).
        joints = [j for j in (11, 12, 13, 14, 15, 16, 23, 24) if np.median(lm_real.body_conf[:n, j]) > 0.5]
        torso = np.linalg.norm(lm_real.body[:n, 11, :2] - lm_real.body[:n, 12, :2], axis=1)  # shoulder width
        got_px = lm_out.body[:, joints, :2] / s  # re-tracked at the bench size: back to the clip's pixels
        kp = np.nanmean(np.linalg.norm(got_px - lm_real.body[:n, joints, :2], axis=2).mean(1)
                        / torso)
        kp0 = np.nanmean(np.linalg.norm(lm_real.body[:1, joints, :2] - lm_real.body[:n, joints, :2], axis=2)
                         .mean(1) / torso)
        print(f"{clip_path.name:<40} {psnr:7.2f} {psnr0:7.2f} {ssim:6.3f} {ssim0:6.3f} {kp:7.3f} {kp0:7.3f}",
              flush=True)

    if args.renderer == "instant":
        from engine.tokens import retarget
        from engine.tokens.encode import encode_clip
        from engine.track.types import ClipLandmarks

        print(f"\nRest: each photo at its own landmarks vs the photo ({args.size} px), largest channel difference; "
              f"PSNR there and posed by the tokens of its own landmarks (a driver holding the photo's pose)")
        for photo in photos_rest:
            rgb = load_image(photo, max_side=args.size * 2)
            ref = Reference(rgb=rgb, landmarks=track_image(rgb), name=photo.stem)
            out = renderer.warp(ref, ref.landmarks, args.size)
            own = encode_clip(ClipLandmarks.stack([ref.landmarks.copy()] * 2))[0]
            posed = renderer.warp(ref, retarget.apply(own, ref.rig(), 0), args.size)
            # the photo placed as the renderer letterboxes it (an output rounded to even sizes is not the
            # photo's aspect: stretched to it, the photo would be a pixel off at one edge)
            (h, w), (oh, ow) = rgb.shape[:2], out.shape[:2]
            k = min(ow / w, oh / h)
            pw, ph = max(1, int(round(w * k))), max(1, int(round(h * k)))
            ox, oy = (ow - pw) // 2, (oh - ph) // 2
            small = cv2.resize(rgb, (pw, ph), interpolation=cv2.INTER_AREA)
            d = np.abs(out[oy:oy + ph, ox:ox + pw].astype(np.int16) - small.astype(np.int16)).max(-1)
            psnr = peak_signal_noise_ratio(small, out[oy:oy + ph, ox:ox + pw])
            psnr_tok = peak_signal_noise_ratio(small, posed[oy:oy + ph, ox:ox + pw])
            print(f"{photo.stem:<40} mean {d.mean():6.2f}  p99 {np.percentile(d, 99):6.1f}  "
                  f"PSNR {psnr:6.2f}  by own tokens {psnr_tok:6.2f}", flush=True)

    keys = ("body_deg", "body2d_deg", "face", "hand_deg", "found", "found_in_view")
    do_halo = args.renderer == "instant"
    print("\nCross-reenactment: driving tokens vs tokens re-tracked from the output (lower is better, "
          "except found); 'still' = the photo not animated")
    print(f"{'photo x clip':<58} {'body°':>7}  {'body2D°':>7}  {'face':>7}  {'hand°':>7}  {'found':>7}  {'inview':>7}  "
          f"{'halo':>7}  {'photo':>7}")
    totals = {"out": [], "still": [], "full_out": [], "full_still": [], "halo": [], "halo0": []}
    for photo in photos:
        rgb = load_image(photo, max_side=args.size * 2)
        ref = Reference(rgb=rgb, landmarks=track_image(rgb), name=photo.stem)
        still = None
        for clip_path in clips:
            if pairs and not any(a in photo.name and b in clip_path.name for a, b in pairs):
                continue
            clip = tracked[clip_path]
            n = min(args.frames, len(clip))
            tokens = clip.tokens.slice(0, n)
            out = [f.rgb for f in renderer.render(ref, tokens, range(n), size=args.size)]
            _, got = retrack(out, clip.fps)
            if still is None or len(still.body.confidence) != n:  # the still photo re-tracked once per photo
                _, still = retrack([cv2.resize(rgb, (out[0].shape[1], out[0].shape[0]))] * n, clip.fps)
            view = hands_in_view(ref, tokens)
            a, b = token_agreement(tokens, got, view), token_agreement(tokens, still, view)
            h, h0 = halo(renderer, ref, tokens, out) if do_halo else (float("nan"), float("nan"))
            a["halo"], b["halo"] = h, h0
            totals["out"].append(a)
            totals["still"].append(b)
            if "fullbody" in photo.name and "fullbody" in clip_path.name:
                totals["full_out"].append(a)
                totals["full_still"].append(b)
            name = f"{photo.stem[6:]} x {clip_path.stem[6:]}"
            print(f"{name:<58} {fmt(a, keys + ('halo',))}  {h0:7.3f}", flush=True)
            print(f"{'   still':<58} {fmt(b, keys)}")
    mean = lambda rows, k: np.nanmean([r[k] for r in rows if k in r] or [np.nan])  # noqa: E731
    print(f"{'MEAN output':<58} " + "  ".join(f"{mean(totals['out'], k):7.3f}" for k in keys + ("halo",)))
    print(f"{'MEAN still (halo: the photo outline)':<58} "
          + "  ".join(f"{mean(totals['still'], k):7.3f}" for k in keys + ("halo",)))
    for who in ("out", "still"):
        rows = totals[f"full_{who}"]
        print(f"{'MEAN ' + ('output' if who == 'out' else 'still') + ', full-body photo x full-body clip':<58} "
              f"{mean(rows, 'body_deg'):7.3f}  {mean(rows, 'body2d_deg'):7.3f}")


if __name__ == "__main__":
    main()
