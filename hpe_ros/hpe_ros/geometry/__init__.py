"""Geometry conventions of hpe_ros: frames, rotation encodings, benchmark Euler angles, errors, averaging.

One place owns every convention; see the submodules' docstrings for the definitions and their sources.
"""

from hpe_ros.geometry.averaging import average_rotations
from hpe_ros.geometry.benchmarks import (
    aflw2000_from_head_rotation,
    aflw2000_to_matrix,
    biwi_from_head_rotation,
    biwi_to_matrix,
    head_rotation_from_aflw2000,
    head_rotation_from_biwi,
    matrix_to_aflw2000,
    matrix_to_biwi,
)
from hpe_ros.geometry.frames import R_FACE_FROM_GAZE, R_HEAD_FROM_FACE, face_pose_from_head, gaze_pose_in_face
from hpe_ros.geometry.metrics import geodesic_deg, profile_fraction, wrapped_angle_errors_deg
from hpe_ros.geometry.rotations import (
    compose_relative,
    matrix_to_quat_xyzw,
    quat_xyzw_to_matrix,
    relative_transform,
)

__all__ = [
    "R_FACE_FROM_GAZE",
    "R_HEAD_FROM_FACE",
    "aflw2000_from_head_rotation",
    "aflw2000_to_matrix",
    "average_rotations",
    "biwi_from_head_rotation",
    "biwi_to_matrix",
    "compose_relative",
    "face_pose_from_head",
    "gaze_pose_in_face",
    "geodesic_deg",
    "head_rotation_from_aflw2000",
    "head_rotation_from_biwi",
    "matrix_to_aflw2000",
    "matrix_to_biwi",
    "matrix_to_quat_xyzw",
    "profile_fraction",
    "quat_xyzw_to_matrix",
    "relative_transform",
    "wrapped_angle_errors_deg",
]
