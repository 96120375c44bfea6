"""Everything the instant renderer knows about one photo, computed once: matte, plate, mesh, skin, solver.

Work coordinates: the photo rescaled so its long side lies in [work_min_side, work_max_side] (tiny photos are
upscaled so segmentation and meshing have pixels to work with; huge ones are bounded). The source atlas puts
side by side, in work pixels: the photo (RGBA, alpha = matte), the torso texture under the arms (RGBA), and
the mouth interior, so one remap samples any layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.errors import NoPersonError
from engine.render.instant import hands as instant_hands
from engine.render.instant.atlas import (arm_alpha_mask, build_atlas, clean_seam, fill_texture, hand_rim_px,
                                         moved_hand_colours)
from engine.render.instant.config import WarpConfig
from engine.render.instant.deform import ArapSolver, skin
from engine.render.instant.face import FaceLayer
from engine.render.instant.matte import background_plate, border_colour, decontaminate, person_matte
from engine.render.instant.mesh import (ARM_OWN, PIECE_BODY, PIECE_LABEL, Piece, build_piece, mesh_spacing, piece_labels, piece_regions,
                                        region_contains, skin_weights)
from engine.render.instant.skeleton import SKIN_BONES, MIN_CONF, PIECE_L_ARM, PIECE_R_ARM, Skeleton, apply
from engine.track.types import FrameLandmarks

TORSO_BONES = ("spine", "l_clavicle", "r_clavicle", "l_pelvis", "r_pelvis")
PLATE_MARGIN_PX = 2.0
FACE_Z_LIFT = 1e-3  # the face layer sorts just in front of the head it sits on
COVERAGE_ALPHA = 0.3  # person pixels this opaque must be covered by a mesh piece at rest ...
COVERAGE_MIN_PX = 4  # ... (fewer stray pixels than this are ignored)
COVERAGE_GROW = 0.4  # ... and get a patch this many spacings wider than the hole
PATCH = "patch:"  # patch piece names: this prefix and the piece they mend
HAND_NEAR_PALM = 0.8  # arm triangles this close (palm widths) to a tracked hand may show its moved colours


@dataclass
class Frame:
    """One deformed frame in work px: triangles (N, 3, 2) where they land, where they sample the atlas,
    and the draw order (far first)."""

    dst: np.ndarray
    src: np.ndarray
    order: np.ndarray


@dataclass
class PhotoAnalysis:
    key: str
    config: WarpConfig
    ref_size: tuple[int, int]
    scale: float  # work px per reference px
    work_size: tuple[int, int]
    skeleton: Skeleton
    verts: np.ndarray  # (V, 2) rest vertices of all pieces
    tris: np.ndarray  # (T, 3)
    tri_offset: np.ndarray  # (T, 2) atlas origin of the layer each triangle samples
    tri_bone: np.ndarray  # (T,) dominant bone (depth order)
    tri_fill: np.ndarray  # (T,) bool: under-arm fill, drawn beneath everything
    tri_arm: np.ndarray  # (T,) bool: arm piece, drawn over the torso unless clearly behind it
    weights: np.ndarray  # (V, B)
    body_verts: np.ndarray  # indices of the body piece's vertices (the face's motion spreads onto them)
    solver: ArapSolver | None
    joint_keys: list[str]
    joint_owner: list[int]
    face: FaceLayer | None
    mouth_offset: np.ndarray
    atlas: np.ndarray  # (h, w, 4) uint8
    plate: np.ndarray  # (h, w, 3) uint8, work size
    canvas_colour: np.ndarray
    palms: dict = field(default_factory=dict)  # {"lh"/"rh": palm width, work px} of the hands that bend
    # arm triangles that switch to the "arm_moved" layer once they slide over the body beneath them:
    moved_tris: np.ndarray | None = None  # (M,) triangle indices
    moved_anchor: np.ndarray | None = None  # (M,) the body vertex each lay on at rest
    moved_shift: np.ndarray | None = None  # (2,) atlas offset from the arm layer to the arm_moved one
    moved_px: float = 0.0  # slide (work px) beyond which the moved colours show
    sized: dict = field(default_factory=dict)

    def deform(self, target: FrameLandmarks) -> Frame:
        sk, cfg = self.skeleton, self.config
        target = self._tamed(target)
        mats, z = sk.transforms(target)
        x = skin(self.verts, self.weights, mats)
        head_m = mats[sk.index["head"]] if sk.has("head") else sk.global_fit(target)
        tgt_face = None
        if self.face is not None:
            if target.has("face"):
                tgt_face = target.face[:, :2].astype(np.float64) * self.scale
            else:
                tgt_face = apply(head_m, self.face.src)
            x[self.body_verts] += self.face.residual_field(tgt_face, x[self.body_verts])
        if self.solver is not None and cfg.arap_iterations > 0:
            handles = sk.joint_targets(self.joint_keys, mats, self.joint_owner)
            x = self.solver.solve(x, handles, cfg.arap_iterations)
        dst = [x[self.tris]]
        src0 = self.verts[self.tris] + self.tri_offset[:, None, :]
        if self.moved_tris is not None:
            # a hand (and the rim kept around it) that slid off the clothes it lay on shows the moved colours
            t = self.moved_tris
            slide = (x[self.tris[t]].mean(1) - self.verts[self.tris[t]].mean(1)) \
                - (x[self.moved_anchor] - self.verts[self.moved_anchor])
            away = t[np.hypot(slide[:, 0], slide[:, 1]) > self.moved_px]
            src0[away] += self.moved_shift
        src = [src0]
        key = z[self.tri_bone] - self.tri_arm * cfg.arm_behind_margin_u * sk.u
        key = np.where(self.tri_fill, np.inf, key)
        keys = [key]
        if tgt_face is not None:
            depth = target.face[:, 2].astype(np.float64) * self.scale if target.has("face") else None
            fd, fs, _ = self.face.frame(tgt_face, self.mouth_offset, depth)
            dst.append(fd)
            src.append(fs)
            zf = (z[sk.index["head"]] if sk.has("head") else float(np.nanmin(z, initial=0.0))) - FACE_Z_LIFT
            keys.append(np.full(len(fd), zf))
        key = np.concatenate(keys)
        order = np.argsort(-key, kind="stable")
        return Frame(np.concatenate(dst), np.concatenate(src), order)


    def _tamed(self, target: FrameLandmarks) -> FrameLandmarks:
        """Target hands eased towards rigid motion where their shape is beyond what a warp can show."""
        out = None
        for prefix, palm in self.palms.items():
            group = "left_hand" if prefix == "lh" else "right_hand"
            if not target.has(group):
                continue
            src = self.skeleton.source.points(group)
            tamed = instant_hands.tame(src, target.points(group), palm / self.scale)
            if out is None:
                out = target.copy()
            setattr(out, group, tamed.astype(np.float32))
        return target if out is None else out


def _work_scale(w: int, h: int, config: WarpConfig) -> float:
    long = max(w, h)
    return float(np.clip(long, config.work_min_side, config.work_max_side)) / long


def _check_person(fl: FrameLandmarks) -> None:
    if fl.has("face") or (fl.body_conf >= MIN_CONF).sum() >= 3:
        return
    raise NoPersonError("No person found in the reference photo: the instant renderer needs a visible body or face.")


def analyse(key: str, rgb: np.ndarray, fl: FrameLandmarks, config: WarpConfig) -> PhotoAnalysis:
    """Run the per-photo analysis (a fraction of a second to a few seconds)."""
    _check_person(fl)
    h0, w0 = rgb.shape[:2]
    sx, sy = w0 / max(fl.width, 1), h0 / max(fl.height, 1)
    if abs(sx - 1) > 1e-3 or abs(sy - 1) > 1e-3:  # landmarks given at another size: bring them to the photo's
        fl = fl.rescaled(w0, h0)
    k = _work_scale(w0, h0, config)
    ww, wh = max(8, int(round(w0 * k))), max(8, int(round(h0 * k)))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    work = cv2.resize(np.ascontiguousarray(rgb[..., :3]), (ww, wh), interpolation=interp) if (ww, wh) != (w0, h0) \
        else np.ascontiguousarray(rgb[..., :3]).copy()
    hands = instant_hands.visible_hands(fl, k)  # tracked hands: their own mesh region, moved rigidly ...
    bending = {p: pw for p, pw in hands.items() if instant_hands.bends(fl, p, pw, k)}  # ... or finger by finger
    overrides = {s.name: instant_hands.hand_bone_spec(s) for s in SKIN_BONES
                 if s.kind == "hand" and {"l": "lh", "r": "rh"}[s.name[0]] in hands}
    sk = Skeleton(fl, k, (ww, wh), instant_hands.extra_bones(bending), bending, config, overrides)
    if not sk.specs:
        raise NoPersonError("No person found in the reference photo: too few body landmarks to animate.")
    alpha = person_matte(work, fl, k, sk.u, config)
    hand_masks = {p: instant_hands.hand_region(fl, p, pw, k, work) for p, pw in hands.items()}
    feather = max(0.5, config.matte_feather_px)
    for p, m in hand_masks.items():  # segmentation misses fingers and fills the gaps between them
        gaps = instant_hands.background_between_fingers(fl, p, hands[p], k, work, alpha, m)
        alpha = np.minimum(alpha, 1.0 - cv2.GaussianBlur(gaps.astype(np.float32), (0, 0), feather))
        alpha = np.maximum(alpha, cv2.GaussianBlur(m.astype(np.float32), (0, 0), feather))
    plate = background_plate(work, alpha, max(PLATE_MARGIN_PX, config.plate_dilate_u * sk.u), config)
    fg = decontaminate(work, alpha, plate)
    lab = piece_labels(sk, alpha, hand_masks, config)
    spacing = mesh_spacing(sk, float((alpha > 0.02).sum()), config)
    regions = piece_regions(sk, lab, alpha, spacing)
    arm_own = regions.pop(ARM_OWN)
    joints = _joints(sk)
    pieces: list[Piece] = []
    for name, region in regions.items():
        extra, fine, fs = np.zeros((0, 2)), None, None
        prefix = {PIECE_L_ARM: "lh", PIECE_R_ARM: "rh"}.get(name)
        if prefix in hands:
            if prefix in bending:
                extra = instant_hands.hand_samples(fl, prefix, hands[prefix], k)
            fine = hand_masks[prefix]
            fs = max(2.0, config.hand_spacing_palm * hands[prefix])
        layer = "fill" if name == "fill" else "arm" if prefix else "photo"
        p = build_piece(name, region, spacing, layer, extra, joints if layer == "photo" else {}, fine, fs)
        if p is not None:
            pieces.append(p)
    if not pieces:
        raise NoPersonError("No person found in the reference photo: the person matte is empty.")
    pieces = _repair_coverage(pieces, alpha, lab, spacing)
    fill_tex = fill_texture(fg, regions.get("fill"), regions.get(PIECE_BODY), sk.u)
    face = None
    if config.face_layer and fl.has("face"):
        face = FaceLayer.build(fl.face * k, fg, config.teeth_height)
    moved_rgb = moved_hand_colours(fg, arm_own, hand_masks, hands) if hand_masks else None
    arm_own = arm_alpha_mask(arm_own, hand_masks, hands)
    body_rgb = clean_seam(fg, fill_tex, regions, arm_own, sk.u)
    atlas, offsets, mouth_off = build_atlas(fg, body_rgb, alpha, fill_tex, regions.get("fill"), face, arm_own,
                                            moved_rgb)
    grown = {p: cv2.dilate(m, np.ones((5, 5), np.uint8)) for p, m in hand_masks.items()}
    an = _assemble(key, config, (w0, h0), k, (ww, wh), sk, pieces, face, atlas, offsets, mouth_off, plate, grown)
    an.palms = dict(bending)
    if moved_rgb is not None:
        _moved_switch(an, pieces, offsets, hand_masks, hands)
    return an


def _assemble(key, config, ref_size, k, work_size, sk, pieces, face, atlas, offsets, mouth_off, plate,
              hand_masks):
    verts, tris, off, fill, arm, body_v, jv, jkeys, jown = [], [], [], [], [], [], [], [], []
    wts = []
    n = 0
    finger = np.array([s.kind == "finger" for s in sk.specs])
    for p in pieces:
        allowed = np.tile(_allowed(sk, p.name), (len(p.verts), 1))
        if finger.any():  # only a hand's own pixels bend with its fingers
            on_hand = np.zeros(len(p.verts), bool)
            for prefix, m in hand_masks.items():
                on_hand |= region_contains(m, p.verts)
            allowed[~on_hand] &= ~finger
        w = skin_weights(p.verts, sk, allowed, config)
        for prefix, m in hand_masks.items():  # a hand without finger bones moves as one piece
            bone = sk.index.get(f"{prefix[0]}_hand")
            if bone is None or finger[sk.pieces == sk.pieces[bone]].any() or not allowed[0, bone]:
                continue
            on = region_contains(m, p.verts)
            w[on] = 0.0
            w[on, bone] = 1.0
        wts.append(w)
        verts.append(p.verts)
        tris.append(p.tris + n)
        off.append(np.tile(offsets[p.layer], (len(p.tris), 1)))
        fill.append(np.full(len(p.tris), p.name == "fill"))
        arm.append(np.full(len(p.tris), p.name.removeprefix(PATCH) in (PIECE_L_ARM, PIECE_R_ARM)))
        if p.name == PIECE_BODY:
            body_v.append(np.arange(n, n + len(p.verts)))
        for vi, kk in zip(p.joint_verts, p.joint_keys):
            owner = _owner(sk, kk, allowed.any(0))
            if owner is not None:
                jv.append(n + vi)
                jkeys.append(kk)
                jown.append(owner)
        n += len(p.verts)
    verts = np.concatenate(verts)
    tris = np.concatenate(tris)
    weights = np.concatenate(wts)
    tri_bone = np.argmax(weights[tris].sum(1), axis=1)
    body_verts = np.concatenate(body_v) if body_v else np.zeros(0, np.int64)
    soft = np.full(len(verts), config.arap_soft_weight)
    if face is not None and sk.has("head") and len(body_verts):
        head_w = weights[body_verts, sk.index["head"]]
        local = np.full(len(verts), -1)
        local[body_verts] = np.arange(len(body_verts))
        body_tris = local[tris[(local[tris] >= 0).all(1)]]
        pin = face.spread_weights(verts[body_verts], body_tris, head_w, config.face_blend_sigma)
        # The head's vertices under and around the face hold where the face layer put them: a weak pull would
        # let the as-rigid-as-possible solve drag the head back towards the neck, and the face would float.
        soft[body_verts] += config.face_pin_weight * pin * head_w
    solver = None
    if config.arap_iterations > 0:
        solver = ArapSolver(verts, tris, np.array(jv, np.int64), soft, config.arap_joint_weight)
    return PhotoAnalysis(key=key, config=config, ref_size=ref_size, scale=k, work_size=work_size, skeleton=sk,
                         verts=verts, tris=tris, tri_offset=np.concatenate(off).astype(np.float64),
                         tri_bone=tri_bone, tri_fill=np.concatenate(fill), tri_arm=np.concatenate(arm),
                         weights=weights, body_verts=body_verts, solver=solver, joint_keys=jkeys, joint_owner=jown,
                         face=face, mouth_offset=mouth_off, atlas=atlas, plate=plate,
                         canvas_colour=border_colour(plate))


def _moved_switch(an: PhotoAnalysis, pieces, offsets, hand_masks, hands) -> None:
    """Which arm triangles may switch to the arm_moved layer (those near a tracked hand), and the body
    vertex each lay on at rest: the hand's slide is measured against the clothes beneath it, so a dancer
    moving as a whole keeps the photo's colours around a resting hand."""
    arm_tri = np.all(an.tri_offset == offsets["arm"], axis=1)
    body = np.concatenate([np.full(len(p.verts), p.name == PIECE_BODY) for p in pieces])
    if not arm_tri.any() or not body.any():
        return
    near = np.zeros(next(iter(hand_masks.values())).shape, np.uint8)
    for prefix, m in hand_masks.items():
        r = max(2, int(round(HAND_NEAR_PALM * hands[prefix])))
        near |= cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    c = an.verts[an.tris].mean(1)
    t = np.nonzero(arm_tri & (region_contains(near, c) > 0))[0]
    if not len(t):
        return
    bv = np.nonzero(body)[0]
    d = ((c[t, None, :] - an.verts[None, bv, :]) ** 2).sum(-1)
    an.moved_tris = t
    an.moved_anchor = bv[np.argmin(d, axis=1)]
    an.moved_shift = offsets["arm_moved"] - offsets["arm"]
    an.moved_px = hand_rim_px(hands)


def _allowed(sk: Skeleton, piece: str) -> np.ndarray:
    piece = piece.removeprefix(PATCH)
    if piece == "fill":
        return np.isin(np.array(sk.names), TORSO_BONES)
    allowed = sk.pieces == piece  # an arm takes no torso bone: the shoulder disc turns with the upper arm
    if not allowed.any():
        allowed[:] = True
    return allowed


def _owner(sk: Skeleton, key: str, allowed: np.ndarray) -> int | None:
    """The bone that carries a joint exactly (it ends there), among those skinning the piece."""
    for want in ("b", "a"):
        for i, s in enumerate(sk.specs):
            if allowed[i] and getattr(s, want) == key:
                return i
    return None


def _joints(sk: Skeleton) -> dict[str, np.ndarray]:
    """Source positions of the landmark joints bones hang from (virtual midpoints excluded)."""
    out = {}
    for i, s in enumerate(sk.specs):
        if s.kind == "head":
            continue
        for key, p in ((s.a, sk.src_a[i]), (s.b, sk.src_b[i])):
            if key[0] in "blr" and key[1:].lstrip("h").isdigit():
                out[key] = p
    return out


def _coverage(pieces: list[Piece], shape: tuple[int, int]) -> np.ndarray:
    cov = np.zeros(shape, np.uint8)
    for p in pieces:
        if p.layer == "photo":
            cv2.drawContours(cov, list(np.round(p.verts[p.tris]).astype(np.int32)), -1, 1, -1)
    return cov


def _repair_coverage(pieces, alpha, lab, spacing):
    """Person pixels that no piece covers at rest (slivers where piece outlines cut corners) get small
    patch pieces of their own, skinned like the piece their pixels belong to; otherwise they would show
    the plate in any pose."""
    holes = (alpha > COVERAGE_ALPHA) & (_coverage(pieces, alpha.shape) == 0)
    if holes.sum() < COVERAGE_MIN_PX:
        return pieces
    k = max(1, int(round(COVERAGE_GROW * spacing)))
    grow = np.ones((2 * k + 1,) * 2, np.uint8)
    patches = []
    for name, label in PIECE_LABEL.items():
        h = (holes & (lab == label)).astype(np.uint8)
        if h.sum() < COVERAGE_MIN_PX:
            continue
        region = cv2.dilate(h, grow) & (lab == label).astype(np.uint8)
        patch = build_piece(PATCH + name, region, max(2.0, 0.5 * spacing), "photo", np.zeros((0, 2)), {})
        if patch is not None:
            patches.append(patch)
    return patches + pieces
