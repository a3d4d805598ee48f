"""In-plane rotation, exactly: image-plane edits, the head rotations they imply, and upright inference.

CLERF's pose-preserving transforms. In the optical frame (x right, y down, z forward) turning the image by θ
about the principal point, clockwise as displayed, is the camera turning about its z axis: a head pose
R_cam←head becomes Rz(θ)·R. Mirroring the image left-right (u → W − 1 − u) conjugates the pose by
M = diag(−1, 1, 1) (a mirrored head's lateral axis is flipped too: AFLW2000 pitch kept, yaw and roll
negated). Both are exact for the weak-perspective camera of the AFLW2000 fits and of the face-mesh engine,
which aligns landmark clouds in the crop's pixel axes; about a point off the principal axis a real pinhole
adds the face's small off-axis angle.

Upright inference uses this at test time. The face-landmark network was trained on upright faces (MediaPipe
turns its crops by the eye line first), so a face rolled by θ is cut out with the crop turned by θ (the face
comes out upright), the engine estimates R_up in the turned crop's axes, and the pose is composed back:
R = Rz(θ)·R_up. The angle comes from the detector's eye keypoints at first sight, or from a previous estimate
(the tracked pose, :func:`head_up_angle_deg`, or a first pass of the engine, :func:`in_plane_angle_deg`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError

MIRROR_X = np.diag([-1.0, 1.0, 1.0])
RIGHT_EYE, LEFT_EYE = 0, 1  # BlazeFace keypoint order (the subject's right and left eye)
MIRRORED_KEYPOINTS = [1, 0, 2, 3, 5, 4]  # BlazeFace's six keypoints with the subject's sides swapped


def angle_difference_deg(a: float, b: float) -> float:
    """a − b in degrees, wrapped to [−180, 180)."""
    return (a - b + 180.0) % 360.0 - 180.0


def camera_roll(angle_deg: float) -> np.ndarray:
    """Rz(θ): the camera-frame rotation of an image turned by θ degrees, clockwise as displayed."""
    return Rotation.from_euler("z", angle_deg, degrees=True).as_matrix()


def camera_roll_yaw_pitch_deg(R_cam_head: np.ndarray) -> np.ndarray:
    """(θ, yaw, pitch) in degrees with R = Rz(θ)·Ry(yaw)·Rx(pitch): the camera roll outermost (scipy's
    intrinsic ``"ZYX"``), so yaw and pitch do not change when the image turns in its plane."""
    with warnings.catch_warnings():  # at yaw = ±90° scipy warns and splits the angle: any split is valid
        warnings.filterwarnings("ignore", message="Gimbal lock detected")
        return Rotation.from_matrix(np.asarray(R_cam_head, dtype=np.float64)).as_euler("ZYX", degrees=True)


def in_plane_angle_deg(R_cam_head: np.ndarray) -> float:
    """The in-plane angle θ (degrees, clockwise as displayed) of a head pose: R = Rz(θ)·Ry(yaw)·Rx(pitch).

    A head only turned away or nodding has θ = 0 however far it turns, and Rz(−θ)·R is the pose an upright
    crop sees.
    """
    return float(camera_roll_yaw_pitch_deg(R_cam_head)[0])


def head_up_angle_deg(R_cam_head: np.ndarray) -> float:
    """The in-plane angle (degrees, clockwise as displayed) of the head's up axis as the image shows it: the
    turn that makes the face upright in a crop, which the tracker cuts the next frame at.

    It equals :func:`in_plane_angle_deg` for a head that does not nod, at any yaw, and unlike that roll it
    stays well defined toward profile: with yaw the middle angle, a decomposition's roll swings by
    1 / cos(yaw) times an estimate's error (at 85° of yaw, 2° of noise can move it by tens of degrees), and
    the tracker fed such swings back into its crops. Undefined only when the head's up axis points along the
    optical axis.
    """
    R = np.asarray(R_cam_head, dtype=np.float64)
    return float(np.degrees(np.arctan2(-R[0, 1], R[1, 1])))


def eye_line_angle_deg(keypoints: np.ndarray) -> float:
    """The in-plane angle (degrees, clockwise as displayed) of the line from the subject's right eye to the
    left eye, from detector keypoints in BlazeFace order ((K ≥ 2, 2) pixels); 0 for an upright face."""
    points = np.asarray(keypoints, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 2 or points.shape[1] != 2 or not np.isfinite(points[:2]).all():
        raise InputError(f"expected keypoints (K >= 2, 2) with both eyes first, got shape {points.shape}")
    dx, dy = points[LEFT_EYE] - points[RIGHT_EYE]
    return float(np.degrees(np.arctan2(dy, dx)))


def from_upright(R_upright: np.ndarray, angle_deg: float) -> np.ndarray:
    """The pose R_cam←head from one estimated in a crop turned by ``angle_deg``: Rz(θ)·R_up."""
    return camera_roll(angle_deg) @ np.asarray(R_upright, dtype=np.float64)


def relative_from_upright(
    R_rel: np.ndarray, t_rel: np.ndarray, anchor_angle_deg: float, query_angle_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """T_q←a from one estimated between crops turned by the anchor's and the query's angles.

    With R_a' = Rz(−θa)·R_a and R_q' = Rz(−θq)·R_q (and likewise translations), R_rel' = R_q'·R_a'ᵀ gives
    R_rel = Rz(θq)·R_rel'·Rz(−θa) and t_rel = Rz(θq)·t_rel'.
    """
    turn_query = camera_roll(query_angle_deg)
    R = turn_query @ np.asarray(R_rel, dtype=np.float64) @ camera_roll(anchor_angle_deg).T
    return R, turn_query @ np.asarray(t_rel, dtype=np.float64)


@dataclass(frozen=True)
class PoseTransform:
    """A pose-preserving image transform and the exact rotation it applies to the head.

    ``angle_deg`` is an in-plane rotation about a centre, positive clockwise as displayed (the sense of a
    positive rotation about the camera z axis); ``mirror`` flips the image left-right first.
    """

    name: str
    mirror: bool = False
    angle_deg: float = 0.0

    def pixel_map(self, width: int, center: tuple[float, float]) -> np.ndarray:
        """The 2x3 affine map from source pixel (u, v) to transformed pixel (pixel centres at integers)."""
        flip = (
            np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            if self.mirror
            else np.eye(3)
        )
        cx, cy = (flip @ [center[0], center[1], 1.0])[:2]
        # OpenCV's positive angle turns the image counter-clockwise as displayed, hence −θ.
        turn = np.vstack(
            [cv2.getRotationMatrix2D((float(cx), float(cy)), -self.angle_deg, 1.0), [0.0, 0.0, 1.0]]
        )
        return (turn @ flip)[:2]

    def apply_image(self, image: np.ndarray, center: tuple[float, float]) -> np.ndarray:
        """The transformed image, same size (areas turned in from outside the image are black)."""
        height, width = image.shape[:2]
        if self.angle_deg == 0.0:
            return np.ascontiguousarray(image[:, ::-1]) if self.mirror else image
        return cv2.warpAffine(
            image, self.pixel_map(width, center), (width, height), flags=cv2.INTER_LINEAR, borderValue=0
        )

    def apply_points(self, points: np.ndarray, width: int, center: tuple[float, float]) -> np.ndarray:
        """Source pixel positions (2, N) mapped into the transformed image."""
        return self.pixel_map(width, center) @ np.vstack([points, np.ones(points.shape[1])])

    def apply_keypoints(self, keypoints: np.ndarray, width: int, center: tuple[float, float]) -> np.ndarray:
        """BlazeFace keypoints (2, 6) mapped into the transformed image; a mirror swaps the subject's sides
        (the mirrored person's right eye is the image of the left one)."""
        moved = self.apply_points(keypoints, width, center)
        return moved[:, MIRRORED_KEYPOINTS] if self.mirror else moved

    def apply_rotation(self, R_cam_head: np.ndarray) -> np.ndarray:
        """The transformed image's true R_cam←head from the source's."""
        R = MIRROR_X @ R_cam_head @ MIRROR_X if self.mirror else R_cam_head
        return camera_roll(self.angle_deg) @ R
