"""Export a project to MP4: an immutable request captured from the document, then the one export job.

The studio captures an `ExportRequest` on the GUI thread (snapshot in), runs `export_video` on a worker, and
gets an `ExportResult` back (result out). The pipeline itself (engine.render.export) is the one the CLI's
`render` runs too. The renderer is passed in so the caller decides which one (and gives the export its own
instance: renderers cache per-photo analysis and are not shared across threads).
"""
from __future__ import annotations

from pathlib import Path

from engine.errors import UserFacingError
from engine.render.export import ExportRequest, audio_in_point, export_video

__all__ = ["ExportRequest", "export_video", "request_from_project"]


def request_from_project(project, out_path: str | Path, *, start: int | None = None, stop: int | None = None,
                         long_side: int | None | str = "settings", side_by_side: bool | None = None,
                         audio: bool | None = None) -> ExportRequest:
    """Snapshot the document for export; unspecified options come from its render settings and in/out."""
    if project.reference is None:
        raise UserFacingError("Nothing to export: open a reference photo first")
    if project.clip is None:
        raise UserFacingError("Nothing to export: open a driving video first")
    rs = project.render_settings
    a, b = project.in_out
    start = a if start is None else int(start)
    stop = b if stop is None else int(stop)
    sbs = rs.side_by_side if side_by_side is None else bool(side_by_side)
    want_audio = rs.audio if audio is None else bool(audio)
    return ExportRequest(
        reference=project.reference, tokens=project.edited_tokens(), out_path=Path(out_path), fps=project.fps,
        start=start, stop=stop, audio_start_s=audio_in_point(project.clip.times, start),
        long_side=rs.long_side if long_side == "settings" else long_side, side_by_side=sbs,
        driving_path=project.driving_path, framing=rs.framing,
        audio=want_audio and project.driving_path is not None and Path(project.driving_path).exists())
