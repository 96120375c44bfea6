"""Track a whole clip (streaming) or a still image into landmarks in source pixels."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import NoPersonError
from engine.jobs import CancelToken, Job, Progress
from engine.track.config import TrackerConfig
from engine.track.filters import fill_gaps, one_euro
from engine.track.holistic import HolisticTracker
from engine.track.types import GROUPS, ClipLandmarks, FrameLandmarks


@dataclass
class TrackResult:
    landmarks: ClipLandmarks
    times: np.ndarray  # (T,) seconds, from the container's timestamps (variable frame rate kept)
    fps: float
    people_max: int  # the most faces seen at once in the sampled frames
    warnings: list[str] = field(default_factory=list)


def _downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    s = max_side / max(h, w)
    return cv2.resize(rgb, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA)


def _crop_around(face: tuple[int, int, int, int], w: int, h: int,
                 others: list[tuple[int, int, int, int]] = ()) -> tuple[int, int, int, int]:
    """A region for one person given their face box: about 2.5 face widths either side, full height below,
    and never past halfway to another face beside it (so Holistic cannot lock onto the neighbour)."""
    x0, y0, x1, y1 = face
    fw = max(x1 - x0, 1)
    cx = (x0 + x1) / 2
    left, right = cx - 2.8 * fw, cx + 2.8 * fw
    for ox0, _, ox1, _ in others:
        ocx = (ox0 + ox1) / 2
        if ocx < cx:
            left = max(left, (cx + ocx) / 2)
        elif ocx > cx:
            right = min(right, (cx + ocx) / 2)
    return (max(0, int(left)), max(0, int(y0 - 1.0 * fw)), min(w, int(right)), h)


def pick_face(faces: list[tuple[int, int, int, int]], person: int | None, name: str = "clip"
              ) -> tuple[int, int, int, int]:
    """The face to follow among several (`faces` largest first, as count_people gives them): the largest,
    or the `person`-th from the left. Raises NoPersonError when there are fewer people than that."""
    if person is None:
        return faces[0]
    if person > len(faces):
        raise NoPersonError(too_few_people(name, person, len(faces)))
    return sorted(faces, key=lambda b: b[0] + b[2])[person - 1]


def too_few_people(name: str, person: int, seen: int) -> str:
    return (f"{name}: person {person} was asked for, but at most {seen} "
            f"{'person is' if seen == 1 else 'people are'} seen together (count from 1, the leftmost)")


PEOPLE_WARNING = re.compile(r"^(\d+) people in frame: tracking ")


def people_warning(count: int, person: int | None) -> str:
    """The warning a clip with several people carries; `people_seen` reads the count back."""
    who = "the largest" if person is None else f"person {person} from the left"
    return f"{count} people in frame: tracking {who}"


def people_seen(warnings: list[str]) -> int:
    """How many people a tracked clip's warnings say were in frame at once (1 when none say so)."""
    for w in warnings:
        m = PEOPLE_WARNING.match(w)
        if m:
            return int(m.group(1))
    return 1


def track_video(path: str | Path, config: TrackerConfig = TrackerConfig(),
                cancel: CancelToken | None = None) -> Job[TrackResult]:
    """Decode and track frame by frame, yielding Progress; returns the post-processed TrackResult."""
    from engine.io.video import iter_frames, probe

    info = probe(path)
    total = info.frame_count_hint
    frames: list[FrameLandmarks] = []
    times: list[float] = []
    people_max = 0
    crop = None
    check_every = max(1, int(round(config.people_check_every_s * info.fps)))
    with HolisticTracker(config, video_mode=True) as tracker:
        for vf in iter_frames(path):
            if cancel is not None:
                cancel.raise_if_cancelled()
            small = _downscale(vf.rgb, config.max_side)
            if vf.index % check_every == 0:
                faces = tracker.count_people(small)
                people_max = max(people_max, len(faces))
                if len(faces) > 1 and crop is None:  # the choice is made once, when several are first seen
                    face = pick_face(faces, config.person, Path(path).name)
                    crop = _crop_around(face, small.shape[1], small.shape[0], faces)
            for _ in range(config.settle_frames - 1 if not frames else 0):  # settle on the first frame
                tracker.process(small, vf.rgb.shape[1], vf.rgb.shape[0], crop=crop)
            fl = tracker.process(small, vf.rgb.shape[1], vf.rgb.shape[0], crop=crop)
            frames.append(fl)
            times.append(vf.time_s)
            yield Progress(vf.index + 1, total, f"Tracking frame {vf.index + 1}" + (f"/{total}" if total else ""))
    result = TrackResult(ClipLandmarks.stack(frames), np.asarray(times, np.float64), info.fps, people_max)
    if not any(result.landmarks.present(g).any() for g in ("body", "face")):
        raise NoPersonError(f"{Path(path).name}: no person found in any frame")
    if config.person is not None and config.person > max(people_max, 1):  # nobody else ever came in
        raise NoPersonError(too_few_people(Path(path).name, config.person, people_max))
    if people_max > 1:
        result.warnings.append(people_warning(people_max, config.person))
    postprocess(result.landmarks, result.times, config)
    return result


def postprocess(lm: ClipLandmarks, times: np.ndarray, config: TrackerConfig) -> None:
    """Fill short gaps, then One-Euro smooth each group in place."""
    scale = float(max(lm.width, lm.height))
    for g in GROUPS:
        pts, cf = fill_gaps(getattr(lm, g), getattr(lm, f"{g}_conf"), config.max_gap_frames)
        if config.smooth and len(times) > 1:
            pts = one_euro(pts, times, config.one_euro_min_cutoff, config.one_euro_beta,
                           config.one_euro_d_cutoff, scale=scale)
        setattr(lm, g, pts.astype(np.float32))
        setattr(lm, f"{g}_conf", cf.astype(np.float32))
    bw, _ = fill_gaps(lm.body_world, lm.body_conf, config.max_gap_frames)
    lm.body_world = bw.astype(np.float32)


# A driving clip is tracked in video mode: from its second frame on, each frame's landmarks start from the
# last frame's, and they settle a few percent away from the first, detection-only pass (the shoulders of the
# shared hands clip spread 7% between frames 0 and 6 while the woman stood still). A photo tracked in that
# first pass alone therefore disagrees with the clip's tracked start by that settling, and the retargeting
# turns the disagreement into a pose and placement error (self-reenactment at frame 0: 20 dB where the same
# frame held still scores 54). The photo, and a clip's first frame, are tracked as a still clip of
# TrackerConfig.settle_frames frames, so they are measured as a clip's later frames are.
def _settled(first: FrameLandmarks, small: np.ndarray, width: int, height: int,
             crop: tuple[int, int, int, int] | None, config: TrackerConfig) -> FrameLandmarks:
    """`first` (the static pass over `small`) re-measured as a video tracker settles on the same frame; a
    group the settled tracker lost keeps the first pass's points, the static pass's mask is kept."""
    with HolisticTracker(config, video_mode=True) as tracker:
        for _ in range(config.settle_frames):
            fl = tracker.process(small, width, height, crop=crop)
    for g in GROUPS:
        if first.has(g) and not fl.has(g):
            setattr(fl, g, getattr(first, g).copy())
            setattr(fl, f"{g}_conf", first.conf(g).copy())
            if g == "body":
                fl.body_world = first.body_world.copy()
    fl.segmentation = first.segmentation
    fl.people_found = first.people_found
    return fl


def track_image(rgb: np.ndarray, config: TrackerConfig = TrackerConfig(), require_person: bool = True,
                name: str = "photo", segmentation: bool = False) -> FrameLandmarks:
    """Landmarks of a still photo (static mode: no temporal tracking). Raises NoPersonError if empty.
    `segmentation` keeps the same pass's person mask on the result (a reference photo's matte reuses it)."""
    small = _downscale(rgb, config.max_side)
    with HolisticTracker(config, video_mode=False, segmentation=segmentation) as tracker:
        faces = tracker.count_people(small)
        if config.person is not None and config.person > max(len(faces), 1):
            raise NoPersonError(too_few_people(name, config.person, len(faces)))
        crop = None
        if len(faces) > 1:
            crop = _crop_around(pick_face(faces, config.person, name), small.shape[1], small.shape[0], faces)
        fl = tracker.process(small, rgb.shape[1], rgb.shape[0], crop=crop)
    fl = _settled(fl, small, rgb.shape[1], rgb.shape[0], crop, config)
    fl.people_found = max(len(faces), fl.people_found)
    if require_person and not (fl.has("body") or fl.has("face")):
        raise NoPersonError(f"{name}: no person found in the photo")
    return fl
