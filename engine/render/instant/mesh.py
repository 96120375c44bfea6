"""The triangulated silhouette: which pixels belong to which mesh piece, vertices, triangles, skin weights.

The person is cut into pieces that may slide over each other: the body (torso, head, legs) and each arm
(with its hand). An arm lying against the torso in the photo can then lift away without dragging the
torso's side with it. A hidden "fill" piece under each arm, where it covered the torso, carries torso
texture inpainted from around the arm, so the torso has no hole where the arm used to be.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay, cKDTree

from engine import vocabulary as vocab
from engine.render.instant.config import WarpConfig
from engine.render.instant.skeleton import PIECE_BODY, PIECE_L_ARM, PIECE_R_ARM, Skeleton, points

LABEL_BG, LABEL_BODY, LABEL_L_ARM, LABEL_R_ARM = 0, 1, 2, 3
PIECE_LABEL = {PIECE_BODY: LABEL_BODY, PIECE_L_ARM: LABEL_L_ARM, PIECE_R_ARM: LABEL_R_ARM}
LABEL_MAX_SIDE = 384  # the piece labels are computed at this resolution, then upsampled
TORSO_LENGTH_U = 1.3  # a torso hung from the shoulders when the hips are not in the photo: this long (u) ...
HIP_WIDTH_SHARE = 0.7  # ... and this much narrower at the hips
TORSO_INSIDE_ND = 0.5  # normalised distance the torso polygon claims for pixels inside it
TORSO_EDGE_U = 0.3  # ... growing by 1 per this many body units outside it
SHOULDER_OVERLAP_U = 0.2  # body and arm pieces both keep a disc this size around the shoulder joint
FILL_GROW_U = 0.05  # the under-arm fill reaches this far beyond the arm, so the seam has no crack
BETWEEN_REACH_U = 0.6  # ... and only where body lies on both sides of it within this (u)
ARM_WIDTH_REACH = 1.1  # ... or within this many times the arm's own width (its widest inscribed disc)
OUTER_REACH = 2.5  # body pixels beyond an arm, this many times its widest inscribed radius from a bone, join it
HAIR_MIN_PX = 3  # ... unless coloured like the head in a patch at least this thick (radius, work px)
COLOUR_SAMPLE = 17  # the head's colour is the median of every this-many body pixels in its zone
SLIVER_U = 0.03  # body strips thinner than twice this (u) along an arm belong to the arm
ARM_OWN = "arm_own"  # key of the arms' own pixels in piece_regions' result (not a piece)
SEAM_OVERLAP = 0.2  # arm pieces reach this many mesh spacings over the body
LEG_BONES = ("l_thigh", "l_shin", "l_foot", "r_thigh", "r_shin", "r_foot")
FLESH_RADIUS = 1.1  # the body continues behind an arm within this many bone radii of a leg bone ...
TORSO_GROW_U = 0.1  # ... or within the torso quad grown by this (u) at its corners
TORSO_SIDE_U = 0.25  # the torso's sides (clothes, flesh) reach this far (u) past the shoulder-hip quad
PROBE_TOLERANCE = 0.2  # a kept triangle may overhang its region by this many spacings (no corner notches)
INTERIOR_MARGIN = 0.55  # interior samples keep this many spacings from the outline
TRI_PROBES = np.array([[1, 1, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1], [4, 1, 1], [1, 4, 1], [1, 1, 4]], np.float64)
TRI_PROBES = TRI_PROBES / TRI_PROBES.sum(1, keepdims=True)  # barycentric probes a kept triangle must pass


@dataclass
class Piece:
    """One mesh piece: rest vertices (V, 2) in work px, triangles (T, 3), and which atlas layer it samples."""

    name: str
    verts: np.ndarray
    tris: np.ndarray
    layer: str  # "photo" or "fill"
    joint_verts: np.ndarray  # vertex indices placed on joints (strong ARAP handles)
    joint_keys: list[str]


def segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, B) distances from points (N, 2) to segments a (B, 2) -> b (B, 2)."""
    d = b - a
    dd = np.maximum((d * d).sum(1), 1e-12)
    t = np.clip(((p[:, None, :] - a[None]) * d[None]).sum(-1) / dd, 0.0, 1.0)
    q = a[None] + t[..., None] * d[None]
    return np.sqrt(((p[:, None, :] - q) ** 2).sum(-1))


def torso_quad(sk: Skeleton) -> np.ndarray | None:
    """(4, 2) shoulders and hips; with the hips out of the photo, a torso of usual proportions hung from
    the shoulders (away from the head), so a cut-off torso still counts as torso."""
    p, c = points(sk.source, [f"b{i}" for i in (vocab.L_SHOULDER, vocab.R_SHOULDER, vocab.R_HIP, vocab.L_HIP)], sk.scale)
    if c.min() >= 0.5:
        return p[:, :2]
    if c[:2].min() < 0.5:
        return None
    ls, rs = p[0, :2], p[1, :2]
    d = rs - ls
    down = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
    (nose,), nc = points(sk.source, [f"b{vocab.NOSE}"], sk.scale)
    if nc[0] >= 0.5 and np.dot(nose[:2] - (ls + rs) / 2, down) > 0:
        down = -down
    elif nc[0] < 0.5 and down[1] < 0:
        down = -down
    drop = TORSO_LENGTH_U * sk.u * down
    inset = (1 - HIP_WIDTH_SHARE) / 2 * d
    return np.array([ls, rs, rs - inset + drop, ls + inset + drop])


def piece_labels(sk: Skeleton, alpha: np.ndarray, hand_masks: dict[str, np.ndarray],
                 config: WarpConfig, rgb: np.ndarray | None = None) -> np.ndarray:
    """uint8 label map (work size): background, body, left arm, right arm."""
    h, w = alpha.shape
    s = min(1.0, LABEL_MAX_SIDE / max(h, w))
    lw, lh = max(4, int(round(w * s))), max(4, int(round(h * s)))
    person = cv2.resize(alpha, (lw, lh), interpolation=cv2.INTER_LINEAR) > 0.02
    ys, xs = np.nonzero(person)
    pix = (np.stack([xs, ys], 1) + 0.5) / s
    nd = segment_distance(pix, sk.src_a, sk.src_b) / sk.radius[None]
    score = {}
    names = np.array(sk.names)
    for piece in (PIECE_BODY, PIECE_L_ARM, PIECE_R_ARM):
        sel = sk.pieces == piece
        # a tracked hand's own mask says which pixels are hand: the clothes around it stay with the body
        for prefix, bone in (("lh", "l_hand"), ("rh", "r_hand")):
            if prefix in hand_masks:
                sel &= names != bone
        score[piece] = nd[:, sel].min(1) if sel.any() else np.full(len(pix), np.inf)
        if piece != PIECE_BODY:
            score[piece] = score[piece] * config.arm_priority
    quad = torso_quad(sk)
    if quad is not None:
        dq = _poly_distance(quad, pix, (lw, lh), s)
        score[PIECE_BODY] = np.minimum(score[PIECE_BODY], TORSO_INSIDE_ND + np.maximum(-dq, 0.0) / (TORSO_EDGE_U * sk.u))
    lab_small = np.zeros((lh, lw), np.uint8)
    best = np.argmin(np.stack([score[PIECE_BODY], score[PIECE_L_ARM], score[PIECE_R_ARM]], 1), 1)
    lab_small[ys, xs] = best + 1
    lab = cv2.resize(lab_small, (w, h), interpolation=cv2.INTER_NEAREST)
    lab[alpha <= 0.02] = LABEL_BG
    for prefix, m in hand_masks.items():
        lab[(m > 0) & (alpha > 0.02)] = LABEL_L_ARM if prefix == "lh" else LABEL_R_ARM
    if rgb is not None:
        _outer_side_to_arms(lab, sk, rgb)
    _slivers_to_arms(lab, max(1, int(round(SLIVER_U * sk.u))))
    for label, piece in ((LABEL_L_ARM, PIECE_L_ARM), (LABEL_R_ARM, PIECE_R_ARM)):
        _keep_anchored(lab, label, sk, piece)
    return lab


def _outer_side_to_arms(lab: np.ndarray, sk: Skeleton, rgb: np.ndarray) -> None:
    """Body pixels beyond an arm, on the side away from the torso and within the arm's own width of its
    bones, coloured like the arm rather than like the head (hair lying on the shoulder stays with it), go
    to the arm. A wide sleeve (or a torso turned away, whose narrow shoulders make the arm's bone radius
    small) is otherwise split lengthwise: its outer strip scores nearer the clavicle, stays with the
    body, and a moved arm tears a wedge of wall out of the jacket between the two."""
    quad = torso_quad(sk)
    if quad is None:
        return
    centre = quad.mean(0)
    lab_img = head_c = None
    for label, side in ((LABEL_L_ARM, "l"), (LABEL_R_ARM, "r")):
        bones = [sk.index[n] for n in (f"{side}_upper_arm", f"{side}_forearm") if n in sk.index]
        arm = (lab == label).astype(np.uint8)
        if not bones or arm.sum() < 16:
            continue
        reach = OUTER_REACH * float(cv2.distanceTransform(arm, cv2.DIST_L2, 5).max())
        ys, xs = np.nonzero(lab == LABEL_BODY)
        p = np.stack([xs, ys], 1).astype(np.float64) + 0.5
        take = np.zeros(len(p), bool)
        for i in bones:
            a, b = sk.src_a[i], sk.src_b[i]
            d = b - a
            dd = max(float(d @ d), 1e-9)
            t = ((p - a) @ d) / dd
            cross = lambda q: d[0] * (q[..., 1] - a[1]) - d[1] * (q[..., 0] - a[0])  # noqa: E731
            away = np.sign(cross(p)) == -np.sign(cross(centre))
            dist = np.abs(cross(p)) / np.sqrt(dd)
            take |= away & (t > 0.0) & (t < 1.0) & (dist < reach)
        if take.any() and "head" in sk.index:  # hair on the shoulder stays with the head
            if lab_img is None:
                lab_img = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32), (0, 0), 2.0)
                # the head's colours: its zone above the shoulders (hair, face), not the clothes below (a
                # sample of the body's pixels: every bone's distance to every pixel would take gigabytes)
                q = p[::COLOUR_SAMPLE]
                nd = segment_distance(q, sk.src_a, sk.src_b) / sk.radius[None]
                ls, rs = quad[0], quad[1]
                edge = rs - ls
                line = lambda r: edge[0] * (r[..., 1] - ls[1]) - edge[1] * (r[..., 0] - ls[0])  # noqa: E731
                up = np.sign(line(q)) == np.sign(line(sk.src_b[sk.index["head"]]))
                hq = q[(np.argmin(nd, 1) == sk.index["head"]) & up].astype(int)
                head_c = np.median(lab_img[hq[:, 1], hq[:, 0]], axis=0) if len(hq) else None
            ay, ax = np.nonzero(arm)
            arm_c = np.median(lab_img[ay, ax], axis=0)
            if head_c is not None:
                c = lab_img[ys[take], xs[take]]
                hairy = np.linalg.norm(c - head_c, axis=1) < np.linalg.norm(c - arm_c, axis=1)
                idx = np.nonzero(take)[0][hairy]
                m = np.zeros(lab.shape, np.uint8)
                m[ys[idx], xs[idx]] = 1
                # (a thin line of hair-coloured pixels is the sleeve's edge against a dark wall, not hair)
                m = cv2.morphologyEx(m, cv2.MORPH_OPEN, _disc(HAIR_MIN_PX))
                take[idx[m[ys[idx], xs[idx]] > 0]] = False
        if take.any():
            grab = np.zeros(lab.shape, np.uint8)
            grab[ys[take], xs[take]] = 1
            # only the strips that touch the arm (not a hand, the hair or a bag beside it)
            n, cc = cv2.connectedComponents(grab, connectivity=8)
            near = np.unique(cc[(cv2.dilate(arm, np.ones((3, 3), np.uint8)) > 0) & (grab > 0)])
            lab[np.isin(cc, near[near > 0])] = label


def _slivers_to_arms(lab: np.ndarray, r: int) -> None:
    """Thin strips of body along an arm's outline (the soft edge of a hand lying on the shorts) go to the
    arm: left behind, they would draw the hand's outline where it used to be."""
    body = (lab == LABEL_BODY).astype(np.uint8)
    sliver = body & (1 - cv2.morphologyEx(body, cv2.MORPH_OPEN, _disc(r)))
    for label in (LABEL_L_ARM, LABEL_R_ARM):
        near = cv2.dilate((lab == label).astype(np.uint8), _disc(r + 1))
        lab[(sliver & near) > 0] = label
        sliver &= 1 - near


def _poly_distance(quad: np.ndarray, pix: np.ndarray, small_size: tuple[int, int], s: float) -> np.ndarray:
    """Signed distance (+ inside) from pixels to a polygon, via a distance transform at label resolution."""
    lw, lh = small_size
    m = np.zeros((lh, lw), np.uint8)
    cv2.fillConvexPoly(m, np.round(quad * s).astype(np.int32), 1)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    xi = np.clip((pix[:, 0] * s).astype(int), 0, lw - 1)
    yi = np.clip((pix[:, 1] * s).astype(int), 0, lh - 1)
    # a polygon wholly off the label map leaves the distance transform at FLT_MAX: clip, no overflow
    far = float(lw + lh)
    return (np.minimum(inside[yi, xi], far) - np.minimum(outside[yi, xi], far)) / s


def _keep_anchored(lab: np.ndarray, label: int, sk: Skeleton, piece: str) -> None:
    """Arm-labelled blobs not touching the arm's own bones go back to the body."""
    m = (lab == label).astype(np.uint8)
    if not m.any():
        return
    n, cc = cv2.connectedComponents(m, connectivity=8)
    bones = np.nonzero(sk.pieces == piece)[0]
    h, w = lab.shape
    hit = set()
    for i in bones:
        for t in np.linspace(0.0, 1.0, 9):
            x, y = np.round(sk.src_a[i] + t * (sk.src_b[i] - sk.src_a[i])).astype(int)
            if 0 <= x < w and 0 <= y < h and cc[y, x] > 0:
                hit.add(int(cc[y, x]))
    for c in range(1, n):
        if c not in hit:
            lab[cc == c] = LABEL_BODY


def piece_regions(sk: Skeleton, lab: np.ndarray, alpha: np.ndarray, spacing: float) -> dict[str, np.ndarray]:
    """uint8 masks per mesh piece, plus the under-arm fill. Each arm reaches a little over the body and
    both keep a disc at the shoulder, so the seams between pieces never open into cracks."""
    person = (lab > 0).astype(np.uint8)
    regions = {}
    arms = np.zeros_like(person)
    own = np.zeros_like(person)  # the arms' own pixels: the seam overlap beyond them is drawn transparent
    regions[ARM_OWN] = own
    for piece, shoulder in ((PIECE_L_ARM, "b11"), (PIECE_R_ARM, "b12")):
        m = (lab == PIECE_LABEL[piece]).astype(np.uint8)
        if m.sum() < 16:
            continue
        (p,), _ = points(sk.source, [shoulder], sk.scale)
        disc = np.zeros_like(m)
        if np.isfinite(p[:2]).all():
            cv2.circle(disc, (int(round(p[0])), int(round(p[1]))), max(2, int(SHOULDER_OVERLAP_U * sk.u)), 1, -1)
        grown = cv2.dilate(m, _disc(max(1, int(round(SEAM_OVERLAP * spacing))))) & person
        regions[piece] = np.maximum(grown, disc & person)
        arms |= m & (1 - disc)
        own |= m | (disc & person)
    body = person & (1 - arms)
    if body.sum() < 16:
        return regions
    regions[PIECE_BODY] = body
    if arms.any():
        inside = _between(body, BETWEEN_REACH_U * sk.u)
        # an arm wider than that reach (a sleeve, a torso turned away that makes the shoulders look narrow)
        # lying on the body: the body carries on behind it wherever there is body on both sides within
        # the arm's own width, and a moved arm uncovers clothes, not the plate (a wedge of wall)
        width = 2.0 * float(cv2.distanceTransform(arms, cv2.DIST_L2, 5).max())
        wide = _between(body, ARM_WIDTH_REACH * width) if ARM_WIDTH_REACH * width > BETWEEN_REACH_U * sk.u \
            else np.zeros_like(body)
        # Within the torso the body carries on behind an arm even with no body beyond it (an arm down the side
        # of a torso the photo cuts off): lifted, it uncovers suit, not a smear of the background beside it.
        torso = _flesh(sk, legs=False, grow=TORSO_SIDE_U)
        fill = arms & (alpha > 0.5).astype(np.uint8) & ((_flesh(sk) & inside) | torso | wide)
        if fill.sum() >= 16:
            grown = cv2.dilate(fill, _disc(max(1, int(FILL_GROW_U * sk.u))))
            regions["fill"] = grown & person & (body | inside | torso)
    return regions


def _between(body: np.ndarray, reach: float) -> np.ndarray:
    """uint8 mask of pixels with body on both sides within `reach`, along the row or along the column.
    The body plausibly continues there behind an arm (a torso outline carries on under a hanging hand);
    where a hand stuck out over the edge of the shorts, the part beyond shows the plate once the hand
    leaves, not a hand-shaped patch of shorts."""
    return _both_sides(body, reach) | _both_sides(body.T, reach).T


def _both_sides(m: np.ndarray, reach: float) -> np.ndarray:
    """Per row: pixels with a set pixel of `m` at most `reach` to their left and to their right."""
    h, w = m.shape
    x = np.arange(w)[None, :].repeat(h, 0)
    left = np.maximum.accumulate(np.where(m > 0, x, -10 ** 6), axis=1)
    right = np.minimum.accumulate(np.where(m > 0, x, 10 ** 6)[:, ::-1], axis=1)[:, ::-1]
    return ((x - left <= reach) & (right - x <= reach)).astype(np.uint8)


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _flesh(sk: Skeleton, legs: bool = True, grow: float = TORSO_GROW_U) -> np.ndarray:
    """Where the body is likely to continue behind an arm: the torso quad and (legs) thick leg bones."""
    w, h = sk.work_size
    m = np.zeros((h, w), np.uint8)
    quad = torso_quad(sk)
    if quad is not None:  # the torso reaches a little beyond its shoulder and hip joints
        c = quad.mean(0)
        d = quad - c
        grown = quad + d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)[:, None] * (grow * sk.u)
        cv2.fillConvexPoly(m, np.round(grown).astype(np.int32), 1)
    for i, s in enumerate(sk.specs if legs else ()):
        if s.piece != PIECE_BODY or s.kind != "segment" or s.name not in LEG_BONES:
            continue
        a, b = np.round(sk.src_a[i]).astype(int), np.round(sk.src_b[i]).astype(int)
        cv2.line(m, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, max(1, int(2 * FLESH_RADIUS * sk.radius[i])))
    return m


def _resample(contour: np.ndarray, spacing_at) -> np.ndarray:
    """Points along a closed contour (N, 2), one per local spacing of arc length."""
    c = contour.reshape(-1, 2).astype(np.float64)
    nxt = np.roll(c, -1, axis=0)
    seg = np.hypot(*(nxt - c).T)
    t = np.concatenate([[0.0], np.cumsum(seg / spacing_at(c))])
    n = int(np.floor(t[-1]))
    if n < 3:
        return np.zeros((0, 2))
    want = np.arange(n) + 0.5 * (t[-1] - n)
    x = np.interp(want, t, np.concatenate([c[:, 0], c[:1, 0]]))
    y = np.interp(want, t, np.concatenate([c[:, 1], c[:1, 1]]))
    return np.stack([x, y], 1)


def _grid(region: np.ndarray, spacing: float, margin: float) -> np.ndarray:
    """Hexagonal grid points inside `region` at least `margin` px from its outline."""
    h, w = region.shape
    dist = cv2.distanceTransform(region, cv2.DIST_L2, 5)
    ys = np.arange(spacing / 2, h, spacing * 0.866)
    pts = []
    for r, y in enumerate(ys):
        xs = np.arange(spacing / 2 + (spacing / 2 if r % 2 else 0.0), w, spacing)
        pts.append(np.stack([xs, np.full_like(xs, y)], 1))
    if not pts:
        return np.zeros((0, 2))
    p = np.concatenate(pts)
    keep = dist[p[:, 1].astype(int), p[:, 0].astype(int)] >= margin
    return p[keep]


def build_piece(name: str, region: np.ndarray, spacing: float, layer: str, extra: np.ndarray,
                joints: dict[str, np.ndarray], fine: np.ndarray | None = None,
                fine_spacing: float | None = None) -> Piece | None:
    """Triangulate a region: outline samples, interior grid, joint points and extra points (finger samples).
    `fine` marks where `fine_spacing` applies instead of `spacing` (the hands)."""
    h, w = region.shape
    fine_spacing = fine_spacing or spacing

    def spacing_at(p: np.ndarray) -> np.ndarray:
        if fine is None:
            return np.full(len(p), spacing)
        xi = np.clip(p[:, 0].astype(int), 0, w - 1)
        yi = np.clip(p[:, 1].astype(int), 0, h - 1)
        return np.where(fine[yi, xi] > 0, fine_spacing, spacing)

    contours, _ = cv2.findContours(region, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = [_resample(c, spacing_at) for c in contours if cv2.contourArea(c) >= spacing * spacing * 0.5]
    outline = [o for o in outline if len(o)]
    if not outline:
        return None
    pts = [np.concatenate(outline)]
    coarse = region if fine is None else region & (1 - fine)
    pts.append(_grid(coarse, spacing, INTERIOR_MARGIN * spacing))
    if fine is not None and fine.any():
        pts.append(_grid(region & fine, fine_spacing, INTERIOR_MARGIN * fine_spacing))
    inside = region_contains(region, extra) if len(extra) else np.zeros(0, bool)
    special = [extra[inside]] if len(extra) else []
    jkeys = [k for k, p in joints.items() if region_contains(region, p[None])[0]]
    special.insert(0, np.array([joints[k] for k in jkeys]).reshape(-1, 2))
    base = np.concatenate(pts)
    spec = np.concatenate(special)
    if len(spec) and len(base):  # base samples crowding a special point give way to it
        d, _ = cKDTree(spec).query(base)
        base = base[d > 0.45 * spacing_at(base)]
    allp = np.concatenate([spec, base])
    allp = _dedupe(allp, 0.6)
    if len(allp) < 3:
        return None
    try:
        tri = Delaunay(allp).simplices
    except Exception:  # degenerate point sets (all collinear): no mesh for this piece
        return None
    probe = np.einsum("kj,tjd->tkd", TRI_PROBES, allp[tri])
    tol = max(1, int(round(PROBE_TOLERANCE * spacing)))
    grown = cv2.dilate(region, np.ones((2 * tol + 1, 2 * tol + 1), np.uint8))
    xi = np.clip(np.round(probe[..., 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(probe[..., 1]).astype(int), 0, h - 1)
    keep = grown[yi, xi].all(axis=1)
    a, b, c = (allp[tri[:, i]] for i in range(3))
    area = 0.5 * np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    keep &= area > 0.05
    tri = tri[keep]
    if not len(tri):
        return None
    used = np.unique(tri)
    remap = -np.ones(len(allp), np.int64)
    remap[used] = np.arange(len(used))
    verts = allp[used]
    tris = remap[tri]
    nj = len(jkeys)
    jv = remap[:nj]
    ok = jv >= 0
    return Piece(name, verts, tris.astype(np.int32), layer, jv[ok], [k for k, o in zip(jkeys, ok) if o])


def region_contains(region: np.ndarray, p: np.ndarray) -> np.ndarray:
    h, w = region.shape
    p = np.asarray(p, np.float64).reshape(-1, 2)
    fin = np.isfinite(p).all(1)
    xi = np.clip(np.nan_to_num(p[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.nan_to_num(p[:, 1]).astype(int), 0, h - 1)
    inb = fin & (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
    return inb & (region[yi, xi] > 0)


def _dedupe(p: np.ndarray, tol: float) -> np.ndarray:
    """Drop points closer than `tol` to an earlier point (keeps the first: joints come first)."""
    tree = cKDTree(p)
    drop = np.zeros(len(p), bool)
    for i, j in sorted(tree.query_pairs(tol)):
        if not drop[i]:
            drop[j] = True
    return p[~drop]


def skin_weights(verts: np.ndarray, sk: Skeleton, allowed: np.ndarray, config: WarpConfig) -> np.ndarray:
    """(V, B) weights: inverse normalised distance to each allowed bone, sharpened, top-k, rows sum to 1.
    `allowed`: (B,) or per vertex (V, B)."""
    nd = segment_distance(verts, sk.src_a, sk.src_b) / sk.radius[None]
    w = (nd + config.skin_eps) ** (-config.skin_power)
    w[~np.broadcast_to(allowed, w.shape)] = 0.0
    k = min(config.skin_top_k, w.shape[1])
    if k < w.shape[1]:
        cut = np.partition(w, -k, axis=1)[:, -k][:, None]
        w[w < cut] = 0.0
    s = w.sum(1, keepdims=True)
    bad = s[:, 0] <= 0
    if bad.any():  # a vertex no allowed bone reaches: the nearest bone of any piece takes it
        w[bad, np.argmin(nd[bad], 1)] = 1.0
        s = w.sum(1, keepdims=True)
    return w / s


SKIN_APART = 25.0  # CIELAB: a sleeve this far from the skin's colour can be told from it ...
SKIN_NEAR = 22.0  # ... and a pixel this close to the skin (and nearer it than the sleeve) is bare skin
SLEEVE_SPAN = (0.1, 0.4)  # the sleeve's colour: the upper arm between these shares of its length


def skin_colour(fl, scale: float, fg: np.ndarray) -> np.ndarray | None:
    """The person's skin colour (CIELAB): the face's, eroded from its outline; None without a face."""
    if not fl.has("face"):
        return None
    f = np.round(fl.face[:, :2] * scale).astype(np.int32)
    m = np.zeros(fg.shape[:2], np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(f), 1)
    m = cv2.erode(m, np.ones((7, 7), np.uint8))
    if m.sum() < 16:
        return None
    return np.median(cv2.cvtColor(fg, cv2.COLOR_RGB2LAB)[m > 0].astype(np.float32), axis=0)


def forearm_skin_only(sk: Skeleton, piece: Piece, fg: np.ndarray, skin_lab: np.ndarray, allowed: np.ndarray) -> None:
    """A forearm pointing at the camera lies over the lower upper arm in the photo: weighted by distance,
    its skin and the sleeve beneath blend between the two bones, and a bent elbow drags slivers of each
    with the other (shards of sleeve and skin). Bare skin beyond the upper arm's middle, told from the
    sleeve by colour, follows the forearm and hand alone (in place)."""
    side = piece.name.split(":")[-1][0]  # (a patch piece is named "patch:<piece>")
    up, fore = sk.index.get(f"{side}_upper_arm"), sk.index.get(f"{side}_forearm")
    if up is None or fore is None:
        return
    lab = cv2.cvtColor(fg, cv2.COLOR_RGB2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    v = piece.verts
    c = lab[np.clip(v[:, 1].astype(int), 0, h - 1), np.clip(v[:, 0].astype(int), 0, w - 1)]
    a, b = sk.src_a[up], sk.src_b[up]
    d = b - a
    t = ((v - a) @ d) / max(float(d @ d), 1e-9)
    near_top = (t > SLEEVE_SPAN[0]) & (t < SLEEVE_SPAN[1])
    if near_top.sum() < 3:
        return
    sleeve = np.median(c[near_top], axis=0)
    if np.linalg.norm(sleeve - skin_lab) < SKIN_APART:  # a bare arm (or a skin-coloured sleeve)
        return
    to_skin = np.linalg.norm(c - skin_lab, axis=1)
    bare = (to_skin < SKIN_NEAR) & (to_skin < np.linalg.norm(c - sleeve, axis=1)) & (t > 0.5)
    chain = np.array([s.name.startswith(f"{side}_") and s.name != f"{side}_upper_arm" for s in sk.specs])
    keep = allowed[bare] & chain[None]
    ok = keep.any(1)
    rows = np.nonzero(bare)[0][ok]
    allowed[rows] = keep[ok]


def mesh_spacing(sk: Skeleton, person_area: float, config: WarpConfig) -> float:
    """Triangle edge length: a share of the body unit, grown until the mesh fits the vertex budget."""
    s = max(config.mesh_spacing_min_px, config.mesh_spacing_u * sk.u)
    est = person_area / (0.866 * s * s)
    if est > config.mesh_max_vertices:
        s *= np.sqrt(est / config.mesh_max_vertices)
    return float(s)
