"""The overlay of ``hpe track``'s annotated video and the node's debug image: boxes, labels, axes, legend.

Axes are the REP-155 face frame: x red (out of the face), y green (the person's left), z blue (toward the
scalp), drawn far to near so the axis pointing at the camera is never hidden. Detected boxes are green; boxes
propagated through a detector miss are orange. Each face's label ``id: y.. p.. r.. c..`` (yaw, pitch, roll
in degrees, AFLW2000-3D convention, and the confidence) sits above its box (below it when the box touches
the top), in a font sized to the face; a legend in the corner with the fewest faces says all this on the
image itself.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.geometry import face_pose_from_head
from hpe_ros.results import FacePose, FrameResult

DETECTED_BGR = (60, 200, 60)
PROPAGATED_BGR = (0, 150, 255)
AXIS_BGR = ((40, 40, 255), (0, 210, 0), (255, 150, 40))
"""Face-frame x, y, z (BGR)."""
AXIS_LENGTH_M = 0.08
FONT = cv2.FONT_HERSHEY_SIMPLEX
LEGEND = (
    ("x: out of the face", AXIS_BGR[0]),
    ("y: the person's left", AXIS_BGR[1]),
    ("z: up (scalp)", AXIS_BGR[2]),
    ("y/p/r: yaw/pitch/roll deg", (255, 255, 255)),
    ("  yaw>0: turned to image-left", (255, 255, 255)),
    ("c: confidence 0..1", (255, 255, 255)),
    ("orange box: propagated", PROPAGATED_BGR),
)


def draw_result(image_rgb: np.ndarray, result: FrameResult, K: np.ndarray, legend: bool = True) -> np.ndarray:
    """A BGR copy of ``image_rgb`` with every face of ``result`` drawn on it (and the legend)."""
    canvas = np.ascontiguousarray(image_rgb[:, :, ::-1])
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    extents = []
    for face in result.faces:
        colour = PROPAGATED_BGR if face.detection_score == 0.0 else DETECTED_BGR
        x0, y0, x1, y1 = (round(v) for v in face.box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness)
        ends = _draw_axes(canvas, face, K, max(thickness, round((x1 - x0) / 60)))
        extents.append((min(y0, *ends[:, 1]), max(y1, *ends[:, 1])) if len(ends) else (y0, y1))
    for face, (top, bottom) in zip(result.faces, extents, strict=True):  # labels last: nothing covers them
        colour = PROPAGATED_BGR if face.detection_score == 0.0 else DETECTED_BGR
        angles = f"y{face.yaw_deg:+.0f} p{face.pitch_deg:+.0f} r{face.roll_deg:+.0f}"
        _draw_label(
            canvas, f"{face.track_id}: {angles} c{face.confidence:.2f}", face.box, top, bottom, colour
        )
    if legend:
        _draw_legend(canvas, [face.box for face in result.faces])
    return canvas


def axis_order(R_cam_face: np.ndarray, t_cam_face: np.ndarray) -> list[int]:
    """The face axes (0 x, 1 y, 2 z) ordered far to near: by the camera depth of their tips, largest first."""
    tips_z = t_cam_face[2] + AXIS_LENGTH_M * np.asarray(R_cam_face)[2, :]
    return [int(i) for i in np.argsort(-tips_z, kind="stable")]


def _draw_axes(canvas: np.ndarray, face: FacePose, K: np.ndarray, thickness: int) -> np.ndarray:
    """Draw the face axes far to near; the pixels of the axis tips (empty when behind the camera)."""
    R_cam_face, t = face_pose_from_head(face.rotation, face.position)
    tips = t[:, None] + AXIS_LENGTH_M * R_cam_face  # column i: the tip of axis i
    if t[2] <= 0 or np.any(tips[2] <= 0):
        return np.empty((0, 2))
    points = np.column_stack([t, tips]).T
    pixels, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), np.asarray(K, dtype=np.float64), None)
    pixels = pixels.reshape(-1, 2)
    origin, *ends = (tuple(map(int, p)) for p in pixels.round())
    for axis in axis_order(R_cam_face, t):
        cv2.line(canvas, origin, ends[axis], AXIS_BGR[axis], thickness, cv2.LINE_AA)
    return pixels[1:]


def _text_block(lines: list[str], scale: float) -> tuple[int, int, int]:
    """Width, line height (baseline included) and padding of ``lines`` at ``scale``."""
    sizes = [cv2.getTextSize(line, FONT, scale, 1) for line in lines]
    width = max(w for (w, _), _ in sizes)
    line_height = max(h + b for (_, h), b in sizes) + 2
    return width, line_height, max(2, round(4 * scale))


def _draw_label(
    canvas: np.ndarray, text: str, box: np.ndarray, top_y: float, bottom_y: float, colour: tuple
) -> None:
    """``text`` on a dark plate centred over ``box``, above ``top_y`` (the box and its axes) or, without room
    there, below ``bottom_y``, kept inside the image; the font grows with the face from 0.4 to 1.0."""
    height, width = canvas.shape[:2]
    x0, _, x1, _ = (float(v) for v in box)
    scale = float(np.clip((x1 - x0) / 260.0, 0.4, 1.0))
    text_width, line_height, pad = _text_block([text], scale)
    plate_w, plate_h = text_width + 2 * pad, line_height + 2 * pad
    top = top_y - plate_h - 2 if top_y - plate_h - 2 >= 0 else min(bottom_y + 2, height - plate_h)
    left = min(max(0.0, (x0 + x1 - plate_w) / 2), max(0.0, width - plate_w))
    top, left = round(max(0.0, top)), round(left)
    _plate(canvas, left, top, plate_w, plate_h)
    thickness = 2 if scale >= 0.8 else 1
    baseline_y = top + pad + line_height - 4
    cv2.putText(canvas, text, (left + pad, baseline_y), FONT, scale, colour, thickness, cv2.LINE_AA)


def _plate(canvas: np.ndarray, left: int, top: int, width: int, height: int) -> None:
    """Darken a rectangle (75 % black) so text on it reads on any background."""
    region = canvas[top : top + height, left : left + width]
    region[:] = (region * 0.25).astype(canvas.dtype)


def legend_corner(size: tuple[int, int], panel: tuple[int, int], boxes: list[np.ndarray]) -> tuple[int, int]:
    """Top-left pixel of a ``panel`` (w, h) in the image corner (of ``size`` w, h) that covers the least face
    area: bottom-left first, then bottom-right, top-left, top-right."""
    (width, height), (panel_w, panel_h) = size, panel
    corners = [(0, height - panel_h), (width - panel_w, height - panel_h), (0, 0), (width - panel_w, 0)]

    def covered(corner: tuple[int, int]) -> float:
        left, top = corner
        area = 0.0
        for x0, y0, x1, y1 in boxes:
            dx = min(x1, left + panel_w) - max(x0, left)
            dy = min(y1, top + panel_h) - max(y0, top)
            area += max(dx, 0.0) * max(dy, 0.0)
        return area

    return min(corners, key=covered)  # min keeps the first of equals


def _draw_legend(canvas: np.ndarray, boxes: list[np.ndarray]) -> None:
    height, width = canvas.shape[:2]
    scale = float(np.clip(min(width, height) / 1400.0, 0.33, 0.7))
    text_width, line_height, pad = _text_block([line for line, _ in LEGEND], scale)
    panel = (min(width, text_width + 2 * pad), min(height, line_height * len(LEGEND) + 2 * pad))
    left, top = legend_corner((width, height), panel, boxes)
    _plate(canvas, left, top, *panel)
    for row, (line, colour) in enumerate(LEGEND):
        origin = (left + pad, top + pad + (row + 1) * line_height - 4)
        cv2.putText(canvas, line, origin, FONT, scale, colour, 1, cv2.LINE_AA)


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
