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

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

EDGES = ((0, 1), (1, 2), (2, 0))


def skin(rest: np.ndarray, weights: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """Linear-blend skinning: rest (V, 2), weights (V, B), mats (B, 2, 3) -> (V, 2)."""
    m = weights @ mats.reshape(len(mats), 6)  # (V, 6): each vertex's blended affine
    x = m[:, 0] * rest[:, 0] + m[:, 1] * rest[:, 1] + m[:, 2]
    y = m[:, 3] * rest[:, 0] + m[:, 4] * rest[:, 1] + m[:, 5]
    return np.stack([x, y], 1)


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

    def _fit(self, x: np.ndarray) -> np.ndarray:
        """(T, 2, 2) closed-form best similarity taking each rest triangle onto its shape in x."""
        q = x[self.tris]
        q = q - q.mean(1, keepdims=True)
        p = self.rest_centred
        a = (p * q).sum((1, 2)) / self.rest_norm
        b = (p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]).sum(1) / self.rest_norm
        return np.stack([np.stack([a, -b], 1), np.stack([b, a], 1)], 1)

    def solve(self, skinned: np.ndarray, handle_targets: np.ndarray, iterations: int = 1) -> np.ndarray:
        """Refine skinned positions (V, 2); handle_targets (H, 2) are where the handle vertices belong."""
        x = skinned
        anchor = self.lam[:, None] * skinned
        anchor[self.handles] += self.hard * (handle_targets - skinned[self.handles])
        for _ in range(iterations):
            s = self._fit(x)  # (T, 2, 2)
            e = np.einsum("tij,tkj->tki", s, self.rest_edges.reshape(-1, 3, 2)).reshape(-1, 2)
            x = self.lu.solve(self.Gt @ e + anchor)
        return x
