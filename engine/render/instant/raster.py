"""Rasterise a deformed triangle soup into a backward map and sample the source atlas with one remap.

Each output pixel needs the source position it shows. Triangles are drawn, in depth order (far first),
as their ids into an int32 buffer (a compiled loop: `_fill_ids`); each triangle's output-to-source map is
affine, so the map is six coefficient planes gathered by id, evaluated over the covered box only. Pixels no
triangle covers map outside the atlas, where it is transparent.
"""
from __future__ import annotations

import cv2
import numba
import numpy as np

# a pixel is drawn when its centre lies inside the triangle grown by this much along each edge's minor axis:
# the pixels a one-pixel line along the edge touches, as OpenCV's convex fill (which this loop replaced: one
# Python-level call per triangle was a third of the frame) draws its outline. Shared edges are then claimed
# by both triangles (the later wins) and no crack opens between them.
EDGE_REACH = 0.5
OUTSIDE = -16.0  # source coordinate of uncovered pixels: off the atlas (transparent border)


def affine_table(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """(T + 1, 6) float32 rows [a, b, c, d, e, f] with src = (a x + b y + c, d x + e y + f) per triangle
    dst (T, 3, 2) -> src (T, 3, 2); the last row maps everything off the atlas. Degenerate triangles map
    to their source centroid."""
    t = len(dst)
    # per coordinate plane (T,) arrays: the same arithmetic as (T, 2, 2) products and an einsum, at a third
    # of the cost
    x0, y0 = dst[:, 0, 0], dst[:, 0, 1]
    e1x, e1y = dst[:, 1, 0] - x0, dst[:, 1, 1] - y0
    e2x, e2y = dst[:, 2, 0] - x0, dst[:, 2, 1] - y0
    det = e1x * e2y - e1y * e2x
    ok = np.abs(det) > 1e-9
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    # barycentric (l1, l2) of (x, y): l1 = (e2y (x - x0) - e2x (y - y0)) / det, l2 = (-e1y (x - x0) + e1x (y - y0)) / det
    l1x, l1y = e2y * inv_det, -e2x * inv_det
    l2x, l2y = -e1y * inv_det, e1x * inv_det
    s0 = src[:, 0]
    f1, f2 = src[:, 1] - s0, src[:, 2] - s0  # src = s0 + l1 f1 + l2 f2
    table = np.empty((t + 1, 6), np.float32)
    for i in range(2):  # rows [a, b, c] for src x, [d, e, f] for src y
        a = f1[:, i] * l1x + f2[:, i] * l2x
        b = f1[:, i] * l1y + f2[:, i] * l2y
        c = s0[:, i] - (a * x0 + b * y0)
        a[~ok], b[~ok] = 0.0, 0.0
        c[~ok] = src[~ok, :, i].mean(1)
        table[:t, 3 * i], table[:t, 3 * i + 1], table[:t, 3 * i + 2] = a, b, c
    table[t] = (0.0, 0.0, OUTSIDE, 0.0, 0.0, OUTSIDE)
    return table


def corners(tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle bounds (T, 2) low and high of (T, 3, 2) vertices. (numpy's min/max over the middle axis
    of three is several times slower: it was a tenth of the frame.)"""
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    return np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)


def rasterise_ids(dst: np.ndarray, order: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple]:
    """int32 id buffer (h, w), -1 where empty, drawing triangles `order` first to last; and the covered
    box (x0, y0, x1, y1)."""
    w, h = size
    ids = np.full((h, w), -1, np.int32)
    tlo, thi = corners(dst)
    lo, hi = tlo.min(0), thi.max(0)
    x0, y0 = max(0, int(np.floor(lo[0]))), max(0, int(np.floor(lo[1])))
    x1, y1 = min(w, int(np.ceil(hi[0])) + 1), min(h, int(np.ceil(hi[1])) + 1)
    if x1 <= x0 or y1 <= y0:
        return ids, (0, 0, 0, 0)
    # cull triangles wholly outside the frame
    vis = (thi[:, 0] >= 0) & (thi[:, 1] >= 0) & (tlo[:, 0] < w) & (tlo[:, 1] < h)
    sel = np.ascontiguousarray(order[vis[order]], dtype=np.int64)
    _fill_ids(ids, np.ascontiguousarray(dst, dtype=np.float64), sel, EDGE_REACH)
    return ids, (x0, y0, x1, y1)


@numba.njit(cache=True, nogil=True)
def _fill_ids(ids, tris, sel, reach):  # pragma: no cover - compiled; tests run it through rasterise_ids
    """Write each triangle id of `sel`, in order, over the pixels (x, y at their centres) inside it, grown by
    `reach` px along each edge's minor axis (in place)."""
    h, w = ids.shape
    for k in range(sel.shape[0]):
        t = sel[k]
        ax, ay = tris[t, 0, 0], tris[t, 0, 1]
        bx, by = tris[t, 1, 0], tris[t, 1, 1]
        cx, cy = tris[t, 2, 0], tris[t, 2, 1]
        sign = 1.0 if (bx - ax) * (cy - ay) - (by - ay) * (cx - ax) >= 0.0 else -1.0
        # edge i runs p -> q; inside is where sign * cross(q - p, pixel - p) >= -reach * max(|dx|, |dy|)
        e0x, e0y, e1x, e1y, e2x, e2y = bx - ax, by - ay, cx - bx, cy - by, ax - cx, ay - cy
        t0 = -reach * max(abs(e0x), abs(e0y))
        t1 = -reach * max(abs(e1x), abs(e1y))
        t2 = -reach * max(abs(e2x), abs(e2y))
        xa = max(0, int(np.floor(min(ax, bx, cx) - reach)))
        xb = min(w - 1, int(np.ceil(max(ax, bx, cx) + reach)))
        ya = max(0, int(np.floor(min(ay, by, cy) - reach)))
        yb = min(h - 1, int(np.ceil(max(ay, by, cy) + reach)))
        for y in range(ya, yb + 1):
            # each edge's test is linear in x along the row: it bounds the span from one side
            lo, hi = float(xa), float(xb)
            fy = float(y)
            for ex, ey, px, py, tt in ((e0x, e0y, ax, ay, t0), (e1x, e1y, bx, by, t1), (e2x, e2y, cx, cy, t2)):
                # sign * (ex * (fy - py) - ey * (x - px)) >= tt  <=>  k * x <= c
                k = sign * ey
                c = sign * ex * (fy - py) + k * px - tt
                if k > 0.0:
                    hi = min(hi, c / k)
                elif k < 0.0:
                    lo = max(lo, c / k)
                elif c < 0.0:
                    hi = lo - 1.0
            x_lo, x_hi = int(np.ceil(lo)), int(np.floor(hi))
            for x in range(x_lo, x_hi + 1):
                ids[y, x] = t


def close_cracks(ids: np.ndarray, box: tuple, radius: int, inside: np.ndarray) -> None:
    """Give the empty pixels of cracks between pieces (gaps narrower than 2 * radius, where the photo had
    the person: `inside`, bool, output size) the id of a neighbouring triangle, in place. Such a pixel
    would show the plate, and inside the person the plate is the inpainted background: a light line along
    a limb that moved off the body it lay on. A wider gap, or one where the photo shows background, stays."""
    x0, y0, x1, y1 = box
    if radius < 1 or x1 <= x0 or y1 <= y0:
        return
    sub = ids[y0:y1, x0:x1]
    cov = (sub >= 0).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    gap = (cv2.morphologyEx(cov, cv2.MORPH_CLOSE, k) > 0) & (cov == 0) & inside[y0:y1, x0:x1]
    rows = np.flatnonzero(gap.any(1))
    if not len(rows):
        return
    cols = np.flatnonzero(gap.any(0))
    # the dilation only over the gaps' box and the kernel's reach beyond it (inside the box: the same values
    # there as over the whole box)
    h, w = sub.shape
    a0, a1 = max(0, int(rows[0]) - radius), min(h, int(rows[-1]) + radius + 1)
    b0, b1 = max(0, int(cols[0]) - radius), min(w, int(cols[-1]) + radius + 1)
    part, gap = sub[a0:a1, b0:b1], gap[a0:a1, b0:b1]
    near = cv2.dilate(part.astype(np.float32), k)  # ids are exact in float32 below 2**24
    part[gap] = near[gap].astype(np.int32)


def backward_map(ids: np.ndarray, box: tuple, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y) float32 over the box, from the id buffer and the per-triangle affine table."""
    x0, y0, x1, y1 = box
    sub = ids[y0:y1, x0:x1]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    # (6, T + 1), contiguous: a gather from a strided column of the table cost four times as much;
    # id -1 picks the last (off-atlas) row
    col = np.ascontiguousarray(table.T)
    mx = np.take(col[0], sub) * xs
    mx += np.take(col[1], sub) * ys
    mx += np.take(col[2], sub)
    my = np.take(col[3], sub) * xs
    my += np.take(col[4], sub) * ys
    my += np.take(col[5], sub)
    return mx, my


def map_at(ids: np.ndarray, xs: np.ndarray, ys: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y) float32 at the pixels (xs, ys) (int arrays) alone: what backward_map gives there, for a
    few pixels scattered over a large box."""
    t = table[ids[ys, xs]]  # id -1 picks the last (off-atlas) row
    x, y = xs.astype(np.float32), ys.astype(np.float32)
    mx = t[:, 0] * x
    mx += t[:, 1] * y
    mx += t[:, 2]
    my = t[:, 3] * x
    my += t[:, 4] * y
    my += t[:, 5]
    return mx, my


def composite(canvas: np.ndarray, atlas: np.ndarray, mx: np.ndarray, my: np.ndarray, box: tuple,
              with_alpha: bool = False):
    """Sample the RGBA atlas through the map and lay it over a copy of the canvas inside the box (and, with
    `with_alpha`, also return the sampled alpha over the box, uint8)."""
    out = canvas.copy()
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return (out, np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)) if with_alpha else out
    fg = cv2.remap(atlas, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    over(out[y0:y1, x0:x1], fg)
    return (out, fg[..., 3]) if with_alpha else out


def over(bg: np.ndarray, fg: np.ndarray) -> None:
    """Lay RGBA uint8 `fg` over RGB uint8 `bg` (same size) in place, rounded: (f a + b (255 - a) + 127) // 255.
    OpenCV's saturating uint16 products and a shift in place of the division (exact over this range:
    (v + 128 + ((v + 128) >> 8)) >> 8 == (v + 127) // 255 for v <= 255 * 255) run six times faster than
    numpy's widened temporaries."""
    a3 = cv2.cvtColor(np.ascontiguousarray(fg[..., 3]), cv2.COLOR_GRAY2RGB)
    v = cv2.multiply(cv2.cvtColor(fg, cv2.COLOR_RGBA2RGB), a3, dtype=cv2.CV_16U)
    cv2.add(v, cv2.multiply(bg, cv2.bitwise_not(a3), dtype=cv2.CV_16U), dst=v)
    v += 128
    v += v >> 8
    bg[:] = v >> 8
