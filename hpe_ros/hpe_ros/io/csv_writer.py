"""One CSV row per face per frame, flushed every frame so that a crash keeps what was written."""

from __future__ import annotations

import csv
from pathlib import Path

from hpe_ros.geometry import matrix_to_quat_xyzw
from hpe_ros.results import FrameResult

COLUMNS = (
    "frame",
    "stamp_ns",
    "track_id",
    "box_x0",
    "box_y0",
    "box_x1",
    "box_y1",
    "detection_score",
    "x_m",
    "y_m",
    "z_m",
    "qx",
    "qy",
    "qz",
    "qw",
    "yaw_deg",
    "pitch_deg",
    "roll_deg",
    "confidence",
    "spread_deg",
    "anchor_id",
    "anchor_stamp_ns",
    "num_anchors",
    "position_from_depth",
)
"""Pose = T_cam←head in the camera optical frame: position (m) and quaternion (x, y, z, w) of R_cam←head."""


class PoseCsvWriter:
    """Writes :data:`COLUMNS` for every face of every frame to ``path``."""

    def __init__(self, path: Path) -> None:
        self.file = Path(path).open("w", newline="", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self.writer = csv.writer(self.file)
        self.writer.writerow(COLUMNS)
        self.rows = 0

    def write(self, frame_index: int, result: FrameResult) -> None:
        """Append the faces of one frame."""
        for face in result.faces:
            quaternion = matrix_to_quat_xyzw(face.rotation)
            self.writer.writerow(
                [
                    frame_index,
                    result.stamp_ns,
                    face.track_id,
                    *(f"{v:.2f}" for v in face.box),
                    f"{face.detection_score:.3f}",
                    *(f"{v:.4f}" for v in face.position),
                    *(f"{v:.6f}" for v in quaternion),
                    f"{face.yaw_deg:.2f}",
                    f"{face.pitch_deg:.2f}",
                    f"{face.roll_deg:.2f}",
                    f"{face.confidence:.3f}",
                    f"{face.spread_deg:.2f}",
                    face.anchor_id,
                    face.anchor_stamp_ns,
                    face.num_anchors,
                    int(face.position_from_depth),
                ]
            )
            self.rows += 1
        self.file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        self.file.close()
