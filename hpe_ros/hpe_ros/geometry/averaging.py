"""Robust averaging of several rotation estimates of one head (e.g. one per anchor)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.geometry.rotations import as_rotation_stack

_WEISZFELD_ITERATIONS = 20
_WEISZFELD_TOLERANCE_RAD = 1e-9
_ZERO_DISTANCE_RAD = 1e-12


def average_rotations(Rs: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Weighted geodesic median of rotations ``(N, 3, 3)`` and their spread in degrees.

    Starts from scipy's chordal (quaternion) weighted mean, then runs Weiszfeld iterations in the tangent
    space (Hartley et al., "L1 rotation averaging using the Weiszfeld algorithm", CVPR 2011), so that a single
    outlier does not drag the result as it drags a mean. The spread is the weighted RMS geodesic distance of
    the inputs to the returned rotation. ``weights`` (N,): non-negative, positive sum (default: equal).
    """
    Rs = as_rotation_stack(Rs)
    if Rs.ndim != 3 or len(Rs) == 0:
        raise InputError(f"expected a non-empty stack of rotations (N, 3, 3), got {Rs.shape}")
    w = np.ones(len(Rs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(Rs),) or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise InputError(f"weights must be {len(Rs)} non-negative numbers with a positive sum")
    w = w / w.sum()
    rotations = Rotation.from_matrix(Rs)
    mean = rotations.mean(weights=w)
    for _ in range(_WEISZFELD_ITERATIONS):
        residuals = (mean.inv() * rotations).as_rotvec()
        distances = np.linalg.norm(residuals, axis=1)
        away = distances > _ZERO_DISTANCE_RAD
        if not away.any():
            break
        inverse_distance = w[away] / distances[away]
        step = (inverse_distance[:, None] * residuals[away]).sum(0) / inverse_distance.sum()
        mean = mean * Rotation.from_rotvec(step)
        if np.linalg.norm(step) < _WEISZFELD_TOLERANCE_RAD:
            break
    distances = np.linalg.norm((mean.inv() * rotations).as_rotvec(), axis=1)
    spread_deg = float(np.degrees(np.sqrt(np.sum(w * distances**2))))
    return mean.as_matrix(), spread_deg
