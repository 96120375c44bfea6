"""Mesh deformation: linear-blend skinning of per-bone 2D transforms, refined as-rigidly-as-possible.

ARAP after Igarashi, Moscovich & Hughes, "As-rigid-as-possible shape manipulation" (SIGGRAPH 2005): the
skinned mesh is the first guess; each triangle's best similarity (rotation and uniform scale) to its
skinned shape is fitted in closed form, then one sparse least-squares solve puts every edge as close as
possible to its rest edge under that similarity, with soft handles pulling joint vertices onto the target
joints and every vertex weakly onto its skinned position. The system matrix depends only on the rest
mesh and the handle set, so it is factorised once per photo; a frame costs back-substitutions.
Shear (a limb bending like a parallelogram at the elbow) has no place in a per-triangle similarity, so the
solve spreads the bend over the joint instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

EDGES = ((0, 1), (1, 2), (2, 0))


@dataclass(frozen=True)
class Pivots:
    """Vertices whose bones all turn about one joint (a shoulder cap between the clavicle and the upper arm):
    skinned by angle about that joint rather than linearly."""

    verts: np.ndarray  # (P,) vertex indices
    centre: np.ndarray  # (P, 2) rest position of the joint each turns about
    share: np.ndarray  # (P,) 0..1: how far each is skinned so, the rest linearly (no step where the cap ends)
    bones: np.ndarray  # (K,) the bones that skin any of them ...
    weights: np.ndarray  # (P, K) ... and their weights (a frame's work stays on these few columns)

    @staticmethod
    def of(weights: np.ndarray, share: np.ndarray, centre: np.ndarray) -> "Pivots":
        """The vertices with a share above 0, from all vertices' weights (V, B), shares (V,), centres (V, 2)."""
        v = np.nonzero(share > 0)[0]
        bones = np.nonzero(weights[v].any(0))[0]
        return Pivots(v, centre[v], share[v], bones, np.ascontiguousarray(weights[v][:, bones]))


def skin(rest: np.ndarray, weights: np.ndarray, mats: np.ndarray, pivots: Pivots | None = None) -> np.ndarray:
    """Linear-blend skinning: rest (V, 2), weights (V, B), mats (B, 2, 3) -> (V, 2); the `pivots` vertices
    by pivot_skin."""
    m = weights @ mats.reshape(len(mats), 6)  # (V, 6): each vertex's blended affine
    x = m[:, 0] * rest[:, 0] + m[:, 1] * rest[:, 1] + m[:, 2]
    y = m[:, 3] * rest[:, 0] + m[:, 4] * rest[:, 1] + m[:, 5]
    out = np.stack([x, y], 1)
    if pivots is not None and len(pivots.verts):
        v, k = pivots.verts, pivots.share[:, None]
        out[v] = (1.0 - k) * out[v] + k * pivot_skin(rest[v], pivots.weights, mats[pivots.bones], pivots.centre)
    return out


def pivot_skin(rest: np.ndarray, weights: np.ndarray, mats: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Skinning about a centre of rotation (after Le & Hodgins, "Real-time skeletal skinning with optimized
    centers of rotation", SIGGRAPH 2016): each bone's linear part split into a rotation and a stretch (polar
    decomposition), the angles and the stretches blended by weight, applied about the vertex's centre, which
    goes where the bones take it. Blended linearly, an arm raised 120 degrees from the clavicle pinched the
    shoulder between them to half its size (the average of two rotations 120 degrees apart); by angle the cap
    fans out between the two and keeps its size. rest (P, 2), weights (P, B), centre (P, 2) -> (P, 2)."""
    w, m = weights, mats
    lin = m[:, :, :2].reshape(len(m), 4)  # (B, 4) rows [a, b, c, d] of [[a, b], [c, d]]
    phi = np.arctan2(lin[:, 2] - lin[:, 1], lin[:, 0] + lin[:, 3])  # (B,) each bone's rotation
    co, si = np.cos(phi), np.sin(phi)
    # R(-phi) @ lin: symmetric, what is left once the rotation is taken out
    stretch = np.stack([co * lin[:, 0] + si * lin[:, 2], co * lin[:, 1] + si * lin[:, 3],
                        co * lin[:, 2] - si * lin[:, 0], co * lin[:, 3] - si * lin[:, 1]], 1)
    dom = np.argmax(w, 1)  # angles are averaged as offsets from the main bone's (no wrap at +-pi)
    off = (phi[None, :] - phi[dom][:, None] + np.pi) % (2 * np.pi) - np.pi  # (P, B)
    ang = phi[dom] + (w * off).sum(1)  # (P,)
    st = w @ stretch  # (P, 4)
    blend = w @ lin  # (P, 4): where the bones take the centre is linear in them
    shift = w @ m[:, :, 2]  # (P, 2)
    cx, cy = centre[:, 0], centre[:, 1]
    mx, my = blend[:, 0] * cx + blend[:, 1] * cy + shift[:, 0], blend[:, 2] * cx + blend[:, 3] * cy + shift[:, 1]
    dx, dy = rest[:, 0] - cx, rest[:, 1] - cy
    sx, sy = st[:, 0] * dx + st[:, 1] * dy, st[:, 2] * dx + st[:, 3] * dy
    ca, sa = np.cos(ang), np.sin(ang)
    return np.stack([ca * sx - sa * sy + mx, sa * sx + ca * sy + my], 1)


class ArapSolver:
    """Prefactorised ARAP refinement for a fixed rest mesh (all pieces in one block-diagonal system)."""

    def __init__(self, rest: np.ndarray, tris: np.ndarray, handles: np.ndarray, soft: float | np.ndarray,
                 hard: float) -> None:
        self.rest = np.asarray(rest, np.float64)
        self.tris = np.asarray(tris, np.int64)
        self.handles = np.asarray(handles, np.int64)
        n, t = len(self.rest), len(self.tris)
        rows = np.repeat(np.arange(3 * t), 2)
        cols = np.empty(6 * t, np.int64)
        vals = np.tile([-1.0, 1.0], 3 * t)
        for k, (i, j) in enumerate(EDGES):
            cols[2 * k::6] = self.tris[:, i]
            cols[2 * k + 1::6] = self.tris[:, j]
        self.G = sp.csr_matrix((vals, (rows, cols)), shape=(3 * t, n))  # edge operator: x_j - x_i
        self.Gt = self.G.T.tocsr()
        lam = np.broadcast_to(np.asarray(soft, np.float64), (n,)).copy()  # per vertex: the face pins its own
        lam[self.handles] += hard
        self.lam = lam
        self.hard = hard
        a = (self.Gt @ self.G + sp.diags(lam)).tocsc()
        self.lu = splu(a)
        r = self.rest[self.tris]  # (T, 3, 2)
        self.rest_edges = np.concatenate([r[:, j] - r[:, i] for i, j in EDGES], 0)  # (3T, 2) in G's row order
        self.rest_edges = self.rest_edges.reshape(3, t, 2).transpose(1, 0, 2).reshape(-1, 2)
        self.rest_centred = r - r.mean(1, keepdims=True)
        self.rest_norm = np.maximum((self.rest_centred ** 2).sum((1, 2)), 1e-12)
        # per-frame operands, split once into contiguous columns
        self._t0, self._t1, self._t2 = (np.ascontiguousarray(self.tris[:, k]) for k in range(3))
        self._p = tuple(np.ascontiguousarray(self.rest_centred[:, k]) for k in range(3))
        self._rest_ex = np.ascontiguousarray(self.rest_edges[:, 0])
        self._rest_ey = np.ascontiguousarray(self.rest_edges[:, 1])

    def _fit(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) (T,) each: the closed-form best similarity [[a, -b], [b, a]] taking each rest triangle onto
        its shape in x. (Written out per vertex and axis: numpy's reductions over the short middle axes and
        its einsum took most of the frame's solve.)"""
        q0, q1, q2 = x[self._t0], x[self._t1], x[self._t2]
        m = (q0 + q1 + q2) / 3.0
        q0, q1, q2 = q0 - m, q1 - m, q2 - m
        p0, p1, p2 = self._p
        a = (p0[:, 0] * q0[:, 0] + p0[:, 1] * q0[:, 1] + p1[:, 0] * q1[:, 0] + p1[:, 1] * q1[:, 1]
             + p2[:, 0] * q2[:, 0] + p2[:, 1] * q2[:, 1]) / self.rest_norm
        b = ((p0[:, 0] * q0[:, 1] - p0[:, 1] * q0[:, 0]) + (p1[:, 0] * q1[:, 1] - p1[:, 1] * q1[:, 0])
             + (p2[:, 0] * q2[:, 1] - p2[:, 1] * q2[:, 0])) / self.rest_norm
        return a, b

    def solve(self, skinned: np.ndarray, handle_targets: np.ndarray, iterations: int = 1) -> np.ndarray:
        """Refine skinned positions (V, 2); handle_targets (H, 2) are where the handle vertices belong."""
        x = skinned
        anchor = self.lam[:, None] * skinned
        anchor[self.handles] += self.hard * (handle_targets - skinned[self.handles])
        rx, ry = self._rest_ex, self._rest_ey  # (3T,) rest edges in G's row order
        e = np.empty((len(rx), 2))
        for _ in range(iterations):
            a, b = self._fit(x)
            a3, b3 = np.repeat(a, 3), np.repeat(b, 3)  # each triangle's similarity on its three edges
            e[:, 0] = a3 * rx - b3 * ry
            e[:, 1] = b3 * rx + a3 * ry
            x = self.lu.solve(self.Gt @ e + anchor)
        return x
