"""MediaPipe Holistic (model_complexity=1, the model bundled in mediapipe 0.10.14) to FrameLandmarks.

Also a face detector (full-range, bundled) used only to count people: Holistic itself tracks one person.
"""
from __future__ import annotations

import numpy as np

from engine.track.config import TrackerConfig
from engine.track.landmarks import L_WRIST, N_BODY, N_FACE, N_HAND, R_WRIST
from engine.track.types import FrameLandmarks


def _to_array(landmark_list, n: int, w: float, h: float, ox: float = 0.0, oy: float = 0.0):
    """Proto landmarks (normalised to the tracked image) to (n, 3) source px and (n,) confidence."""
    lm = landmark_list.landmark
    arr = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float32).reshape(-1, 3)[:n]
    arr[:, 0] = arr[:, 0] * w + ox
    arr[:, 1] = arr[:, 1] * h + oy
    arr[:, 2] = arr[:, 2] * w
    return arr


class HolisticTracker:
    """One Holistic graph. Video mode keeps temporal tracking between calls; one instance per clip."""

    def __init__(self, config: TrackerConfig, video_mode: bool = True, segmentation: bool = False) -> None:
        """`segmentation`: also return the person mask (still photos; the instant renderer's matte uses it)."""
        from engine.runtime import native_stderr_silenced

        with native_stderr_silenced():
            import mediapipe as mp

            self._holistic = mp.solutions.holistic.Holistic(
                static_image_mode=not video_mode,
                model_complexity=1,
                smooth_landmarks=video_mode,
                enable_segmentation=segmentation,
                refine_face_landmarks=True,
                min_detection_confidence=config.min_detection_confidence,
                min_tracking_confidence=config.min_tracking_confidence,
            )
        self._faces = None
        self._warm = False  # the first frames log native warnings while the graph spins up

    def close(self) -> None:
        self._holistic.close()
        if self._faces is not None:
            self._faces.close()

    def __enter__(self) -> "HolisticTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def process(self, rgb: np.ndarray, out_w: int, out_h: int, crop: tuple[int, int, int, int] | None = None
                ) -> FrameLandmarks:
        """Track one RGB frame (already downscaled); return landmarks in the source size (out_w, out_h).

        `crop` = (x0, y0, x1, y1) in the tracked image: track only inside it (used to follow the largest
        of several people), coordinates are mapped back to the whole frame.
        """
        th, tw = rgb.shape[:2]
        sx, sy = out_w / tw, out_h / th
        ox = oy = 0.0
        img = rgb
        if crop is not None:
            x0, y0, x1, y1 = crop
            img = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            ox, oy = x0 * sx, y0 * sy
        ih, iw = img.shape[:2]
        if self._warm:
            res = self._holistic.process(img)
        else:
            from engine.runtime import native_stderr_silenced

            with native_stderr_silenced():
                res = self._holistic.process(img)
            self._warm = True
        fl = FrameLandmarks(width=out_w, height=out_h)
        W, H = iw * sx, ih * sy
        if res.pose_landmarks is not None:
            fl.body = _to_array(res.pose_landmarks, N_BODY, W, H, ox, oy)
            fl.body_conf = np.array([p.visibility for p in res.pose_landmarks.landmark], np.float32)[:N_BODY]
            if res.pose_world_landmarks is not None:
                fl.body_world = np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark],
                                         np.float32)[:N_BODY]
            fl.people_found = 1
        if res.face_landmarks is not None and len(res.face_landmarks.landmark) >= N_FACE:
            fl.face = _to_array(res.face_landmarks, N_FACE, W, H, ox, oy)
            fl.face_conf = np.ones(N_FACE, np.float32)  # face mesh gives presence, not per-point scores
            fl.people_found = 1
        hands = [h for h in (res.left_hand_landmarks, res.right_hand_landmarks) if h is not None]
        arrays = [_to_array(h, N_HAND, W, H, ox, oy) for h in hands]
        names = _assign_hands(arrays, fl, ["left_hand", "right_hand"][: len(arrays)]
                              if len(arrays) == 2 else
                              (["left_hand"] if res.left_hand_landmarks is not None else ["right_hand"]))
        for arr, name in zip(arrays, names):
            setattr(fl, name, arr)
            setattr(fl, f"{name}_conf", np.ones(N_HAND, np.float32))
        mask = getattr(res, "segmentation_mask", None)
        if mask is not None and crop is None:  # a crop's mask covers the crop only: not kept
            fl.segmentation = np.asarray(mask, np.float32)
        return fl

    def count_people(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes (x0, y0, x1, y1) in the given image's px, largest first."""
        import mediapipe as mp

        from engine.runtime import native_stderr_silenced

        h, w = rgb.shape[:2]
        if self._faces is None:
            with native_stderr_silenced():
                self._faces = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                                       min_detection_confidence=0.6)
                res = self._faces.process(rgb)
        else:
            res = self._faces.process(rgb)
        boxes = []
        for d in res.detections or []:
            b = d.location_data.relative_bounding_box
            boxes.append((int(b.xmin * w), int(b.ymin * h), int((b.xmin + b.width) * w),
                          int((b.ymin + b.height) * h)))
        boxes.sort(key=lambda bx: -(bx[2] - bx[0]) * (bx[3] - bx[1]))
        return boxes


def _assign_hands(arrays: list[np.ndarray], fl: FrameLandmarks, default: list[str]) -> list[str]:
    """Name hands by which body wrist they sit on, so hands and body agree on the performer's left/right.

    Holistic already names hands from the performer's side; the body wrists are the tie-breaker when a
    hand is found alone or the two labels disagree with the arms (hands crossing, mirrored footage).
    """
    if not arrays or not fl.has("body"):
        return default
    wl, wr = fl.body[L_WRIST, :2], fl.body[R_WRIST, :2]
    if len(arrays) == 1:
        d_l = np.linalg.norm(arrays[0][0, :2] - wl)
        d_r = np.linalg.norm(arrays[0][0, :2] - wr)
        return ["left_hand" if d_l <= d_r else "right_hand"]
    a, b = arrays[0][0, :2], arrays[1][0, :2]
    keep = np.linalg.norm(a - wl) + np.linalg.norm(b - wr)
    swap = np.linalg.norm(a - wr) + np.linalg.norm(b - wl)
    return ["left_hand", "right_hand"] if keep <= swap else ["right_hand", "left_hand"]
