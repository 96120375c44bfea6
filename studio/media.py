"""Loading media: the reference photo (analysed on a worker), the driving video (tracked on a worker, then its
frames decoded small for scrubbing), and one-line messages for anything that goes wrong."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.errors import NoPersonError
from engine.jobs import CancelToken, Job, Progress
from engine.project.document import Project
from engine.project.projectfile import PROJECT_SUFFIX
from studio.driving_panel import DrivingPanel
from studio.jobs import JobHandle, JobRunner
from studio.reference_panel import ReferencePanel
from studio.settings import StudioSettings

TOKEN_SUFFIX = ".npz"
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".gif"}


@dataclass(frozen=True)
class DriverFrames:
    """The driving video's frames, downscaled, in memory for instant scrubbing."""

    frames: tuple[np.ndarray, ...]
    source_size: tuple[int, int]  # (w, h) of the video: landmark pixel space

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, t: int) -> np.ndarray:
        return self.frames[int(np.clip(t, 0, len(self.frames) - 1))]


def decode_driver_frames(path: Path, max_side: int, budget_mb: int, cancel: CancelToken) -> Job[DriverFrames | None]:
    """Decode every frame at most `max_side` long, smaller if the clip would not fit in `budget_mb`."""
    from engine.io.image import is_image_path, load_image
    from engine.io.video import iter_frames, probe

    if path.suffix.lower() == TOKEN_SUFFIX:
        return None
    if is_image_path(path):
        import cv2

        full = load_image(path)
        h, w = full.shape[:2]
        s = min(1.0, max_side / max(h, w))
        small = cv2.resize(full, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        yield Progress(1, 1, "Decoded photo")
        return DriverFrames((small,), (w, h))
    info = probe(path)
    total = info.frame_count_hint or int(round((info.duration_s or 10.0) * info.fps))
    side = max_side
    aspect = min(info.width, info.height) / max(info.width, info.height)
    while side > 96 and total * side * side * aspect * 3 > budget_mb * 2 ** 20:
        side = int(side * 0.8)
    frames = []
    for vf in iter_frames(path, max_side=side):
        cancel.raise_if_cancelled()
        frames.append(vf.rgb)
        yield Progress(vf.index + 1, total, f"Decoding frames {vf.index + 1}/{total}")
    return DriverFrames(tuple(frames), (info.width, info.height))


@dataclass(frozen=True)
class ReferenceLoad:
    path: Path
    reference: object | None  # engine.render.base.Reference
    rgb: np.ndarray | None
    problem: str | None  # why the photo cannot be used, if it cannot


def load_reference_job(path: Path, cancel: CancelToken) -> Job[ReferenceLoad]:
    from engine.analyze import load_reference
    from engine.io.image import load_image

    yield Progress(0, None, f"Looking for the person in {path.name}")
    try:
        ref = load_reference(path)
    except NoPersonError as exc:
        return ReferenceLoad(path, None, load_image(path), str(exc))
    return ReferenceLoad(path, ref, ref.rgb, None)


def load_driving_job(path: Path, cancel: CancelToken) -> Job:
    from engine.render.run import load_driving

    return (yield from load_driving(path, cancel))


class MediaController(QObject):
    """Owns the media jobs; puts results into the document and messages into the panels."""

    message = Signal(str, bool)  # text, is_error: for the window's banner and status bar
    driver_frames_changed = Signal()
    reference_loaded = Signal()
    clip_loaded = Signal()
    project_dropped = Signal(object)  # Path of a .umproj dropped on a panel

    def __init__(self, doc: Project, runner: JobRunner, ref_panel: ReferencePanel, drv_panel: DrivingPanel,
                 settings: StudioSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.runner, self.settings = doc, runner, settings
        self.ref_panel, self.drv_panel = ref_panel, drv_panel
        self.driver_frames: DriverFrames | None = None
        self._track: JobHandle | None = None
        ref_panel.open_requested.connect(self.open_reference)
        drv_panel.open_requested.connect(self.open_driving)
        drv_panel.cancel_requested.connect(self.cancel_tracking)

    @property
    def busy(self) -> bool:
        return bool(self.runner.running("reference") or self.runner.running("track") or self.runner.running("frames"))

    # -- reference -------------------------------------------------------------------------------------

    def open_reference(self, path: str | Path) -> JobHandle | None:
        path = Path(path)
        if path.suffix == PROJECT_SUFFIX:
            self.project_dropped.emit(path)
            return None
        if path.suffix.lower() in VIDEO_SUFFIXES | {TOKEN_SUFFIX}:
            self._reference_failed(f"{path.name} is a video: drop it on the Driving video panel; "
                                   "the reference is a photo")
            return None
        self.ref_panel.set_busy(path)
        h = self.runner.submit(f"Opening {path.name}", lambda c: load_reference_job(path, c), key="reference")
        h.succeeded.connect(self._reference_done)
        h.failed.connect(self._reference_failed)
        return h

    def _reference_done(self, res: ReferenceLoad) -> None:
        if res.reference is None:
            self._reference_failed(f"{res.problem}. Try a photo where one person is clearly visible.", res.rgb)
            return
        self.doc.set_reference(res.path, res.reference)
        self.message.emit(f"Reference: {self.ref_panel.status_text}", False)
        self.reference_loaded.emit()

    def _reference_failed(self, message: str, rgb: np.ndarray | None = None) -> None:
        self.ref_panel.show_failure(message, rgb)
        self.message.emit(message, True)

    # -- driving clip ------------------------------------------------------------------------------------

    def open_driving(self, path: str | Path, keep_edits: bool = False) -> JobHandle | None:
        path = Path(path)
        if path.suffix == PROJECT_SUFFIX:
            self.project_dropped.emit(path)
            return None
        self.drv_panel.set_busy(path)
        h = self.runner.submit(f"Tracking {path.name}", lambda c: load_driving_job(path, c), key="track")
        self._track = h
        h.progress.connect(self.drv_panel.set_progress)
        h.succeeded.connect(lambda clip, p=path, k=keep_edits: self._clip_done(p, clip, k))
        h.failed.connect(self._clip_failed)
        h.cancelled.connect(lambda h=h: self._clip_cancelled(h))
        return h

    def cancel_tracking(self) -> None:
        for h in self.runner.running("track") + self.runner.running("frames"):
            self.runner.cancel(h)

    def _clip_done(self, path: Path, clip, keep_edits: bool) -> None:
        self.drv_panel.set_idle()
        self.driver_frames = None
        self.doc.set_clip(path, clip, keep_edits=keep_edits)
        self.driver_frames_changed.emit()
        for w in clip.warnings:
            self.message.emit(f"{path.name}: {w}", False)
        self.message.emit(f"Tracked {path.name}: {len(clip)} frames", False)
        self.clip_loaded.emit()
        s = self.settings
        h = self.runner.submit("Decoding frames", lambda c: decode_driver_frames(path, s.preview_max_side,
                                                                                s.preview_memory_mb, c), key="frames")
        h.succeeded.connect(self._frames_done)
        h.failed.connect(lambda msg: self.message.emit(f"Driving frames: {msg}", True))

    def _frames_done(self, frames: DriverFrames | None) -> None:
        self.driver_frames = frames
        self.drv_panel.show_frame()
        self.driver_frames_changed.emit()

    def _clip_failed(self, message: str) -> None:
        self.drv_panel.show_failure(message)
        self.message.emit(message, True)

    def _clip_cancelled(self, h: JobHandle) -> None:
        if any(other is not h for other in self.runner.running("track")):
            return  # replaced by a newer drop: that one reports
        self.drv_panel.set_idle()
        keep = f"; keeping {self.doc.driving_path.name}" if self.doc.clip is not None and self.doc.driving_path else ""
        self.drv_panel.set_status(f"Tracking cancelled{keep}.")
        self.message.emit(f"Tracking cancelled{keep}", False)

    # -- built-in demo -----------------------------------------------------------------------------------

    def load_demo(self) -> JobHandle:
        """The astronaut photo animated by the bundled token file (engine.demo)."""
        def job(cancel: CancelToken):
            from engine.demo import demo_clip, demo_reference

            yield Progress(0, 2, "Loading the demo")
            ref = demo_reference()
            yield Progress(1, 2, "Loading the demo motion")
            return ref, demo_clip()

        self.ref_panel.set_status("Loading the demo photo…")
        h = self.runner.submit("Demo", job, key="demo")
        h.succeeded.connect(self._demo_done)
        h.failed.connect(lambda msg: self.message.emit(f"Demo: {msg}", True))
        return h

    def _demo_done(self, result) -> None:
        ref, clip = result
        self.doc.set_reference(None, ref)
        self.driver_frames = None
        self.doc.set_clip(None, clip)
        self.drv_panel.set_status(self.drv_panel.summary() + " · no driving video")
        self.driver_frames_changed.emit()
        self.doc.mark_saved()
        self.message.emit("Demo loaded: the astronaut, animated by the bundled motion", False)
        self.reference_loaded.emit()
        self.clip_loaded.emit()
