"""FrameCanvas: an RGB frame scaled to fit, landmarks drawn over it, and a message line."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.track.landmarks import BODY_EDGES, HAND_EDGES
from engine.track.types import FrameLandmarks

BACKGROUND = QColor(30, 31, 34)
BODY_COLOUR = QColor(80, 220, 255)
LEFT_HAND_COLOUR = QColor(255, 190, 60)  # the performer's own left
RIGHT_HAND_COLOUR = QColor(255, 100, 200)
FACE_COLOUR = QColor(140, 255, 140, 170)
MIN_CONF = 0.2  # body points the tracker is less sure of than this are not drawn
FACE_STEP = 2  # every second face-mesh point is enough to see the face


def to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage that owns a copy of the pixels (the numpy array may go away)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class FrameCanvas(QWidget):
    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self._image: QImage | None = None
        self._rgb: np.ndarray | None = None
        self._overlay: FrameLandmarks | None = None
        self._overlay_space: tuple[int, int] | None = None
        self._message = placeholder
        self._message_is_error = False
        self.placeholder = placeholder

    # -- state ---------------------------------------------------------------------------------------

    @property
    def rgb(self) -> np.ndarray | None:
        """The frame shown (for tests and screenshots)."""
        return self._rgb

    def set_image(self, rgb: np.ndarray | None) -> None:
        self._rgb = None if rgb is None else np.asarray(rgb)
        self._image = None if rgb is None else to_qimage(rgb)
        self.update()

    def set_overlay(self, landmarks: FrameLandmarks | None, space: tuple[int, int] | None = None) -> None:
        """Landmarks in pixels of a `space` (w, h) that maps onto the whole image (default: their own size)."""
        self._overlay = landmarks
        self._overlay_space = space or ((landmarks.width, landmarks.height) if landmarks is not None else None)
        self.update()

    def set_message(self, text: str, error: bool = False) -> None:
        self._message, self._message_is_error = text, error
        self.update()

    def show_only_message(self, text: str, error: bool = False) -> None:
        """No image, no overlay: just the message (an empty panel, or why it is empty)."""
        self.set_image(None)
        self.set_overlay(None)
        self.set_message(text, error)

    @property
    def message(self) -> str:
        return self._message

    # -- painting ------------------------------------------------------------------------------------

    def image_rect(self) -> QRectF | None:
        if self._image is None:
            return None
        w, h = self._image.width(), self._image.height()
        s = min(self.width() / w, self.height() / h)
        dw, dh = w * s, h * s
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        rect = self.image_rect()
        if rect is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(rect, self._image)
            if self._overlay is not None and self._overlay_space:
                p.setRenderHint(QPainter.RenderHint.Antialiasing)
                self._paint_overlay(p, rect)
        if self._message:
            self._paint_message(p, centred=rect is None)
        p.end()

    def _paint_message(self, p: QPainter, centred: bool) -> None:
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * (1.1 if centred else 1.0))
        p.setFont(f)
        colour = QColor(255, 120, 110) if self._message_is_error else QColor(225, 225, 225)
        if centred:
            p.setPen(colour)
            p.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self._message)
            return
        metrics = p.fontMetrics()
        box = QRectF(0, self.height() - metrics.height() * 1.6, self.width(), metrics.height() * 1.6)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(colour)
        p.drawText(box.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   metrics.elidedText(self._message, Qt.TextElideMode.ElideRight, int(box.width()) - 16))

    def _paint_overlay(self, p: QPainter, rect: QRectF) -> None:
        lm = self._overlay
        sw, sh = self._overlay_space
        sx, sy = rect.width() / sw, rect.height() / sh

        def pt(xy) -> QPointF:
            return QPointF(rect.x() + float(xy[0]) * sx, rect.y() + float(xy[1]) * sy)

        width = max(1.5, min(rect.width(), rect.height()) / 220)
        if lm.has("face"):
            p.setPen(QPen(FACE_COLOUR, max(1.0, width * 0.8)))
            face = lm.face[::FACE_STEP]
            p.drawPoints([pt(v) for v in face if np.isfinite(v[:2]).all()])
        body, conf = lm.body, lm.body_conf
        ok = np.isfinite(body[:, :2]).all(axis=1) & (conf >= MIN_CONF)
        p.setPen(QPen(BODY_COLOUR, width * 1.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        for a, b in BODY_EDGES:
            if ok[a] and ok[b]:
                p.drawLine(pt(body[a]), pt(body[b]))
        p.setPen(QPen(BODY_COLOUR, width * 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawPoints([pt(body[i]) for i in np.flatnonzero(ok)])
        for group, colour in (("left_hand", LEFT_HAND_COLOUR), ("right_hand", RIGHT_HAND_COLOUR)):
            if not lm.has(group):
                continue
            hand = lm.points(group)
            p.setPen(QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            for a, b in HAND_EDGES:
                p.drawLine(pt(hand[a]), pt(hand[b]))
            p.setPen(QPen(colour, width * 2.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawPoints([pt(v) for v in hand])


def found_summary(lm: FrameLandmarks) -> str:
    """"Found: body, face, left hand" in words, for the panels' status line."""
    names = [("body", "body"), ("face", "face"), ("left_hand", "left hand"), ("right_hand", "right hand")]
    found = [label for g, label in names if lm.has(g)]
    if not found:
        return "No person found"
    if "left hand" in found and "right hand" in found:
        found = [f for f in found if not f.endswith("hand")] + ["both hands"]
    text = "Found: " + ", ".join(found)
    if lm.people_found > 1:
        text += f" ({lm.people_found} people: using the largest)"
    return text
