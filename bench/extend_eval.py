"""Motion extension, measured on the shared test clips (never trained on): python bench/extend_eval.py

Tasks, on every clip of ../shared/media:
  extend: hide the last 2 s and generate them from the rest (with --all-cuts, also at every 1 s where 2 s fit);
  fill:   hide 1 s in the middle and generate it from both sides (with --all-cuts, also a 1 s gap from every 1 s
          where 0.5 s of motion is left after it);
  loop:   loop the whole clip; the jump at the wrap, against cutting at the nearest similar pose.
Methods: hold-last-pose, constant velocity, motion matching, the model alone, and hybrid (model, then
matching: the default). Errors are reported for the first 0.5 s and for the whole span (engine/motion/metrics.py
for the units); for fills, paired, also the last 0.5 s (next to the right join, made by the backward side).
Naturalness: Fréchet distance of speed/acceleration/jerk windows of the generated spans
against windows of the real clips, for the whole span and split by where the windows start (the first 0.5 s
after the join, and later: where a forecast leads, and where the matched take plays). Joins: the step at each join against the steps between real frames;
the threshold is their 95th percentile.

Set UNIMOTION_CACHE to reuse tracking. --methods to run a subset; --seed for another take.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtime import setup  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
HIDE_S, GAP_S, NEAR_S = 2.0, 1.0, 0.5
LABELS = {"hold": "hold last pose", "velocity": "constant velocity", "matching": "motion matching",
          "model": "model (GRU) alone", "hybrid": "hybrid (default): forecast 0.5 s, then the matched take"}
# a fill's "hold" holds the left pose forward and the right pose backward, cross-faded: the fills' baseline
FILL_LABELS = {**LABELS, "hold": "hold (the two held poses cross-faded)"}
GROUPS = ("body", "head", "face", "hands")
CHOSEN = "hybrid"  # the paired differences compare the default against every other method


def paired(rows_a: list[dict], rows_b: list[dict], key: str) -> tuple[float, float, int, int]:
    """Mean and standard error of a - b over the spans where both are measured; spans where a is lower, and
    the count."""
    d = np.array([a[key] - b[key] for a, b in zip(rows_a, rows_b)], np.float64)
    d = d[np.isfinite(d)]
    if not len(d):
        return float("nan"), float("nan"), 0, 0
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(d.mean()), se, int((d < 0).sum()), len(d)


def load_clips(validation: bool = False):
    """The test clips; with `validation`, the corpus clips the model's training held out (for design choices)."""
    from engine.analyze import track_clip
    from engine.jobs import drain
    from engine.motion.corpus import CORPUS
    from engine.motion.features import from_tokens
    from engine.motion.train import HELD_OUT

    paths = [CORPUS / f"{n}.mp4" for n in HELD_OUT] if validation else sorted(MEDIA.glob("drive_*.mp4"))
    clips = []
    for p in paths:
        clip = drain(track_clip(p))
        clips.append(from_tokens(clip.tokens, clip.fps, p.stem))
    if not clips:
        sys.exit(f"no clips in {MEDIA}")
    return clips


def mean_rows(rows: list[dict]) -> dict:
    keys = rows[0].keys()
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}


def fmt(v: float, digits: int = 2) -> str:
    return "–" if not np.isfinite(v) else f"{v:.{digits}f}"


def paired_table(results, methods, labels, task: str, span: str) -> None:
    """The chosen method minus each other method per group over one span ("near": the first NEAR_S s,
    "end": a fill's last NEAR_S s), as a markdown table."""
    print("| against | " + " | ".join(GROUPS) + " |")
    print("|---|" + "---|" * len(GROUPS))
    for other in methods:
        if other == CHOSEN:
            continue
        cells = []
        for g in GROUPS:
            m, se, wins, k = paired(results[(task, CHOSEN)], results[(task, other)], f"{span}_{g}")
            digits = 4 if g == "face" else 3
            cells.append(f"{m:+.{digits}f} ± {se:.{digits}f} [{wins}/{k}]" if k else "–")
        print(f"| {labels[other]} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="hold,velocity,matching,model,hybrid")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all-cuts", action="store_true",
                    help="extend also from every 1 s where 2 s fit; fill also a 1 s gap from every 1 s")
    ap.add_argument("--validation", action="store_true",
                    help="measure on the corpus clips held out of training instead (for design choices)")
    ap.add_argument("--save", type=Path, help="write every span's errors here (JSON), for paired comparisons")
    args = ap.parse_args()
    setup(threads=1)
    from engine.motion import metrics as M
    from engine.motion.features import Sequence, renormalise
    from engine.motion.generate import GenerateOptions, continue_motion, fill, make_loop
    from engine.motion.library import default_library

    methods = args.methods.split(",")
    clips = load_clips(args.validation)
    if args.validation:  # motion matching must not find the held-out clips themselves in its library
        from engine.motion import library as L
        from engine.motion.train import HELD_OUT

        L._default = L.MotionLibrary([q for q in default_library().sequences if q.name not in HELD_OUT])
    scales = default_library().scales
    real_steps = {s.name: M.steps(s.values, s.tracked, scales) for s in clips}
    # a join jumps when its step is larger than 95% of the steps between the same clip's real frames
    thresholds = {k: float(np.percentile(v, M.JOIN_PERCENTILE)) for k, v in real_steps.items()}
    all_steps = np.concatenate(list(real_steps.values()))
    real_feats = np.concatenate([M.window_features(s.values, s.tracked, scales, s.fps) for s in clips])
    print(f"clips: {', '.join(f'{s.name} ({len(s)} frames, {s.fps:g} fps)' for s in clips)}")
    print(f"join thresholds ({M.JOIN_PERCENTILE:g}th percentile of each clip's real frame-to-frame steps): "
          + ", ".join(f"{v:.3f}" for v in thresholds.values()) + f"; median real step {np.median(all_steps):.3f}")

    def spans(seq: Sequence):
        """(task, start, n): the hidden spans of one clip."""
        n_hide, n_gap = int(round(HIDE_S * seq.fps)), int(round(GAP_S * seq.fps))
        cuts = [len(seq) - n_hide]
        if args.all_cuts:
            cuts += [c for c in range(int(seq.fps), len(seq) - n_hide, int(seq.fps))]
        out = [("extend", c, n_hide) for c in sorted(set(cuts)) if c >= int(0.4 * seq.fps)]
        gaps = [len(seq) // 2 - n_gap // 2]
        if args.all_cuts:
            gaps += list(range(int(seq.fps), len(seq) - n_gap - int(0.5 * seq.fps) + 1, int(seq.fps)))
        out += [("fill", g, n_gap) for g in sorted(set(gaps))]
        return out

    results = {}  # (task, method) -> list of dicts
    feats, early, late = {}, {}, {}
    timing = {}
    for method in methods:
        opts = GenerateOptions(method=method, seed=args.seed)
        t0 = time.perf_counter()
        for seq in clips:
            near = int(round(NEAR_S * seq.fps))
            for task, start, n in spans(seq):
                truth = seq.values[start:start + n]
                tr = seq.tracked[start:start + n]
                if task == "extend":
                    pred = continue_motion(seq.slice(0, start), n, opts)
                    joins = [(seq.values[start - 1], pred[0], seq.tracked[start - 1])]
                    around = np.concatenate([seq.values[:start][-3:], pred])
                    around_tr = np.concatenate([seq.tracked[:start][-3:], tr])
                else:
                    pred = fill(seq, start, start + n - 1, opts).values
                    joins = [(seq.values[start - 1], pred[0], seq.tracked[start - 1]),
                             (pred[-1], seq.values[start + n], seq.tracked[start + n])]
                    around = np.concatenate([seq.values[start - 3:start], pred, seq.values[start + n:start + n + 3]])
                    around_tr = np.concatenate([seq.tracked[start - 3:start], tr,
                                                seq.tracked[start + n:start + n + 3]])
                e_near = M.errors(pred[:near], truth[:near], tr[:near])
                e_all = M.errors(pred, truth, tr)
                js = [M.step(a, b, g, scales) for a, b, g in joins]
                # a fill joins two ends: its last NEAR_S (before the right join, made by the backward side) too
                e_end = M.errors(pred[-near:], truth[-near:], tr[-near:]) if task == "fill" else {}
                row = {**{f"near_{k}": v for k, v in e_near.items()}, **{f"all_{k}": v for k, v in e_all.items()},
                       **{f"end_{k}": v for k, v in e_end.items()},
                       "join": float(np.max(js)), "over": float(np.mean([j > thresholds[seq.name] for j in js]))}
                results.setdefault((task, method), []).append(row)
                f = M.window_features(around, around_tr, scales, seq.fps)
                feats.setdefault((task, method), []).append(f)
                # windows by where they start: the near future (from the 3 real frames before the join) and after
                early.setdefault((task, method), []).append(f[:3 + near])
                late.setdefault((task, method), []).append(f[3 + near:])
        timing[method] = time.perf_counter() - t0

    extend_title = (f"Extend by {HIDE_S:g} s: the last {HIDE_S:g} s of each clip"
                    + (f", and from every 1 s where {HIDE_S:g} s fit" if args.all_cuts else "") + ", hidden")
    fill_title = f"Fill: {GAP_S:g} s hidden in the middle" + (", and from every 1 s" if args.all_cuts else "")
    for task, title in (("extend", extend_title), ("fill", fill_title)):
        labels = FILL_LABELS if task == "fill" else LABELS
        n_spans = len(results[(task, methods[0])])
        print(f"\n{title} ({n_spans} spans). Errors: first {NEAR_S:g} s | whole span. Lower is better everywhere.")
        print("| method | body° 0.5s | head° 0.5s | face 0.5s | hands° 0.5s | body° all | head° all | face all | "
              "hands° all | FD speed/jerk | max join step | joins over threshold |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for method in methods:
            r = mean_rows(results[(task, method)])
            fd = M.frechet(np.concatenate(feats[(task, method)]), real_feats)
            # the near future with one digit more: the methods there are close
            print(f"| {labels[method]} | {fmt(r['near_body'], 2)} | {fmt(r['near_head'], 2)} | "
                  f"{fmt(r['near_face'], 4)} | {fmt(r['near_hands'], 2)} | {fmt(r['all_body'], 1)} | "
                  f"{fmt(r['all_head'], 1)} | {fmt(r['all_face'], 3)} | {fmt(r['all_hands'], 1)} | {fmt(fd)} | "
                  f"{fmt(r['join'], 3)} | {100 * r['over']:.0f}% |")

        print(f"\nFD by part of the span (windows by where they start: up to {NEAR_S:g} s after the join, and later)")
        print("| method | FD first " + f"{NEAR_S:g} s | FD later |")
        print("|---|---|---|")
        for method in methods:
            fe = M.frechet(np.concatenate(early[(task, method)]), real_feats)
            fl = M.frechet(np.concatenate(late[(task, method)]), real_feats)
            print(f"| {labels[method]} | {fmt(fe)} | {fmt(fl)} |")

        if CHOSEN in methods and len(methods) > 1:
            print(f"\nPaired per span, {CHOSEN} minus each other method, first {NEAR_S:g} s (mean ± standard error; "
                  "negative: the chosen method is closer to what happened; [spans where it is closer / spans])")
            paired_table(results, methods, labels, task, "near")
            if task == "fill":
                print(f"\nThe same for the last {NEAR_S:g} s of each fill (next to its right join)")
                paired_table(results, methods, labels, task, "end")
    if args.save:
        import json

        args.save.write_text(json.dumps({f"{t}/{m}": rows for (t, m), rows in results.items()}, indent=0))

    print("\nLoop: the whole clip as the range. Jump at the wrap (same step measure; the clip's threshold in "
          "brackets).")
    print("| clip | frames | plain wrap (last -> first) | cut at the nearest similar pose | "
          + " | ".join(f"loop: {m}" for m in methods if m not in ("hold", "velocity")) + " |")
    print("|---|---|---|---|" + "---|" * len([m for m in methods if m not in ("hold", "velocity")]))
    for seq in clips:
        first, last = 0, len(seq) - 1
        plain = M.step(seq.values[last], seq.values[first], seq.tracked[first], scales)
        # the usual fix: end the loop just before the frame (in the second half) most like the first one
        z = seq.values / scales
        half = (first + last) // 2
        d = [np.sqrt(((z[c] - z[first]) ** 2).mean()) for c in range(half, last + 1)]
        c = half + int(np.argmin(d))
        cut = M.step(seq.values[c - 1], seq.values[first], seq.tracked[first], scales)
        cells = []
        for method in methods:
            if method in ("hold", "velocity"):
                continue
            span = make_loop(seq, first, last, GenerateOptions(method=method, seed=args.seed))
            looped = seq.values.copy()
            looped[span.start:span.stop + 1] = span.values
            looped = renormalise(looped)
            wrap = M.step(looped[last], looped[first], seq.tracked[first], scales)
            inner = M.step(seq.values[span.start - 1], looped[span.start], seq.tracked[span.start - 1], scales)
            cells.append(f"{fmt(wrap, 3)} (join in: {fmt(inner, 3)})")
        print(f"| {seq.name} ({thresholds[seq.name]:.2f}) | {len(seq)} | {fmt(plain, 3)} | {fmt(cut, 3)} (cut at {c}) | " + " | ".join(cells)
              + " |")
    print("\nTime per method (all tasks, 1 thread): " + ", ".join(f"{m} {timing[m]:.1f} s" for m in methods))


if __name__ == "__main__":
    main()
