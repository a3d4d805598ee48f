"""The anchor keyframe buffer of one tracked face: bootstrap, selection, fusion, insertion and eviction.

The relative network predicts R_q←a between an anchor crop of known pose and the query crop; each anchor
gives one estimate of the query pose, R_q = R_rel · R_a (:func:`hpe_ros.geometry.compose_relative`).
The buffer

- bootstraps from absolute-mode estimates: the most neutral (closest to frontal) of the first frames becomes
  the root anchor, or an explicit "look at the camera" :meth:`AnchorBuffer.calibrate` sets it;
- selects the K anchors for a query by a policy chosen at run time (:data:`ANCHOR_POLICIES`);
- fuses the K estimates robustly (geodesic median, outliers dropped) with a covariance from their spread;
- inserts a keyframe when an estimate is confident and far in angle from every anchor, and evicts the most
  redundant anchor (the closer of the closest pair, never the root) so memory stays bounded while the anchors
  keep covering the poses seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.config import Checked, param
from hpe_ros.errors import InputError
from hpe_ros.face_shape import PersonShape, ShapeConfig, normalised, visibility, weighted_alignment
from hpe_ros.geometry import average_rotations, compose_relative, geodesic_deg, profile_fraction
from hpe_ros.pose_graph import KeyframeGraph

AnchorPolicy = Literal["nearest", "recent", "neutral", "best"]
ANCHOR_POLICIES: tuple[str, ...] = get_args(AnchorPolicy)
"""nearest: closest in pose to the previous estimate; recent: temporally adjacent; neutral: closest to
frontal; best: highest confidence."""


@dataclass
class AnchorConfig(Checked):
    """Tunables of the per-face anchor keyframe buffer."""

    policy: AnchorPolicy = param(
        "nearest", "Anchor selection: nearest (in pose), recent (in time), neutral (frontal), best."
    )
    anchors_per_query: int = param(
        4, "K: anchors paired with each query in one batched inference.", minimum=1, maximum=64
    )
    max_anchors: int = param(
        12, "Most keyframes kept per face; the most redundant is evicted.", minimum=1, maximum=256
    )
    insert_min_angle_deg: float = param(
        12.0, "A new keyframe must be at least this far (deg) from every anchor.", minimum=0.0, maximum=180.0
    )
    insert_min_confidence: float = param(
        0.35,
        "A new keyframe needs an estimate at least this confident (0..1); an estimate from the root alone "
        "reaches at most exp(-prior_sigma_deg / confidence_scale_deg) x the detection score.",
        minimum=0.0,
        maximum=1.0,
    )
    bootstrap_frames: int = param(
        5, "Absolute-mode frames to pick the most neutral root anchor from.", minimum=1, maximum=1000
    )
    bootstrap_neutral_deg: float = param(
        10.0,
        "An absolute estimate this close (deg) to frontal becomes the root at once.",
        minimum=0.0,
        maximum=180.0,
    )
    outlier_deg: float = param(
        25.0, "Per-anchor estimates this far (deg) from the median are dropped.", minimum=0.0, maximum=180.0
    )
    prior_sigma_deg: float = param(
        8.0, "Rotation uncertainty (deg) of one estimate, added to the spread.", minimum=0.0, maximum=90.0
    )
    confidence_scale_deg: float = param(
        15.0,
        "Confidence = exp(-sigma / this) x inlier fraction, sigma the rotation std (deg).",
        minimum=0.01,
        maximum=180.0,
    )

    keyframe_prior_frontal_deg: float = param(
        4.0,
        "Landmark engines: sigma (deg) of a keyframe's absolute prior when it faces the camera.",
        minimum=0.01,
        maximum=180.0,
    )
    keyframe_prior_profile_deg: float = param(
        40.0,
        "Landmark engines: sigma (deg) added to a keyframe's absolute prior in full profile (x sin^2 of "
        "its angle to frontal): absolute estimates are weak at large yaw.",
        minimum=0.0,
        maximum=180.0,
    )
    root_prior_deg: float = param(
        2.0,
        "Landmark engines: sigma (deg) of the root keyframe's prior (a calibrated root: a tenth of it).",
        minimum=0.01,
        maximum=180.0,
    )
    edge_sigma_deg: float = param(
        1.0,
        "Landmark engines: sigma (deg) of a relative edge between two keyframes at the same pose.",
        minimum=0.01,
        maximum=90.0,
    )
    edge_sigma_per_deg: float = param(
        0.1,
        "Landmark engines: edge sigma added per degree of gap between its keyframes.",
        minimum=0.0,
        maximum=10.0,
    )
    edges_per_keyframe: int = param(
        3, "Landmark engines: a new keyframe is linked to this many nearest keyframes.", minimum=1, maximum=16
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if (
            self.anchors_per_query < 1
            or self.max_anchors < self.anchors_per_query
            or self.bootstrap_frames < 1
        ):
            raise InputError(
                "anchor buffer needs 1 <= anchors_per_query <= max_anchors and bootstrap_frames >= 1"
            )
        single_anchor = float(np.exp(-self.prior_sigma_deg / self.confidence_scale_deg))
        if self.insert_min_confidence > single_anchor:
            raise InputError(
                f"insert_min_confidence {self.insert_min_confidence:g} is above {single_anchor:.3f}, the "
                "most an estimate from the root anchor alone can reach: no keyframe would ever be inserted"
            )


@dataclass
class Anchor:
    """One keyframe: its crop (network input) and its pose R_cam←head."""

    anchor_id: int
    """Unique within the buffer, starting at 1."""
    stamp_ns: int
    crop: np.ndarray
    """float32 [3, S, S] RGB in [0, 1]."""
    rotation: np.ndarray
    confidence: float
    embedding: np.ndarray | None = None
    """The engine's cached per-frame output for this crop (``PoseEngine.embed_anchors``: patch tokens, or a
    face-mesh model's landmarks), once computed."""


@dataclass
class FusedRotation:
    """Robust average of several estimates of one rotation."""

    rotation: np.ndarray
    spread_deg: float
    """Weighted RMS angle of the inliers to ``rotation``."""
    covariance: np.ndarray
    """3x3 (rad^2) about the camera axes: inlier scatter plus the per-estimate prior over the inlier count."""
    inliers: np.ndarray
    """Boolean mask of the estimates kept."""
    confidence: float


@dataclass
class AnchorEstimate:
    """The query pose fused from the selected anchors (or from absolute estimates while bootstrapping)."""

    fused: FusedRotation
    anchor: Anchor | None
    """The inlier anchor whose estimate is closest to the fused rotation; None for an absolute estimate."""
    num_anchors: int
    """Anchors fused (inliers); 0 for an absolute estimate."""


def fuse_rotations(rotations: np.ndarray, weights: np.ndarray | None, config: AnchorConfig) -> FusedRotation:
    """Geodesic median of ``rotations`` [N,3,3] minus outliers (``config.outlier_deg``), with uncertainty."""
    rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    weights = np.ones(len(rotations)) if weights is None else np.asarray(weights, dtype=np.float64)
    median, spread_deg = average_rotations(rotations, weights)
    inliers = geodesic_deg(rotations, median) <= config.outlier_deg
    if not inliers.any():
        inliers[np.argmin(geodesic_deg(rotations, median))] = True
    if inliers.sum() < len(rotations):
        median, spread_deg = average_rotations(rotations[inliers], weights[inliers])
    w = weights[inliers] / weights[inliers].sum()
    # Residuals about the camera axes: R_k = exp([r_k]x) R_mean.
    residuals = (Rotation.from_matrix(rotations[inliers]) * Rotation.from_matrix(median).inv()).as_rotvec()
    scatter = (w[:, None, None] * residuals[:, :, None] * residuals[:, None, :]).sum(axis=0)
    prior = np.radians(config.prior_sigma_deg) ** 2 / inliers.sum()
    covariance = scatter + prior * np.eye(3)
    sigma_deg = float(np.degrees(np.sqrt(np.trace(covariance) / 3.0)))
    confidence = float(np.exp(-sigma_deg / config.confidence_scale_deg) * inliers.mean())
    return FusedRotation(median, spread_deg, covariance, inliers, confidence)


class AnchorBuffer:
    """Keyframes of one tracked face (create one per track; :meth:`clear` on track loss or a clock jump)."""

    def __init__(self, config: AnchorConfig | None = None) -> None:
        self.config = config or AnchorConfig()
        self.anchors: list[Anchor] = []
        self.root_id: int | None = None
        self.calibrated = False
        """True while the root was set by :meth:`calibrate` (the user's chosen reference)."""
        self._candidates: list[Anchor] = []
        self._next_id = 1

    @property
    def bootstrapped(self) -> bool:
        """True once a root anchor exists and relative inference can run."""
        return bool(self.anchors)

    def clear(self) -> None:
        """Drop every anchor and bootstrap candidate."""
        self.anchors.clear()
        self._candidates.clear()
        self.root_id = None
        self.calibrated = False

    def calibrate(self, crop: np.ndarray, stamp_ns: int, rotation: np.ndarray | None = None) -> Anchor:
        """Restart from an explicit keyframe (default: the person looks straight at the camera, R = I)."""
        self.clear()
        root = self._add_root(self._make(crop, stamp_ns, np.eye(3) if rotation is None else rotation, 1.0))
        self.calibrated = True
        return root

    def offer_bootstrap(
        self,
        crop: np.ndarray,
        stamp_ns: int,
        rotation: np.ndarray,
        confidence: float,
        embedding: np.ndarray | None = None,
    ) -> bool:
        """Add an absolute-mode estimate while not bootstrapped; returns True once the root anchor is set.

        A frame within ``bootstrap_neutral_deg`` of frontal is taken at once; otherwise, after
        ``bootstrap_frames`` offers, the most neutral of them becomes the root.
        """
        if self.bootstrapped:
            return True
        candidate = self._make(crop, stamp_ns, rotation, confidence)
        candidate.embedding = embedding
        self._candidates.append(candidate)
        angles = [float(geodesic_deg(c.rotation, np.eye(3))) for c in self._candidates]
        best = int(np.argmin(angles))
        if (
            angles[best] <= self.config.bootstrap_neutral_deg
            or len(self._candidates) >= self.config.bootstrap_frames
        ):
            self._add_root(self._candidates[best])
            self._candidates.clear()
        return self.bootstrapped

    def angles_to(self, rotation: np.ndarray) -> np.ndarray:
        """Geodesic angle (deg) from every anchor to ``rotation``, in buffer order (one vectorised call)."""
        return _angles(self.anchors, rotation)

    def nearest(self, rotation: np.ndarray) -> Anchor:
        """The anchor closest in pose to ``rotation`` (the buffer must be bootstrapped)."""
        return self.anchors[int(np.argmin(self.angles_to(rotation)))]

    def select(self, previous_rotation: np.ndarray | None) -> list[Anchor]:
        """The K anchors for the next query by the configured policy (``nearest`` uses the last estimate)."""
        if not self.anchors:
            return []
        policy = self.config.policy
        if policy == "nearest" and previous_rotation is None:
            policy = "recent"
        if policy == "nearest":
            keys = self.angles_to(previous_rotation)
        elif policy == "neutral":
            keys = self.angles_to(np.eye(3))
        elif policy == "recent":
            keys = [-a.stamp_ns for a in self.anchors]
        else:
            keys = [-a.confidence for a in self.anchors]
        order = np.argsort(keys, kind="stable")[: self.config.anchors_per_query]
        return [self.anchors[i] for i in order]

    def fuse(self, anchors: list[Anchor], relative_rotations: np.ndarray) -> AnchorEstimate:
        """Compose each anchor's pose with its predicted R_q←a ([K,3,3]) and fuse the K query estimates."""
        relative_rotations = np.asarray(relative_rotations, dtype=np.float64).reshape(-1, 3, 3)
        if len(anchors) != len(relative_rotations) or not anchors:
            raise InputError(f"{len(anchors)} anchors but {len(relative_rotations)} relative rotations")
        no_translation = np.zeros((len(anchors), 3))
        estimates, _ = compose_relative(
            relative_rotations, no_translation, np.stack([a.rotation for a in anchors]), no_translation
        )
        weights = np.array([max(a.confidence, 1e-3) for a in anchors])
        fused = fuse_rotations(estimates, weights, self.config)
        distance = np.where(fused.inliers, geodesic_deg(estimates, fused.rotation), np.inf)
        return AnchorEstimate(fused, anchors[int(np.argmin(distance))], int(fused.inliers.sum()))

    def consider(
        self,
        crop: np.ndarray,
        stamp_ns: int,
        rotation: np.ndarray,
        confidence: float,
        embedding: np.ndarray | None = None,
    ) -> Anchor | None:
        """Insert the query as a keyframe if confident and far from every anchor; evicts to stay bounded.
        Returns the new anchor, or None when none was kept (not inserted, or at once the most redundant)."""
        if not self.bootstrapped or confidence < self.config.insert_min_confidence:
            return None
        if self.angles_to(rotation).min() < self.config.insert_min_angle_deg:
            return None
        anchor = self._make(crop, stamp_ns, rotation, confidence)
        anchor.embedding = embedding
        self.anchors.append(anchor)
        while len(self.anchors) > self.config.max_anchors:
            self._evict_most_redundant()
        return anchor if anchor in self.anchors else None

    def _evict_most_redundant(self) -> None:
        """Remove one anchor of the closest pair in pose (the less confident, never the root)."""
        rotations = np.stack([a.rotation for a in self.anchors])
        distance = geodesic_deg(rotations[:, None], rotations[None, :])
        np.fill_diagonal(distance, np.inf)
        i, j = np.unravel_index(np.argmin(distance), distance.shape)
        pair = sorted(
            (self.anchors[i], self.anchors[j]), key=lambda a: (a.anchor_id == self.root_id, a.confidence)
        )
        self.anchors.remove(pair[0])

    def _make(self, crop: np.ndarray, stamp_ns: int, rotation: np.ndarray, confidence: float) -> Anchor:
        crop = np.asarray(crop, dtype=np.float32)
        if crop.ndim != 3 or crop.shape[0] != 3:
            raise InputError(f"anchor crop must be [3, S, S] float RGB, got shape {crop.shape}")
        anchor = Anchor(
            self._next_id, int(stamp_ns), crop, np.asarray(rotation, dtype=np.float64), float(confidence)
        )
        self._next_id += 1
        return anchor

    def _add_root(self, anchor: Anchor) -> Anchor:
        self.anchors = [anchor]
        self.root_id = anchor.anchor_id
        return anchor


def _angles(anchors: list[Anchor], rotation: np.ndarray) -> np.ndarray:
    """Geodesic angle (deg) from each of ``anchors`` to ``rotation``."""
    if not anchors:
        return np.zeros(0)
    return np.atleast_1d(geodesic_deg(np.stack([a.rotation for a in anchors]), rotation))


def prior_sigma_deg(rotation: np.ndarray, config: AnchorConfig) -> float:
    """Reliability of an absolute estimate as a sigma (deg): strong near frontal, weak toward profile."""
    return config.keyframe_prior_frontal_deg + config.keyframe_prior_profile_deg * profile_fraction(rotation)


class KeyframeGeometry:
    """What the keyframes of one face buy a landmark engine (one whose cached part is 468 landmarks).

    A geometric relative pose composed with the anchor's pose equals the absolute answer, so the buffer pays
    only through what single frames lack: the keyframes' landmark clouds merged into the person's own shape
    (:class:`~hpe_ros.face_shape.PersonShape`, which queries are fitted to), and a keyframe pose graph
    (:class:`~hpe_ros.pose_graph.KeyframeGraph`: relative edges between nearby keyframes, absolute priors
    weighted by :func:`prior_sigma_deg`) that re-estimates the keyframe poses the shape is merged with.
    """

    def __init__(self, config: AnchorConfig, shape_config: ShapeConfig | None = None) -> None:
        self.config = config
        self.shape = PersonShape(shape_config)
        self.graph = KeyframeGraph(max_edges_per_node=2 * config.edges_per_keyframe)
        self.root_id: int | None = None

    def clear(self) -> None:
        self.shape.clear()
        self.graph.clear()
        self.root_id = None

    def start(self, root: Anchor, calibrated: bool) -> None:
        """Restart from a root keyframe (with its landmarks as ``embedding``)."""
        self.clear()
        sigma = self.config.root_prior_deg * (0.1 if calibrated else 1.0)
        self.graph.add_node(root.anchor_id, root.rotation, sigma)
        self.graph.solve()
        self.shape.add(root.anchor_id, root.embedding, root.rotation)
        self.root_id = root.anchor_id

    def estimate(self, landmarks: np.ndarray, initial: np.ndarray) -> FusedRotation:
        """The query's rotation: its landmarks fitted to the person's shape, starting from ``initial``."""
        fit = self.shape.fit(landmarks, initial)
        sigma_deg = float(np.degrees(np.sqrt(np.trace(fit.covariance) / 3.0)))
        confidence = float(np.exp(-sigma_deg / self.config.confidence_scale_deg))
        return FusedRotation(fit.rotation, sigma_deg, fit.covariance, np.ones(1, bool), confidence)

    def insert(self, anchor: Anchor, absolute_rotation: np.ndarray, anchors: list[Anchor]) -> None:
        """Add a new keyframe: its prior, edges to its nearest keyframes, a solve, the re-merged shape.

        ``anchors`` is the buffer after insertion and eviction; keyframes no longer in it are dropped, and
        every kept anchor's rotation is updated to the graph's solution.
        """
        kept = {a.anchor_id for a in anchors}
        for node in [n for n in self.graph.rotations if n not in kept]:
            self.graph.remove_node(node)
            self.shape.remove(node)
        in_graph = [a for a in anchors if a.anchor_id in self.graph.rotations]
        order = np.argsort(_angles(in_graph, anchor.rotation), kind="stable") if in_graph else []
        others = [in_graph[i] for i in order[: self.config.edges_per_keyframe]]
        sigma = prior_sigma_deg(absolute_rotation, self.config)
        self.graph.add_node(anchor.anchor_id, anchor.rotation, sigma, absolute_rotation)
        new_cloud = normalised(anchor.embedding)
        for other in others:
            seen = np.minimum(
                visibility(other.rotation, self.shape.normals, self.shape.config.visibility_power),
                visibility(anchor.rotation, self.shape.normals, self.shape.config.visibility_power),
            )
            relative = weighted_alignment(
                normalised(other.embedding), new_cloud, seen * self.shape.point_weights
            )
            gap = float(geodesic_deg(other.rotation, anchor.rotation))
            sigma = self.config.edge_sigma_deg + self.config.edge_sigma_per_deg * gap
            self.graph.add_edge(other.anchor_id, anchor.anchor_id, relative, sigma)
        self.graph.solve()
        for a in anchors:
            if a.anchor_id in self.graph.rotations:
                a.rotation = self.graph.rotations[a.anchor_id]
        self.shape.set_rotations(self.graph.rotations, rebuild=False)
        self.shape.add(anchor.anchor_id, anchor.embedding, anchor.rotation)

    def covariance(self, anchor_id: int) -> np.ndarray:
        """The graph's marginal covariance (rad²) of a keyframe."""
        return self.graph.covariance(anchor_id)
