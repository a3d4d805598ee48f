"""Frame-to-frame head motion from image flow on a head model: the previous frame as the nearest anchor.

A landmark engine's relative pose is its absolute pose in disguise (both come from the same landmarks, whose
yaw saturates near 50°). The pixels carry what the landmarks lack: features tracked from the previous frame
(pyramidal Lucas–Kanade, kept only where tracking back lands where it started) lie on the head, modelled near
the face by an ellipsoid about the skull's centre; their 3-D points in the head frame come from the previous
pose, and a RANSAC PnP fit to where they moved gives the head's pose in this frame. The step
R_k · R_k−1ᵀ is a relative edge between consecutive frames: exactly still on a still head and free of the
landmarks' saturation at large yaw, but it drifts, so the tracker fuses it with the absolute estimates
(:class:`hpe_ros.filters.RotationKalmanFilter`, as its prediction) and never uses it alone.

OpenCV does the tracking and the PnP; the ray casting onto the ellipsoid is ours (no library does it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.config import Checked, param
from hpe_ros.geometry import geodesic_deg, profile_fraction
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.translation import ray_through

HEAD_RADII_M = np.array([0.078, 0.105, 0.10])
"""Semi-axes (m) of the head ellipsoid about :data:`~hpe_ros.geometry.frames.HEAD_CENTRE_M` (head frame: x
across the face, y down, z into the head): an adult head's half width, half height and half depth."""
FACING_COSINE = 0.25
"""A surface point is used only where its normal is at least this cosine toward the camera (grazing points
move little and track badly)."""
LK_WINDOW = (15, 15)
LK_LEVELS = 3
_SILHOUETTE = np.random.default_rng(0).normal(size=(1000, 3))
_SILHOUETTE /= np.linalg.norm(_SILHOUETTE, axis=1, keepdims=True)


@dataclass
class MotionConfig(Checked):
    """Tunables of the frame-to-frame head motion (``estimator: relative``)."""

    enabled: bool = param(
        True,
        "relative estimator: fuse frame-to-frame head motion (image flow on a head model) with the pose "
        "estimates, so a still head stays still and a turn past the landmarks' range is followed.",
    )
    max_features: int = param(120, "Most features tracked on a face.", minimum=8, maximum=2000)
    min_inliers: int = param(
        15, "A motion step needs this many features agreeing with one rigid motion.", minimum=6, maximum=2000
    )
    forward_backward_px: float = param(
        0.5,
        "A feature is kept when tracking it back lands within this (px) of where it started.",
        minimum=0.01,
        maximum=100.0,
    )
    reprojection_px: float = param(
        2.0, "RANSAC inlier threshold (px) of the rigid fit.", minimum=0.1, maximum=100.0
    )
    step_sigma_deg: float = param(
        0.3, "Rotation std (deg) of one motion step of a still head.", minimum=0.001, maximum=90.0
    )
    step_sigma_per_deg: float = param(
        1.0, "Rotation std added per degree the step turns.", minimum=0.0, maximum=10.0
    )
    profile_sigma_deg: float = param(
        10.0,
        "Rotation std (deg) added to a pose estimate in full profile (x sin^2 of its angle to frontal) when "
        "it is fused with the motion: landmark poses saturate at large yaw.",
        minimum=0.0,
        maximum=180.0,
    )
    max_step_deg: float = param(
        20.0,
        "A step turning further than this (deg) is taken as a tracking failure.",
        minimum=0.1,
        maximum=180.0,
    )


@dataclass
class MotionStep:
    """The head's rotation between two frames, about the camera axes."""

    rotation: np.ndarray
    """R_k←k−1: R_cam←head(k) = rotation · R_cam←head(k−1)."""
    covariance: np.ndarray
    """3x3 (rad²) of the step's left perturbation."""
    inliers: int


def profile_sigma_deg(rotation: np.ndarray, config: MotionConfig) -> float:
    """The extra uncertainty (deg) of a pose estimate ``rotation`` (R_view←head) for its angle to frontal."""
    return config.profile_sigma_deg * profile_fraction(rotation)


class HeadMotion:
    """Features on one face and the step they measure from the frame they were seeded in to the next."""

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self.clear()

    def clear(self) -> None:
        """Forget the features (the next :meth:`step` returns None)."""
        self._gray: np.ndarray | None = None
        self._points = np.zeros((0, 2), np.float32)
        self._model = np.zeros((0, 3))
        self._pose: tuple[np.ndarray, np.ndarray] | None = None

    def step(self, gray: np.ndarray, K: np.ndarray) -> MotionStep | None:
        """The head's rotation from the seeding frame to ``gray`` (same size); None when there are no
        features, too few survive, or the rigid fit fails or turns implausibly far."""
        cfg = self.config
        if self._gray is None or self._pose is None or len(self._points) < cfg.min_inliers:
            return None
        if gray.shape != self._gray.shape:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            self._gray, gray, self._points, None, winSize=LK_WINDOW, maxLevel=LK_LEVELS
        )
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(
            gray, self._gray, moved, None, winSize=LK_WINDOW, maxLevel=LK_LEVELS
        )
        good = (
            (status[:, 0] == 1)
            & (status_back[:, 0] == 1)
            & (np.linalg.norm(back - self._points, axis=1) < cfg.forward_backward_px)
        )
        if good.sum() < cfg.min_inliers:
            return None
        rotation, translation = self._pose
        rvec, _ = cv2.Rodrigues(rotation)
        ok, rvec, _, inliers = cv2.solvePnPRansac(
            self._model[good],
            moved[good].astype(np.float64),
            K,
            None,
            rvec,
            translation.reshape(3, 1).copy(),
            useExtrinsicGuess=True,
            reprojectionError=cfg.reprojection_px,
            iterationsCount=50,
            flags=cv2.SOLVEPNP_ITERATIVE,
        )
        if not ok or inliers is None or len(inliers) < cfg.min_inliers or not np.all(np.isfinite(rvec)):
            return None
        delta = cv2.Rodrigues(rvec)[0] @ rotation.T
        angle = float(geodesic_deg(delta, np.eye(3)))
        if angle > cfg.max_step_deg:
            return None
        sigma = np.radians(cfg.step_sigma_deg + cfg.step_sigma_per_deg * angle)
        return MotionStep(delta, sigma**2 * np.eye(3), len(inliers))

    def seed(
        self, gray: np.ndarray, K: np.ndarray, rotation: np.ndarray, position: np.ndarray, box: np.ndarray
    ) -> None:
        """New features on the face in ``gray`` (inside ``box``, on the camera-facing part of the head
        model at pose ``rotation``, ``position``), for the next :meth:`step`."""
        self.clear()
        rotation = Rotation.from_matrix(rotation).as_matrix()  # exactly orthonormal: steps are relative to it
        position = np.asarray(position, np.float64)
        height, width = gray.shape
        x0, y0 = (max(0, int(v)) for v in box[:2])
        x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
        if x1 - x0 < 8 or y1 - y0 < 8 or position[2] <= 0:
            return
        mask = _facing_mask(K, rotation, position, (x0, y0, x1, y1))
        if mask is None:
            return
        corners = cv2.goodFeaturesToTrack(
            gray[y0:y1, x0:x1], self.config.max_features, 0.01, max(3, (x1 - x0) // 30), mask=mask
        )
        if corners is None:
            return
        points = corners[:, 0] + np.array([x0, y0], np.float32)
        model, on_head = _cast_onto_head(points, K, rotation, position)
        self._gray = gray
        self._points = points[on_head].astype(np.float32)
        self._model = model[on_head]
        self._pose = (rotation, position)


def _cast_onto_head(
    points: np.ndarray, K: np.ndarray, rotation: np.ndarray, position: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Head-frame points where the camera rays through ``points`` first meet the head ellipsoid, and which
    of them hit it on its camera-facing part."""
    rays = ray_through(K, points[:, 0], points[:, 1])
    origin = rotation.T @ -position  # the camera centre in the head frame
    directions = rays @ rotation
    o = (origin - HEAD_CENTRE_M) / HEAD_RADII_M
    d = directions / HEAD_RADII_M
    a = (d**2).sum(axis=1)
    b = 2.0 * d @ o
    c = o @ o - 1.0
    discriminant = b * b - 4.0 * a * c
    s = (-b - np.sqrt(np.maximum(discriminant, 0.0))) / (2.0 * a)
    surface = origin + s[:, None] * directions
    normals = (surface - HEAD_CENTRE_M) / HEAD_RADII_M**2
    to_camera = origin - surface
    facing = (normals * to_camera).sum(axis=1) > FACING_COSINE * np.linalg.norm(normals, axis=1) * (
        np.linalg.norm(to_camera, axis=1)
    )
    return surface, (discriminant > 0) & (s > 0) & facing


def _facing_mask(
    K: np.ndarray, rotation: np.ndarray, position: np.ndarray, roi: tuple[int, int, int, int]
) -> np.ndarray | None:
    """uint8 mask over ``roi`` (x0, y0, x1, y1) of the head ellipsoid's camera-facing part; None if empty."""
    surface = HEAD_CENTRE_M + _SILHOUETTE * HEAD_RADII_M
    in_camera = surface @ rotation.T + position
    normals = (_SILHOUETTE / HEAD_RADII_M) @ rotation.T
    facing = (normals * -in_camera).sum(axis=1) > 0
    facing &= in_camera[:, 2] > 1e-3
    if facing.sum() < 3:
        return None
    projected = in_camera[facing] @ K.T
    x0, y0, x1, y1 = roi
    pixels = projected[:, :2] / projected[:, 2:] - np.array([x0, y0])
    pixels = np.clip(pixels, -(x1 - x0), 2 * (x1 - x0))  # a head grazing the camera plane stays drawable
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    hull = cv2.convexHull(pixels.astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 255)
    return mask if mask.any() else None
