"""Dense face warp over MediaPipe's 478-point face mesh, with a mouth interior and moving eyes.

The face layer is piecewise-affine over the canonical mesh's triangles (rebuilt from the tessellation's
edges), so lids, brows, jaw and lips follow their landmarks exactly. The mesh has holes at the eyes and the
mouth: the eyes are filled by a fan around the iris centre (so the iris follows the gaze), and a mouth opened
wider than in the photo gets a strip of synthetic interior (upper teeth under the upper lip, a dark cavity,
shaded lower teeth) drawn beneath the lips, instead of stretched lips. A head turned towards the camera
uncovers the far cheek, which the photo shows foreshortened or not at all: those triangles take their
texture from their mirror image on the near side (the mesh is left-right symmetric), not a smear of the few
pixels the photo has there. A photo whose mouth is already open lends
its own mouth interior to the strip. Around the face, the face's non-rigid motion (a jaw drop) spreads onto
the hair and neck vertices of the body mesh with a smooth falloff, so the chin does not tear from the neck.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from functools import cached_property, lru_cache

import cv2
import numpy as np
import scipy.sparse as sp

from engine import vocabulary as vocab
from engine.render.instant.eyes import build_eyeball, eyeball_points
from engine.render.instant.hand_layer import LUMA

# Face rings (inner lips, eye openings, the oval) come from engine.vocabulary.
LIP_INNER_UPPER, LIP_INNER_LOWER = vocab.LIP_INNER_UPPER, vocab.LIP_INNER_LOWER
EYE_RING_R, EYE_RING_L, FACE_OVAL = vocab.EYE_RING_R, vocab.EYE_RING_L, vocab.FACE_OVAL
IRIS_CENTRE_R, IRIS_CENTRE_L = vocab.IRIS_R[0], vocab.IRIS_L[0]
MOUTH_TEX_SIZE = (96, 48)  # (w, h) of the mouth interior texture
MOUTH_ROWS_V = (0.0, 0.34, 0.8, 1.0)  # texture rows: upper lip, upper teeth edge, lower teeth edge, lower lip
LOWER_TEETH_SHARE = 0.3  # the lower band takes at most this share of the gap (and what the upper leaves)
UPPER_TEETH_SHARE = 0.75  # the teeth band takes at most this share of the gap
OPEN_PHOTO_GAP = 0.035  # a photo mouth gaping more than this (face heights) lends its own interior
OPEN_MARGIN_PX = 0.75  # the strip is drawn once the target gap beats the photo's by this much
PIN_REACH_FH = 0.08  # the head's mesh is held to the face's motion this far outside the oval
TEETH_RGB = np.array([236, 230, 216], np.float32)
CAVITY_RGB = np.array([46, 18, 22], np.float32)
LOWER_TEETH_SHADE = 0.62  # the lower teeth sit in shadow
MIRROR_SEED = (1, 4)  # two landmarks on the face's midline joined by a mesh edge (nose tip, below it)
MIRROR_STRETCH = 2.0  # face drawn this many times larger than the photo shows it (around a triangle) ...
MIRROR_GAIN = 1.5  # ... samples its mirror image instead, when that shows this many times more pixels
MIRROR_SMOOTH = 3  # the stretch is averaged over this many rings of neighbours (no single-triangle shards)
MIRROR_SIDE_RATIO = 2.0  # only a face whose near half the photo shows this many times larger mirrors its far half
FAR_AXIS = (33, 263)  # the outer eye corners: the face's left-right axis in the photo
UNDER_INSET_FH = 0.03  # the head mesh's copy of the face is repainted this far (face heights) inside the oval
UNDER_MARGIN_PX = 4  # the face layer's own copy of the photo reaches this far past the oval's box


@lru_cache(maxsize=1)
def face_triangles() -> np.ndarray:
    """(T, 3) triangles of the canonical face mesh, rebuilt from FACEMESH_TESSELATION's edges: every
    3-clique of edges, less the two spurious cliques whose three edges all border three cliques."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = {tuple(sorted(e)) for e in FACEMESH_TESSELATION}
    adj = collections.defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    count = collections.Counter(e for t in tris for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))
    keep = [t for t in sorted(tris) if not all(count[e] >= 3 for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))]
    return np.array(keep, np.int32)


@lru_cache(maxsize=1)
def mirror_index() -> np.ndarray:
    """(478,) the landmark mirrored across the face's midline (the midline's own map to themselves).
    The canonical mesh is symmetric, so its mirror is the one orientation-reversing map of the triangle
    mesh that fixes a midline edge: walked out from that edge, triangle by triangle."""
    tris = face_triangles()
    by_edge = collections.defaultdict(list)
    for i, t in enumerate(tris):
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            by_edge[frozenset((int(a), int(b)))].append(i)
    a, b = MIRROR_SEED
    t1, t2 = by_edge[frozenset((a, b))]
    m = {a: a, b: b}

    def third(t, e):
        return next(int(v) for v in tris[t] if v not in e)

    m[third(t1, (a, b))], m[third(t2, (a, b))] = third(t2, (a, b)), third(t1, (a, b))
    queue, seen = collections.deque([(t1, t2), (t2, t1)]), {t1, t2}
    while queue:
        ti, tj = queue.popleft()
        t = tris[ti]
        for e in ((int(t[0]), int(t[1])), (int(t[1]), int(t[2])), (int(t[2]), int(t[0]))):
            me = (m[e[0]], m[e[1]])
            k = [x for x in by_edge[frozenset(e)] if x != ti]
            k2 = [x for x in by_edge.get(frozenset(me), []) if x != tj]
            if len(k) != 1 or len(k2) != 1:
                continue
            d, d2 = third(k[0], e), third(k2[0], me)
            if m.get(d, d2) != d2:  # (the mesh is symmetric up to a few edges: the first match stands)
                continue
            m[d], m[d2] = d2, d
            if k[0] not in seen:
                seen.add(k[0])
                queue.append((k[0], k2[0]))
    out = np.arange(vocab.N_FACE)
    for k, v in m.items():
        out[k] = v
    for r, l in zip(vocab.IRIS_R, vocab.IRIS_L):  # the irises are not in the mesh
        out[r], out[l] = l, r
    return out


@lru_cache(maxsize=1)
def layer_triangles() -> np.ndarray:
    """(T, 3) the face layer's triangles (the mesh and the eye fans), wound consistently: two triangles
    sharing an edge run along it in opposite directions, so the sign of a triangle's area tells whether
    it faces the camera (face_triangles' are sorted vertex ids, wound at random)."""
    tris = np.concatenate([face_triangles(), _fan(EYE_RING_R, IRIS_CENTRE_R), _fan(EYE_RING_L, IRIS_CENTRE_L)])
    by_edge = collections.defaultdict(list)
    for i, t in enumerate(tris):
        for k in range(3):
            by_edge[frozenset((int(t[k]), int(t[(k + 1) % 3])))].append(i)
    done = np.zeros(len(tris), bool)
    out = tris.copy()
    for start in range(len(tris)):
        if done[start]:
            continue
        done[start] = True
        queue = collections.deque([start])
        while queue:
            i = queue.popleft()
            t = out[i]
            for k in range(3):
                a, b = int(t[k]), int(t[(k + 1) % 3])
                for j in by_edge[frozenset((a, b))]:
                    if done[j]:
                        continue
                    u = out[j]
                    if any(int(u[m]) == a and int(u[(m + 1) % 3]) == b for m in range(3)):
                        out[j] = u[::-1]  # runs the shared edge the same way: flip it
                    done[j] = True
                    queue.append(j)
    return out


def _fan(ring: tuple[int, ...], centre: int) -> np.ndarray:
    return np.array([(centre, ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))], np.int32)


def synthetic_mouth(skin_rgb: np.ndarray, sclera_rgb: np.ndarray | None = None) -> np.ndarray:
    """A plausible mouth interior (RGB uint8, MOUTH_TEX_SIZE): upper teeth, cavity, lower teeth, dark corners,
    lit like the face: teeth as bright as the whites of its eyes (sclera_rgb), else as the skin's brightness
    (skin_rgb is the face's median colour) suggests."""
    w, h = MOUTH_TEX_SIZE
    v = (np.arange(h) + 0.5)[:, None] / h
    u = (np.arange(w) + 0.5)[None, :] / w
    # The skin's brightness is its tone as much as the light: lit by it alone, a dark-skinned face got grey
    # teeth (the corpus's curly-haired woman: upper teeth at 144 of 255 against a fair face's 200+). The eyes'
    # whites are white on every face, so their brightness is the light's; but read off a small or shadowed eye
    # they come out too dark (lashes, lids and skin mixed in), so the brighter of the two estimates lights the
    # teeth (the curly-haired woman's now 185; no face's teeth darker than before)
    light = float(np.clip(skin_rgb.mean() / 170.0, 0.35, 1.15))
    if sclera_rgb is not None:
        light = max(light, float(np.clip(float(np.asarray(sclera_rgb) @ LUMA) / float(TEETH_RGB @ LUMA), 0.35, 1.15)))
    v1, v2 = MOUTH_ROWS_V[1], MOUTH_ROWS_V[2]
    img = np.zeros((h, w, 3), np.float32)
    teeth = v < v1
    shade = 0.78 + 0.22 * np.clip((v1 - v) / v1, 0, 1)  # teeth darken towards their edge
    gaps = 1.0 - 0.18 * (np.abs(np.sin(np.pi * (u - 0.5) * 8.0)) < 0.12)  # faint gaps between teeth
    img[...] = CAVITY_RGB
    img = np.where(teeth[..., None], (TEETH_RGB * (shade * gaps)[..., None]), img)
    # Below the cavity, the lower teeth in the lower lip's shadow: a tongue there reads as a swollen lip.
    lower = v > v2
    shade = LOWER_TEETH_SHADE * (0.8 + 0.2 * (v - v2) / (1 - v2)) * gaps
    img = np.where(lower[..., None], TEETH_RGB * shade[..., None], img)
    corners = np.clip(1.0 - ((u - 0.5) / 0.5) ** 4, 0.15, 1.0)  # dark mouth corners
    img = img * (corners[..., None] * light)
    return np.clip(img, 0, 255).astype(np.uint8)


def mouth_grid(face: np.ndarray, teeth_px: float) -> np.ndarray:
    """(4, 11, 2) strip vertices inside the lips: upper lip, upper teeth edge, lower teeth edge, lower lip."""
    up = face[list(LIP_INNER_UPPER), :2]
    lo = face[list(LIP_INNER_LOWER), :2]
    d = lo - up
    gap = np.hypot(d[:, 0], d[:, 1])[:, None] + 1e-6
    upper = np.minimum(UPPER_TEETH_SHARE, teeth_px / gap)
    lower = np.minimum(np.minimum(LOWER_TEETH_SHARE, 0.5 * teeth_px / gap), 1.0 - upper)
    r1 = up + d * upper
    r2 = lo - d * lower
    return np.stack([up, r1, r2, lo])


@lru_cache(maxsize=None)  # drawn every frame the mouth is open (read only)
def _grid_tris(rows: int, cols: int) -> np.ndarray:
    t = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a, b, cc, d = r * cols + c, r * cols + c + 1, (r + 1) * cols + c, (r + 1) * cols + c + 1
            t += [(a, b, d), (a, d, cc)]
    return np.array(t, np.int32)


def mouth_gap(face: np.ndarray) -> float:
    up = face[list(LIP_INNER_UPPER[2:-2]), :2]
    lo = face[list(LIP_INNER_LOWER[2:-2]), :2]
    return float(np.hypot(*(lo - up).T).mean())


@dataclass
class FaceLayer:
    """Per-photo face data (work px): source points, triangles, the mouth texture and its grid."""

    src: np.ndarray  # (478, 2)
    tris: np.ndarray  # (T, 3) mesh triangles + eye fans
    face_height: float
    src_gap: float
    teeth_px: float
    mouth_tex: np.ndarray  # (h, w, 3) uint8
    orient: float = 1.0  # sign of a triangle's area that faces the camera in the photo
    mirror_tris: np.ndarray | None = None  # (T, 3) each triangle's mirror image across the midline
    mirror_area: np.ndarray | None = None  # (T,) how large the photo shows that mirror image (px², facing)
    tri_to_vert: object = None  # (478, T) sparse: a vertex's share of its triangles' areas
    vert_to_tri: object = None  # (T, 478) sparse: a triangle's mean over its vertices, smoothed
    oval_w: np.ndarray | None = None  # (V_body, 36) spread of the oval's residual onto body vertices
    oval_tri: np.ndarray | None = None  # (36, 3) body vertices of the triangle each oval point lies in ...
    oval_bary: np.ndarray | None = None  # (36, 3) ... and its barycentric coordinates there
    eyes: tuple = ()  # (right, left) Eyeball or None (engine.render.instant.eyes)
    eye_of: np.ndarray | None = None  # (T,) which eye's fan a triangle is in (0 right, 1 left), else -1
    eye_shift: tuple = ()  # per eye, (2,) from its photo px to its texture in the atlas (place_eyes)

    @classmethod
    def build(cls, face_px: np.ndarray, rgb: np.ndarray, teeth_height: float) -> "FaceLayer":
        src = face_px[:, :2].astype(np.float64)
        tris = layer_triangles()
        fh = float(np.linalg.norm(src[vocab.FACE_CHIN] - src[vocab.FACE_FOREHEAD]))
        teeth_px = teeth_height * fh
        gap = mouth_gap(src)
        eyes = (build_eyeball(src, rgb, EYE_RING_R, vocab.IRIS_R, (vocab.EYE_R[3], vocab.EYE_R[2])),
                build_eyeball(src, rgb, EYE_RING_L, vocab.IRIS_L, (vocab.EYE_L[3], vocab.EYE_L[2])))
        if gap > OPEN_PHOTO_GAP * fh:  # the photo shows its own mouth interior: use it
            tex = _photo_mouth(rgb, mouth_grid(src, teeth_px))
        else:
            hull = cv2.convexHull(np.round(src[list(FACE_OVAL)]).astype(np.int32))
            m = np.zeros(rgb.shape[:2], np.uint8)
            cv2.fillConvexPoly(m, hull, 1)
            skin = np.median(rgb[m > 0], axis=0) if m.any() else np.array([170, 140, 120])
            whites = [e.sclera for e in eyes if e is not None]
            tex = synthetic_mouth(np.asarray(skin, np.float32),
                                  np.mean(whites, axis=0) if whites else None)
        orient = 1.0 if _signed_area(src[tris]).sum() >= 0 else -1.0
        mirror_tris = mirror_index()[tris]
        # (a reflection reverses the winding: the mirror image faces the camera with the opposite sign)
        mirror_area = -orient * _signed_area(src[mirror_tris])
        # triangles on the midline keep their own pixels: their mirror image is themselves, or the seam
        # between the two halves would run down the nose and through the lips
        mirror_area[(mirror_tris == tris).any(1)] = 0.0
        mirror_area[~_far_half(src, tris, orient)] = 0.0
        t2v, v2t = _smoothing(tris, len(src))
        eye_of = np.full(len(tris), -1, np.int8)
        n_mesh = len(face_triangles())  # layer_triangles: the mesh, then the right eye's fan, then the left's
        eye_of[n_mesh:n_mesh + len(EYE_RING_R)] = 0
        eye_of[n_mesh + len(EYE_RING_R):] = 1
        return cls(src, tris, fh, gap, teeth_px, tex, orient, mirror_tris, mirror_area, t2v, v2t, eyes=eyes,
                   eye_of=eye_of)

    def place_eyes(self, positions: tuple) -> None:
        """Where the atlas holds each eyeball's texture (its (x, y) origin there, or None)."""
        self.eye_shift = tuple(None if pos is None or eye is None else np.asarray(pos, np.float64) - eye.origin
                               for eye, pos in zip(self.eyes, positions))

    def spread_weights(self, verts: np.ndarray, tris: np.ndarray, head_weight: np.ndarray,
                       sigma_fh: float) -> np.ndarray:
        """Precompute how the oval's residual motion reaches body vertices (Gaussian, faded by distance
        and by how much of the vertex belongs to the head; in full inside the oval, which the face covers),
        and where the oval sits in the body mesh (tris: the body's triangles over `verts`). Returns (V,)
        pin weights: 1 inside the oval, falling off outside it (PIN_REACH_FH)."""
        oval = self.src[list(FACE_OVAL)]
        sig = sigma_fh * self.face_height
        d2 = ((verts[:, None, :] - oval[None]) ** 2).sum(-1)
        g = np.exp(-d2 / (2 * (0.5 * sig) ** 2)) + 1e-12
        g /= g.sum(1, keepdims=True)
        poly = oval.astype(np.float32).reshape(-1, 1, 2)
        signed = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), True) for x, y in verts])
        out = np.maximum(-signed, 0.0) / (PIN_REACH_FH * self.face_height)
        pin = np.exp(-out * out)
        fade = np.maximum(np.exp(-d2.min(1) / (2 * sig * sig)) * head_weight, (signed >= 0).astype(np.float64))
        self.oval_w = g * fade[:, None]
        self.oval_tri, self.oval_bary = _locate(oval, verts, tris)
        return pin

    def residual_field(self, tgt: np.ndarray, body: np.ndarray) -> np.ndarray:
        """(V_body, 2) displacement of the skinned body vertices `body` that carries the body mesh's oval
        onto the face's oval (the face's non-rigid motion: a jaw drop, a turn the head bone cannot show)."""
        if self.oval_w is None:
            return 0.0
        skinned = (self.oval_bary[..., None] * body[self.oval_tri]).sum(1)
        return self.oval_w @ (tgt[list(FACE_OVAL)] - skinned)

    def frame(self, tgt: np.ndarray, mouth_offset: np.ndarray, depth: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dst (T, 3, 2), src (T, 3, 2), own (T,)) for one frame; the mouth strip (when open
        wider than in the photo) comes first so the lips are drawn over it. mouth_offset: the mouth
        texture's origin in the source atlas (work px); depth: (478,) target z (larger = further). `own`: the
        triangles whose src is already in atlas px (the mouth strip, the eyeballs), not in the photo's.

        A head turned away from the camera folds the far cheek's triangles over (they would paint the hair
        at the face's edge onto the cheek): folded triangles are dropped (the head mesh beneath, held to the
        face, shows). A head turned towards it opens the far cheek up: a triangle drawn much larger than
        the photo shows it (or that the photo shows from behind) samples its mirror image instead, where
        the photo shows that better; without it, its few pixels smear, or it is dropped and the head mesh
        beneath shows the photo's eye or mouth on the cheek. The rest are drawn far to near."""
        d = tgt[self.tris]
        a_dst = self.orient * _signed_area(d)
        a_src, seen, seen_near = self._source_areas
        keep = a_dst * a_src > 0
        src_tris = self.tris
        if self.mirror_tris is not None:
            # how much larger the face is drawn than the photo shows it, around each triangle
            stretch = self.vert_to_tri @ ((self.tri_to_vert @ np.maximum(a_dst, 0.0)) / seen_near)
            mirror = (stretch > MIRROR_STRETCH) & (a_dst > 0) & (self.mirror_area > MIRROR_GAIN * seen)
            keep |= mirror
            src_tris = np.where(mirror[:, None], self.mirror_tris, self.tris)
        tris, src_tris = self.tris[keep], src_tris[keep]
        eye_of = self.eye_of[keep] if self.eye_of is not None else None
        if depth is not None:
            dz = depth[tris]
            by_depth = np.argsort(-((dz[:, 0] + dz[:, 1] + dz[:, 2]) / 3.0), kind="stable")  # mean(1), faster
            tris, src_tris = tris[by_depth], src_tris[by_depth]
            eye_of = eye_of[by_depth] if eye_of is not None else None
        dst = [tgt[tris]]
        src = [self.src[src_tris]]
        own = [np.zeros(len(tris), bool)]
        for k, shift in enumerate(self.eye_shift):
            if shift is None:
                continue
            m = eye_of == k
            pts = eyeball_points(self.eyes[k], self.src, tgt, tgt[tris[m]].reshape(-1, 2))
            src[0][m] = pts.reshape(-1, 3, 2) + shift
            own[0][m] = True
        if mouth_gap(tgt) > self.src_gap + OPEN_MARGIN_PX:
            grid = mouth_grid(tgt, self.teeth_px * self._scale(tgt)).reshape(-1, 2)
            tw, th = MOUTH_TEX_SIZE
            us = np.linspace(0.5, tw - 0.5, len(LIP_INNER_UPPER))
            vs = np.array(MOUTH_ROWS_V) * (th - 1.0) + 0.5
            uv = np.stack(np.meshgrid(us, vs), -1).reshape(-1, 2) + mouth_offset
            gt = _grid_tris(len(MOUTH_ROWS_V), len(LIP_INNER_UPPER))
            dst.insert(0, grid[gt])
            src.insert(0, uv[gt])
            own.insert(0, np.ones(len(gt), bool))
        return np.concatenate(dst), np.concatenate(src), np.concatenate(own)

    @cached_property
    def _source_areas(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Per photo, worked out on first use: each triangle's signed area as the photo shows it (facing
        positive), that area where it faces the camera, and (with mirroring) the latter gathered around each
        vertex, floored."""
        a_src = self.orient * _signed_area(self.src[self.tris])
        seen = np.maximum(a_src, 0.0)
        near = None if self.tri_to_vert is None else np.maximum(self.tri_to_vert @ seen, 1e-6)
        return a_src, seen, near

    def _scale(self, tgt: np.ndarray) -> float:
        fh = float(np.linalg.norm(tgt[vocab.FACE_CHIN] - tgt[vocab.FACE_FOREHEAD]))
        return fh / max(self.face_height, 1e-6)


def _far_half(src: np.ndarray, tris: np.ndarray, orient: float) -> np.ndarray:
    """(T,) bool: the triangles of the half of the face the photo shows smaller, when it shows it at most
    1 / MIRROR_SIDE_RATIO as large as the other (a head turned well away); else none. A face nearly
    frontal keeps its own pixels everywhere: hair over a cheek must not turn into a mirrored cheek."""
    mirror = mirror_index()
    axis = src[FAR_AXIS[1]] - src[FAR_AXIS[0]]
    axis = axis / max(float(np.linalg.norm(axis)), 1e-9)
    side = np.sign(((src - src[mirror]) @ axis)[tris].sum(1))
    seen = np.maximum(orient * _signed_area(src[tris]), 0.0)
    a, b = seen[side > 0].sum(), seen[side < 0].sum()
    if max(a, b) < MIRROR_SIDE_RATIO * min(a, b):
        return np.zeros(len(tris), bool)
    return side == (1.0 if a < b else -1.0)


def face_underlay(rgba: np.ndarray, face: "FaceLayer") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face's own copy for the face layer, and the head mesh's copy without it.

    The head mesh beneath the face layer carries the photo's face too, and shows it wherever the posed
    face does not cover the photo's oval (a head turned to the camera, a face lowered onto the neck): a
    second chin, an eye on the cheek. Returns (rgb with the oval's interior repainted from its rim,
    the RGBA crop of the face's box the face layer samples instead, its (x, y) origin in the photo)."""
    h, w = rgba.shape[:2]
    x0, y0 = np.maximum(face.src.min(0).astype(int) - UNDER_MARGIN_PX, 0)
    x1, y1 = np.minimum(face.src.max(0).astype(int) + UNDER_MARGIN_PX + 1, (w, h))
    crop = np.ascontiguousarray(rgba[y0:y1, x0:x1]).copy()
    # what the face layer itself covers at rest (a turned face's mesh folds: not the whole oval)
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    tris = np.round(face.src[face.tris] - np.array([x0, y0])).astype(np.int32)
    for t in tris:
        cv2.fillConvexPoly(inside, t, 1)
    k = max(1, int(round(UNDER_INSET_FH * face.face_height)))
    inside = cv2.erode(inside, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1,) * 2))
    rgb = np.ascontiguousarray(rgba[..., :3]).copy()
    if inside.any() and not inside.all():
        from engine.render.instant.matte import push_pull_fill

        region = rgb[y0:y1, x0:x1]
        filled = push_pull_fill(region, (inside == 0).astype(np.uint8))
        region[inside > 0] = filled[inside > 0]
    return rgb, crop, np.array([x0, y0], np.float64)


def _smoothing(tris: np.ndarray, n: int):
    """Sparse maps for the per-frame stretch: triangle areas summed onto their vertices, and vertex values
    averaged back onto triangles over MIRROR_SMOOTH rings of neighbours."""
    t = len(tris)
    inc = sp.csr_matrix((np.ones(3 * t), (tris.ravel(), np.repeat(np.arange(t), 3))), (n, t))
    to_tri = inc.T.tocsr() / 3.0  # (T, n) mean of a triangle's vertices
    adj = (inc @ inc.T).tocsr()
    adj = sp.diags(1.0 / np.maximum(np.asarray(adj.sum(1)).ravel(), 1.0)) @ adj  # neighbour mean
    for _ in range(MIRROR_SMOOTH):
        to_tri = to_tri @ adj
    return inc, to_tri.tocsr()


def _signed_area(t: np.ndarray) -> np.ndarray:
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]


def _photo_mouth(rgb: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Resample the photo's open mouth into the canonical strip layout (so a wider opening reuses it)."""
    tw, th = MOUTH_TEX_SIZE
    rows_v = np.array(MOUTH_ROWS_V) * (th - 1)
    cols_u = np.linspace(0, tw - 1, grid.shape[1])
    mx = np.empty((th, tw), np.float32)
    my = np.empty((th, tw), np.float32)
    gx = np.array([np.interp(np.arange(tw), cols_u, grid[r, :, 0]) for r in range(grid.shape[0])])
    gy = np.array([np.interp(np.arange(tw), cols_u, grid[r, :, 1]) for r in range(grid.shape[0])])
    for x in range(tw):
        mx[:, x] = np.interp(np.arange(th), rows_v, gx[:, x])
        my[:, x] = np.interp(np.arange(th), rows_v, gy[:, x])
    return cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _locate(points: np.ndarray, verts: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) vertex ids and barycentrics of the triangle holding each point (or, off the mesh, of the
    nearest triangle by centroid, extrapolated)."""
    t = verts[tris]  # (T, 3, 2)
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    det = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    det = np.where(np.abs(det) < 1e-9, 1e-9, det)
    px, py = points[:, None, 0] - c[None, :, 0], points[:, None, 1] - c[None, :, 1]
    l1 = ((b[:, 1] - c[:, 1]) * px + (c[:, 0] - b[:, 0]) * py) / det
    l2 = ((c[:, 1] - a[:, 1]) * px + (a[:, 0] - c[:, 0]) * py) / det
    bary = np.stack([l1, l2, 1.0 - l1 - l2], -1)  # (N, T, 3)
    worst = bary.min(-1)
    centroid = ((points[:, None, :] - t.mean(1)[None]) ** 2).sum(-1)
    pick = np.where(worst.max(1) >= -1e-6, worst.argmax(1), centroid.argmin(1))
    n = np.arange(len(points))
    return tris[pick], bary[n, pick]
