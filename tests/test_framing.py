"""Framing: a driver who travels (and comes closer) takes the photo's person out of the canvas unless the
placement keeps them in frame. Real photo, real MediaPipe, the instant renderer's own mesh as the silhouette."""
from __future__ import annotations

import numpy as np
import pytest

from engine.render.framing import Framing, apply_framing, parse
from engine.render.instant import InstantRenderer
from engine.tokens import retarget
from engine.tokens.reference import Reference
from tests.test_studio import window  # noqa: F401 - the real studio window (checks no thread is left behind)

MAN = "photo_fullbody_man_studio.png"
FRAMES = 12


@pytest.fixture(scope="module")
def man(media):
    from engine.io.image import load_image
    from engine.track.tracker import track_image

    rgb = load_image(media / MAN, max_side=640)
    return Reference(rgb, track_image(rgb), name=MAN)


@pytest.fixture(scope="module")
def travelling(man):
    """The photo's own pose for FRAMES frames, walking 2.5 torso lengths to the right, a little up, and
    coming closer to the camera (1.4x): the person leaves the canvas in the later frames."""
    from engine.tokens.encode import encode_clip
    from engine.track.types import ClipLandmarks

    tokens = encode_clip(ClipLandmarks.stack([man.landmarks.copy() for _ in range(FRAMES)]))[0]
    ramp = np.linspace(0.0, 1.0, FRAMES)
    tokens.placement = np.stack([2.5 * ramp, -0.4 * ramp, 1.0 + 0.4 * ramp], 1).astype(np.float32)
    return tokens


def _silhouette_overflow(renderer, ref, tokens) -> float:
    """Worst distance (share of the canvas' long side) the opaque part of the posed mesh reaches past the
    photo's canvas, over the frames."""
    an = renderer.analysis(ref)
    ww, wh = an.work_size
    worst = 0.0
    for t in range(len(tokens)):
        fr = an.deform(retarget.apply(tokens, ref.rig(), t))
        c = np.round(fr.src.mean(1)).astype(int)
        c[:, 0] = np.clip(c[:, 0], 0, an.atlas.shape[1] - 1)
        c[:, 1] = np.clip(c[:, 1], 0, an.atlas.shape[0] - 1)
        opaque = an.atlas[c[:, 1], c[:, 0], 3] > 127
        p = fr.dst[opaque].reshape(-1, 2)
        over = max(-p[:, 0].min(), -p[:, 1].min(), p[:, 0].max() - ww, p[:, 1].max() - wh, 0.0)
        worst = max(worst, over / max(ww, wh))
    return worst


def test_keep_in_frame_keeps_the_whole_person_inside(man, travelling):
    r = InstantRenderer()
    follow = _silhouette_overflow(r, man, travelling)
    assert follow > 0.1, f"the travelling clip should leave the canvas when followed (overflow {follow:.3f})"
    kept = apply_framing(travelling, man, Framing.KEEP_IN_FRAME)
    inside = _silhouette_overflow(r, man, kept)
    assert inside <= 0.005, f"keep in frame: the silhouette still reaches {inside:.3f} of the canvas past its edge"
    # the person still travels (clamped at the edge), and is not shrunk to nothing
    assert kept.placement[-1, 0] > kept.placement[0, 0] + 0.3
    assert kept.placement[:, 2].min() > 0.5 * travelling.placement[:, 2].min()
    assert travelling.placement[-1, 0] == pytest.approx(2.5), "the input tokens must not be changed"


def test_fixed_drops_the_travel_and_follow_keeps_it(man, travelling):
    fixed = apply_framing(travelling, man, "fixed")
    assert np.allclose(fixed.placement, [0.0, 0.0, 1.0])
    assert apply_framing(travelling, man, Framing.FOLLOW) is travelling
    assert parse("keep-in-frame") is Framing.KEEP_IN_FRAME
    with pytest.raises(ValueError, match="framing"):
        parse("centre")


def test_framing_is_saved_in_the_project_and_reaches_the_export(man, travelling, tmp_path):
    from engine.project.document import RenderSettings
    from engine.render.export import ExportRequest

    rs = RenderSettings(framing="keep-in-frame")
    assert RenderSettings.from_json(rs.to_json()).framing == "keep_in_frame"
    assert RenderSettings.from_json({"renderer": "instant"}).framing == "follow"  # older project files
    with pytest.raises(ValueError, match="RenderSettings.framing"):
        RenderSettings(framing="zoom")
    with pytest.raises(ValueError, match="ExportRequest.framing"):
        ExportRequest(man, travelling, tmp_path / "x.mp4", 25.0, 0, 3, 0.0, framing="zoom")


def test_studio_framing_choice_beside_the_view_modes(window, qtbot, media):
    studio = window
    """The View menu's framing items set the project's framing (saved with it), and the preview renders
    with it: what it shows is the instant render of the framed tokens, which differs from following."""
    from engine.render.base import output_size
    from tests.test_studio import load_media, wait_rendered

    w, doc = studio, studio.project
    load_media(qtbot, w, media)  # the face clip: the head moves about a little
    assert w.actions["view.framing_follow"].isChecked()
    doc.set_frame(len(doc.clip.tokens) - 1)
    follow = wait_rendered(qtbot, w)
    w.actions.trigger("view.framing_fixed")
    assert doc.render_settings.framing == "fixed" and w.actions["view.framing_fixed"].isChecked()
    fixed = wait_rendered(qtbot, w)
    assert np.abs(follow.astype(int) - fixed.astype(int)).mean() > 1.0, "fixed in place must change the frame"
    size = output_size(doc.reference, doc.render_settings.preview_long_side)
    tokens = apply_framing(doc.edited_tokens(), doc.reference, "fixed")
    want = next(iter(InstantRenderer().render(doc.reference, tokens, [doc.frame], size=size))).rgb
    assert np.abs(want.astype(int) - fixed[: want.shape[0], : want.shape[1]].astype(int)).mean() < 1.0
    w.actions.trigger("view.framing_keep")
    assert doc.render_settings.framing == "keep_in_frame" and w.actions["view.framing_keep"].isChecked()
    wait_rendered(qtbot, w)
    assert doc.render_settings.to_json()["framing"] == "keep_in_frame"
