"""Coordinate frames: the optical camera frame, the network's head frame and the REP-155 face/gaze frames.

- Camera: ROS optical frame = OpenCV: x right, y down, z forward (into the scene).
- Head (the network's frame): a head looking straight into the camera has R_cam←head = I, so its axes are the
  camera's for a frontal face: x toward image right (the person's left), y toward the chin, z into the head.
- REP-155 ``face_<id>`` (ros-infrastructure/rep, rep-0155.rst, "Face and Gaze Frames"): origin at the sellion
  (the deepest midline point between nose and forehead, approximately the midpoint between the eyes),
  "x axis ... forward (ie, out of the face), the z axis ... toward the scalp"; with REP-103's right-handed
  axes y points to the person's left.
- REP-155 ``gaze_<id>``: "collocated with the face_<id> frame, and with its z axis aligned with the estimated
  gaze vector, x right, and y down ('optical frame' convention)"; without eye tracking "the gaze_<id>'s z axis
  will be colinear with the face_<id>'s x axis". So x_gaze = the person's right = −y_face, y_gaze = −z_face.

The head and face frames share their origin: the face pose is the head pose with the axes permuted.
"""

from __future__ import annotations

import numpy as np

from hpe_ros.geometry.rotations import as_rotation_stack, rotation_onto_ray

# Columns: the face axes (out of the face, person's left, toward the scalp) in head coordinates.
R_HEAD_FROM_FACE = np.array(
    [
        [0.0, 1.0, 0.0],
        [0.0, 0.0, -1.0],
        [-1.0, 0.0, 0.0],
    ]
)
R_HEAD_FROM_FACE.setflags(write=False)

HEAD_CENTRE_M = np.array([0.0, 0.02, 0.09])
"""The skull's centre in head coordinates (m): 9 cm behind the sellion, 2 cm below it (the synthetic heads'
value). A camera sees a head's pose along the ray to this point."""
HEAD_CENTRE_M.setflags(write=False)

# Columns: the gaze axes (person's right, down, along the gaze) in face coordinates.
R_FACE_FROM_GAZE = np.array(
    [
        [0.0, 0.0, 1.0],
        [-1.0, 0.0, 0.0],
        [0.0, -1.0, 0.0],
    ]
)
R_FACE_FROM_GAZE.setflags(write=False)


def face_pose_from_head(R_cam_head: np.ndarray, t_cam_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The REP-155 ``face_<id>`` pose T_cam←face from the network's head pose T_cam←head (same origin)."""
    R_cam_face = as_rotation_stack(R_cam_head) @ R_HEAD_FROM_FACE
    return R_cam_face, np.array(t_cam_head, dtype=np.float64)


def gaze_pose_in_face() -> tuple[np.ndarray, np.ndarray]:
    """The REP-155 ``gaze_<id>`` pose in its ``face_<id>`` parent (head orientation only, no eye tracking)."""
    return R_FACE_FROM_GAZE.copy(), np.zeros(3)


def head_view_rotation(face_position: np.ndarray, R_cam_head: np.ndarray) -> np.ndarray:
    """R_cam←view: the camera turned (by the smallest rotation) to look at the skull's centre of a head whose
    head-frame origin is at ``face_position`` (m, camera frame) and whose rotation is ``R_cam_head``.

    A head off the optical axis looks turned by the angle of its ray: a head facing the camera from the
    image's edge looks frontal. An estimator that sees only the face crop (the face-mesh landmarks do not
    know where the crop was cut) thus gives R_view←head, and R_cam←head = R_cam←view · R_view←head; the
    face-mesh training labels are turned the same way (``hpe_ros.train.augment.view_camera_labels``).
    """
    centre = np.asarray(face_position, np.float64) + np.asarray(R_cam_head, np.float64) @ HEAD_CENTRE_M
    return rotation_onto_ray(centre)
