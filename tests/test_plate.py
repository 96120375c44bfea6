"""The instant renderer's background plate: what shows where the person was once they move away.

Synthetic photos with a soft-edged person in front of a known background (a plain wall, a wall beside a door,
a textured field), so each test knows what the plate must be.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.render.instant import WarpConfig
from engine.render.instant.matte import background_plate


def test_plate_of_a_plain_wall_stays_plain():
    # A dark-haired head with a soft, dark fringe in front of a plain wall: the plate where the person was
    # is wall coloured and smooth (no dark scribbles reflected from the fringe, no silhouette trace).
    rng = np.random.default_rng(0)
    h, w = 240, 240
    wall = np.array([214, 208, 200], np.float32)
    img = wall + rng.normal(0, 1.0, (h, w, 3)).astype(np.float32)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((xx - 120) / 60.0, (yy - 130) / 80.0)
    alpha = np.clip((1.15 - r) / 0.3, 0, 1).astype(np.float32)  # soft edge: the fringe reaches past a = 0.5
    rgb = np.clip(img * (1 - alpha[..., None]) + np.array([40, 30, 25]) * alpha[..., None], 0, 255).astype(np.uint8)
    plate = background_plate(rgb, alpha, 2.0, WarpConfig()).astype(np.float32)
    where = alpha > 0.01
    assert np.abs(plate[where] - wall).max(axis=1).mean() < 4
    assert plate[where].std(axis=0).max() < 3
    assert np.abs(plate[where] - wall).max() < 20


def test_plate_beside_a_door_has_no_outline_on_the_wall():
    # A person with a soft edge in front of a plain wall, a textured wooden door just beside them: the door
    # must not decide for the whole hole. Where the wall is the nearest background, the plate stays within a
    # few levels of the wall (no outline where the soft edge was, no door edges reflected onto it).
    rng = np.random.default_rng(1)
    h, w = 320, 240
    wall = np.array([226, 218, 212], np.float32)
    img = wall + rng.normal(0, 1.0, (h, w, 3)).astype(np.float32)
    grain = 20 * np.sin(np.arange(w)[None, :] * 0.9) + rng.normal(0, 8, (h, w))
    img[:, 170:] = np.array([150, 80, 40], np.float32) + grain[:, 170:, None]
    img[:, 168:172] = 60  # the door frame: one strong edge
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((xx - 105) / 45.0, (yy - 170) / 120.0)
    alpha = np.clip((1.1 - r) / 0.2, 0, 1).astype(np.float32)
    rgb = np.clip(img * (1 - alpha[..., None]) + np.array([30, 60, 150]) * alpha[..., None], 0, 255).astype(np.uint8)
    plate = background_plate(rgb, alpha, 2.0, WarpConfig()).astype(np.float32)
    wall_side = (alpha > 0.01) & (xx < 115)  # the wall is the nearest background for these
    assert wall_side.sum() > 2000
    err = np.abs(plate[wall_side] - wall).max(axis=1)
    assert err.mean() < 4
    assert np.percentile(err, 99) < 12
    ring = (r > 1.05) & (r < 1.25) & (xx < 115)  # where the soft edge was: no lighter or darker outline
    assert np.abs(plate[ring] - wall).max(axis=1).mean() < 4


def test_plate_of_a_field_keeps_its_texture_deep_inside_a_large_hole():
    # A person filling the middle third of a field of flowers: a person who moves or shrinks uncovers the
    # plate there. Deep inside the hole the plate was the smooth membrane alone, a blurred blob (texture 0.13
    # levels against the field's 4.56: the reflected texture faded out within 0.15 of the image's side); now
    # the field's texture is carried in from beside the hole (1.66).
    rng = np.random.default_rng(2)
    h, w = 360, 480
    field = rng.normal(0, 1, (h // 4, w // 4, 3)).astype(np.float32)
    field = cv2.resize(field, (w, h), interpolation=cv2.INTER_CUBIC)  # clumps a few pixels across
    img = np.array([90, 130, 80], np.float32) + 14 * field
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((xx - 240) / 80.0, (yy - 200) / 150.0)
    alpha = np.clip((1.1 - r) / 0.2, 0, 1).astype(np.float32)
    rgb = np.clip(img * (1 - alpha[..., None]) + np.array([200, 60, 60]) * alpha[..., None], 0, 255).astype(np.uint8)
    plate = background_plate(rgb, alpha, 2.0, WarpConfig()).astype(np.float32)

    def texture(im, where):
        grey = im.mean(axis=2)
        return float(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 4.0))[where].mean())

    deep = r < 0.5
    outside = r > 1.6
    assert texture(plate, deep) > 0.25 * texture(img, outside), (texture(plate, deep), texture(img, outside))
    # the colour stays the field's: no person colour carried in
    assert np.abs(plate[deep].mean(axis=0) - np.array([90, 130, 80])).max() < 12
