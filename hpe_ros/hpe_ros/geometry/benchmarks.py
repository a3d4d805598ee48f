"""The benchmarks' Euler conventions (AFLW2000-3D, BIWI) and their mapping to our head rotation R_cam←head.

AFLW2000-3D ``Pose_Para[0][:3]`` is (pitch, yaw, roll) in radians. 6DRepNet (``utils.get_R``) turns it into
R = Rz(roll)·Ry(yaw)·Rx(pitch) (scipy extrinsic ``"xyz"``) and scores predictions by decoding their matrices
with ``compute_euler_angles_from_rotation_matrices`` (pitch = atan2(R21, R22), yaw = atan2(−R20,
√(R00² + R10²)), roll = atan2(R10, R00)): the decomposition of scipy's ``as_euler("xyz")``, yaw in ±90°.

That matrix is NOT our R_cam←head. The dataset's fitter (3DDFA, ``RotationMatrix.m``) rotates the 3-D face
model (x: the person's left, y: up, z: out of the face) by the transpose, Rx(−pitch)·Ry(−yaw)·Rz(−roll),
into a view frame with y up and z toward the viewer. Flipping y and z (F = diag(1, −1, −1)) turns that view
frame into the optical camera frame and the model frame into our head frame, so

    R_cam←head = F · Rᵀ · F = Rx(−pitch) · Ry(yaw) · Rz(roll).

Checked on the AFLW2000-3D data (hpe_ros/test/test_geometry.py): de-rotating every image's ``pt3d_68`` by
it gives one frontal face shape, and the hand-clicked ``pt2d`` landmarks agree on the yaw and roll signs.
Meaning: pitch > 0 the chin goes up; yaw > 0 the person turns to THEIR RIGHT (the face points toward image
left); roll > 0 the head tilts toward the person's left shoulder (clockwise in the image).

BIWI angles are (yaw, pitch, roll) in degrees as the field uses them (the Hopenet / FSA-Net BIWI
preprocessing that 6DRepNet loads): 6DRepNet builds the same ``get_R(pitch, yaw, roll)`` from them, so BIWI
shares the AFLW2000 convention with another order and unit. No BIWI data is here to check this against.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.geometry.rotations import as_rotation_stack

_VIEW_FLIP = np.diag([1.0, -1.0, -1.0])


def _split(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return angles[..., 0][()], angles[..., 1][()], angles[..., 2][()]


def aflw2000_to_matrix(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """6DRepNet's matrix R = Rz(roll)·Ry(yaw)·Rx(pitch) from AFLW2000 angles in radians (any equal shapes)."""
    angles = np.stack(np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (pitch, yaw, roll))), -1)
    return Rotation.from_euler("xyz", angles.reshape(-1, 3)).as_matrix().reshape(*angles.shape[:-1], 3, 3)


def matrix_to_aflw2000(R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pitch, yaw, roll) in radians from 6DRepNet's matrix, decomposed as its test script does."""
    R = as_rotation_stack(R)
    with warnings.catch_warnings():  # at yaw = ±90° scipy warns and sets roll to 0: a valid decomposition
        warnings.filterwarnings("ignore", message="Gimbal lock detected")
        angles = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_euler("xyz")
    return _split(angles.reshape(*R.shape[:-2], 3))


def biwi_to_matrix(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """6DRepNet's matrix from BIWI angles (yaw, pitch, roll) in degrees."""
    return aflw2000_to_matrix(np.radians(pitch), np.radians(yaw), np.radians(roll))


def matrix_to_biwi(R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BIWI angles (yaw, pitch, roll) in degrees from 6DRepNet's matrix."""
    pitch, yaw, roll = matrix_to_aflw2000(R)
    return np.degrees(yaw)[()], np.degrees(pitch)[()], np.degrees(roll)[()]


def _flip_transpose(R: np.ndarray) -> np.ndarray:
    """F·Rᵀ·F: maps 6DRepNet's matrix to R_cam←head and back (the map is its own inverse)."""
    return _VIEW_FLIP @ np.swapaxes(as_rotation_stack(R), -1, -2) @ _VIEW_FLIP


def head_rotation_from_aflw2000(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Our R_cam←head from AFLW2000-3D angles (pitch, yaw, roll) in radians."""
    return _flip_transpose(aflw2000_to_matrix(pitch, yaw, roll))


def aflw2000_from_head_rotation(R_cam_head: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AFLW2000-3D angles (pitch, yaw, roll) in radians from our R_cam←head, yaw in [−π/2, π/2]."""
    return matrix_to_aflw2000(_flip_transpose(R_cam_head))


def head_rotation_from_biwi(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Our R_cam←head from BIWI angles (yaw, pitch, roll) in degrees."""
    return _flip_transpose(biwi_to_matrix(yaw, pitch, roll))


def biwi_from_head_rotation(R_cam_head: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BIWI angles (yaw, pitch, roll) in degrees from our R_cam←head."""
    return matrix_to_biwi(_flip_transpose(R_cam_head))
