"""The instant CPU renderer: a skinned, as-rigid-as-possible mesh warp of the reference photo.

Public API: InstantRenderer (engine.render.base.Renderer) with warp(reference, target, size); WarpConfig.
"""
from engine.render.instant.config import WarpConfig
from engine.render.instant.renderer import InstantRenderer

__all__ = ["InstantRenderer", "WarpConfig"]
