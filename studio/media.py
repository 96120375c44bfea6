"""Loading media: the reference photo (analysed on a worker), the driving video (tracked on a worker, then its
frames decoded small for scrubbing), and one-line messages for anything that goes wrong."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QMessageBox, QWidget

from engine.errors import NoPersonError
from engine.jobs import CancelToken, Job, Progress
from engine.project.document import Project
from engine.project.edits import EditLayer
from engine.project.projectfile import PROJECT_SUFFIX
from engine.project.retime import FrameMap, Retimed, retime_layer
from studio.commands import ReplaceClipCommand, SetReferenceCommand
from studio.driving_panel import DrivingPanel
from studio.jobs import JobHandle, JobRunner
from studio.reference_panel import ReferencePanel
from studio.settings import StudioSettings

TOKEN_SUFFIX = ".npz"
EXIF_ORIENTATION, ROTATED_90 = 0x0112, (5, 6, 7, 8)  # EXIF tag; orientations that swap w and h
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
    reference: object | None  # engine.tokens.reference.Reference
    rgb: np.ndarray | None
    problem: str | None  # why the photo cannot be used, if it cannot
    original_size: tuple[int, int] | None = None  # (w, h) of the file, when it was downscaled to work on


def load_reference_job(path: Path, cancel: CancelToken) -> Job[ReferenceLoad]:
    from engine.analyze import load_reference
    from engine.io.image import load_image

    yield Progress(0, None, f"Looking for the person in {path.name}")
    try:
        ref = load_reference(path)
    except NoPersonError as exc:
        return ReferenceLoad(path, None, load_image(path), str(exc))
    return ReferenceLoad(path, ref, ref.rgb, None, _original_size(path, ref.rgb.shape))


def _original_size(path: Path, shape: tuple[int, ...]) -> tuple[int, int] | None:
    """The file's own size if the loaded photo is smaller (the engine downscales very large photos)."""
    from PIL import Image

    try:
        with Image.open(path) as im:  # reads the header only
            w, h = im.size
            if im.getexif().get(EXIF_ORIENTATION, 1) in ROTATED_90:
                w, h = h, w
    except OSError:
        return None
    return (w, h) if max(w, h) > max(shape[:2]) else None


def load_driving_job(path: Path, cancel: CancelToken, person: int | None = None) -> Job:
    """`person`: whom to follow when the video shows several people (None: the largest)."""
    from engine.analyze import load_driving
    from engine.track.config import TrackerConfig

    return (yield from load_driving(path, cancel, tracker=TrackerConfig(person=person)))


class MediaController(QObject):
    """Owns the media jobs; puts results into the document and messages into the panels."""

    message = Signal(str, bool)  # text, is_error: for the window's banner and status bar
    problem = Signal(str, str)  # topic ("reference" / "driving"), text: an error that lasts until that part is fine
    driver_frames_changed = Signal()
    reference_loaded = Signal()
    clip_loaded = Signal()
    project_dropped = Signal(object)  # Path of a .umproj dropped on a panel

    def __init__(self, doc: Project, runner: JobRunner, ref_panel: ReferencePanel, drv_panel: DrivingPanel,
                 settings: StudioSettings, parent: QObject | None = None, undo: QUndoStack | None = None) -> None:
        super().__init__(parent)
        self.doc, self.runner, self.settings, self.undo = doc, runner, settings, undo
        self.ref_panel, self.drv_panel = ref_panel, drv_panel
        self.driver_frames: DriverFrames | None = None
        self._frames_path: Path | None = None  # the clip `driver_frames` belong to
        self._previous_frames: tuple[Path, DriverFrames] | None = None  # kept for an undo of a replaced video
        self._track: JobHandle | None = None
        doc.clip_changed.connect(self._sync_frames)
        ref_panel.open_requested.connect(self.open_reference)
        drv_panel.open_requested.connect(self.open_driving)
        drv_panel.cancel_requested.connect(self.cancel_tracking)
        drv_panel.person_requested.connect(self.follow_person)

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
        if self.undo is not None and self.doc.reference is not None:  # a replacement (the first is no step)
            self.undo.push(SetReferenceCommand(self.doc, res.path, res.reference, f"Replace photo with {res.path.name}"))
        else:
            self.doc.set_reference(res.path, res.reference)
        note = ""
        if res.original_size is not None:  # said once, here, and kept in the panel's status line
            w, h = res.original_size
            note = f" · downscaled from {w}×{h} px to {res.rgb.shape[1]}×{res.rgb.shape[0]}"
            self.ref_panel.set_status(self.ref_panel.status_text + note)
        self.message.emit(f"Reference: {self.ref_panel.status_text}", False)
        self.reference_loaded.emit()

    def _reference_failed(self, message: str, rgb: np.ndarray | None = None) -> None:
        self.ref_panel.show_failure(message, rgb)
        self.problem.emit("reference", message)

    # -- driving clip ------------------------------------------------------------------------------------

    def open_driving(self, path: str | Path, keep_edits: bool = False, person: int | None = None
                     ) -> JobHandle | None:
        """Track (or load) a driving clip. `person`: whom to follow when it shows several (a project's choice)."""
        path = Path(path)
        if path.suffix == PROJECT_SUFFIX:
            self.project_dropped.emit(path)
            return None
        self.drv_panel.set_busy(path)
        h = self.runner.submit(f"Tracking {path.name}", lambda c: load_driving_job(path, c, person), key="track")
        self._track = h
        h.progress.connect(self.drv_panel.set_progress)
        h.succeeded.connect(lambda clip, p=path, k=keep_edits: self._clip_done(p, clip, k))
        h.failed.connect(self._clip_failed)
        h.cancelled.connect(lambda h=h: self._clip_cancelled(h))
        return h

    def follow_person(self, person: int | None) -> JobHandle | None:
        """Track the current video again following another of its people (None: the largest). The new clip
        replaces the old one as one undo step, with the edits kept (same video, same times)."""
        path = self.doc.driving_path
        if self.doc.clip is None or path is None or path.suffix.lower() == TOKEN_SUFFIX:
            return None
        who = "the largest person" if person is None else f"person {person} from the left"
        self.drv_panel.set_busy(path)
        h = self.runner.submit(f"Tracking {path.name}", lambda c: load_driving_job(path, c, person), key="track")
        self._track = h
        h.progress.connect(self.drv_panel.set_progress)
        h.succeeded.connect(lambda clip, p=path, w=who: self._clip_done(p, clip, False, f"Follow {w}"))
        h.failed.connect(self._clip_failed)
        h.cancelled.connect(lambda h=h: self._clip_cancelled(h))
        return h

    def cancel_tracking(self) -> None:
        for h in self.runner.running("track") + self.runner.running("frames"):
            self.runner.cancel(h)

    def _clip_done(self, path: Path, clip, keep_edits: bool, step: str | None = None) -> None:
        self.drv_panel.set_idle()
        note = ""
        if keep_edits:  # a project being opened: its edits are already in the document
            self.doc.set_clip(path, clip, keep_edits=True)
        else:
            note = self._replace_clip(path, clip, step)
            if note is None:
                return
        for w in clip.warnings:
            self.message.emit(f"{path.name}: {w}", False)
        self.message.emit(f"Tracked {path.name}: {len(clip)} frames{note}", False)
        self.clip_loaded.emit()

    def _replace_clip(self, path: Path, clip, step: str | None = None) -> str | None:
        """Put a newly tracked clip in, carrying the edits over by time; one undo step (named `step` if given).
        Returns a note for the status line, or None when the user chose to keep the current video."""
        doc = self.doc
        if doc.clip is None:  # the first video (or a project whose video was missing): edits stay as they are
            r = Retimed(doc.edits, doc.custom_range, 0, len(doc.edits), 0.0)
        else:
            fm = FrameMap.between(doc.clip.times, doc.clip.fps, clip.times, clip.fps)
            r = retime_layer(doc.edits, doc.custom_range, fm)
            if r.lost and self.settings.ask_before_discard and not self._confirm_shorter(path, clip, r):
                old = doc.driving_path.name if doc.driving_path else "the current motion"
                self.drv_panel.set_status(f"Kept {old} and its edits; {path.name} was not used.")
                self.message.emit(f"Kept {old}: {path.name} is shorter than your edits", False)
                return None
        note = ""
        if doc.edits:
            note = f"; kept {r.channels} edited channel{'s' if r.channels != 1 else ''}"
            note += "" if doc.clip is None or r.layer == doc.edits else ", re-mapped by time"
            if r.lost:
                note += (f"; {r.lost} key{'s' if r.lost != 1 else ''} or edit{'s' if r.lost != 1 else ''} past its "
                         "end dropped (Undo brings them back)")
        text = step or (f"Replace driving video with {path.name}" if doc.clip is not None else f"Open {path.name}")
        if self.undo is not None and doc.clip is not None:  # a replacement; opening the first video is no step
            self.undo.push(ReplaceClipCommand(doc, path, clip, r.layer if r.layer else EditLayer(), r.in_out, text))
        else:
            doc.replace_clip(path, clip, r.layer, r.in_out)
        return note

    def _confirm_shorter(self, path: Path, clip, r: Retimed) -> bool:
        dur = float(clip.times[-1] - clip.times[0]) + 1.0 / clip.fps
        box = QMessageBox(QMessageBox.Icon.Question, "Replace the driving video?",
                          f"{path.name} is {dur:.1f} s long, but your edits reach {r.edits_end_s:.1f} s.",
                          QMessageBox.StandardButton.NoButton, self._dialog_parent())
        n = f"{r.lost} key{'s' if r.lost != 1 else ''} or edit{'s' if r.lost != 1 else ''}"
        box.setInformativeText(f"Replacing keeps the edits that fit (re-mapped by time) and drops {n} past its "
                               "end; Undo brings everything back.")
        replace_button = box.addButton("Replace, Keep What Fits", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep Current Video", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(replace_button)
        box.setObjectName("replace_clip_question")
        box.exec()
        return box.clickedButton() is replace_button

    def _dialog_parent(self) -> QWidget | None:
        p = self.parent()
        return p if isinstance(p, QWidget) else None

    # -- the driving frames kept for scrubbing follow the document's clip (also on undo/redo) ----------

    def _sync_frames(self) -> None:
        doc = self.doc
        path = doc.driving_path if doc.clip is not None else None
        if path == self._frames_path:
            return
        if self._frames_path is not None and self.driver_frames is not None:
            previous = (self._frames_path, self.driver_frames)
        else:
            previous = self._previous_frames
        kept = self._previous_frames[1] if self._previous_frames and self._previous_frames[0] == path else None
        self._previous_frames = previous
        self._frames_path, self.driver_frames = path, kept
        self.driver_frames_changed.emit()
        self.drv_panel.show_frame()
        if kept is None and path is not None and path.suffix.lower() != TOKEN_SUFFIX:
            s = self.settings
            h = self.runner.submit("Decoding frames", lambda c: decode_driver_frames(path, s.preview_max_side,
                                                                                    s.preview_memory_mb, c),
                                   key="frames")
            h.succeeded.connect(lambda frames, p=path: self._frames_done(p, frames))
            h.failed.connect(lambda msg: self.problem.emit("driving", f"Driving frames: {msg}"))

    def _frames_done(self, path: Path, frames: DriverFrames | None) -> None:
        if path != self._frames_path:
            return  # the clip changed again while decoding
        self.driver_frames = frames
        self.drv_panel.show_frame()
        self.driver_frames_changed.emit()

    def _clip_failed(self, message: str) -> None:
        self.drv_panel.show_failure(message)
        self.problem.emit("driving", message)

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
        h.failed.connect(lambda msg: self.problem.emit("driving", f"Demo: {msg}"))
        return h

    def _demo_done(self, result) -> None:
        ref, clip = result
        self.doc.set_reference(None, ref)
        self.doc.set_clip(None, clip)
        self.drv_panel.set_status(self.drv_panel.summary() + " · no driving video")
        self.doc.mark_saved()
        if self.undo is not None:
            self.undo.clear()  # a fresh document
        self.message.emit("Demo loaded: the astronaut, animated by the bundled motion", False)
        self.reference_loaded.emit()
        self.clip_loaded.emit()
