"""The driving video: drop or open it; tracking runs in the background with progress and Cancel; the frame at
the cursor is shown with the tracked landmarks over it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from engine.inspect import gaps
from engine.jobs import Progress
from engine.project.document import Project
from engine.tokens.schema import GROUP_NAMES
from engine.track.config import person_of
from engine.track.tracker import people_seen
from studio.panels import MediaPanel

VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm *.avi *.m4v);;Token files (*.npz);;All files (*)"
DECODING = "Decoding frames…"
GROUP_LABELS = {"face": "face", "body": "body", "left_hand": "left hand", "right_hand": "right hand"}


class DrivingPanel(MediaPanel):
    cancel_requested = Signal()
    person_requested = Signal(object)  # int (the n-th person from the left) or None (the largest): re-track

    def __init__(self, doc: Project, frames_source, parent: QWidget | None = None) -> None:
        """`frames_source()` returns the DriverFrames kept for scrubbing (or None)."""
        super().__init__("Driving video", "Drop a video of someone moving here", VIDEO_FILTER, parent)
        self.doc = doc
        self.frames_source = frames_source
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # never a sliver
        self.cancel_button.clicked.connect(self.cancel_requested)
        row = QHBoxLayout()
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self.progress_row = QWidget()
        self.progress_row.setLayout(row)
        self.progress_row.hide()
        self.body.insertWidget(2, self.progress_row)
        # Shown only for a clip whose tracking saw several people: whom the motion follows
        self.follow = QComboBox()
        self.follow.setObjectName("follow_person")
        self.follow.setToolTip("Several people are in this video: choose whose motion to copy (tracks again; "
                               "your edits stay)")
        self.follow.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.follow.activated.connect(self._on_follow_chosen)
        row = QHBoxLayout()
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(QLabel("Follow:"))
        row.addWidget(self.follow)
        row.addStretch(1)
        self.follow_row = QWidget()
        self.follow_row.setLayout(row)
        self.follow_row.hide()
        self.body.insertWidget(3, self.follow_row)
        doc.clip_changed.connect(self._on_clip)
        doc.frame_changed.connect(lambda _f: self.show_frame())
        self.set_status("Whole body, upper body or a face: the motion to copy onto the photo.")

    # -- tracking progress ---------------------------------------------------------------------------

    def set_busy(self, path: Path) -> None:
        self.follow.setEnabled(False)  # one tracking at a time; Cancel is beside the bar
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Tracking {path.name}…")
        self.progress_row.show()
        self.set_status(f"Tracking {path.name}…")
        if self.doc.clip is None:  # the empty canvas says what is happening, not "Drop a video"
            self.canvas.show_only_message(f"Tracking {path.name}…")

    def set_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, int(p.total))
            self.progress.setValue(min(int(p.done), int(p.total)))
        else:
            self.progress.setRange(0, 0)
        if p.message:
            self.progress.setFormat(p.message + (" (%p%)" if p.total else ""))

    def set_idle(self) -> None:
        self.progress_row.hide()
        self._sync_follow()  # back to what the current clip follows (a cancelled or failed choice is undone)
        if self.doc.clip is None and self.canvas.message.startswith("Tracking "):
            self.canvas.show_only_message(self.canvas.placeholder)

    @property
    def busy(self) -> bool:
        return self.progress_row.isVisible() or not self.progress_row.isHidden()

    def show_failure(self, message: str) -> None:
        self.set_idle()
        if self.doc.clip is not None:
            name = self.doc.driving_path.name if self.doc.driving_path else "the current motion"
            message = f"{message}. Keeping {name}."
        else:
            self.canvas.show_only_message(message, error=True)
        self.set_status(message, error=True)

    # -- the clip --------------------------------------------------------------------------------------

    def _on_clip(self) -> None:
        clip = self.doc.clip
        self._sync_follow()
        if clip is None:
            self.canvas.show_only_message(self.canvas.placeholder)
            return
        self.set_status(self.summary())
        self.canvas.set_message("")
        self.show_frame()

    # -- whom to follow, when the video shows several people ------------------------------------------

    def _sync_follow(self) -> None:
        """Offer the choice for a tracked video with several people; select what the clip follows."""
        clip = self.doc.clip
        path = self.doc.driving_path
        count = people_seen(clip.warnings) if clip is not None else 1
        if clip is None or path is None or path.suffix.lower() == ".npz" or count < 2:
            self.follow_row.hide()
            return
        choices: list[int | None] = [None, *range(1, count + 1)]
        labels = ["Largest"] + [f"Person {k}" + (" (left)" if k == 1 else " (right)" if k == count else "")
                                for k in range(1, count + 1)]
        self.follow.blockSignals(True)
        self.follow.clear()
        for label, value in zip(labels, choices):
            self.follow.addItem(label, value)
        current = person_of(clip.tracker)
        self.follow.setCurrentIndex(choices.index(current) if current in choices else 0)
        self.follow.blockSignals(False)
        self.follow.setEnabled(not self.busy)
        self.follow_row.show()

    def _on_follow_chosen(self, index: int) -> None:
        value = self.follow.itemData(index)
        if self.doc.clip is not None and value != person_of(self.doc.clip.tracker):
            self.person_requested.emit(value)

    def summary(self) -> str:
        clip = self.doc.clip
        n = len(clip)
        dur = float(clip.times[-1] - clip.times[0]) + 1.0 / clip.fps
        parts = [f"{clip.source_name or 'clip'}: {n} frames, {clip.fps:.4g} fps, {dur:.2f} s"]
        missing = []
        for g in GROUP_NAMES:
            conf = clip.tokens.group(g).confidence
            tracked = int((conf > 0).sum())
            if tracked == 0:
                missing.append(f"no {GROUP_LABELS[g]}")
            elif tracked < n:
                n_gaps = len(gaps(conf))
                missing.append(f"{GROUP_LABELS[g]} missing in {n_gaps} gap{'s' if n_gaps > 1 else ''}")
        if missing:
            parts.append("; ".join(missing))
        parts += clip.warnings
        return " · ".join(parts)

    def show_frame(self) -> None:
        clip = self.doc.clip
        if clip is None:
            return
        t = self.doc.frame
        frames = self.frames_source()
        if frames is not None and len(frames):
            self.canvas.set_image(frames.frame(t))
            if self.canvas.message == DECODING:
                self.canvas.set_message("")
        elif self.doc.driving_path is None or self.doc.driving_path.suffix.lower() == ".npz":
            self.canvas.set_image(None)
            self.canvas.set_message("Motion from a token file: no video to show")
        else:
            self.canvas.set_image(None)  # never another clip's frame under this clip's landmarks
            self.canvas.set_message(DECODING)
        lm = clip.landmarks
        if len(lm) and frames is not None:
            self.canvas.set_overlay(lm.frame(min(t, len(lm) - 1)), (lm.width, lm.height))
        else:
            self.canvas.set_overlay(None)
