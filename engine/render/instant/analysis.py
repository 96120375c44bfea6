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
from engine.render.instant import hands as H
from engine.render.instant.config import WarpConfig
from engine.render.instant.deform import ArapSolver, skin
from engine.render.instant.face import FaceLayer
from engine.render.instant.matte import background_plate, border_colour, decontaminate, person_matte
from engine.render.instant.mesh import (PIECE_BODY, PIECE_LABEL, Piece, build_piece, mesh_spacing, piece_labels, piece_regions,
                                        region_contains, skin_weights)
from engine.render.instant.skeleton import MIN_CONF, PIECE_L_ARM, PIECE_R_ARM, Skeleton, apply
from engine.track.types import FrameLandmarks

ATLAS_PAD = 8  # px between atlas layers, so minified copies do not bleed across
TORSO_BONES = ("spine", "l_clavicle", "r_clavicle", "l_pelvis", "r_pelvis")
FILL_INPAINT_MAX_SIDE = 512
PLATE_MARGIN_PX = 2.0
FILL_SOFTEN_U = 0.02  # blur of the under-arm texture (u)
FILL_EDGE_SKIP_U = 0.04  # ... which continues body pixels at least this far inside the body (u)
FACE_Z_LIFT = 1e-3  # the face layer sorts just in front of the head it sits on
COVERAGE_ALPHA = 0.3  # person pixels this opaque must be covered by a mesh piece at rest ...
COVERAGE_MIN_PX = 4  # ... (fewer stray pixels than this are ignored)
COVERAGE_GROW = 0.4  # ... and get a patch this many spacings wider than the hole
PATCH = "patch:"  # patch piece names: this prefix and the piece they mend


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
            x[self.body_verts] += self.face.residual_field(tgt_face, head_m)
        if self.solver is not None and cfg.arap_iterations > 0:
            handles = sk.joint_targets(self.joint_keys, mats, self.joint_owner)
            x = self.solver.solve(x, handles, cfg.arap_iterations)
        dst = [x[self.tris]]
        src = [self.verts[self.tris] + self.tri_offset[:, None, :]]
        key = z[self.tri_bone] - self.tri_arm * cfg.arm_behind_margin_u * sk.u
        key = np.where(self.tri_fill, np.inf, key)
        keys = [key]
        if tgt_face is not None:
            fd, fs, _ = self.face.frame(tgt_face, self.mouth_offset)
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
            tamed = H.tame(src, target.points(group), palm / self.scale)
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
        fl = _rescaled(fl, sx, sy, w0, h0)
    k = _work_scale(w0, h0, config)
    ww, wh = max(8, int(round(w0 * k))), max(8, int(round(h0 * k)))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    work = cv2.resize(np.ascontiguousarray(rgb[..., :3]), (ww, wh), interpolation=interp) if (ww, wh) != (w0, h0) \
        else np.ascontiguousarray(rgb[..., :3]).copy()
    hands = H.visible_hands(fl, k)
    sk = Skeleton(fl, k, (ww, wh), H.extra_bones(hands), hands, config)
    if not sk.specs:
        raise NoPersonError("No person found in the reference photo: too few body landmarks to animate.")
    alpha = person_matte(work, fl, k, sk.u, config)
    hand_masks = {p: H.hand_region(fl, p, pw, k, work) for p, pw in hands.items()}
    feather = max(0.5, config.matte_feather_px)
    for p, m in hand_masks.items():  # segmentation misses fingers and fills the gaps between them
        gaps = H.background_between_fingers(fl, p, hands[p], k, work, alpha, m)
        alpha = np.minimum(alpha, 1.0 - cv2.GaussianBlur(gaps.astype(np.float32), (0, 0), feather))
        alpha = np.maximum(alpha, cv2.GaussianBlur(m.astype(np.float32), (0, 0), feather))
    plate = background_plate(work, alpha, max(PLATE_MARGIN_PX, config.plate_dilate_u * sk.u), config)
    fg = decontaminate(work, alpha, plate)
    lab = piece_labels(sk, alpha, hand_masks, config)
    spacing = mesh_spacing(sk, float((alpha > 0.02).sum()), config)
    regions = piece_regions(sk, lab, alpha, spacing)
    joints = _joints(sk)
    pieces: list[Piece] = []
    for name, region in regions.items():
        extra, fine, fs = np.zeros((0, 2)), None, None
        prefix = {PIECE_L_ARM: "lh", PIECE_R_ARM: "rh"}.get(name)
        if prefix in hands:
            extra = H.hand_samples(fl, prefix, hands[prefix], k)
            fine = hand_masks[prefix]
            fs = max(2.0, config.hand_spacing_palm * hands[prefix])
        layer = "fill" if name == "fill" else "photo"
        p = build_piece(name, region, spacing, layer, extra, joints if layer == "photo" else {}, fine, fs)
        if p is not None:
            pieces.append(p)
    if not pieces:
        raise NoPersonError("No person found in the reference photo: the person matte is empty.")
    pieces = _repair_coverage(pieces, alpha, lab, spacing)
    fill_tex = _fill_texture(fg, regions.get("fill"), regions.get(PIECE_BODY), sk.u)
    face = None
    if config.face_layer and fl.has("face"):
        face = FaceLayer.build(fl.face * k, fg, config.teeth_height)
    atlas, offsets, mouth_off = _atlas(fg, alpha, fill_tex, regions.get("fill"), face)
    grown = {p: cv2.dilate(m, np.ones((5, 5), np.uint8)) for p, m in hand_masks.items()}
    an = _assemble(key, config, (w0, h0), k, (ww, wh), sk, pieces, face, atlas, offsets, mouth_off, plate, grown)
    an.palms = dict(hands)
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
    if face is not None and sk.has("head") and len(body_verts):
        face.spread_weights(verts[body_verts], weights[body_verts, sk.index["head"]], config.face_blend_sigma)
    solver = None
    if config.arap_iterations > 0:
        solver = ArapSolver(verts, tris, np.array(jv, np.int64), config.arap_soft_weight, config.arap_joint_weight)
    return PhotoAnalysis(key=key, config=config, ref_size=ref_size, scale=k, work_size=work_size, skeleton=sk,
                         verts=verts, tris=tris, tri_offset=np.concatenate(off).astype(np.float64),
                         tri_bone=tri_bone, tri_fill=np.concatenate(fill), tri_arm=np.concatenate(arm),
                         weights=weights, body_verts=body_verts, solver=solver, joint_keys=jkeys, joint_owner=jown,
                         face=face, mouth_offset=mouth_off, atlas=atlas, plate=plate,
                         canvas_colour=border_colour(plate))


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


def _fill_texture(fg: np.ndarray, fill: np.ndarray | None, body: np.ndarray | None, u: float) -> np.ndarray | None:
    """Torso texture under the arms: each fill pixel takes the colour of the nearest body pixel (so a hem
    or a waistband carries straight on instead of blending into mud), softened; never the arm's own
    pixels or the background's."""
    if fill is None or body is None:
        return None
    h, w = fg.shape[:2]
    s = min(1.0, FILL_INPAINT_MAX_SIDE / max(h, w))
    sw, sh = max(4, int(w * s)), max(4, int(h * s))
    small = cv2.resize(fg, (sw, sh), interpolation=cv2.INTER_AREA)
    e = max(1, int(round(FILL_EDGE_SKIP_U * u)))  # body pixels at its edge carry the arm's colour fringe
    core = cv2.erode(body, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1, 2 * e + 1)))
    known = cv2.resize(core if core.any() else body, (sw, sh), interpolation=cv2.INTER_NEAREST)
    if not known.any():
        return None
    _, lab = cv2.distanceTransformWithLabels((known == 0).astype(np.uint8), cv2.DIST_L2, 5,
                                             labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(known)  # label i (1-based) <-> i-th zero pixel of the input in raster order
    order = np.zeros(lab.max() + 1, np.int64)
    zero_lab = lab[known > 0]
    order[zero_lab] = np.arange(len(ys))
    nearest = small[ys[order[lab]], xs[order[lab]]]
    nearest = cv2.GaussianBlur(nearest, (0, 0), max(1.0, FILL_SOFTEN_U * u * s))
    return cv2.resize(nearest, (w, h), interpolation=cv2.INTER_LINEAR)


def _atlas(fg, alpha, fill_tex, fill_mask, face):
    """Stack the layers into one RGBA atlas; return it, each layer's origin and the mouth texture's."""
    h, w = fg.shape[:2]
    layers = [np.dstack([fg, np.round(alpha * 255).astype(np.uint8)])]
    offsets = {"photo": np.array([0.0, 0.0])}
    x = w + ATLAS_PAD
    if fill_tex is not None:
        a = cv2.GaussianBlur(cv2.dilate(fill_mask, np.ones((3, 3), np.uint8)).astype(np.float32), (0, 0), 1.0)
        layers.append(np.dstack([fill_tex, np.round(np.minimum(a, alpha) * 255).astype(np.uint8)]))
        offsets["fill"] = np.array([float(x), 0.0])
        x += w + ATLAS_PAD
    mouth_off = np.array([float(x), 0.0])
    mouth = None
    if face is not None:
        mouth = np.dstack([face.mouth_tex, np.full(face.mouth_tex.shape[:2], 255, np.uint8)])
        x += mouth.shape[1] + ATLAS_PAD
    atlas = np.zeros((max(h, mouth.shape[0] if mouth is not None else 0), x, 4), np.uint8)
    atlas[:h, :w] = layers[0]
    if fill_tex is not None:
        ox = int(offsets["fill"][0])
        atlas[:h, ox:ox + w] = layers[1]
    if mouth is not None:
        ox = int(mouth_off[0])
        atlas[:mouth.shape[0], ox:ox + mouth.shape[1]] = mouth
    return atlas, offsets, mouth_off


def _rescaled(fl: FrameLandmarks, sx: float, sy: float, w: int, h: int) -> FrameLandmarks:
    out = fl.copy()
    out.width, out.height = w, h
    for g in ("body", "face", "left_hand", "right_hand"):
        p = getattr(out, g)
        p[:, 0] *= sx
        p[:, 1] *= sy
        p[:, 2] *= sx
    return out
