"""What the tracker produces, as plain data: the pose of one face and everything about one frame.

The writers (CSV, bag, video), the message builders and the node read these types; none of them needs the
pipeline itself (:mod:`hpe_ros.tracker`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FacePose:
    """The estimate for one tracked face in one frame (all poses in the image's optical frame)."""

    track_id: int
    stamp_ns: int
    """The frame's stamp."""
    box: np.ndarray
    """x0, y0, x1, y1 pixels."""
    detection_score: float
    """0 when the box was propagated through a detector miss."""
    rotation: np.ndarray
    """R_cam←head (filtered); identity = looking straight into the camera."""
    position: np.ndarray
    """t_cam←head in metres (filtered)."""
    covariance: np.ndarray
    """6x6 over (x, y, z, rotation about x, y, z), m² and rad²."""
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    """AFLW2000 convention (:func:`hpe_ros.geometry.aflw2000_from_head_rotation`)."""
    confidence: float
    spread_deg: float
    """RMS angle between the per-anchor estimates that were fused."""
    anchor_id: int
    """The anchor closest to the fused estimate (ids start at 1); 0 while bootstrapping."""
    anchor_stamp_ns: int
    num_anchors: int
    """Anchors fused; 0 while bootstrapping from absolute estimates."""
    position_from_depth: bool
    reference_rotation: np.ndarray | None = None
    """R_cam←reference: the head rotation recorded when this face was calibrated (:mod:`hpe_ros.reference`);
    None until then."""


@dataclass
class FrameResult:
    """Everything the tracker produced for one frame."""

    stamp_ns: int
    faces: list[FacePose]
    primary_index: int
    """Index in ``faces`` of the largest face, -1 when there is none."""
    num_detections: int
    timings_ms: dict[str, float]
    reset: bool
    """True when this frame's stamp reset every track (time jump)."""
    dropped: int
    """Faces without an estimate this frame (the engine returned non-finite values)."""
