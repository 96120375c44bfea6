"""Everything the instant renderer knows about one photo, computed once, as numbered stages.

    0 work photo   the photo at work size, its landmarks, its hands and the skeleton
    1 matte        the person's alpha (segmentation, hands mended)
    2 plate        the background without the person, and the person's colours without the background
    3 labels       which piece (body, each arm, the fill under the arms) every pixel belongs to
    4 pieces       a triangle mesh per piece (coverage holes patched)
    5 skin         one mesh of all pieces: per-vertex bone weights, joints, per-triangle draw facts
    6 atlas        the source atlas (photo, arms, fill, mouth), the face layer and the moved-hand switch
    7 solver       the ARAP system, factorised once
    8 drawn hands  the hands drawn from the hand tokens (hand_layer.py): skin colours, triangles they replace

Each stage is a function returning a frozen result; `PhotoAnalysis` is built once from them and never
changed (the renderer keeps its own per-size caches, engine.render.instant.frame poses it per frame).

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
from engine.render.instant.atlas import (HAND_CUT_PALM, append_patches, arm_alpha_mask, build_atlas, clean_seam,
                                         fill_texture, hand_rim_px, moved_hand_colours)
from engine.render.instant.config import WarpConfig
from engine.render.instant.deform import ArapSolver, Pivots
from engine.render.instant.face import FaceLayer, face_underlay
from engine.render.instant.hand_layer import LUMA, HandSkin
from engine.render.instant.letterbox import Bars, find_bars
from engine.render.instant.matte import (background_plate, bleed, border_colour, decontaminate, explain_fringe,
                                         person_matte, refine_edge)
from engine.render.instant.mesh import (ARM_OWN, PIECE_BODY, PIECE_LABEL, Piece, build_piece, forearm_skin_only,
                                        mesh_spacing, piece_labels, piece_regions, region_contains, segment_distance,
                                        skin_colour, skin_weights)
from engine.render.instant.shoulder import shoulder_caps
from engine.render.instant.skeleton import SKIN_BONES, MIN_CONF, PIECE_L_ARM, PIECE_R_ARM, Skeleton
from engine.track.types import FrameLandmarks

TORSO_BONES = ("spine", "l_clavicle", "r_clavicle", "l_pelvis", "r_pelvis")
PLATE_MARGIN_PX = 2.0
COVERAGE_ALPHA = 0.3  # person pixels this opaque must be covered by a mesh piece at rest ...
COVERAGE_MIN_PX = 4  # ... (fewer stray pixels than this are ignored)
COVERAGE_GROW = 0.4  # ... and get a patch this many spacings wider than the hole
PATCH = "patch:"  # patch piece names: this prefix and the piece they mend
HAND_NEAR_PALM = 0.8  # arm triangles this close (palm widths) to a tracked hand may show its moved colours
FRINGE_MIN_ALPHA = 0.02  # hair pixels at least this opaque take the colour that explains them over the plate
ZONE_MAX_SIDE = 256  # the head's zone is decided at this resolution
ATLAS_ALIGN = 64  # the atlas's width is padded to a multiple of this
CAP_PIN_WEIGHT = 20.0  # ARAP pull of shoulder-cap vertices to their skinned positions (the joints' own strength)


@dataclass(frozen=True)
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
    # hands drawn from the tokens (engine.render.instant.hand_layer), by group: their skin colours
    hand_skins: dict = field(default_factory=dict)
    hidden_tris: dict = field(default_factory=dict)  # {group: (T,) bool}: the photo's pixels of a drawn hand
    hand_palms: dict = field(default_factory=dict)  # {group: palm width, work px} of the photo's tracked hands
    rim_tris: dict = field(default_factory=dict)  # {group: (T,) bool}: around a drawn hand, dropped once moved
    face_shift: np.ndarray | None = None  # (2,) atlas offset of the face layer's own copy of the photo's face
    bars: Bars = Bars()  # the photo's letterbox bars, work px: kept over the posed person (instant/letterbox.py)
    pivots: Pivots | None = None  # shoulder-cap vertices skinned by angle about the joint (deform.pivot_skin)

    def deform(self, target: FrameLandmarks):
        """This photo posed at `target` (engine.render.instant.frame.FrameDeformer does the work)."""
        from engine.render.instant.frame import FrameDeformer

        return FrameDeformer(self).deform(target)


# ---- the stages' results ----------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkPhoto:
    """Stage 0: the photo at work size and what is tracked on it."""

    rgb: np.ndarray  # (wh, ww, 3) uint8
    landmarks: FrameLandmarks  # in reference px (the photo's own size)
    scale: float  # work px per reference px
    ref_size: tuple[int, int]
    size: tuple[int, int]  # (ww, wh)
    hands: dict  # {"lh"/"rh": palm width, work px} of the tracked hands
    bending: dict  # ... of those whose fingers bend
    skeleton: Skeleton


@dataclass(frozen=True)
class Matte:
    """Stage 1: the person's alpha (float 0..1, work size) and each tracked hand's pixel mask."""

    alpha: np.ndarray
    hand_masks: dict


@dataclass(frozen=True)
class Plate:
    """Stage 2: the background with the person removed, and the person's colours without the background."""

    plate: np.ndarray
    fg: np.ndarray
    alpha: np.ndarray  # the matte with its background-coloured edge taken out (refine_edge)


@dataclass(frozen=True)
class Labels:
    """Stage 3: the piece each pixel belongs to, the mesh spacing, each piece's region and the arms' own
    pixels (where an arm, not the body behind it, is seen)."""

    lab: np.ndarray
    spacing: float
    regions: dict
    arm_own: np.ndarray


@dataclass(frozen=True)
class Skin:
    """Stage 5: all pieces as one mesh, skinned."""

    verts: np.ndarray
    tris: np.ndarray
    tri_layer: tuple[str, ...]  # the atlas layer each triangle samples
    tri_bone: np.ndarray
    tri_fill: np.ndarray
    tri_arm: np.ndarray
    weights: np.ndarray
    body_verts: np.ndarray
    body_mask: np.ndarray  # (V,) bool: vertex of the body piece
    joint_verts: np.ndarray
    joint_keys: list[str]
    joint_owner: list[int]
    cap: np.ndarray | None = None  # (V,) 0..1: in a shoulder cap that the body and an arm piece skin alike
    pivots: Pivots | None = None  # ... whose vertices turn by angle about the shoulder joint


@dataclass(frozen=True)
class Atlas:
    """Stage 6: the source atlas, its layer offsets, the face layer and the moved-hand switch."""

    atlas: np.ndarray
    offsets: dict
    mouth_offset: np.ndarray
    face: FaceLayer | None
    moved_tris: np.ndarray | None = None
    moved_anchor: np.ndarray | None = None
    moved_shift: np.ndarray | None = None
    moved_px: float = 0.0
    moved_cut: np.ndarray | None = None  # pixels around a hand repainted in the moved layer (not hand)
    face_shift: np.ndarray | None = None  # (2,) from the photo layer to the face layer's own copy


# ---- the stages -------------------------------------------------------------------------------------

def _work_scale(w: int, h: int, config: WarpConfig) -> float:
    long = max(w, h)
    return float(np.clip(long, config.work_min_side, config.work_max_side)) / long


def _check_person(fl: FrameLandmarks) -> None:
    if fl.has("face") or (fl.body_conf >= MIN_CONF).sum() >= 3:
        return
    raise NoPersonError("No person found in the reference photo: the instant renderer needs a visible body or face.")


def stage0_work_photo(rgb: np.ndarray, fl: FrameLandmarks, config: WarpConfig) -> WorkPhoto:
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
    return WorkPhoto(work, fl, k, (w0, h0), (ww, wh), hands, bending, sk)


def stage1_matte(wp: WorkPhoto, config: WarpConfig) -> Matte:
    fl, k, sk, work = wp.landmarks, wp.scale, wp.skeleton, wp.rgb
    alpha = person_matte(work, fl, k, sk.u, config)
    hand_masks = {p: instant_hands.hand_region(fl, p, pw, k, work) for p, pw in wp.hands.items()}
    feather = max(0.5, config.matte_feather_px)
    for p, m in hand_masks.items():  # segmentation misses fingers and fills the gaps between them
        gaps = instant_hands.background_between_fingers(fl, p, wp.hands[p], k, work, alpha, m)
        alpha = np.minimum(alpha, 1.0 - cv2.GaussianBlur(gaps.astype(np.float32), (0, 0), feather))
        alpha = np.maximum(alpha, cv2.GaussianBlur(m.astype(np.float32), (0, 0), feather))
    return Matte(alpha, hand_masks)


def stage2_plate(wp: WorkPhoto, matte: Matte, config: WarpConfig) -> Plate:
    plate = background_plate(wp.rgb, matte.alpha, max(PLATE_MARGIN_PX, config.plate_dilate_u * wp.skeleton.u), config)
    # the fringe each hand mask was grown by is forced opaque by stage 1: where it has the plate's colour
    # it is background, and moved with the hand it would rim it with the photo's background
    fringe = np.zeros(matte.alpha.shape, bool)
    for p, m in matte.hand_masks.items():
        fringe |= (m > 0) & (instant_hands.without_fringe(m, wp.hands[p]) == 0)
    alpha = refine_edge(wp.rgb, matte.alpha, plate, fringe)
    fg = bleed(decontaminate(wp.rgb, alpha, plate), alpha)
    zone = _head_zone(wp.skeleton, alpha.shape)
    if zone is not None:  # soft hair past the segmentation: carried by the person layer, exact at rest
        alpha, f = explain_fringe(wp.rgb, alpha, plate, zone)
        hair = zone & (alpha >= FRINGE_MIN_ALPHA)
        fg[hair] = np.round(f[hair]).astype(np.uint8)
    return Plate(plate, fg, alpha)


def _head_zone(sk: Skeleton, shape: tuple[int, int]) -> np.ndarray | None:
    """bool (h, w): pixels nearer the head bone than any other (in bone radii), and nearer it than the
    arms' bones (in px): the hair's reach."""
    if not sk.has("head"):
        return None
    h, w = shape
    s = min(1.0, ZONE_MAX_SIDE / max(h, w))
    zw, zh = max(4, int(round(w * s))), max(4, int(round(h * s)))
    ys, xs = np.mgrid[0:zh, 0:zw]
    pix = (np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) / s
    big = np.array([s.kind != "finger" for s in sk.specs])  # (fingers reach no hair, and cost most)
    d = segment_distance(pix, sk.src_a[big], sk.src_b[big])
    head = int(np.nonzero(big)[0].tolist().index(sk.index["head"]))
    near = np.argmin(d / sk.radius[big][None], 1) == head
    arms = np.isin(sk.pieces[big], (PIECE_L_ARM, PIECE_R_ARM))
    if arms.any():  # (the head's radius takes in the hair: not a sleeve's edge nearer the arm itself)
        near &= d[:, head] < d[:, arms].min(1)
    small = near.reshape(zh, zw).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST) > 0


def stage3_labels(wp: WorkPhoto, matte: Matte, config: WarpConfig) -> Labels:
    sk = wp.skeleton
    lab = piece_labels(sk, matte.alpha, matte.hand_masks, config, wp.rgb)
    spacing = mesh_spacing(sk, float((matte.alpha > 0.02).sum()), config)
    regions = piece_regions(sk, lab, matte.alpha, spacing)
    arm_own = regions.pop(ARM_OWN)
    return Labels(lab, spacing, regions, arm_own)


def stage4_pieces(wp: WorkPhoto, matte: Matte, labels: Labels, config: WarpConfig) -> tuple[Piece, ...]:
    joints = _joints(wp.skeleton)
    pieces: list[Piece] = []
    for name, region in labels.regions.items():
        extra, fine, fs = np.zeros((0, 2)), None, None
        prefix = {PIECE_L_ARM: "lh", PIECE_R_ARM: "rh"}.get(name)
        if prefix in wp.hands:
            if prefix in wp.bending:
                extra = instant_hands.hand_samples(wp.landmarks, prefix, wp.hands[prefix], wp.scale)
            fine = matte.hand_masks[prefix]
            fs = max(2.0, config.hand_spacing_palm * wp.hands[prefix])
        layer = "fill" if name == "fill" else "arm" if prefix else "photo"
        p = build_piece(name, region, labels.spacing, layer, extra, joints if layer == "photo" else {}, fine, fs)
        if p is not None:
            pieces.append(p)
    if not pieces:
        raise NoPersonError("No person found in the reference photo: the person matte is empty.")
    return tuple(_repair_coverage(pieces, matte.alpha, labels.lab, labels.spacing))


def stage5_skin(wp: WorkPhoto, pieces: tuple[Piece, ...], hand_masks: dict, config: WarpConfig,
                fg: np.ndarray | None = None) -> Skin:
    """Every piece's vertices weighted to the bones that may move it; one mesh of all pieces. With the
    person's colours (`fg`), bare forearm skin lying over a sleeve follows the forearm alone."""
    sk = wp.skeleton
    verts, tris, layer, fill, arm, body_v, body_mask, jv, jkeys, jown = [], [], [], [], [], [], [], [], [], []
    wts, caps, centres = [], [], []
    n = 0
    finger = np.array([s.kind == "finger" for s in sk.specs])
    skin_lab = skin_colour(wp.landmarks, wp.scale, fg) if fg is not None else None
    for p in pieces:
        allowed = np.tile(_allowed(sk, p.name), (len(p.verts), 1))
        if skin_lab is not None and p.name.removeprefix(PATCH) in (PIECE_L_ARM, PIECE_R_ARM):
            forearm_skin_only(sk, p, fg, skin_lab, allowed)
        on_hand = np.zeros(len(p.verts), bool)
        for m in hand_masks.values():
            on_hand |= region_contains(m, p.verts)
        if finger.any():  # only a hand's own pixels bend with its fingers
            allowed[~on_hand] &= ~finger
        w = skin_weights(p.verts, sk, allowed, config)
        w, cap, centre = shoulder_caps(sk, p.name.removeprefix(PATCH), p.verts, w, on_hand,
                                       lambda q: _allowed(sk, q) & ~finger, config)
        caps.append(cap)
        centres.append(centre)
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
        layer += [p.layer] * len(p.tris)
        fill.append(np.full(len(p.tris), p.name == "fill"))
        arm.append(np.full(len(p.tris), p.name.removeprefix(PATCH) in (PIECE_L_ARM, PIECE_R_ARM)))
        body_mask.append(np.full(len(p.verts), p.name == PIECE_BODY))
        if p.name == PIECE_BODY:
            body_v.append(np.arange(n, n + len(p.verts)))
        for vi, kk in zip(p.joint_verts, p.joint_keys):
            owner = _owner(sk, kk, allowed.any(0))
            if owner is not None:
                jv.append(n + vi)
                jkeys.append(kk)
                jown.append(owner)
        n += len(p.verts)
    all_tris = np.concatenate(tris)
    weights = np.concatenate(wts)
    cap, centre = np.concatenate(caps), np.concatenate(centres)
    return Skin(verts=np.concatenate(verts), tris=all_tris, tri_layer=tuple(layer),
                tri_bone=np.argmax(weights[all_tris].sum(1), axis=1), tri_fill=np.concatenate(fill),
                tri_arm=np.concatenate(arm), weights=weights,
                body_verts=np.concatenate(body_v) if body_v else np.zeros(0, np.int64),
                body_mask=np.concatenate(body_mask), joint_verts=np.array(jv, np.int64), joint_keys=jkeys,
                joint_owner=jown, cap=cap, pivots=Pivots.of(weights, cap, centre))


def stage6_atlas(wp: WorkPhoto, matte: Matte, plate: Plate, labels: Labels, skin: Skin,
                 config: WarpConfig) -> Atlas:
    """The layers one remap samples: the photo, the arms (and their recoloured copy), the fill, the mouth."""
    fg, hands, hand_masks = plate.fg, wp.hands, matte.hand_masks
    regions = labels.regions
    fill_tex = fill_texture(fg, regions.get("fill"), regions.get(PIECE_BODY), wp.skeleton.u)
    face = None
    if config.face_layer and wp.landmarks.has("face"):
        face = FaceLayer.build(wp.landmarks.face * wp.scale, fg, config.teeth_height)
    moved_rgb, moved_cut = moved_hand_colours(fg, labels.arm_own, hand_masks, hands) if hand_masks else (None, None)
    arm_own = arm_alpha_mask(labels.arm_own, hand_masks, hands)
    body_rgb = clean_seam(fg, fill_tex, regions, arm_own, wp.skeleton.u)
    face_crop = None
    if face is not None:  # the face layer samples its own copy; the head mesh's has no face to show twice
        rgba = np.dstack([body_rgb, np.round(plate.alpha * 255).astype(np.uint8)])
        body_rgb, face_crop, crop_origin = face_underlay(rgba, face)
    atlas, offsets, mouth_off = build_atlas(fg, body_rgb, plate.alpha, fill_tex, regions.get("fill"), face, arm_own,
                                            moved_rgb)
    face_shift = None
    if face_crop is not None:
        atlas, (pos,) = append_patches(atlas, [face_crop], ATLAS_ALIGN)
        face_shift = pos - crop_origin
    if face is not None and any(e is not None for e in face.eyes):
        atlas, positions = append_patches(atlas, [None if e is None else e.tex for e in face.eyes], ATLAS_ALIGN)
        face.place_eyes(positions)
    # (one triangle per pixel: a transparent atlas pixel shows the plate, not the piece beneath, so drawn
    # hands take triangles out (stage 8) rather than making pixels transparent)
    if moved_rgb is None:
        return Atlas(atlas, offsets, mouth_off, face, moved_cut=moved_cut, face_shift=face_shift)
    return Atlas(atlas, offsets, mouth_off, face, *_moved_switch(skin, offsets, hand_masks, hands), moved_cut,
                 face_shift)


def stage7_solver(wp: WorkPhoto, skin: Skin, face: FaceLayer | None, config: WarpConfig) -> ArapSolver | None:
    """The ARAP system: strong handles on the joints, a weak pull everywhere, a firm one under the face and on
    the shoulder caps."""
    if config.arap_iterations <= 0:
        return None
    sk, verts, tris, body_verts = wp.skeleton, skin.verts, skin.tris, skin.body_verts
    soft = np.full(len(verts), config.arap_soft_weight)
    if face is not None and sk.has("head") and len(body_verts):
        head_w = skin.weights[body_verts, sk.index["head"]]
        local = np.full(len(verts), -1)
        local[body_verts] = np.arange(len(body_verts))
        body_tris = local[tris[(local[tris] >= 0).all(1)]]
        pin = face.spread_weights(verts[body_verts], body_tris, head_w, config.face_blend_sigma)
        # The head's vertices under and around the face hold where the face layer put them: a weak pull would
        # let the as-rigid-as-possible solve drag the head back towards the neck, and the face would float.
        soft[body_verts] += config.face_pin_weight * pin * head_w
    if skin.cap is not None:
        # The body's and the arm's copies of a shoulder cap are skinned alike (shoulder.shoulder_share), but each
        # piece is solved on its own: the arm, bent and stretched below, pulled its cap up to 0.06 u away
        # from the body's and the shoulder's outline showed twice. Held to the skinned positions they share.
        soft += CAP_PIN_WEIGHT * skin.cap
    return ArapSolver(verts, tris, skin.joint_verts, soft, config.arap_joint_weight)


def analyse(key: str, rgb: np.ndarray, fl: FrameLandmarks, config: WarpConfig) -> PhotoAnalysis:
    """Run the per-photo analysis (a fraction of a second to a few seconds)."""
    wp = stage0_work_photo(rgb, fl, config)
    matte = stage1_matte(wp, config)
    plate = stage2_plate(wp, matte, config)
    bars = find_bars(wp.rgb)
    if bars.any():  # the plate's inpainting must not smear the bars into the scene
        keep = bars.mask(*wp.size)
        plate.plate[keep] = wp.rgb[keep]
    # the mesh covers what the person layer draws: the hair past the segmentation too (stage 2)
    meshed = Matte(np.maximum(matte.alpha, plate.alpha), matte.hand_masks)
    labels = stage3_labels(wp, meshed, config)
    pieces = stage4_pieces(wp, meshed, labels, config)
    grown = {p: cv2.dilate(m, np.ones((5, 5), np.uint8)) for p, m in matte.hand_masks.items()}
    skin = stage5_skin(wp, pieces, grown, config, plate.fg)
    atlas = stage6_atlas(wp, matte, plate, labels, skin, config)
    solver = stage7_solver(wp, skin, atlas.face, config)
    drawn = stage8_drawn_hands(wp, matte, plate, skin, atlas, config)
    tri_offset = _tri_offsets(skin, atlas.offsets)
    return PhotoAnalysis(key=key, config=config, ref_size=wp.ref_size, scale=wp.scale, work_size=wp.size,
                         skeleton=wp.skeleton, verts=skin.verts, tris=skin.tris, tri_offset=tri_offset,
                         tri_bone=skin.tri_bone, tri_fill=skin.tri_fill, tri_arm=skin.tri_arm, weights=skin.weights,
                         body_verts=skin.body_verts, solver=solver, joint_keys=skin.joint_keys,
                         joint_owner=skin.joint_owner, face=atlas.face, mouth_offset=atlas.mouth_offset,
                         atlas=atlas.atlas, plate=plate.plate, canvas_colour=border_colour(plate.plate),
                         palms=dict(wp.bending), moved_tris=atlas.moved_tris, moved_anchor=atlas.moved_anchor,
                         moved_shift=atlas.moved_shift, moved_px=atlas.moved_px, hand_skins=drawn.skins,
                         hidden_tris=drawn.hidden, hand_palms=drawn.palms, rim_tris=drawn.rim,
                         face_shift=atlas.face_shift, bars=bars, pivots=skin.pivots)


@dataclass(frozen=True)
class DrawnHands:
    """Stage 8: the hands drawn from the tokens, and the triangles they replace."""

    skins: dict  # {group: HandSkin}
    hidden: dict  # {group: (T,) bool}: triangles of a drawn hand's own pixels (not rasterised while it is drawn)
    palms: dict  # {group: palm width, work px} of the tracked hands among them
    rim: dict  # {group: (T,) bool}: triangles around a drawn hand, not rasterised once the hand has moved


def stage8_drawn_hands(wp: WorkPhoto, matte: Matte, plate: Plate, skin_: Skin, atlas: Atlas,
                       config: WarpConfig) -> DrawnHands:
    """The hands drawn from the tokens: every hand the mesh cannot bend finger by finger (not open and
    frontal in the photo, or not seen; with `hand_layer_open` every hand). Their skin colour comes from the
    photo's own hand, else the face. A tracked hand is drawn only as far as the driver's hand shape differs
    from the photo's (engine.render.instant.frame): held as in the photo, the photo's own hand shows. While
    it is drawn fully, the triangles of its own pixels are not rasterised (warped rigidly they would stick
    out around the drawn hand in another pose), nor, once it has moved, those of the rim around it (its
    repainted colours would show as a pale patch beside the drawn hand)."""
    none = DrawnHands({}, {}, {}, {})
    if not config.hand_layer:
        return none
    centre = skin_.verts[skin_.tris].mean(1)
    hidden, palms, rim = {}, {}, {}
    face_skin = None
    if wp.landmarks.has("face"):
        f = np.round(wp.landmarks.face[:, :2] * wp.scale).astype(np.int32)
        m = np.zeros(wp.rgb.shape[:2], np.uint8)
        cv2.fillConvexPoly(m, cv2.convexHull(f), 1)
        face_skin = HandSkin.from_pixels(plate.fg, cv2.erode(m, np.ones((5, 5), np.uint8)))
    out = {}
    for group, prefix in (("left_hand", "lh"), ("right_hand", "rh")):
        if prefix in wp.bending and not config.hand_layer_open:
            continue
        skin = None
        mask = matte.hand_masks.get(prefix)
        if mask is not None:
            # the colour of the skin right on the hand's bones (its outline mixes in what it lies on)
            core = instant_hands.core_strokes(wp.landmarks, prefix, wp.hands[prefix], wp.scale, mask.shape)
            skin = HandSkin.from_pixels(plate.fg, core & instant_hands.without_fringe(mask, wp.hands[prefix]))
            if skin is not None:
                on = region_contains(cv2.dilate(mask, np.ones((3, 3), np.uint8)), centre) > 0
                hidden[group] = on & skin_.tri_arm
                palms[group] = wp.hands[prefix]
                if atlas.moved_cut is not None:
                    r = max(2, int(round(HAND_CUT_PALM * wp.hands[prefix])) + 1)  # the repainted zone's reach
                    near = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
                    rim[group] = (region_contains(atlas.moved_cut & near, centre) > 0) & skin_.tri_arm & ~hidden[group]
        skin = skin or face_skin
        if skin is not None:
            out[group] = skin
    own = [g for g in out if g in palms]  # colours read off the photo's own hands
    if len(own) == 2:
        # one person's two hands share one skin: the darker reading has shade or background mixed in (the
        # open-hands woman's left hand read brown, 154/131/115, her right 191/176/181; both look alike),
        # and a drawn hand moves out of whatever shade its pixels were in
        lit = max((out[g] for g in own), key=lambda s: float(s.base @ LUMA))
        out.update({g: lit for g in own})
    return DrawnHands(out, hidden, palms, rim)


def _tri_offsets(skin: Skin, offsets: dict) -> np.ndarray:
    """(T, 2) atlas origin of the layer each triangle samples."""
    return np.array([offsets[layer] for layer in skin.tri_layer], np.float64).reshape(-1, 2)


def _moved_switch(skin: Skin, offsets: dict, hand_masks: dict, hands: dict) -> tuple:
    """Which arm triangles may switch to the arm_moved layer (those near a tracked hand), and the body
    vertex each lay on at rest: the hand's slide is measured against the clothes beneath it, so a dancer
    moving as a whole keeps the photo's colours around a resting hand. (None, None, None, 0.0) if none."""
    arm_tri = np.all(_tri_offsets(skin, offsets) == offsets["arm"], axis=1)
    body = skin.body_mask
    if not arm_tri.any() or not body.any():
        return None, None, None, 0.0
    near = np.zeros(next(iter(hand_masks.values())).shape, np.uint8)
    for prefix, m in hand_masks.items():
        r = max(2, int(round(HAND_NEAR_PALM * hands[prefix])))
        near |= cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    c = skin.verts[skin.tris].mean(1)
    t = np.nonzero(arm_tri & (region_contains(near, c) > 0))[0]
    if not len(t):
        return None, None, None, 0.0
    bv = np.nonzero(body)[0]
    d = ((c[t, None, :] - skin.verts[None, bv, :]) ** 2).sum(-1)
    return t, bv[np.argmin(d, axis=1)], offsets["arm_moved"] - offsets["arm"], hand_rim_px(hands)


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
