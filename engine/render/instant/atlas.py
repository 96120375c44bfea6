"""The source atlas: the photo, the arms, the torso under the arms and the mouth, side by side in one RGBA
image, so one remap samples any layer (work px).

The body layer is the photo with the thin band along an arm lying over the body repainted from the torso
texture; the arm layer is the photo with its alpha cut to the arm's own pixels around a tracked hand (so a
moving hand carries no clothes with it); the fill layer is torso texture continued under the arms.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.render.instant.helpers import nearest_known
from engine.render.instant.mesh import PIECE_BODY

FILL_INPAINT_MAX_SIDE = 512
FILL_SOFTEN_U = 0.02  # blur of the under-arm texture (u)
FILL_EDGE_SKIP_U = 0.06  # ... which continues body pixels at least this far inside the body (u)
SEAM_BAND_U = 0.02  # body pixels this close (u) to an arm lying over the body take the under-arm texture
HAND_CUT_PALM = 0.5  # around a tracked hand (palm widths) the arm layer shows the arm's own pixels only ...
HAND_RIM_PALM = 0.12  # ... and this rim (palm widths) beyond them
HAND_SKIN_DIST = 28.0  # arm pixels near a hand this far (CIELAB, 8-bit units) from its skin may be clothes
ATLAS_PAD = 8  # px between atlas layers, so minified copies do not bleed across


def fill_texture(fg: np.ndarray, fill: np.ndarray | None, body: np.ndarray | None, u: float) -> np.ndarray | None:
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
    ny, nx = nearest_known(known > 0)
    nearest = small[ny, nx]
    nearest = cv2.GaussianBlur(nearest, (0, 0), max(1.0, FILL_SOFTEN_U * u * s))
    return cv2.resize(nearest, (w, h), interpolation=cv2.INTER_LINEAR)


def arm_alpha_mask(own, hand_masks, palms):
    """Where the arm layer may be opaque: everywhere (its overlap onto the body hides the seam), except
    around a tracked hand, where the overlap is the clothes the hand lies on: there, the arm's own pixels
    only, so a raised hand carries no patch of shorts with it."""
    near = np.zeros_like(own)
    rim = 1
    for prefix, m in hand_masks.items():
        r = max(2, int(round(HAND_CUT_PALM * palms[prefix])))
        near |= cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
        rim = max(rim, int(round(HAND_RIM_PALM * palms[prefix])))
    # a rim of a few pixels stays: the body mesh's outline cuts corners there, and the plate would show
    own = cv2.dilate(own, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1,) * 2))
    return np.where(near > 0, own, 1).astype(np.uint8)


MOVED_CUT_SOFT = 0.7  # px: the moved layer's cut around a hand is this soft


def hand_rim_px(palms) -> float:
    """Width (work px) of the opaque rim arm_alpha_mask keeps around the tracked hands."""
    return float(max([1] + [int(round(HAND_RIM_PALM * p)) for p in palms.values()]))


def moved_hand_colours(fg, own, hand_masks, palms):
    """The arm layer's colours for a hand that has left its place.

    The arm layer stays opaque for a rim around a tracked hand (arm_alpha_mask), and the arm's own pixels
    there reach into whatever the hand lay on (dark shorts beside and between curled fingers, mixed into
    the hand's outermost pixels): carried along, that is a dark outline. Every pixel near a hand that is
    not hand (outside the arm's own pixels, or coloured like the clothes around the hand rather than like
    its skin and connected to the outside) takes the colour of the nearest skin pixel, softened. Inner,
    enclosed detail (a tattoo, a nail) stays. Returns the colours and the repainted pixels (uint8 mask):
    build_atlas makes those transparent in the moved layer, where a softened skin disc around the hand
    would read as a pale rim (a halo) on whatever the hand moved over."""
    lab = cv2.cvtColor(fg, cv2.COLOR_RGB2LAB).astype(np.float32)
    near = np.zeros_like(own)
    clothes = np.zeros(own.shape, bool)
    skin_px = np.zeros(own.shape, bool)
    for prefix, m in hand_masks.items():
        palm = palms[prefix]
        r = max(2, int(round(HAND_CUT_PALM * palm)))
        zone = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
        near |= zone
        core = cv2.erode(m, np.ones((3, 3), np.uint8)) > 0
        under = zone & (own == 0)  # what the hand lies on (and the wall): its colour, away from the hand
        if core.sum() < 8 or under.sum() < 8:
            continue
        d_skin = np.linalg.norm(lab - np.median(lab[core], axis=0), axis=-1)
        d_under = np.linalg.norm(lab - np.median(lab[under], axis=0), axis=-1)
        clothes |= zone & (d_skin > HAND_SKIN_DIST) & (d_under < d_skin)
        skin_px |= zone & (own > 0) & (d_skin <= HAND_SKIN_DIST)
    # clothes pixels of the arm's own that touch the outside (through other clothes pixels) are not hand
    out_or_clothes = (near > 0) & ((own == 0) | clothes)
    n, cc = cv2.connectedComponents(out_or_clothes.astype(np.uint8), connectivity=8)
    touches = np.zeros(n, bool)
    touches[np.unique(cc[(own == 0) & (near > 0)])] = True
    touches[0] = False
    paint = (near > 0) & ((own == 0) | touches[cc])  # (the rim, and the soft alpha edge beyond it)
    # and the mixed pixels along the hand's outline beside them (part clothes, part skin)
    paint |= (cv2.dilate(paint.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & (near > 0) & ~skin_px
    src = skin_px & ~paint
    if not src.any():
        src = (own > 0) & ~paint
    if not paint.any() or not src.any():
        return fg, np.zeros(own.shape, np.uint8)
    ny, nx = nearest_known(src)
    filled = fg.copy()
    filled[paint] = fg[ny[paint], nx[paint]]
    soft = cv2.GaussianBlur(filled, (0, 0), 1.5)  # nearest-pixel fill streaks radially
    out = fg.copy()
    out[paint] = soft[paint]
    return out, paint.astype(np.uint8)


def clean_seam(fg, fill_tex, regions, arm_own, u):
    """The body layer's colours with the thin band along an arm lying over the body repainted from the
    under-arm texture: those pixels mix in the arm's colour (a skin rim), which must not stay behind."""
    fill, body = regions.get("fill"), regions.get(PIECE_BODY)
    if fill_tex is None or fill is None or body is None:
        return fg
    r = max(1, int(round(SEAM_BAND_U * u)))
    band = cv2.dilate(arm_own, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    band = (band & (1 - arm_own) & body & fill) > 0
    out = fg.copy()
    out[band] = fill_tex[band]
    return out


def build_atlas(fg, body_rgb, alpha, fill_tex, fill_mask, face, arm_own, arm_moved=None, moved_cut=None):
    """Stack the layers into one RGBA atlas; return it, each layer's origin and the mouth texture's.
    The arm layer is the photo with the alpha cut to the arms' own pixels: an arm piece reaches over the
    body (no crack at the seam), and that overlap must not carry clothes along with a moving hand. With
    `arm_moved` (the arm layer's colours for hands that left their place) a copy of the arm layer with
    those colours follows it ("arm_moved"), with the same alpha less `moved_cut` (pixels around the hand
    that are not hand)."""
    h, w = fg.shape[:2]
    layers = [np.dstack([body_rgb, np.round(alpha * 255).astype(np.uint8)])]
    offsets = {"photo": np.array([0.0, 0.0])}
    x = w + ATLAS_PAD
    own = cv2.GaussianBlur(cv2.dilate(arm_own, np.ones((3, 3), np.uint8)).astype(np.float32), (0, 0), 0.7)
    arm_a = np.round(np.minimum(own, alpha) * 255).astype(np.uint8)
    layers.append(np.dstack([fg, arm_a]))
    offsets["arm"] = np.array([float(x), 0.0])
    x += w + ATLAS_PAD
    names = ["arm"]
    if arm_moved is not None:
        moved_a = arm_a
        if moved_cut is not None and moved_cut.any():
            keep = 1.0 - cv2.GaussianBlur(moved_cut.astype(np.float32), (0, 0), MOVED_CUT_SOFT)
            moved_a = np.round(np.minimum(arm_a, keep * 255)).astype(np.uint8)
        layers.append(np.dstack([arm_moved, moved_a]))
        offsets["arm_moved"] = np.array([float(x), 0.0])
        names.append("arm_moved")
        x += w + ATLAS_PAD
    if fill_tex is not None:
        a = cv2.GaussianBlur(cv2.dilate(fill_mask, np.ones((3, 3), np.uint8)).astype(np.float32), (0, 0), 1.0)
        layers.append(np.dstack([fill_tex, np.round(np.minimum(a, alpha) * 255).astype(np.uint8)]))
        offsets["fill"] = np.array([float(x), 0.0])
        names.append("fill")
        x += w + ATLAS_PAD
    mouth_off = np.array([float(x), 0.0])
    mouth = None
    if face is not None:
        mouth = np.dstack([face.mouth_tex, np.full(face.mouth_tex.shape[:2], 255, np.uint8)])
        x += mouth.shape[1] + ATLAS_PAD
    atlas = np.zeros((max(h, mouth.shape[0] if mouth is not None else 0), x, 4), np.uint8)
    atlas[:h, :w] = layers[0]
    for name, layer in zip(names, layers[1:]):
        ox = int(offsets[name][0])
        atlas[:h, ox:ox + w] = layer
    if mouth is not None:
        ox = int(mouth_off[0])
        atlas[:mouth.shape[0], ox:ox + mouth.shape[1]] = mouth
    return atlas, offsets, mouth_off


def append_patches(atlas: np.ndarray, patches: list, align: int) -> tuple[np.ndarray, list]:
    """The atlas grown to the right by `patches` (RGBA, or RGB made opaque; None entries skipped), ATLAS_PAD
    apart, its width a multiple of `align` (the atlas minified for small outputs keeps an exact ratio); and each
    patch's (x, y) origin in it (None for a skipped one)."""
    x = atlas.shape[1] + ATLAS_PAD
    positions, end = [], atlas.shape[1]
    for patch in patches:
        positions.append(None if patch is None else np.array([float(x), 0.0]))
        if patch is not None:
            end = x + patch.shape[1]
            x = end + ATLAS_PAD
    height = max([atlas.shape[0]] + [p.shape[0] for p in patches if p is not None])
    grown = np.zeros((height, -(-end // align) * align, 4), np.uint8)
    grown[:atlas.shape[0], :atlas.shape[1]] = atlas
    for patch, pos in zip(patches, positions):
        if patch is not None:
            region = grown[:patch.shape[0], int(pos[0]):int(pos[0]) + patch.shape[1]]
            region[..., :patch.shape[2]] = patch
            if patch.shape[2] == 3:
                region[..., 3] = 255
    return grown, positions
