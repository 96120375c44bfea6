"""The person's matte (soft alpha) and a clean background plate with the person inpainted away.

The matte is MediaPipe Holistic's person segmentation (SelfieSegmentation when Holistic finds no body),
sharpened against the photo's own edges with a guided filter, limited to the blobs the skeleton touches,
and backed by a matte drawn from the skeleton when segmentation finds too little (tiny or odd photos).
The plate is inpainted at a reduced resolution (it is only ever seen where the person moved away).
"""
from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from engine import vocabulary as vocab
from engine.render.instant.config import WarpConfig
from engine.render.instant.helpers import nearest_known
from engine.render.instant.skeleton import MIN_CONF, points
from engine.track.types import FrameLandmarks

GUIDED_RADIUS_FRAC = 0.006  # guided filter radius, as a fraction of the photo's long side
GUIDED_EPS = 2e-3
SHARPEN_HALF_WIDTH = 0.2  # alpha ramps from threshold-w to threshold+w after guiding
MIN_SEGMENT_SHARE = 0.25  # segmentation covering less than this share of the skeleton matte is not trusted
SKELETON_LIMB_U = 0.28  # thickness of the drawn-skeleton fallback matte (body units)
PLATE_SEAM_BLUR = 0.5  # the inpainted hole blends into the photo over this share of the dilation
PLATE_FRINGE_ALPHA = 0.03  # matte above this counts as person for the plate (hair strands, halo)
PLATE_GUARD = 0.012  # ... and the hole reaches this far past it (share of the long side)
PLATE_RING = 0.02  # the texture level of the background is averaged this far around (share of the long side)
PLATE_PLAIN_DETAIL = 4.0  # a background pixel with more detail than this (grey levels) is busy ...
PLATE_BUSY = (0.35, 0.65)  # ... and texture is borrowed from none to all as the busy share crosses these
PLATE_DETAIL_CAP = 12.0  # one pixel's detail counts up to this in the level (an edge line is not texture)
PLATE_EDGE_CLIP = 1.5  # borrowed detail is clipped to this many times its level (no jagged door frames)
MEMBRANE_ANCHOR = 1e-4  # weak pull of the membrane towards the push-pull fill (defines unreachable parts)
BLEED_ALPHA = 0.5  # person colours bleed outward from pixels at least this opaque ...
BLEED_SIGMAS = (1.0, 2.0, 4.0, 8.0)  # ... at these scales (px), finest first
EDGE_BAND_PX = 3.0  # matte-edge pixels this close to the opaque core are checked against the plate ...
EDGE_BG_LEVELS = 14.0  # ... and fade out as their colour comes within this distance of the plate's
EDGE_BG_ALPHA = 0.05  # the background beside the edge: matte below this ...
EDGE_SIDE_SIGMA = 3.0  # ... and the person inside, averaged over this (px) on each side of the outline
EDGE_APART = 30.0  # person and background colours this far apart (RGB levels) split an edge pixel
PLATE_TEXTURE_MAX_SIDE = 768  # the plate's borrowed texture is resolved at this size
PLATE_DETAIL_SIGMA = 0.006  # texture above this scale (share of the long side) is borrowed, below it smooth
PLATE_CARRY_STEP = 0.12  # hole pixels take the texture this far beside them (share of the image's width
# or height), repeated inward: a step wide enough to hold a patch of the texture, short enough to fit
# beside most people
PLATE_CARRY_SCALE = 3.0  # texture finer than this many PLATE_DETAIL_SIGMA is carried into the hole
PLATE_CARRY_BLEND = 0.03  # the left and right copies blend over this share of the width at the hole's middle


def segment(rgb: np.ndarray) -> np.ndarray | None:
    """MediaPipe's person mask (float32 0..1), or None when no segmentation model finds anyone."""
    import mediapipe as mp

    img = np.ascontiguousarray(rgb)
    with mp.solutions.holistic.Holistic(static_image_mode=True, model_complexity=1, enable_segmentation=True,
                                        refine_face_landmarks=False) as h:
        res = h.process(img)
    if res.segmentation_mask is not None and res.segmentation_mask.max() > 0.5:
        return np.asarray(res.segmentation_mask, np.float32)
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as s:
        res = s.process(img)
    m = res.segmentation_mask
    if m is None or m.max() <= 0.5:
        return None
    return np.asarray(m, np.float32)


def _tracked_mask(fl: FrameLandmarks, shape: tuple[int, int]) -> np.ndarray | None:
    """The person mask the tracking pass already made (engine.track.tracker.track_image), when it was made on
    this image: the matte does not run a second graph. The tracker downscales large photos and the renderer
    rescales small and huge ones; the mask is resampled to the work size then, which loses nothing, as
    MediaPipe's segmentation model itself sees the photo at 256 px and upsamples its answer. Only a mask of
    another aspect (not this photo) or one where Holistic found too little leaves the matte to segment."""
    m = fl.segmentation
    if m is None or m.max() <= 0.5:
        return None
    if m.shape == shape:
        return m
    if abs(m.shape[1] / m.shape[0] - shape[1] / shape[0]) > 0.01 * shape[1] / shape[0]:
        return None
    return np.clip(cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def skeleton_matte(fl: FrameLandmarks, scale: float, shape: tuple[int, int], u: float) -> np.ndarray:
    """uint8 0/1 mask painted from the landmarks: thick bones, a head disc, the face hull, the hands."""
    m = np.zeros(shape, np.uint8)
    body, conf = points(fl, [f"b{i}" for i in range(vocab.N_BODY)], scale)
    thick = max(2, int(round(SKELETON_LIMB_U * u)))
    for a, b in vocab.BODY_EDGES:
        if conf[a] >= MIN_CONF and conf[b] >= MIN_CONF:
            pa, pb = np.round(body[[a, b], :2]).astype(int)
            cv2.line(m, tuple(map(int, pa)), tuple(map(int, pb)), 1, thick)
    quad = [vocab.L_SHOULDER, vocab.R_SHOULDER, vocab.R_HIP, vocab.L_HIP]
    if conf[quad].min() >= MIN_CONF:
        cv2.fillConvexPoly(m, np.round(body[quad, :2]).astype(np.int32), 1)
    for group in ("face", "left_hand", "right_hand"):
        if fl.has(group):
            p = np.round(fl.points(group)[:, :2] * scale).astype(np.int32)
            cv2.fillConvexPoly(m, cv2.convexHull(p), 1)
    if conf[vocab.NOSE] >= MIN_CONF:
        c = body[vocab.NOSE, :2]
        cv2.circle(m, (int(c[0]), int(c[1])), max(2, int(0.3 * u)), 1, -1)
    return m


def person_matte(rgb: np.ndarray, fl: FrameLandmarks, scale: float, u: float,
                 config: WarpConfig) -> np.ndarray:
    """Soft alpha (float32, 0..1) of the person in `rgb` (work resolution)."""
    h, w = rgb.shape[:2]
    skel = skeleton_matte(fl, scale, (h, w), u)
    seg = _tracked_mask(fl, (h, w))
    if seg is None:
        seg = segment(rgb)
    if seg is None:
        hard = skel.astype(np.float32)
    else:
        if seg.shape != (h, w):
            seg = cv2.resize(seg, (w, h), interpolation=cv2.INTER_LINEAR)
        guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        r = max(2, int(round(GUIDED_RADIUS_FRAC * max(h, w))))
        seg = cv2.ximgproc.guidedFilter(guide, seg, r, GUIDED_EPS)
        t, hw = config.matte_threshold, SHARPEN_HALF_WIDTH
        hard = np.clip((seg - (t - hw)) / (2 * hw), 0.0, 1.0).astype(np.float32)
        hard = _touching(hard, skel)
        if (hard > 0.5).sum() < MIN_SEGMENT_SHARE * skel.sum():
            hard = np.maximum(hard, skel.astype(np.float32))
    if config.matte_feather_px > 0:
        hard = cv2.GaussianBlur(hard, (0, 0), config.matte_feather_px)
    return np.clip(hard, 0.0, 1.0)


def _touching(alpha: np.ndarray, skel: np.ndarray) -> np.ndarray:
    """Keep the blobs of `alpha` that overlap the skeleton (drops stray bits and bystanders)."""
    n, lab = cv2.connectedComponents((alpha > 0.05).astype(np.uint8), connectivity=8)
    if n <= 2:
        return alpha
    hit = np.unique(lab[(skel > 0) & (lab > 0)])
    if len(hit) == 0:
        return alpha
    keep = np.zeros(n, bool)
    keep[hit] = True
    return alpha * keep[lab]


def background_plate(rgb: np.ndarray, alpha: np.ndarray, dilate_px: float, config: WarpConfig) -> np.ndarray:
    """The photo with the person inpainted away: every pixel with any trace of the person (the soft fringe
    included: hair strands, a dark halo), a margin, and a guard ring beyond. The fill is taken only from
    background past the guard ring: pixels right at a person's outline carry their colour (hair, shadow),
    and reflecting or smoothing those into the hole draws dark scribbles and a silhouette trace where the
    person left. Standing still, the person still composites back exactly: decontaminate() solves the
    fringe's colours against this plate."""
    h, w = rgb.shape[:2]
    k = max(1, int(round(dilate_px)))
    g = k + max(1, int(round(PLATE_GUARD * max(h, w))))
    hole = cv2.dilate((alpha > PLATE_FRINGE_ALPHA).astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1,) * 2))
    if not hole.any():
        return rgb.copy()
    s = min(1.0, config.plate_max_side / max(h, w))
    sw, sh = max(8, int(round(w * s))), max(8, int(round(h * s)))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    small_hole = (cv2.resize(hole, (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    if small_hole.all():  # nothing left to inpaint from: a flat plate of the photo's border colour
        up = np.empty_like(rgb)
        up[:] = border_colour(rgb)
    else:
        up = _textured(rgb, hole, membrane_fill(small, 1 - small_hole))
    soft = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), max(1.0, PLATE_SEAM_BLUR * k))
    soft = np.maximum(soft, cv2.erode(hole, np.ones((3, 3), np.uint8)).astype(np.float32))[..., None]
    return (rgb * (1.0 - soft) + up * soft + 0.5).astype(np.uint8)


def _textured(rgb: np.ndarray, hole: np.ndarray, membrane_small: np.ndarray) -> np.ndarray:
    """The smooth membrane (low frequencies) plus the texture (high frequencies) of the background beside
    the hole carried into it (_carried_detail), where that background is textured: grass stays grassy, a
    wall stays flat, with no seam. Whether texture is borrowed is decided per part of the border (a wall
    beside a door: the wall's part of the hole stays plain), and strong single edges (a door frame) are
    clipped from the borrowed texture."""
    h, w = rgb.shape[:2]
    t = min(1.0, PLATE_TEXTURE_MAX_SIDE / max(h, w))
    tw, th = max(8, int(round(w * t))), max(8, int(round(h * t)))
    img = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA) if t < 1 else rgb
    holes = (cv2.resize(hole, (tw, th), interpolation=cv2.INTER_NEAREST) > 0) if t < 1 else hole > 0
    membrane = cv2.resize(membrane_small, (tw, th), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    sigma = max(1.0, PLATE_DETAIL_SIGMA * max(tw, th))
    level, busy = _texture_level(img, holes, sigma)
    src = img.astype(np.float32)
    # the texture carried in reaches coarser than what decides whether there is texture: the copy keeps
    # its structure (clumps of flowers, tufts of grass), the membrane alone left a smooth blob there
    detail = src - cv2.GaussianBlur(src, (0, 0), PLATE_CARRY_SCALE * sigma)
    level = level * float(np.sqrt(PLATE_CARRY_SCALE))  # the clip below grows with the band carried
    if holes.any() and not holes.all():
        # whether texture is borrowed, and how much, is decided by the nearest border pixel: the texture
        # carried in may come from further off, past a plain strip of wall, from a door
        ny, nx = nearest_known(~holes)
        hy, hx = np.nonzero(holes)
        level[hy, hx], busy[hy, hx] = level[ny[hy, hx], nx[hy, hx]], busy[ny[hy, hx], nx[hy, hx]]
        detail = _carried_detail(detail, holes)
    lv = cv2.GaussianBlur(level, (0, 0), 2 * sigma)  # smoothed, so neighbouring border parts blend
    busy = cv2.GaussianBlur(busy, (0, 0), 2 * sigma)
    detail = np.clip(detail, -PLATE_EDGE_CLIP * lv[..., None], PLATE_EDGE_CLIP * lv[..., None])
    textured = np.clip((busy - PLATE_BUSY[0]) / (PLATE_BUSY[1] - PLATE_BUSY[0]), 0.0, 1.0)
    out = np.clip(membrane + detail * textured[..., None], 0, 255).astype(np.uint8)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR) if t < 1 else out


def _carried_detail(detail: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """`detail` with every hole pixel's taken from the background a fixed step beside it: from the left
    for the hole's left part, from the right for its right part (blended across its middle), the step
    repeated inward until the hole is filled, then from above and below for what no row reaches. A copy
    by one shift keeps the texture's own structure (flowers stay flowers, a horizon stays level); the
    reflection through each pixel's nearest border used before streaked deep in a hole, so its texture
    faded out there and a large hole showed a smooth blob wherever the person moved away."""
    h, w = holes.shape
    out = detail.copy()
    known = ~holes
    hy, hx = np.nonzero(holes)
    todo = np.ones(len(hy), bool)
    mid = (hx.min() + hx.max()) / 2.0
    for axis, step, centre, extent in ((1, PLATE_CARRY_STEP * w, mid, w),
                                       (0, PLATE_CARRY_STEP * h, (hy.min() + hy.max()) / 2.0, h)):
        step = max(1, int(round(step)))
        pos = hx if axis == 1 else hy
        side_w = PLATE_CARRY_BLEND * extent
        for _ in range(int(np.ceil(extent / step)) + 1):
            acc = np.zeros((int(todo.sum()), detail.shape[2]), np.float32)
            wsum = np.zeros(int(todo.sum()), np.float32)
            ty, tx, tp = hy[todo], hx[todo], pos[todo]
            for sign in (-1, 1):
                q = tp + sign * step
                ok = (q >= 0) & (q < extent)
                qc = np.clip(q, 0, extent - 1)
                sy, sx = (ty, qc) if axis == 1 else (qc, tx)
                ok &= known[sy, sx]
                wgt = ok / (1.0 + np.exp(-sign * (centre - tp) / side_w))  # this side's part of the hole
                acc += out[sy, sx] * wgt[:, None]
                wsum += wgt
            got = wsum > 1e-3
            if not got.any():
                break
            idx = np.nonzero(todo)[0][got]
            out[hy[idx], hx[idx]] = acc[got] / wsum[got, None]
            known[hy[idx], hx[idx]] = True
            todo[idx] = False
            if not todo.any():
                return out
    out[hy[todo], hx[todo]] = 0.0  # reached from no side: the membrane alone
    return out


def _texture_level(img: np.ndarray, holes: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Two (h, w) float32 measures of the background's texture around each pixel, over background pixels
    within the ring's reach: the mean detail above `sigma` (grey levels, each pixel capped) and the share
    of pixels whose detail exceeds PLATE_PLAIN_DETAIL. The share tells texture (grass, gravel: most
    pixels busy) from a plain wall crossed by a few strong edges (a door frame, a shadow's border: few)."""
    reach = max(2.0, PLATE_RING * max(holes.shape))
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), sigma))
    known = (~holes).astype(np.float32)
    den = np.maximum(cv2.GaussianBlur(known, (0, 0), reach / 2), 1e-3)
    level = cv2.GaussianBlur(np.minimum(detail, PLATE_DETAIL_CAP) * known, (0, 0), reach / 2) / den
    busy = cv2.GaussianBlur((detail > PLATE_PLAIN_DETAIL) * known, (0, 0), reach / 2) / den
    return level.astype(np.float32), busy.astype(np.float32)


def membrane_fill(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The hole filled with the smooth membrane (Laplace's equation, the known pixels its boundary values;
    Perez et al. 2003 with a zero guidance field). Every hole pixel is a blend of the border around it,
    weighted by how near each part is: plain on a plain wall, a gradual blend across a wall/door boundary,
    and no colour carried from far across the hole (a coarse average drew a grey silhouette there).
    The photo's edge is a free (Neumann) boundary; a weak pull towards the push-pull fill keeps parts of
    the hole that touch no known pixel defined."""
    h, w = known.shape
    hole = known == 0
    n = int(hole.sum())
    img = rgb.astype(np.float64)
    if n == 0:
        return rgb.copy()
    guess = push_pull_fill(rgb, known).astype(np.float64)
    idx = np.full((h, w), -1, np.int64)
    idx[hole] = np.arange(n)
    hy, hx = np.nonzero(hole)
    diag = np.full(n, MEMBRANE_ANCHOR)
    b = MEMBRANE_ANCHOR * guess[hy, hx]
    rows, cols = [], []
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = hy + dy, hx + dx
        ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        diag += ok
        j = np.full(n, -1, np.int64)
        j[ok] = idx[ny[ok], nx[ok]]
        inner = j >= 0
        rows.append(np.nonzero(inner)[0])
        cols.append(j[inner])
        edge = ok & ~inner
        b[edge] += img[ny[edge], nx[edge]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    a = sp.csc_matrix((np.concatenate([diag, -np.ones(len(r))]), (np.concatenate([np.arange(n), r]),
                                                                  np.concatenate([np.arange(n), c]))), (n, n))
    x = splu(a).solve(b)
    out = img.copy()
    out[hy, hx] = x
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def push_pull_fill(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown pixels with a smooth membrane of the known ones (push-pull over an image pyramid:
    masked averages going down, blended back going up). Unlike Telea inpainting, large holes get smooth
    gradients between their borders instead of streaks and smeared ghosts of nearby texture."""
    img = rgb.astype(np.float32)
    w = known.astype(np.float32)
    levels = [(img * w[..., None], w)]
    while min(levels[-1][1].shape) > 2 and (levels[-1][1] < 1e-3).any():
        p, q = levels[-1]
        size = (max(1, (q.shape[1] + 1) // 2), max(1, (q.shape[0] + 1) // 2))
        levels.append((cv2.resize(p, size, interpolation=cv2.INTER_AREA),
                       cv2.resize(q, size, interpolation=cv2.INTER_AREA)))
    p, q = levels[-1]
    colour = p / np.maximum(q, 1e-6)[..., None]
    if (q < 1e-6).any():
        colour[q < 1e-6] = img[known > 0].mean(0) if known.any() else 0.0
    for p, q in reversed(levels[:-1]):
        up = cv2.resize(colour, (q.shape[1], q.shape[0]), interpolation=cv2.INTER_LINEAR)
        a = np.clip(q, 0.0, 1.0)[..., None]
        own = p / np.maximum(q, 1e-6)[..., None]
        colour = own * a + up * (1.0 - a)
    out = np.where(known[..., None] > 0, img, colour)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def border_colour(rgb: np.ndarray) -> np.ndarray:
    """Median colour of the photo's outer ring: the letterbox colour."""
    h, w = rgb.shape[:2]
    b = max(1, min(h, w) // 50)
    ring = np.concatenate([rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3),
                           rgb[:, :b].reshape(-1, 3), rgb[:, -b:].reshape(-1, 3)])
    return np.median(ring, axis=0).astype(np.uint8)


def decontaminate(rgb: np.ndarray, alpha: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """Foreground colour F with I = a F + (1 - a) B at the soft edge (B = the plate), so moved edges carry
    no halo of the old background; composited back in place it reproduces the photo."""
    a = alpha[..., None]
    edge = (alpha > 0.02) & (alpha < 0.98)
    if not edge.any():
        return rgb.copy()
    f = (rgb.astype(np.float32) - (1.0 - a) * plate.astype(np.float32)) / np.maximum(a, 0.05)
    out = rgb.copy()
    out[edge] = np.clip(f[edge], 0, 255).astype(np.uint8)
    return out


def refine_edge(rgb: np.ndarray, alpha: np.ndarray, plate: np.ndarray, also: np.ndarray | None = None) -> np.ndarray:
    """The matte's outer edge where its colours say background: each pixel near the outline is split
    between the person's colour just inside (F) and the background's just outside (B) along the colour line
    I = a F + (1 - a) B, and its alpha is lowered to that share (never raised). A pixel with the wall's
    colour left in the matte, whatever segmentation (or a hand mask grown to take the hand's fringe) said,
    moves with a limb and draws a thin light (or dark) outline of the photo's background around it: a
    halo. `also`: more pixels to check (bool mask). Where F and B are alike the colours cannot tell, and
    the plate is asked instead (a pixel with the plate's colour is background)."""
    inside = (alpha >= 0.5).astype(np.uint8)
    if not inside.any() or inside.all():
        return alpha
    # the soft edge outside, and the outermost pixels inside (segmentation runs a little fat)
    band = (alpha > 0) & (cv2.distanceTransform(inside, cv2.DIST_L2, 3) <= EDGE_BAND_PX)
    if also is not None:
        band |= also
    img = rgb.astype(np.float32)
    outside = (alpha < EDGE_BG_ALPHA).astype(np.float32)
    deep = (cv2.distanceTransform(inside, cv2.DIST_L2, 3) > EDGE_BAND_PX + 1).astype(np.float32)

    def local_mean(w):
        den = cv2.GaussianBlur(w, (0, 0), EDGE_SIDE_SIGMA)
        num = cv2.GaussianBlur(img * w[..., None], (0, 0), EDGE_SIDE_SIGMA)
        return num / np.maximum(den, 1e-6)[..., None], den > 1e-3

    f, f_ok = local_mean(deep)
    b, b_ok = local_mean(outside)
    fb = f - b
    n2 = (fb ** 2).sum(-1)
    a_line = np.clip(((img - b) * fb).sum(-1) / np.maximum(n2, 1e-6), 0.0, 1.0)
    a_plate = np.clip(np.abs(img - plate.astype(np.float32)).max(-1) / EDGE_BG_LEVELS, 0.0, 1.0)
    apart = f_ok & b_ok & (n2 > EDGE_APART ** 2)
    est = np.where(apart, a_line, a_plate)
    out = alpha.copy()
    out[band] = np.minimum(alpha[band], est[band])
    return out


FRINGE_TOLERANCE = 6.0  # levels: a pixel within this of the plate is background, not a strand of hair


def explain_fringe(rgb: np.ndarray, alpha: np.ndarray, plate: np.ndarray, zone: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Alpha and colour that composite back to the photo over the plate inside `zone` (bool: around the
    head). Segmentation stops short of soft, out-of-focus hair, and the plate's hole reaches past it
    (its guard ring): left there, those strands are painted over with the inpainted wall and the hair's
    outline comes out cut, even standing still. Each such pixel gets the least alpha that explains its
    difference from the plate (I = a F + (1 - a) B with F within 0..255), never less than the matte's,
    and F from that; the person layer then carries the strands and they composite exactly at rest.
    Returns (alpha, F) over the whole image; outside `zone` they are `alpha` and NaN."""
    img = rgb.astype(np.float32)
    b = plate.astype(np.float32)
    diff = img - b
    mag = np.maximum(np.abs(diff) - FRINGE_TOLERANCE, 0.0) * np.sign(diff)
    # per channel, the alpha below which F would leave 0..255
    need = np.where(mag > 0, mag / np.maximum(255.0 - b, 1.0), -mag / np.maximum(b, 1.0)).max(-1)
    a = np.where(zone, np.maximum(alpha, np.clip(need, 0.0, 1.0)), alpha).astype(np.float32)
    f = np.full(img.shape, np.nan, np.float32)
    on = zone & (a > 0)
    f[on] = np.clip(b[on] + diff[on] / a[on, None], 0, 255)
    return a, f


def bleed(fg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Person colours carried past the matte into its transparent surroundings (alpha < BLEED_ALPHA),
    by normalised blurs from fine to coarse. The renderer samples colour and alpha bilinearly, so an edge
    pixel mixes its neighbours' colours: with the photo's background there, a moved limb carries a fringe
    of it; with the person's own colour there, the edge is the person's colour fading out."""
    solid = (alpha >= BLEED_ALPHA).astype(np.float32)
    if not solid.any() or solid.all():
        return fg
    out = fg.astype(np.float32)
    known = solid.copy()
    for sigma in BLEED_SIGMAS:
        w = cv2.GaussianBlur(known, (0, 0), sigma)
        c = cv2.GaussianBlur(out * known[..., None], (0, 0), sigma) / np.maximum(w, 1e-6)[..., None]
        take = (known < 0.5) & (w > 1e-3)
        out[take] = c[take]
        known = np.maximum(known, take.astype(np.float32))
    keep = alpha >= BLEED_ALPHA
    out[keep] = fg[keep]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
