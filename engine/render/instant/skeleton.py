"""The 2D skeleton the mesh is skinned to: bones between landmark points, and per-frame bone transforms.

Points are named by keys: "b<i>" a body landmark, "lh<i>" / "rh<i>" a left / right hand landmark, and a few
virtual points (midpoints) named below. A bone maps its source segment onto its target segment with a
rotation, a stretch along the bone and the body's overall scale across it (so a limb pointing at the camera
gets shorter, not thinner). The head is fitted as a whole (a similarity over the rigid face points).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine import vocabulary as vocab
from engine.render.instant.config import WarpConfig
from engine.render.instant.helpers import similarity_fit
from engine.track.types import FrameLandmarks

PIECE_BODY, PIECE_L_ARM, PIECE_R_ARM = "body", "l_arm", "r_arm"
PIECES = (PIECE_BODY, PIECE_L_ARM, PIECE_R_ARM)
MIN_CONF = 0.5  # body landmarks below this visibility do not anchor bones (MediaPipe guesses them)
# ... except a wrist at a forearm's end: MediaPipe rates a wrist by its hand, so a hand in a pocket or out of
# the picture rates its forearm's end ~0.5 while the forearm itself shows (0.48 and 0.51 on the two hands in
# the outdoor photo's trouser pockets): left out, that forearm stayed in the body piece and a third arm hung
# at her side whenever the driver raised it
HIDDEN_WRIST_CONF = 0.35
FOREARMS = ("l_forearm", "r_forearm")
FRAME_MARGIN = 0.25  # a bone endpoint may lie this far outside the photo (fraction of its size)

VIRTUAL = vocab.VIRTUAL_POINTS  # virtual points: the mean of these body landmarks
HAIR_REACH = 0.45  # with a face mesh the head bone runs chin -> forehead, extended this much for the hair
HEAD_RADIUS_FACE = 0.55  # ... and its radius is this fraction of the face width


@dataclass(frozen=True)
class BoneSpec:
    name: str
    a: str  # point key of the joint nearer the root
    b: str
    piece: str  # which mesh piece the bone deforms
    radius_u: float  # half-thickness of the flesh around the bone, in body units (fingers: palm widths)
    parent: str | None
    kind: str = "segment"  # "segment" | "head" (similarity fit over the face) | "finger" (radius in palms)
    # | "hand" (a segment that keeps its length: a hand turning edge-on must not squash into a sliver)


def _bone(name: str, piece: str, radius_u: float, parent: str | None, kind: str = "segment") -> BoneSpec:
    """A skin bone between the two points engine.vocabulary.BONES names for it."""
    a, b = vocab.BONES[name]
    return BoneSpec(name, vocab.point_name(a), vocab.point_name(b), piece, radius_u, parent, kind)


# The bones the mesh is skinned to (parents first), their pieces and flesh radii.
SKIN_BONES: tuple[BoneSpec, ...] = (
    _bone("spine", PIECE_BODY, 0.45, None),
    _bone("l_clavicle", PIECE_BODY, 0.28, "spine"),
    _bone("r_clavicle", PIECE_BODY, 0.28, "spine"),
    _bone("l_pelvis", PIECE_BODY, 0.30, "spine"),
    _bone("r_pelvis", PIECE_BODY, 0.30, "spine"),
    _bone("throat", PIECE_BODY, 0.16, "spine"),
    _bone("head", PIECE_BODY, 0.26, "throat", "head"),
    _bone("l_upper_arm", PIECE_L_ARM, 0.15, "l_clavicle"),
    _bone("l_forearm", PIECE_L_ARM, 0.12, "l_upper_arm"),
    _bone("l_hand", PIECE_L_ARM, 0.12, "l_forearm", "hand"),
    _bone("r_upper_arm", PIECE_R_ARM, 0.15, "r_clavicle"),
    _bone("r_forearm", PIECE_R_ARM, 0.12, "r_upper_arm"),
    _bone("r_hand", PIECE_R_ARM, 0.12, "r_forearm", "hand"),
    _bone("l_thigh", PIECE_BODY, 0.21, "l_pelvis"),
    _bone("l_shin", PIECE_BODY, 0.14, "l_thigh"),
    _bone("l_foot", PIECE_BODY, 0.10, "l_shin"),
    _bone("r_thigh", PIECE_BODY, 0.21, "r_pelvis"),
    _bone("r_shin", PIECE_BODY, 0.14, "r_thigh"),
    _bone("r_foot", PIECE_BODY, 0.10, "r_shin"),
)


BODY_KEYS = tuple(f"b{i}" for i in range(vocab.N_BODY))
_TRUNK = np.isin(np.arange(vocab.N_BODY), [vocab.L_SHOULDER, vocab.R_SHOULDER, vocab.L_HIP, vocab.R_HIP])
N_POINT_SOURCES = vocab.N_BODY + 2 * vocab.N_HAND  # body, left hand, right hand, stacked


def _key_weights(key: str) -> dict[int, float]:
    """A point key as a linear combination of the stacked body/hand landmarks."""
    if key in VIRTUAL:
        idx = VIRTUAL[key]
        return {i: 1.0 / len(idx) for i in idx}
    if key == vocab.HEAD_TOP:  # mouth + reach * (eyes - mouth)
        w = {i: (1.0 - vocab.HEAD_TOP_REACH) / 2 for i in VIRTUAL["mouth_c"]}
        w.update({i: vocab.HEAD_TOP_REACH / 2 for i in VIRTUAL["eye_c"]})
        return w
    if key[0] == "b":
        return {int(key[1:]): 1.0}
    base = vocab.N_BODY if key[:2] == "lh" else vocab.N_BODY + vocab.N_HAND
    return {base + int(key[2:]): 1.0}


@lru_cache(maxsize=64)
def _key_matrix(keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    c = np.zeros((len(keys), N_POINT_SOURCES))
    for r, k in enumerate(keys):
        for i, v in _key_weights(k).items():
            c[r, i] = v
    return c, c != 0


def points(fl: FrameLandmarks, keys, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, 3) positions scaled into work pixels and (K,) confidences for a list of point keys; a point
    missing any landmark it is made of is NaN with confidence 0."""
    c, used = _key_matrix(tuple(keys))
    p = np.concatenate([fl.body, fl.left_hand, fl.right_hand]).astype(np.float64)
    conf = np.concatenate([fl.body_conf, fl.left_hand_conf, fl.right_hand_conf]).astype(np.float64)
    valid = np.isfinite(p[:, :2]).all(1)
    p[~np.isfinite(p)] = 0.0
    conf = np.where(valid, conf, 0.0)
    out = (c @ p) * scale
    kconf = np.where(used, conf[None], np.inf).min(1)
    bad = (used & ~valid[None]).any(1)
    out[bad] = np.nan
    kconf[bad] = 0.0
    return out, kconf


def body_unit(fl: FrameLandmarks, scale: float) -> float:
    """The renderer's body unit u in work pixels: the shoulder width (engine.vocabulary's units), else the
    face's width times the usual shoulders-to-face ratio, else a size guess."""
    (ls, rs), c = points(fl, ["b11", "b12"], scale)
    if c.min() >= MIN_CONF:
        return float(max(np.linalg.norm(ls[:2] - rs[:2]), 4.0))
    if fl.has("face"):
        f = fl.face[:, :2].astype(np.float64) * scale
        return float(max(np.linalg.norm(f[vocab.FACE_SIDE_L] - f[vocab.FACE_SIDE_R]) * vocab.FACE_WIDTH_TO_SHOULDERS, 4.0))
    return 0.25 * max(fl.width, fl.height) * scale


def segment_transforms(a_s, b_s, a_t, b_t, across: float, lo: float, hi: float) -> np.ndarray:
    """(B, 2, 3) affines taking segments (a_s, b_s) onto (a_t, b_t): rotation, along-bone stretch (clamped
    to [lo, hi] x across) and `across` scale perpendicular to the bone."""
    ds, dt = b_s - a_s, b_t - a_t
    ls, lt = np.hypot(ds[:, 0], ds[:, 1]), np.hypot(dt[:, 0], dt[:, 1])
    es = np.where(ls[:, None] > 1e-6, ds / np.maximum(ls, 1e-6)[:, None], [1.0, 0.0])
    et = np.where(lt[:, None] > 1e-6, dt / np.maximum(lt, 1e-6)[:, None], es)
    along = np.clip(lt / np.maximum(ls, 1e-6), lo * across, hi * across)
    along = np.where(ls > 1e-6, along, across)
    # M = R_t diag(along, across) R_s^T with R(e) = [[ex, -ey], [ey, ex]]
    cs, ss, ct, st = es[:, 0], es[:, 1], et[:, 0], et[:, 1]
    m = np.empty((len(ds), 2, 3))
    m[:, 0, 0] = along * ct * cs + across * st * ss
    m[:, 0, 1] = along * ct * ss - across * st * cs
    m[:, 1, 0] = along * st * cs - across * ct * ss
    m[:, 1, 1] = along * st * ss + across * ct * cs
    m[:, :, 2] = a_t - np.einsum("bij,bj->bi", m[:, :, :2], a_s)
    return m


def apply(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to points (..., 2)."""
    return p @ m[:, :2].T + m[:, 2]


class Skeleton:
    """The usable bones of one photo: source segments, radii, and per-frame transforms."""

    def __init__(self, fl: FrameLandmarks, scale: float, work_size: tuple[int, int],
                 extra: tuple[BoneSpec, ...] = (), palm_width: dict[str, float] | None = None,
                 config: WarpConfig | None = None, overrides: dict[str, BoneSpec] | None = None) -> None:
        self.config = config or WarpConfig()
        overrides = overrides or {}
        self.scale = scale
        self.work_size = work_size
        self.u = body_unit(fl, scale)
        w, h = work_size
        specs = [overrides.get(s.name, s) for s in SKIN_BONES + tuple(extra)]
        specs = [s for s in specs if self._usable(fl, s, w, h)]
        self.specs = specs  # parents precede children (table order)
        self.names = [s.name for s in self.specs]
        self.index = {n: i for i, n in enumerate(self.names)}
        ab, _ = points(fl, [k for s in self.specs for k in (s.a, s.b)], scale)
        self.src_a = ab[0::2, :2].copy()
        self.src_b = ab[1::2, :2].copy()
        palm_width = palm_width or {}
        self.radius = np.array([s.radius_u * (palm_width.get(s.a[:2], self.u) if s.kind == "finger" else self.u)
                                for s in self.specs], np.float64)
        self.pieces = np.array([s.piece for s in self.specs])
        cfg = self.config
        rigid = np.array([s.kind == "hand" for s in self.specs], bool)
        self._lo = np.where(rigid, 1.0, cfg.min_along_stretch)  # per-bone along-stretch limits
        self._hi = np.where(rigid, 1.0, cfg.max_along_stretch)
        self._ab_keys = tuple(k for s in self.specs for k in (s.a, s.b))
        self._parent = np.array([self.index.get(s.parent, -1) if s.parent else -1 for s in self.specs], np.int64)
        self._head = self.index.get("head", -1)
        depth = np.zeros(len(self.specs), np.int64)
        for i, p in enumerate(self._parent):  # parents precede children
            depth[i] = depth[p] + 1 if p >= 0 else 0
        self._levels = [np.nonzero(depth == d)[0] for d in range(int(depth.max(initial=0)) + 1)]
        self._body_src = points(fl, BODY_KEYS, scale)
        if "head" in self.index and fl.has("face"):  # the head's extent from the face mesh, hair included
            f = fl.face[:, :2].astype(np.float64) * scale
            i = self.index["head"]
            chin, brow = f[vocab.FACE_CHIN], f[vocab.FACE_FOREHEAD]
            self.src_a[i], self.src_b[i] = chin, brow + HAIR_REACH * (brow - chin)
            self.radius[i] = HEAD_RADIUS_FACE * float(np.linalg.norm(f[vocab.FACE_SIDE_L] - f[vocab.FACE_SIDE_R]))
        self.source = fl
        self._head_src = self._head_points(fl)

    # ---- source side ----
    @staticmethod
    def _usable(fl: FrameLandmarks, s: BoneSpec, w: int, h: int) -> bool:
        if s.kind == "head":
            return fl.has("face") or bool((fl.body_conf[list(vocab.HEAD_POINTS)] >= MIN_CONF).sum() >= 3)
        p, c = points(fl, [s.a, s.b], 1.0)
        if s.parent is None and c[1] >= MIN_CONF and np.isfinite(p).all():
            # The root bone of a half-body photo runs to hips the tracker only guesses (often below the
            # picture): without it the chest would be skinned to the nearest bone left, the head.
            p, c = p[1:], c[1:]
        need = np.full(len(c), MIN_CONF)
        if s.name in FOREARMS:
            need[-1] = HIDDEN_WRIST_CONF
        if (c < need).any():
            return False
        mx, my = FRAME_MARGIN * fl.width, FRAME_MARGIN * fl.height
        inside = (p[:, 0] > -mx) & (p[:, 0] < fl.width + mx) & (p[:, 1] > -my) & (p[:, 1] < fl.height + my)
        return bool(inside.all())

    def _head_points(self, fl: FrameLandmarks) -> tuple[str, np.ndarray]:
        if fl.has("face"):
            return "face", fl.face[list(vocab.FACE_RIGID), :2].astype(np.float64) * self.scale
        return "body", fl.body[list(vocab.HEAD_POINTS), :2].astype(np.float64) * self.scale

    def has(self, name: str) -> bool:
        return name in self.index

    # ---- per frame ----
    def global_fit(self, target: FrameLandmarks) -> np.ndarray:
        """A similarity from the trunk's points found in both photo and target (every body point when the
        trunk has too few): the fallback transform, whose scale also sets every bone's width. The head's
        and hands' points are left out: a head turning from three-quarter to frontal moves its ears far
        and would shrink or shift the whole body."""
        s, cs = self._body_src
        t, ct = points(target, BODY_KEYS, self.scale)
        ok = (cs >= MIN_CONF) & (ct > 0)
        trunk = ok & _TRUNK
        if trunk.sum() >= 2:
            return similarity_fit(s[trunk, :2], t[trunk, :2])
        if ok.sum() >= 2:
            return similarity_fit(s[ok, :2], t[ok, :2])
        kind, src = self._head_src
        tgt = self._head_target(target, kind)
        if tgt is not None:
            return similarity_fit(src, tgt)
        return np.hstack([np.eye(2), np.zeros((2, 1))])

    def _head_target(self, target: FrameLandmarks, kind: str) -> np.ndarray | None:
        if kind == "face" and target.has("face"):
            return target.face[list(vocab.FACE_RIGID), :2].astype(np.float64) * self.scale
        if kind == "body":
            t = target.body[list(vocab.HEAD_POINTS), :2].astype(np.float64) * self.scale
            if np.isfinite(t).all():
                return t
        return None

    def transforms(self, target: FrameLandmarks) -> tuple[np.ndarray, np.ndarray]:
        """(B, 2, 3) affine per bone (work px -> work px) and (B,) bone depth (smaller = nearer).

        Forward kinematics, root to tips: a bone starts where its parent's transform puts its root joint,
        and points along its target direction; its length follows the target within the stretch limits.
        A limb foreshortened in the photo and stretched in the target therefore stays attached (the hand
        falls a little short) instead of tearing between joints."""
        root = self.global_fit(target)
        across = float(np.sqrt(abs(np.linalg.det(root[:, :2])))) or 1.0
        tgt_ab, tconf = points(target, self._ab_keys, self.scale)
        ok = (tconf.reshape(-1, 2) > 0).all(axis=1)
        ta = np.where(ok[:, None], tgt_ab[0::2, :2], self.src_a)
        tb = np.where(ok[:, None], tgt_ab[1::2, :2], self.src_b)
        mats = np.empty((len(self.specs), 2, 3))
        for lvl in self._levels:
            par = self._parent[lvl]
            chained = lvl[(par >= 0) & ok[lvl]]
            if len(chained):
                pm = mats[self._parent[chained]]
                start = np.einsum("bij,bj->bi", pm[:, :, :2], self.src_a[chained]) + pm[:, :, 2]
                tb[chained] = start + (tb[chained] - ta[chained])
                ta[chained] = start
            mats[lvl] = segment_transforms(self.src_a[lvl], self.src_b[lvl], ta[lvl], tb[lvl], across,
                                           self._lo[lvl], self._hi[lvl])
            for i in lvl[~ok[lvl]]:  # no target: follow the parent
                mats[i] = mats[self._parent[i]] if self._parent[i] >= 0 else root
            if self._head in lvl:
                kind, src = self._head_src
                tgt = self._head_target(target, kind)
                if tgt is not None:
                    mats[self._head] = similarity_fit(src, tgt)
        zz = tgt_ab[:, 2].reshape(-1, 2)
        n = np.isfinite(zz).sum(1)
        z = np.where(n > 0, np.nansum(zz, 1) / np.maximum(n, 1), np.nan)
        return mats, self._fill_depth(z)

    def _fill_depth(self, z: np.ndarray) -> np.ndarray:
        """Bones without a target depth take their parent's (fingers: the hand's; the head: the neck's)."""
        for i, s in enumerate(self.specs):
            if not np.isfinite(z[i]):
                p = self.index.get(s.parent) if s.parent else None
                z[i] = z[p] if p is not None and np.isfinite(z[p]) else 0.0
        return z

    def joint_targets(self, keys, mats: np.ndarray, owners) -> np.ndarray:
        """(K, 2) where the owner bones (each ends at its joint) put the photo's joints this frame."""
        keys = tuple(keys)
        if not keys:
            return np.zeros((0, 2))
        s, _ = points(self.source, keys, self.scale)
        m = mats[np.asarray(owners, np.int64)]
        return np.einsum("kij,kj->ki", m[:, :, :2], s[:, :2]) + m[:, :, 2]
