"""The reference photo: drop or open it; it is shown with the skeleton, face and hands found on it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QWidget

from engine.project.document import Project
from studio.canvas import found_summary
from studio.panels import MediaPanel

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"


class ReferencePanel(MediaPanel):
    def __init__(self, doc: Project, parent: QWidget | None = None) -> None:
        super().__init__("Reference photo", "Drop a photo of a person here", IMAGE_FILTER, parent)
        self.doc = doc
        doc.reference_changed.connect(self._on_reference)
        self.set_status("A photo of one person: the whole body, half body or a portrait.")

    def _on_reference(self) -> None:
        ref = self.doc.reference
        if ref is None:
            if self.doc.reference_path is None:
                self.canvas.set_image(None)
                self.canvas.set_overlay(None)
                self.set_status("A photo of one person: the whole body, half body or a portrait.")
            return
        self.canvas.set_image(ref.rgb)
        self.canvas.set_overlay(ref.landmarks, ref.size)
        self.canvas.set_message("")
        name = self.doc.reference_path.name if self.doc.reference_path else ref.name
        self.set_status(f"{name} ({ref.size[0]}×{ref.size[1]}): {found_summary(ref.landmarks)}")

    def set_busy(self, path: Path) -> None:
        self.set_status(f"Looking for the person in {path.name}…")

    def show_failure(self, message: str, rgb: np.ndarray | None = None) -> None:
        """A photo that could not be used: say why, in one line. A photo already in use stays on display (the
        result still uses it) and the line says so; with none in use, the rejected photo is shown with the reason."""
        if self.doc.reference is not None:
            # the panel shows what the result uses: the photo in use stays, the rejected one is only named
            self._on_reference()
            name = self.doc.reference_path.name if self.doc.reference_path else self.doc.reference.name
            message = f"{message}. Keeping {name}."
        elif rgb is not None:
            self.canvas.set_image(rgb)
            self.canvas.set_overlay(None)
            self.canvas.set_message(message, error=True)
        else:
            self.canvas.show_only_message(message, error=True)
        self.set_status(message, error=True)
