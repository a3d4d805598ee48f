"""The annotated video of ``hpe track``: face boxes, track ids, angles and the 3-D face axes on every frame.

Axes are the REP-155 face frame drawn with ``cv2.drawFrameAxes`` (x red: out of the face, y green: the
person's left, z blue: toward the scalp). Detected boxes are green; boxes propagated through a detector
miss are orange.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.geometry import face_pose_from_head
from hpe_ros.results import FrameResult

DETECTED_BGR = (60, 200, 60)
PROPAGATED_BGR = (0, 150, 255)
AXIS_LENGTH_M = 0.08


def draw_result(image_rgb: np.ndarray, result: FrameResult, K: np.ndarray) -> np.ndarray:
    """A BGR copy of ``image_rgb`` with every face of ``result`` drawn on it."""
    canvas = np.ascontiguousarray(image_rgb[:, :, ::-1])
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    for face in result.faces:
        x0, y0, x1, y1 = (round(v) for v in face.box)
        colour = PROPAGATED_BGR if face.detection_score == 0.0 else DETECTED_BGR
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness)
        R_cam_face, t = face_pose_from_head(face.rotation, face.position)
        if t[2] > 0:
            rvec, _ = cv2.Rodrigues(R_cam_face)
            cv2.drawFrameAxes(canvas, K, None, rvec, t.reshape(3, 1), AXIS_LENGTH_M, thickness)
        angles = f"y{face.yaw_deg:+.0f} p{face.pitch_deg:+.0f} r{face.roll_deg:+.0f}"
        label = f"{face.track_id}: {angles} c{face.confidence:.2f}"
        scale = float(np.clip((x1 - x0) / 350.0, 0.3, 0.6))
        _draw_label(canvas, label, (x0, y0), scale, colour)
    return canvas


def _draw_label(canvas: np.ndarray, text: str, corner: tuple[int, int], scale: float, colour: tuple) -> None:
    """``text`` on a dark plate just inside the top-left ``corner`` of a box (readable on any background)."""
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = corner
    cv2.rectangle(canvas, (x, y), (x + width + 4, y + height + baseline + 4), (0, 0, 0), cv2.FILLED)
    origin = (x + 2, y + height + 2)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


class AnnotatedVideoWriter:
    """An mp4 (``mp4v``) of annotated frames; the file is playable once :meth:`close` has run."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.size = size
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        if not self.writer.isOpened():
            raise InputError(
                f"cannot write video {self.path} (size {size}, {fps} fps); skip it with --no-video"
            )
        self.frames = 0

    def write(self, image_rgb: np.ndarray, result: FrameResult, K: np.ndarray) -> None:
        """Draw and append one frame; a frame of another size than the video's is resized after drawing."""
        canvas = draw_result(image_rgb, result, K)
        if canvas.shape[1::-1] != self.size:
            canvas = cv2.resize(canvas, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(canvas)
        self.frames += 1

    def close(self) -> None:
        """Finish the file."""
        self.writer.release()
