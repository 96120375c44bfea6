"""Warnings about motion that cannot apply to the photo, recomputed whenever the photo or the clip changes (so a
warning goes away as soon as it stops being true)."""
from __future__ import annotations

from engine.project.document import Project


def motion_warnings(doc: Project) -> list[str]:
    ref, clip = doc.reference, doc.clip
    if ref is None or clip is None:
        return []
    out = []
    face_moves = bool((clip.tokens.face.confidence > 0).any()) or any(g == "face" for g, _ in doc.edits.keys())
    if face_moves and not ref.landmarks.has("face"):
        out.append("No face found in the photo: the clip's face motion (head turns, expressions) cannot apply. "
                   "Use a photo where the face is visible.")
    return out
