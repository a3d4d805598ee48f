"""A person-specific landmark shape in the head frame, and the pose of a landmark cloud against it.

A face-mesh engine turns a crop into 468 landmarks (crop pixels: x right, y down, z depth). A keyframe whose
rotation R (camera←head) is known gives a head-frame cloud Rᵀ·q (after centring and scaling to unit RMS).
:class:`PersonShape` merges the keyframes' clouds into the person's own shape: per landmark a weighted mean
over keyframes, weighted by how squarely the keyframe saw that landmark (its surface normal against the
viewing direction), with Huber weights against the landmark's spread so an expression held in one keyframe
does not bend the shape. The generic canonical cloud is never needed: the first keyframe bootstraps it.

:func:`fit_rigid` poses a query cloud against the shape in 3-D (weighted Kabsch) and
:func:`fit_orthographic` from its 2-D landmarks only (scaled orthographic projection; the mesh's guessed
depth of the query is left out); both weight each landmark by its visibility under the current estimate and
down-weight the mouth and jaw (the lower part of the face moves with speech), and return a covariance from
the fit's residuals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from hpe_ros.config import Checked, param
from hpe_ros.errors import InputError

NORMAL_NEIGHBOURS = 10
HUBER_SCALE = 2.0
"""A landmark farther than this × its median residual from the shape gets a Huber weight below 1."""


@dataclass
class ShapeConfig(Checked):
    """Tunables of the person-specific shape and the fit against it."""

    low_face_weight: float = param(
        0.3, "Weight of mouth and jaw landmarks (lowest part of the face) in fits.", minimum=0.0, maximum=1.0
    )
    low_face_fraction: float = param(
        0.3,
        "Fraction of landmarks, lowest in the head frame, counted as mouth and jaw.",
        minimum=0.0,
        maximum=1.0,
    )
    visibility_power: float = param(
        2.0,
        "Landmark weight = (cosine of its normal to the view direction) ** this.",
        minimum=0.0,
        maximum=8.0,
    )
    projection: Literal["rigid", "orthographic"] = param(
        "rigid",
        "rigid: align the query's 3-D landmarks to the shape (weighted Kabsch); orthographic: fit the "
        "shape's projection to the query's 2-D landmarks only (leaves out the mesh's guessed depth, but "
        "its yaw then rests on the shape's depth alone).",
    )
    fit_sigma_floor_deg: float = param(
        1.0, "Least rotation uncertainty (deg) a fit reports.", minimum=0.0, maximum=90.0
    )


def normalised(points: np.ndarray) -> np.ndarray:
    """A cloud [N, 3] centred on its mean and scaled to unit RMS radius."""
    points = np.asarray(points, np.float64)
    centred = points - points.mean(axis=0)
    radius = np.sqrt((centred**2).sum(axis=1).mean())
    if not np.isfinite(radius) or radius < 1e-9:
        raise InputError("a landmark cloud is degenerate (all points equal or not finite)")
    return centred / radius


def surface_neighbours(shape: np.ndarray) -> np.ndarray:
    """Indices [N, k] of each landmark's nearest landmarks (itself included): its surface patch."""
    return cKDTree(shape).query(shape, NORMAL_NEIGHBOURS)[1]


def surface_normals(shape: np.ndarray, neighbours: np.ndarray | None = None) -> np.ndarray:
    """Unit normals [N, 3] of a head-frame cloud from its local planes (the patches ``neighbours``, default
    :func:`surface_neighbours`), pointing out of the face (−z)."""
    neighbours = surface_neighbours(shape) if neighbours is None else neighbours
    patches = shape[neighbours] - shape[neighbours].mean(axis=1, keepdims=True)
    normals = np.linalg.eigh(np.swapaxes(patches, 1, 2) @ patches)[1][:, :, 0]  # least-scatter direction
    return normals * np.where(normals[:, 2] > 0, -1.0, 1.0)[:, None]


def visibility(rotation: np.ndarray, normals: np.ndarray, power: float) -> np.ndarray:
    """How squarely the camera sees each landmark: max(0, −(R·n)_z) ** power (camera looks along +z)."""
    facing = np.clip(-(normals @ np.asarray(rotation).T)[:, 2], 0.0, 1.0)
    return facing**power + 1e-3


def weighted_alignment(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """R with target ≈ s·R·source + t (weighted least squares, clouds [N, 3]): weighted Kabsch via scipy."""
    w = np.asarray(weights, np.float64)
    s = source - (w[:, None] * source).sum(0) / w.sum()
    t = target - (w[:, None] * target).sum(0) / w.sum()
    rotation, _ = Rotation.align_vectors(t, s, weights=w)
    return rotation.as_matrix()


@dataclass
class ShapeFit:
    """The rotation of one query cloud against the shape."""

    rotation: np.ndarray
    covariance: np.ndarray
    """3 × 3 (rad²) from the weighted residuals, floored at ``fit_sigma_floor_deg``."""
    rms: float
    """Weighted RMS residual in unit-radius cloud units."""


def fit_rigid(
    shape: np.ndarray,
    point_weights: np.ndarray,
    normals: np.ndarray,
    landmarks: np.ndarray,
    initial: np.ndarray,
    config: ShapeConfig,
) -> ShapeFit:
    """Rotation of ``landmarks`` [N, 3] against the head-frame ``shape`` in 3-D: weighted Kabsch (scipy's
    ``align_vectors``) with per-landmark weights = ``point_weights`` × visibility, refitted once with the
    visibility of the first fit; covariance = the weighted residual variance × scipy's sensitivity matrix."""
    query = normalised(landmarks)
    rotation = np.asarray(initial, np.float64)
    for _ in range(2):
        weights = point_weights * visibility(rotation, normals, config.visibility_power)
        w = weights / weights.sum()
        source = shape - (w[:, None] * shape).sum(0)
        target = query - (w[:, None] * query).sum(0)
        scale = float(
            (w[:, None] * target * (source @ rotation.T)).sum() / max((w[:, None] * source**2).sum(), 1e-12)
        )
        fitted, _, sensitivity = Rotation.align_vectors(
            target, scale * source, weights=w, return_sensitivity=True
        )
        rotation = fitted.as_matrix()
    residual = target - scale * source @ rotation.T
    variance = float((w * (residual**2).sum(1)).sum()) / 3.0
    covariance = variance * sensitivity + np.eye(3) * np.radians(config.fit_sigma_floor_deg) ** 2
    return ShapeFit(rotation, covariance, float(np.sqrt(3.0 * variance)))


def fit_orthographic(
    shape: np.ndarray,
    point_weights: np.ndarray,
    normals: np.ndarray,
    landmarks: np.ndarray,
    initial: np.ndarray,
    config: ShapeConfig,
    iterations: int = 6,
) -> ShapeFit:
    """Rotation of ``landmarks`` [N, 3] against the head-frame ``shape`` from their 2-D projection.

    Gauss–Newton on q_i ≈ s·P·R·S_i + o (P drops z) over the rotation (left perturbation R ← exp(δ)R),
    the scale s and the 2-D offset o, with per-landmark weights = ``point_weights`` × visibility under the
    current rotation.
    """
    query = normalised(landmarks)[:, :2]
    rotation = np.asarray(initial, np.float64)
    turned = shape @ rotation.T
    scale = float(np.sqrt((query**2).sum() / max((turned[:, :2] ** 2).sum(), 1e-12)))
    offset = np.zeros(2)
    for _ in range(iterations):
        weights = point_weights * visibility(rotation, normals, config.visibility_power)
        turned = shape @ rotation.T
        residual = scale * turned[:, :2] + offset - query  # [N, 2]
        # d(R S)/dδ = −[R S]×; its first two rows, per point: [[0, z, −y], [−z, 0, x]] with (x, y, z) = R S.
        x, y, z = turned.T
        zero = np.zeros_like(x)
        d_rotation = scale * np.stack(
            [np.stack([zero, z, -y], -1), np.stack([-z, zero, x], -1)], axis=1
        )  # [N, 2, 3]
        jacobian = np.concatenate(
            [d_rotation, turned[:, :2, None], np.broadcast_to(np.eye(2), (len(x), 2, 2))], axis=2
        )  # [N, 2, 6]
        J = jacobian.reshape(-1, 6)
        w = np.repeat(weights, 2)
        H = J.T @ (w[:, None] * J) + 1e-9 * np.eye(6)
        step = -np.linalg.solve(H, J.T @ (w * residual.ravel()))
        rotation = Rotation.from_rotvec(step[:3]).as_matrix() @ rotation
        scale, offset = scale + step[3], offset + step[4:6]
        if np.abs(step).max() < 1e-7:
            break
    residual = (scale * (shape @ rotation.T)[:, :2] + offset - query).ravel()
    variance = float((w * residual**2).sum() / w.sum())
    dof_scale = len(residual) / max(len(residual) - 6, 1)
    try:
        covariance = variance * dof_scale * np.linalg.inv(H / w.sum() * len(w))[:3, :3]
    except np.linalg.LinAlgError:
        covariance = np.eye(3) * np.radians(90.0) ** 2
    covariance = covariance + np.eye(3) * np.radians(config.fit_sigma_floor_deg) ** 2
    return ShapeFit(rotation, covariance, float(np.sqrt(variance)))


class PersonShape:
    """The merged head-frame landmark shape of one face, kept for the keyframes currently held."""

    def __init__(self, config: ShapeConfig | None = None) -> None:
        self.config = config or ShapeConfig()
        self._clouds: dict[int, np.ndarray] = {}
        """keyframe id -> normalised camera-frame cloud [N, 3]."""
        self._rotations: dict[int, np.ndarray] = {}
        self.shape: np.ndarray | None = None
        self.normals: np.ndarray | None = None
        self._neighbours: np.ndarray | None = None
        """Surface patches of the landmarks, found once: each mesh landmark keeps its place on the face."""
        self.point_weights: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        return self.shape is not None

    def __len__(self) -> int:
        return len(self._clouds)

    def clear(self) -> None:
        self._clouds.clear()
        self._rotations.clear()
        self.shape = self.normals = self.point_weights = self._neighbours = None

    def add(self, keyframe: int, landmarks: np.ndarray, rotation: np.ndarray) -> None:
        """Merge a keyframe's landmarks seen with ``rotation``."""
        self._clouds[keyframe] = normalised(landmarks)
        self._rotations[keyframe] = np.asarray(rotation, np.float64)
        self._rebuild()

    def remove(self, keyframe: int) -> None:
        """Drop an evicted keyframe's cloud."""
        if self._clouds.pop(keyframe, None) is not None:
            self._rotations.pop(keyframe)
            if self._clouds:
                self._rebuild()
            else:
                self.clear()

    def set_rotations(self, rotations: dict[int, np.ndarray], rebuild: bool = True) -> None:
        """Re-merge with re-estimated keyframe rotations (e.g. after a pose-graph solve); ``rebuild=False``
        defers the merge to the next :meth:`add`."""
        changed = False
        for keyframe, rotation in rotations.items():
            if keyframe in self._rotations:
                self._rotations[keyframe] = np.asarray(rotation, np.float64)
                changed = True
        if changed and rebuild:
            self._rebuild()

    def fit(self, landmarks: np.ndarray, initial: np.ndarray) -> ShapeFit:
        """The rotation of a query cloud against the shape, starting from ``initial``."""
        if self.shape is None:
            raise InputError("the person shape has no keyframe yet")
        fit = fit_rigid if self.config.projection == "rigid" else fit_orthographic
        return fit(self.shape, self.point_weights, self.normals, landmarks, initial, self.config)

    def _rebuild(self) -> None:
        keys = list(self._clouds)
        head = np.stack([self._clouds[k] @ self._rotations[k] for k in keys])  # rows: (Rᵀ q)ᵀ
        if self._neighbours is None:
            self._neighbours = surface_neighbours(head[0])
        normals = surface_normals(head[0], self._neighbours) if self.normals is None else self.normals
        seen = np.stack([visibility(self._rotations[k], normals, self.config.visibility_power) for k in keys])
        mean = (seen[:, :, None] * head).sum(0) / seen.sum(0)[:, None]
        for _ in range(2):  # Huber weights against each landmark's spread over the keyframes
            distance = np.linalg.norm(head - mean, axis=2)
            scale = HUBER_SCALE * np.median(distance) + 1e-9
            weights = seen * np.minimum(1.0, scale / np.maximum(distance, 1e-12))
            mean = (weights[:, :, None] * head).sum(0) / weights.sum(0)[:, None]
        self.shape = normalised(mean)
        self.normals = surface_normals(self.shape, self._neighbours)
        lowest = np.argsort(-self.shape[:, 1])[: round(self.config.low_face_fraction * len(self.shape))]
        self.point_weights = np.ones(len(self.shape))
        self.point_weights[lowest] = self.config.low_face_weight
