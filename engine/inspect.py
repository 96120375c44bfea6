"""A readable summary of a tracked clip: groups, channels, ranges, gaps."""
from __future__ import annotations

import numpy as np

from engine.tokens.clipfile import TrackedClip
from engine.tokens.schema import GROUP_NAMES


def gaps(confidence: np.ndarray) -> list[tuple[int, int]]:
    """Runs of frames (start, end inclusive) where a group was not tracked."""
    out, start = [], None
    for t, c in enumerate(confidence):
        if c <= 0 and start is None:
            start = t
        elif c > 0 and start is not None:
            out.append((start, t - 1))
            start = None
    if start is not None:
        out.append((start, len(confidence) - 1))
    return out


def describe(clip: TrackedClip, channels: bool = False) -> str:
    n = len(clip)
    dur = float(clip.times[-1] - clip.times[0]) + 1.0 / clip.fps if n else 0.0
    lines = [f"{clip.source_name or 'clip'}: {n} frames, {clip.fps:.2f} fps, {dur:.2f} s, "
             f"{clip.size[0]}x{clip.size[1]} px"]
    for w in clip.warnings:
        lines.append(f"  warning: {w}")
    for g in GROUP_NAMES:
        grp = clip.tokens.group(g)
        tracked = int((grp.confidence > 0).sum())
        gp = gaps(grp.confidence)
        gap_txt = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in gp[:8]) + (" ..." if len(gp) > 8 else "")
        lines.append(f"  {g:<11} {len(grp.channels):>3} channels  tracked {tracked}/{n} frames"
                     + (f"  gaps: {gap_txt}" if gp else ""))
        if channels:
            for i, c in enumerate(grp.channels):
                v = grp.values[:, i]
                lines.append(f"      {c.name:<22} {c.unit:<5} min {v.min():9.3f}  max {v.max():9.3f}  "
                             f"mean {v.mean():9.3f}")
    p = clip.tokens.placement
    lines.append(f"  placement     dx {p[:, 0].min():+.2f}..{p[:, 0].max():+.2f}  dy {p[:, 1].min():+.2f}.."
                 f"{p[:, 1].max():+.2f}  scale {p[:, 2].min():.2f}..{p[:, 2].max():.2f}")
    return "\n".join(lines)
