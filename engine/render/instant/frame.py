"""The per-frame deform: one photo's analysis posed at a target, as triangles ready to rasterise.

Per frame: bone transforms from the target landmarks, linear-blend skinning, the face's non-rigid motion
spread onto the head, one ARAP back-substitution, the face layer's own triangles, and a draw order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.render.instant import hands as instant_hands
from engine.render.instant.analysis import PhotoAnalysis
from engine.render.instant.deform import skin
from engine.render.instant.skeleton import apply
from engine.track.types import FrameLandmarks

FACE_Z_LIFT = 1e-3  # the face layer sorts just in front of the head it sits on
DRAW_FROM, DRAW_FULL = 0.12, 0.16  # hand shape mismatch (palm widths): the drawn hand fades in between
# (narrow: while it fades, the photo's hand and the drawn one show one through the other, a ghost hand)
UNSEEN_HAND_TURN = (12.0, 30.0)  # deg an arm bone turns from the photo's pose: a hand no one showed fades in
UNSEEN_HAND_STRETCH = (0.15, 0.35)  # ... or |log| of its length change (a forearm swung out of the picture plane)


@dataclass
class Frame:
    """One deformed frame in work px: triangles (N, 3, 2) where they land, where they sample the atlas,
    and the draw order (far first)."""

    dst: np.ndarray
    src: np.ndarray
    order: np.ndarray
    wrists: dict | None = None  # {hand group: (2,) work px} where the posed forearm ends (the drawn hands)
    hands: dict | None = None  # {hand group: opacity 0..1} of the drawn hands
    elbows: dict | None = None  # {hand group: (2,) work px} where the posed forearm starts


class FrameDeformer:
    """Poses one photo's (immutable) analysis, frame after frame."""

    def __init__(self, analysis: PhotoAnalysis) -> None:
        self.an = analysis
        an = analysis
        # per photo, not per frame: where each body triangle samples the atlas, and how far behind its bone
        # an arm's triangle sorts
        self._src0 = an.verts[an.tris] + an.tri_offset[:, None, :]
        self._arm_behind = an.tri_arm * an.config.arm_behind_margin_u * an.skeleton.u

    def deform(self, target: FrameLandmarks) -> Frame:
        an = self.an
        sk, cfg = an.skeleton, an.config
        drawn = self._drawn(target)
        target = self._tamed(target)
        mats, z = sk.transforms(target)
        for group in drawn:
            if group not in an.hand_palms and not target.conf(group).any():
                drawn[group] = self._arm_moved(group, mats)
        x = skin(an.verts, an.weights, mats, an.pivots)
        head_m = mats[sk.index["head"]] if sk.has("head") else sk.global_fit(target)
        tgt_face = None
        if an.face is not None:
            if target.has("face"):
                tgt_face = target.face[:, :2].astype(np.float64) * an.scale
            else:
                tgt_face = apply(head_m, an.face.src)
            x[an.body_verts] += an.face.residual_field(tgt_face, x[an.body_verts])
        if an.solver is not None and cfg.arap_iterations > 0:
            handles = sk.joint_targets(an.joint_keys, mats, an.joint_owner)
            x = an.solver.solve(x, handles, cfg.arap_iterations)
        dst = [x[an.tris]]
        src0 = self._src0
        gone = np.zeros(0, np.int64)
        if an.moved_tris is not None:
            # a hand (and the rim kept around it) that slid off the clothes it lay on shows the moved colours
            t = an.moved_tris
            slide = (x[an.tris[t]].mean(1) - an.verts[an.tris[t]].mean(1)) \
                - (x[an.moved_anchor] - an.verts[an.moved_anchor])
            away = t[np.hypot(slide[:, 0], slide[:, 1]) > an.moved_px]
            src0 = src0.copy()
            src0[away] += an.moved_shift
            for group, rim in an.rim_tris.items():
                if drawn.get(group, 0.0) >= 1.0:
                    gone = np.concatenate([gone, away[rim[away]]])
        src = [src0]
        key = z[an.tri_bone] - self._arm_behind
        key = np.where(an.tri_fill, np.inf, key)
        keys = [key]
        if tgt_face is not None:
            depth = target.face[:, 2].astype(np.float64) * an.scale if target.has("face") else None
            fd, fs, own = an.face.frame(tgt_face, an.mouth_offset, depth)
            if an.face_shift is not None:
                fs[~own] += an.face_shift
            dst.append(fd)
            src.append(fs)
            # in front of the head and of the neck below it: a chin lowered (or turned) over the throat's
            # triangles would otherwise be cut by them (shards of the neck on the chin)
            near = [z[sk.index[b]] for b in ("head", "throat") if sk.has(b)]
            zf = (min(near) if near else float(np.nanmin(z, initial=0.0))) - FACE_Z_LIFT
            keys.append(np.full(len(fd), zf))
        key = np.concatenate(keys)
        order = np.argsort(-key, kind="stable")
        drop = np.zeros(len(key), bool)
        for group, hidden in an.hidden_tris.items():
            if drawn.get(group, 0.0) >= 1.0:
                drop[:len(hidden)] |= hidden
        drop[gone] = True
        if drop.any():
            order = order[~drop[order]]
        wrists, elbows = {}, {}
        for group in an.hand_skins:
            bone = sk.index.get(f"{group[0]}_forearm")
            if bone is not None:
                wrists[group] = apply(mats[bone], sk.src_b[bone][None, :2])[0]
                elbows[group] = apply(mats[bone], sk.src_a[bone][None, :2])[0]
            elif sk.index.get(f"{group[0]}_upper_arm") is not None:  # a forearm the photo does not show
                bone = sk.index[f"{group[0]}_upper_arm"]
                elbows[group] = apply(mats[bone], sk.src_b[bone][None, :2])[0]
        return Frame(np.concatenate(dst), np.concatenate(src), order, wrists, drawn, elbows)

    def _drawn(self, target: FrameLandmarks) -> dict:
        """Opacity of each drawn hand: 0 while the target hand keeps the photo's shape (moved as a whole),
        rising to 1 as the fingers take a shape the photo's hand does not have."""
        an = self.an
        out = {}
        for group in an.hand_skins:
            if not target.has(group):
                continue
            palm = an.hand_palms.get(group)
            if palm is None:  # the photo does not show this hand: only a drawn one can
                out[group] = 1.0
                continue
            src = an.skeleton.source.points(group)
            err = instant_hands.mismatch(src, target.points(group), palm / an.scale)
            out[group] = float(np.clip((err - DRAW_FROM) / (DRAW_FULL - DRAW_FROM), 0.0, 1.0))
        return out

    def _arm_moved(self, group: str, mats: np.ndarray) -> float:
        """Opacity of a hand neither the photo nor the driver shows (engine.tokens.retarget gives it
        confidence 0): none while the arm keeps the photo's pose, where the photo hides the hand (in a
        pocket, behind the back), rising to 1 as the arm turns or stretches away from it, where a hand has
        to show. Drawn in the photo's own pose it stuck out of her pockets."""
        sk = self.an.skeleton
        # A photo without this arm (a face close-up: the tracker only guesses arms below the frame) has nothing
        # that could move its hand into view: drawn at the guessed wrist, two hands lay over the face
        moved = 0.0
        for bone in (f"{group[0]}_upper_arm", f"{group[0]}_forearm"):
            i = sk.index.get(bone)
            if i is None:
                continue
            d = sk.src_b[i] - sk.src_a[i]
            posed = mats[i, :, :2] @ d
            n0, n1 = float(np.hypot(*d)), float(np.hypot(*posed))
            if n0 < 1e-6 or n1 < 1e-6:
                continue
            turn = np.degrees(np.arccos(np.clip(float(d @ posed) / (n0 * n1), -1.0, 1.0)))
            stretch = abs(np.log(n1 / n0))
            moved = max(moved, (turn - UNSEEN_HAND_TURN[0]) / (UNSEEN_HAND_TURN[1] - UNSEEN_HAND_TURN[0]),
                        (stretch - UNSEEN_HAND_STRETCH[0]) / (UNSEEN_HAND_STRETCH[1] - UNSEEN_HAND_STRETCH[0]))
        return float(np.clip(moved, 0.0, 1.0))

    def _tamed(self, target: FrameLandmarks) -> FrameLandmarks:
        """Target hands eased towards rigid motion where their shape is beyond what a warp can show."""
        an = self.an
        out = None
        for prefix, palm in an.palms.items():
            group = "left_hand" if prefix == "lh" else "right_hand"
            if not target.has(group):
                continue
            src = an.skeleton.source.points(group)
            tamed = instant_hands.tame(src, target.points(group), palm / an.scale)
            if out is None:
                out = target.copy()
            setattr(out, group, tamed.astype(np.float32))
        return target if out is None else out
