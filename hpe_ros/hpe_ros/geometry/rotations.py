"""Rotation encodings (quaternion XYZW) and relative pose composition (the 6-D Gram–Schmidt encoding lives
with the network that uses it: :mod:`hpe_ros.model.pose_encoding`).

Every function takes one item or a stack with leading batch dimensions (``(..., 3, 3)``, ``(..., 4)``, ...).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError


def as_rotation_stack(R: np.ndarray) -> np.ndarray:
    """``R`` as a float64 array of shape ``(..., 3, 3)``; InputError otherwise."""
    R = np.asarray(R, dtype=np.float64)
    if R.ndim < 2 or R.shape[-2:] != (3, 3):
        raise InputError(f"expected rotation matrices of shape (..., 3, 3), got {R.shape}")
    return R


def _as_vectors(x: np.ndarray, size: int, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] != size:
        raise InputError(f"expected {what} of shape (..., {size}), got {x.shape}")
    return x


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices from quaternions ``(..., 4)`` in XYZW order.

    ``q`` need not be unit length: as VGGT's ``quat_to_mat`` (which divides by |q|²) the result equals that of
    ``q / |q|``. A zero quaternion raises InputError.
    """
    q = _as_vectors(q, 4, "XYZW quaternions")
    flat = q.reshape(-1, 4)
    if np.any(np.linalg.norm(flat, axis=1) < 1e-12):
        raise InputError("a zero quaternion has no rotation")
    return Rotation.from_quat(flat).as_matrix().reshape(*q.shape[:-1], 3, 3)


def matrix_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)`` in XYZW order, canonical sign (w >= 0)."""
    R = as_rotation_stack(R)
    q = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()
    q *= np.where(q[:, 3:] < 0.0, -1.0, 1.0)
    return q.reshape(*R.shape[:-2], 4)


def compose_relative(
    R_rel: np.ndarray, t_rel: np.ndarray, R_a: np.ndarray, t_a: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Query pose from a relative transform and the anchor pose (VGGT: T_rel = E_q · E_a⁻¹).

    Poses are extrinsics E = head→camera (R_cam←head, t_cam←head). Returns ``R_q = R_rel·R_a`` and
    ``t_q = R_rel·t_a + t_rel``.
    """
    R_rel, R_a = as_rotation_stack(R_rel), as_rotation_stack(R_a)
    t_rel, t_a = _as_vectors(t_rel, 3, "translations"), _as_vectors(t_a, 3, "translations")
    R_q = R_rel @ R_a
    t_q = (R_rel @ t_a[..., None])[..., 0] + t_rel
    return R_q, t_q


def relative_transform(
    R_a: np.ndarray, t_a: np.ndarray, R_q: np.ndarray, t_q: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The relative transform T_rel = E_q · E_a⁻¹ (inverse of :func:`compose_relative`).

    Returns ``R_rel = R_q·R_aᵀ`` and ``t_rel = t_q − R_rel·t_a``.
    """
    R_a, R_q = as_rotation_stack(R_a), as_rotation_stack(R_q)
    t_a, t_q = _as_vectors(t_a, 3, "translations"), _as_vectors(t_q, 3, "translations")
    R_rel = R_q @ np.swapaxes(R_a, -1, -2)
    t_rel = t_q - (R_rel @ t_a[..., None])[..., 0]
    return R_rel, t_rel


def rotation_onto_ray(ray: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking the optical axis (0, 0, 1) onto the direction of ``ray`` (3,):
    the camera turned to look along it, without rolling."""
    direction = _as_vectors(ray, 3, "a ray")
    norm = float(np.linalg.norm(direction))
    if direction.ndim != 1 or not np.isfinite(norm) or norm == 0.0:
        raise InputError(f"a ray needs a finite non-zero direction, got {direction.tolist()}")
    direction = direction / norm
    axis = np.cross([0.0, 0.0, 1.0], direction)
    sine = float(np.linalg.norm(axis))
    if sine < 1e-12:
        if direction[2] > 0:
            return np.eye(3)
        return Rotation.from_rotvec([np.pi, 0.0, 0.0]).as_matrix()
    return Rotation.from_rotvec(axis / sine * np.arctan2(sine, direction[2])).as_matrix()
