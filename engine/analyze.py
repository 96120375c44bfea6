"""The engine's inputs: track a video (or a still photo, as a one-frame clip) into a TrackedClip through the
on-disk cache, load a driving clip (a video or a token file), load a reference photo."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.cache import clip_cache_path, content_key, encoder_key
from engine.errors import MediaError, UserFacingError
from engine.jobs import CancelToken, Job, Progress
from engine.io.image import is_image_path, load_image
from engine.tokens.clipfile import TrackedClip, load_clip, save_clip
from engine.tokens.encode import encode_clip
from engine.tokens.reference import Reference
from engine.track.config import TrackerConfig
from engine.track.tracker import people_warning, postprocess, track_image, track_video
from engine.track.types import ClipLandmarks


def track_clip(path: str | Path, config: TrackerConfig = TrackerConfig(), cancel: CancelToken | None = None,
               use_cache: bool = True) -> Job[TrackedClip]:
    """Tracked clip for `path`: from the cache when this content was tracked with these settings."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path.name}: no such file")
    if path.is_dir():
        raise MediaError(f"{path.name}: is a folder, not a video or photo")
    content = content_key(path)
    cached = clip_cache_path(content, config.key())
    if use_cache and cached.exists():
        try:
            clip = load_clip(cached, check_tokens=False)
        except MediaError:
            cached.unlink(missing_ok=True)  # stale or damaged cache entry: track again
        else:
            if clip.encoder != encoder_key():  # encoded by other code: encode the landmarks again, keep that
                clip.tokens, clip.face_neutral = encode_clip(clip.landmarks)
                clip.encoder = encoder_key()
                _save_quietly(clip, cached)
            yield Progress(len(clip), len(clip), "Loaded tracking from cache")
            return clip
    if is_image_path(path):
        rgb = load_image(path)
        fl = track_image(rgb, config, name=path.name)
        lm = ClipLandmarks.stack([fl])
        times, fps, warnings = np.zeros(1), 25.0, []
        if fl.people_found > 1:
            warnings.append(people_warning(fl.people_found, config.person))
        yield Progress(1, 1, "Tracked photo")
    else:
        result = yield from track_video(path, config, cancel)
        lm, times, fps, warnings = result.landmarks, result.times, result.fps, result.warnings
    tokens, neutral = encode_clip(lm)
    clip = TrackedClip(tokens=tokens, landmarks=lm, times=times, fps=fps, face_neutral=neutral,
                       source_name=path.name, source_hash=content, tracker=config.key(), warnings=warnings,
                       encoder=encoder_key())
    if use_cache:
        _save_quietly(clip, cached)
    return clip


def _save_quietly(clip: TrackedClip, cached: Path) -> None:
    try:
        save_clip(clip, cached)
    except (OSError, UserFacingError):
        pass  # a read-only or full cache folder only costs speed next time


def load_driving(path: str | Path, cancel: CancelToken | None = None, use_cache: bool = True,
                 tracker: TrackerConfig = TrackerConfig()) -> Job[TrackedClip]:
    """The motion to copy: a token file as is, or a video (or photo) tracked through the cache with `tracker`
    (for example which person to follow)."""
    if Path(path).suffix.lower() == ".npz":
        if tracker.person is not None:
            raise UserFacingError(f"{Path(path).name} is a token file, already tracked: choosing a person "
                                  "applies to a video")
        clip = load_clip(path)
        yield Progress(1, 1, "Loaded token file")
        return clip
    return (yield from track_clip(path, tracker, cancel=cancel, use_cache=use_cache))


def load_reference(path: str | Path, config: TrackerConfig = TrackerConfig()) -> Reference:
    """A reference photo, tracked. Raises MediaError / NoPersonError with a one-line message."""
    path = Path(path)
    if not is_image_path(path):
        raise MediaError(f"{path.name}: not an image (use PNG, JPEG, WebP, BMP or TIFF)")
    rgb = load_image(path)
    fl = track_image(rgb, config, name=path.name, segmentation=True)  # the renderer's matte reuses the mask
    return Reference(rgb=rgb, landmarks=fl, name=path.stem)


def reference_warnings(reference: Reference) -> list[str]:
    """What the user should hear about a reference photo before it is animated."""
    n = reference.landmarks.people_found
    return [f"{n} people in the photo: animating the largest"] if n > 1 else []


def track_frames(frames: list[np.ndarray], fps: float, config: TrackerConfig = TrackerConfig()):
    """(ClipLandmarks, MotionTokens) of frames already in memory (a rendered output), tracked as a clip in video
    mode and post-processed and encoded as a tracked video is: how a render is read back to score it."""
    from engine.track.holistic import HolisticTracker

    with HolisticTracker(config) as tr:
        lms = [tr.process(f, f.shape[1], f.shape[0]) for f in frames]
    lm = ClipLandmarks.stack(lms)
    postprocess(lm, np.arange(len(frames)) / fps, config)
    return lm, encode_clip(lm)[0]

