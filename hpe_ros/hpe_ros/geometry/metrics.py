"""Pose errors: the field's wrapped per-angle error and the geodesic rotation error."""

from __future__ import annotations

import numpy as np

from hpe_ros.geometry.rotations import as_rotation_stack


def wrapped_angle_errors_deg(pred_deg: np.ndarray, gt_deg: np.ndarray) -> np.ndarray:
    """Per-angle absolute error in degrees as scored by 6DRepNet ``test.py`` (elementwise).

    The error is the smallest of |p − g|, |p + 360 − g|, |p − 360 − g|, |p + 180 − g| and |p − 180 − g|,
    so it is wrapped by ±360 AND by ±180 (a prediction 180° off scores 0: a quirk of the field's metric that
    :func:`geodesic_deg` does not have).
    """
    p = np.asarray(pred_deg, dtype=np.float64)
    g = np.asarray(gt_deg, dtype=np.float64)
    shifts = np.array([0.0, 360.0, -360.0, 180.0, -180.0]).reshape((5,) + (1,) * np.broadcast(p, g).ndim)
    return np.min(np.abs(p + shifts - g), axis=0)


def geodesic_deg(R_pred: np.ndarray, R_gt: np.ndarray) -> np.ndarray:
    """Geodesic angle between rotations, acos((tr(R_p·R_gᵀ) − 1)/2) in degrees (cosine clipped to [−1, 1])."""
    R_pred, R_gt = as_rotation_stack(R_pred), as_rotation_stack(R_gt)
    trace = np.sum(R_pred * R_gt, axis=(-2, -1))
    return np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))


def profile_fraction(R: np.ndarray) -> float:
    """sin² of a head rotation's angle to frontal, capped at 90°: 0 facing the camera, 1 in profile and
    beyond (how far a pose estimate is from where face landmarks are reliable)."""
    angle = min(float(np.radians(geodesic_deg(R, np.eye(3)))), np.pi / 2)
    return float(np.sin(angle) ** 2)
