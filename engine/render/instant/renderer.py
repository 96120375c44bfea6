"""InstantRenderer: the CPU mesh-warp renderer behind engine.render.base.Renderer.

    renderer = InstantRenderer()
    rgb = renderer.warp(reference, target_landmarks, (512, 512))      # one frame from target landmarks
    for fr in renderer.render(reference, motion, range(len(motion))):  # tokens -> retarget -> warp
        ...

Per photo (cached by Reference.key): matte, plate, labels, pieces, skin, atlas, ARAP factorisation, as the
numbered stages of analysis.py. Per frame: the pose (frame.py: bone transforms, skinning, one ARAP
back-substitution, the face layer), rasterising triangle ids, one remap and an alpha blend (raster.py).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import cv2
import numpy as np

from engine import vocabulary as vocab
from engine.jobs import CancelToken
from engine.render.base import RenderedFrame, Renderer, output_size
from engine.render.instant.analysis import PhotoAnalysis, analyse
from engine.render.instant.config import WarpConfig
from engine.render.instant.frame import FrameDeformer
from engine.render.instant.hand_layer import draw_forearm, draw_hand, hand_length
from engine.render.instant.raster import (affine_table, backward_map, close_cracks, composite, corners, map_at,
                                          rasterise_ids)
from engine.tokens.reference import Reference
from engine.tokens.schema import MotionTokens
from engine.track.types import FrameLandmarks

MINIFY_BELOW = 0.8  # output scales below this sample a pre-shrunk atlas (no aliasing from remap)
ARM_EDGE_OPAQUE = 250  # arm pixels less opaque than this (of 255) are re-blended over the body
EDGE_CELL = 16  # px: the grid that picks the body triangles under those pixels
SIZES_KEPT = 4  # output sizes whose canvas and atlas are kept per photo (preview, export, thumbnails)


@dataclass
class _Sized:
    """Per (photo, output size): the letterboxed plate canvas, the work -> output mapping, the atlas."""

    canvas: np.ndarray
    scale: np.ndarray  # (2,) output px per work px
    offset: np.ndarray  # (2,)
    atlas: np.ndarray
    atlas_scale: np.ndarray  # (2,) minified atlas px per atlas px
    inside: np.ndarray  # (h, w) bool: where the photo shows the person (cracks there are closed)
    bars: np.ndarray | None = None  # (h, w) bool: the photo's letterbox bars, pasted over the posed person


@dataclass
class _Photo:
    """What the renderer keeps per photo: the analysis, its frame deformer and the per-size canvases."""

    analysis: PhotoAnalysis
    deformer: FrameDeformer
    sized: dict = field(default_factory=dict)  # (w, h) -> _Sized, at most SIZES_KEPT


class InstantRenderer(Renderer):
    """Animate a photo by warping a skinned, as-rigid-as-possible triangle mesh of the person."""

    name = "instant"

    def __init__(self, config: WarpConfig | None = None) -> None:
        self.config = config or WarpConfig()
        self._cache: OrderedDict[str, _Photo] = OrderedDict()
        self._lock = threading.Lock()

    # ---- per photo ----
    def analysis(self, reference: Reference) -> PhotoAnalysis:
        """The cached per-photo analysis (computed on first use; raises NoPersonError)."""
        return self._photo(reference).analysis

    def _photo(self, reference: Reference) -> _Photo:
        with self._lock:
            hit = self._cache.get(reference.key)
            if hit is not None:
                self._cache.move_to_end(reference.key)
                return hit
        an = analyse(reference.key, reference.rgb, reference.landmarks, self.config)
        photo = _Photo(an, FrameDeformer(an))
        with self._lock:
            self._cache[reference.key] = photo
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return photo

    def forget(self, reference: Reference | None = None) -> None:
        """Drop cached analyses (one reference's, or all)."""
        with self._lock:
            if reference is None:
                self._cache.clear()
            else:
                self._cache.pop(reference.key, None)

    @staticmethod
    def _sized(photo: _Photo, size: tuple[int, int]) -> _Sized:
        hit = photo.sized.get(size)
        if hit is not None:
            return hit
        an = photo.analysis
        w, h = size
        ww, wh = an.work_size
        s = min(w / ww, h / wh)
        pw, ph = max(1, int(round(ww * s))), max(1, int(round(wh * s)))
        ox, oy = (w - pw) // 2, (h - ph) // 2
        canvas = np.empty((h, w, 3), np.uint8)
        canvas[:] = an.canvas_colour
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        canvas[oy:oy + ph, ox:ox + pw] = cv2.resize(an.plate, (pw, ph), interpolation=interp)
        f = np.ones(2)
        atlas = an.atlas
        if s < MINIFY_BELOW:
            ah, aw = an.atlas.shape[:2]
            mw, mh = max(1, int(round(aw * s))), max(1, int(round(ah * s)))
            atlas = cv2.resize(an.atlas, (mw, mh), interpolation=cv2.INTER_AREA)
            f = np.array([mw / aw, mh / ah])  # per axis, as rounded (a layer far right would drift otherwise)
        inside = np.zeros((h, w), bool)
        person = cv2.resize(an.atlas[:wh, :ww, 3], (pw, ph), interpolation=cv2.INTER_AREA) > 127
        inside[oy:oy + ph, ox:ox + pw] = person
        bars = None
        if an.bars.any():
            bars = np.zeros((h, w), bool)
            bars[oy:oy + ph, ox:ox + pw] = an.bars.scaled(pw / ww, ph / wh).mask(pw, ph)
        sized = _Sized(canvas, np.array([pw / ww, ph / wh]), np.array([ox, oy], np.float64), atlas, f, inside,
                       bars)
        if len(photo.sized) >= SIZES_KEPT:
            photo.sized.pop(next(iter(photo.sized)))
        photo.sized[size] = sized
        return sized

    # ---- per frame ----
    def warp(self, reference: Reference, target: FrameLandmarks,
             size: tuple[int, int] | int | None = None, layers: dict | None = None) -> np.ndarray:
        """The reference person posed at `target` (landmarks in the reference photo's pixels), as an
        RGB uint8 frame of `size` ((w, h), a long side, or None for the photo's size), letterboxed on
        the background plate's colour when the aspect differs. `layers`, when given, is filled with what
        each pixel is, output size: "alpha" (uint8, the warped person's coverage), "inside" (bool, where the
        photo itself shows the person: uncovered there, the plate is inpainted), "drawn" (bool, drawn hands
        and forearms); the generator's residual gate reads them (engine/render/dit_warp.residual_gate)."""
        photo = self._photo(reference)
        out_size = output_size(reference, size)
        sz = self._sized(photo, out_size)
        target = target.rescaled(*reference.size)
        fr = photo.deformer.deform(target)
        # work px -> output px; pixel centres: out = (work + 0.5) * scale - 0.5 + offset
        dst = (fr.dst + 0.5) * sz.scale - 0.5 + sz.offset
        src = (fr.src + 0.5) * sz.atlas_scale - 0.5
        table = affine_table(dst, src)
        ids, box = rasterise_ids(dst, fr.order, out_size)
        if layers is not None:
            layers.update(alpha=np.zeros(sz.inside.shape, np.uint8), inside=sz.inside,
                          drawn=np.zeros(sz.inside.shape, bool))
        if box[2] <= box[0]:
            return sz.canvas.copy()
        close_cracks(ids, box, int(round(self.config.crack_close * max(out_size))), sz.inside)
        an = photo.analysis
        mx, my = backward_map(ids, box, table)
        out, alpha = composite(sz.canvas, sz.atlas, mx, my, box, with_alpha=True)
        if self.config.arm_over_body and an.tri_arm.any():
            self._arm_edges_over_body(out, alpha, ids, box, dst, table, fr, an, sz)
        if layers is not None:
            layers["alpha"][box[1]:box[3], box[0]:box[2]] = alpha
            before = out.copy()
        covered = None
        for group, skin in an.hand_skins.items():  # hands the mesh cannot bend: drawn in the driver's pose
            if target.has(group) and fr.hands and fr.hands.get(group, 0.0) > 0.0:
                p = target.points(group).astype(np.float64) * an.scale
                if fr.wrists and group in fr.wrists:  # on the arm as posed (a bone's stretch is limited),
                    # as far from the arm's wrist as the target's hand is from its body's wrist (the hand and
                    # body trackers disagree on where the wrist is; engine.tokens.rig.HandShape.wrist_offset)
                    off = _hand_off_wrist(target, group) * an.scale
                    p[:, :2] += fr.wrists[group] + off - p[0, :2]
                p[:, :2] = (p[:, :2] + 0.5) * sz.scale - 0.5 + sz.offset
                p[:, 2] *= float(sz.scale[0])
                if fr.elbows and group in fr.elbows:  # an arm that ends short of the hand is bridged
                    if covered is None:  # the arms' own pixels: the bridge ends there, and lies over the rest
                        is_arm = _arm_lookup(an, len(dst))
                        covered = np.zeros(out.shape[:2], bool)
                        sub = ids[box[1]:box[3], box[0]:box[2]]  # (np.take: twice as fast as indexing)
                        covered[box[1]:box[3], box[0]:box[2]] = (alpha > 127) & np.take(is_arm, sub)
                    elbow = (fr.elbows[group] + 0.5) * sz.scale - 0.5 + sz.offset
                    draw_forearm(out, covered, p[0, :2], elbow, hand_length(p), skin, fr.hands[group])
                draw_hand(out, p, skin, fr.hands[group])
        if layers is not None:
            layers["drawn"] = (out != before).any(axis=-1)
        if sz.bars is not None:  # the video's bars stay in front, as they were in the video
            out[sz.bars] = sz.canvas[sz.bars]
        return out

    @staticmethod
    def _arm_edges_over_body(out, alpha, ids, box, dst, table, fr, an, sz) -> None:
        """One triangle per pixel: an arm's soft edge was blended with the plate, which inside the person
        is the inpainted background (a light halo along a moved arm). Re-blend those pixels with the body
        beneath the arm, rasterised for their box alone (in place)."""
        x0, y0, x1, y1 = box
        is_arm = _arm_lookup(an, len(dst))
        soft = cv2.findNonZero(cv2.inRange(alpha, 1, ARM_EDGE_OPAQUE - 1))  # soft pixels: a thin set
        if soft is None:
            return
        ex, ey = soft.reshape(-1, 2).T  # (x, y) rows, as raster order
        on_arm = is_arm[ids[ey + y0, ex + x0]]
        ey, ex = ey[on_arm], ex[on_arm]
        if not len(ey):
            return
        # only the body triangles under the edge pixels (a coarse grid of the cells they touch): the arms'
        # box would span most of the body and double the rasterising
        h, w = out.shape[:2]
        occ = np.zeros((h // EDGE_CELL + 2, w // EDGE_CELL + 2), np.int32)
        occ[(ey + y0) // EDGE_CELL + 1, (ex + x0) // EDGE_CELL + 1] = 1
        sat = occ.cumsum(0).cumsum(1)
        under = fr.order[~is_arm[fr.order]]
        tlo, thi = corners(dst[under])
        gx0 = np.clip(np.floor(tlo[:, 0] / EDGE_CELL).astype(np.int64), -1, occ.shape[1] - 2)
        gy0 = np.clip(np.floor(tlo[:, 1] / EDGE_CELL).astype(np.int64), -1, occ.shape[0] - 2)
        gx1 = np.clip(np.floor(thi[:, 0] / EDGE_CELL).astype(np.int64) + 1, 0, occ.shape[1] - 1)
        gy1 = np.clip(np.floor(thi[:, 1] / EDGE_CELL).astype(np.int64) + 1, 0, occ.shape[0] - 1)
        hits = sat[gy1, gx1] - sat[gy0, gx1] - sat[gy1, gx0] + sat[gy0, gx0]
        under = under[hits > 0]
        if not len(under):
            return
        under_ids, _ = rasterise_ids(dst, under, (out.shape[1], out.shape[0]))
        gy, gx = ey + y0, ex + x0
        umx, umy = map_at(under_ids, gx, gy, table)  # at those pixels alone (their box spans the body)
        # the body's colour there: its atlas sample over the plate (only at the soft pixels)
        fg = cv2.remap(sz.atlas, umx[:, None], umy[:, None], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)[:, 0].astype(np.float32)
        plate = sz.canvas[gy, gx].astype(np.float32)
        ua = fg[:, 3:4] / 255.0
        body = fg[:, :3] * ua + plate * (1.0 - ua)
        a = alpha[ey, ex, None].astype(np.float32) / 255.0
        fixed = out[gy, gx].astype(np.float32) + (1.0 - a) * (body - plate)
        out[gy, gx] = np.clip(fixed + 0.5, 0, 255).astype(np.uint8)

    def render(self, reference: Reference, motion: MotionTokens, indices: Sequence[int], *,
               size: tuple[int, int] | None = None, cancel: CancelToken | None = None) -> Iterator[RenderedFrame]:
        """Retarget each frame's tokens onto the reference (engine.tokens.retarget) and warp."""
        from engine.tokens import retarget  # lazy: retargeting belongs to the tokens package

        rig = reference.rig()
        out = output_size(reference, size)
        self.analysis(reference)
        for i in indices:
            if cancel is not None:
                cancel.raise_if_cancelled()
            target = retarget.apply(motion.frame(int(i)), rig)
            yield RenderedFrame(int(i), self.warp(reference, target, out))


def _hand_off_wrist(target: FrameLandmarks, group: str) -> np.ndarray:
    """(2,) the target's hand wrist from its body's wrist (target px); zero where either is missing."""
    wrist = vocab.L_WRIST if group == "left_hand" else vocab.R_WRIST
    d = target.points(group)[0, :2].astype(np.float64) - target.body[wrist, :2]
    return d if np.isfinite(d).all() and target.body_conf[wrist] > 0 else np.zeros(2)


def _arm_lookup(an: PhotoAnalysis, n_tris: int) -> np.ndarray:
    """(n_tris + 1,) bool by triangle id: an arm's triangle (the face layer's and id -1, which reads the last
    entry, are not)."""
    is_arm = np.zeros(n_tris + 1, bool)
    is_arm[:len(an.tri_arm)] = an.tri_arm
    return is_arm

