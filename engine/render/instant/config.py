"""WarpConfig: every tunable of the instant renderer, in one typed, validated place."""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class WarpConfig:
    """Knobs of the instant (mesh-warp) renderer. Lengths marked `u` are in body units: the shoulder width,
    or a face-derived stand-in when the shoulders are not in the photo."""

    # --- per-photo analysis ---
    work_min_side: int = 256  # tiny photos are upscaled to this (long side) before analysis
    work_max_side: int = 1536  # huge photos are analysed (and sampled) at most at this long side
    matte_threshold: float = 0.5  # segmentation confidence that counts as "person"
    matte_feather_px: float = 1.5  # soft edge of the matte, in work pixels (guided-filter radius scale)
    plate_max_side: int = 320  # the background plate is inpainted at this resolution, then upsampled
    plate_dilate_u: float = 0.01  # the plate's hole: the matte's core, dilated by this (u)
    mesh_spacing_u: float = 0.1  # target triangle edge length over the body (u)
    mesh_spacing_min_px: float = 5.0  # never finer than this (work px), whatever the body size
    mesh_max_vertices: int = 2600  # spacing grows until the body mesh fits
    hand_spacing_palm: float = 0.25  # mesh spacing inside visible hands, in palm widths
    # --- skinning ---
    skin_power: float = 4.0  # inverse-distance exponent of the weights (higher = stiffer bones)
    skin_eps: float = 0.25  # softening of the distance (in bone radii): width of the joint blend zone
    skin_top_k: int = 4  # bones kept per vertex
    arm_priority: float = 0.85  # arm pixels win ties against the torso by this factor (they lie in front)
    # --- as-rigid-as-possible refinement (Igarashi et al. 2005) ---
    arap_iterations: int = 1  # rotation fit + global solve rounds per frame (0 = plain skinning)
    arap_soft_weight: float = 0.08  # pull of every vertex towards its skinned position
    arap_joint_weight: float = 20.0  # pull of the vertices sitting on joints towards the target joints
    # --- face ---
    face_layer: bool = True  # dense face warp over the 478-point mesh
    hand_layer: bool = True  # hands the photo cannot bend are drawn from the hand tokens (hand_layer.py)
    hand_layer_open: bool = True  # ... and so are the open, frontal hands the mesh bends finger by finger
    face_blend_sigma: float = 0.18  # residual face motion spreads onto hair/neck with this falloff (face h)
    face_pin_weight: float = 20.0  # ARAP pull of head vertices under the face towards the face's motion
    teeth_height: float = 0.045  # visible upper-teeth band, in face heights
    # --- limits ---
    max_along_stretch: float = 1.8  # a bone's length may change by at most this factor per frame
    min_along_stretch: float = 0.25
    arm_behind_margin_u: float = 0.25  # an arm is drawn behind the torso only when this much further back
    cache_size: int = 4  # references whose analysis is kept
    arm_over_body: bool = True  # arms' soft edges blend with the body drawn beneath them (a second raster pass)
    crack_close: float = 0.005  # gaps between pieces narrower than twice this (share of the output's long
    # side) are closed where the photo shows the person (raster.close_cracks); 0 = off

    def __post_init__(self) -> None:
        positive = ("work_min_side", "work_max_side", "plate_max_side", "mesh_spacing_u", "mesh_spacing_min_px",
                    "mesh_max_vertices", "hand_spacing_palm", "skin_power", "skin_eps", "skin_top_k",
                    "arap_soft_weight", "arap_joint_weight", "face_blend_sigma", "face_pin_weight", "max_along_stretch",
                    "min_along_stretch", "cache_size")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in positive and not v > 0:
                raise ValueError(f"WarpConfig.{f.name} must be > 0, got {v!r}")
        if self.work_min_side > self.work_max_side:
            raise ValueError("WarpConfig.work_min_side must not exceed work_max_side")
        if not 0.0 < self.matte_threshold < 1.0:
            raise ValueError(f"WarpConfig.matte_threshold must be in (0, 1), got {self.matte_threshold!r}")
        if self.crack_close < 0:
            raise ValueError(f"WarpConfig.crack_close must be >= 0, got {self.crack_close!r}")
        if self.arap_iterations < 0:
            raise ValueError(f"WarpConfig.arap_iterations must be >= 0, got {self.arap_iterations!r}")
        if not 0.0 < self.arm_priority <= 1.0:
            raise ValueError(f"WarpConfig.arm_priority must be in (0, 1], got {self.arm_priority!r}")
        if self.min_along_stretch >= self.max_along_stretch:
            raise ValueError("WarpConfig.min_along_stretch must be below max_along_stretch")
