"""The per-frame head-pose pipeline (ROS-free): detect, track, crop, relative inference, fuse, filter, locate.

    frame (RGB uint8, stamp, K[, depth]) -> face detections -> stable track ids -> square crops
    -> per track: K anchors from its keyframe buffer -> ONE batched engine call for every pair of every face
    -> compose with the anchor poses, robust averaging + covariance -> One-Euro filters
    -> position from the box (or the depth image) -> :class:`FacePose` per face, with the frame's stamp.

A track without anchors bootstraps from absolute-mode estimates (batched too), or, when the engine holds no
absolute model, from the assumption that the person looks at the camera when first seen.

Upright crops (``upright``): a face is cut turned by its in-plane angle, so the face mesh sees it upright at
any roll, upside-down included. At a face's first sight the face mesh finds that angle
(:func:`hpe_ros.orientation.find_upright`: four quarter turns scored by its presence logit, refined from its
landmarks), and a track is only reported once the face mesh calls it a face (``min_face_presence``; a
rejected detection is looked at again after ``face_recheck_s``), which drops detector false positives
(logos, patterned cloth). Later frames are cut at the roll of the face's last pose. Landmarks come back in
the unturned crop's axes and absolute poses are composed back (R = Rz(θ)·R_up), so anchors, the person's
shape and the pose graph never see a turned frame. Engines that pair crops (no landmark engine) keep
unturned crops.

Off-axis faces: a landmark engine's poses (and the anchors, shape and graph built from them) are in each
head's view camera, the camera turned to look at the head; the output is turned into the camera frame by the
ray to the skull's centre (:func:`hpe_ros.geometry.frames.head_view_rotation`, from the head position and
the pose) before filtering. A person at the image's edge who faces the camera is then reported as facing
it, not as facing along the optical axis.

Motion (``motion``, relative estimator): the previous frame is the nearest anchor. Each face's rotation
step since the last frame is measured from image flow on a head model (:mod:`hpe_ros.motion`) and drives the
Kalman filter's prediction; the pose estimates correct it, weighted less toward profile, and a sudden jump of
the estimate (a profile read as the mirrored one) is skipped for up to ``rotation_kalman.max_glitch_s``. The
One-Euro filter (``rotation_filter``) smooths the result.

A stamp that goes backwards or jumps forward by more than ``max_time_gap_s`` (a looping bag) resets every
track.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from hpe_ros.anchors import (
    Anchor,
    AnchorBuffer,
    AnchorConfig,
    AnchorEstimate,
    KeyframeGeometry,
    fuse_rotations,
)
from hpe_ros.camera import checked_intrinsics
from hpe_ros.config import Checked, param
from hpe_ros.crop import FACE_BOX_MARGIN, CropBox, box_from_detection, crop_view_rotation, network_input
from hpe_ros.detect import BlazeFaceDetector, Detection, FaceDetector, MultiPassDetector, detection_boxes
from hpe_ros.detect.multipass import View
from hpe_ros.engine.base import NonFiniteOutputError, PoseEngine
from hpe_ros.errors import InputError
from hpe_ros.face_shape import ShapeConfig
from hpe_ros.filters import (
    OneEuroConfig,
    RotationKalmanConfig,
    RotationKalmanFilter,
    RotationOneEuroFilter,
    VectorOneEuroFilter,
)
from hpe_ros.geometry import aflw2000_from_head_rotation
from hpe_ros.geometry.frames import head_view_rotation
from hpe_ros.image import as_rgb_uint8, to_gray
from hpe_ros.model.config import FACE_MESH_LANDMARKS
from hpe_ros.motion import HeadMotion, MotionConfig, profile_sigma_deg
from hpe_ros.orientation import UprightFinder, unturned_landmarks
from hpe_ros.reference import FaceReference, ReferenceConfig
from hpe_ros.results import FacePose, FrameResult
from hpe_ros.tracks import FaceTracks, FaceTracksConfig, TrackedFace, box_containment, box_iou
from hpe_ros.translation import TranslationConfig, head_position
from hpe_ros.upright import eye_line_angle_deg, from_upright, head_up_angle_deg

MISSING_MIN_IOU = 0.2
"""``search_missing`` keeps a further pass's face only where it overlaps a missing track's predicted box this
much: on two faces crossing, a search over the whole frame found other faces there and swapped ids."""
PART_OF_FACE = 0.6
"""``search_missing``: a detection with this much of its box inside a face the search found is part of it."""
STAGES = ("detect", "track", "crop", "infer", "fuse", "filter")
Estimator = Literal["relative", "absolute"]
ESTIMATORS: tuple[str, ...] = get_args(Estimator)


@dataclass
class TrackerConfig(Checked):
    """Every tunable of the pipeline, grouped by stage (the ROS node declares them as ``group.field``)."""

    tracking: FaceTracksConfig = param(FaceTracksConfig(), "Face tracks: ids, hysteresis, re-identification.")
    anchors: AnchorConfig = param(AnchorConfig(), "The per-face anchor keyframe buffer.")
    shape: ShapeConfig = param(
        ShapeConfig(), "Landmark engines: the person-specific shape and the fit to it."
    )
    rotation_filter: OneEuroConfig = param(
        OneEuroConfig(min_cutoff_hz=0.2, beta=0.5, prediction=0.5),
        "Temporal filter of the head rotation (defaults chosen by hpe eval suite lag and hpe eval video "
        "high-frequency jitter).",
    )
    rotation_kalman: RotationKalmanConfig = param(
        RotationKalmanConfig(), "Uncertainty-driven filter of the head rotation (replaces rotation_filter)."
    )
    motion: MotionConfig = param(
        MotionConfig(),
        "relative estimator: frame-to-frame head motion from image flow, fused with the pose estimates by "
        "the rotation_kalman filter (its prediction) and smoothed by rotation_filter.",
    )
    position_filter: OneEuroConfig = param(
        OneEuroConfig(min_cutoff_hz=1.0, beta=2.0), "Temporal filter of the head position."
    )
    translation: TranslationConfig = param(TranslationConfig(), "Head position from the box or depth.")
    reference: ReferenceConfig = param(ReferenceConfig(), "Per-face chosen reference (calibration).")
    estimator: Estimator = param(
        "relative",
        "relative: anchor keyframes + the relative network; absolute: the single-frame network on every "
        "frame (the baseline the anchors are measured against).",
    )
    crop_margin: float = param(
        FACE_BOX_MARGIN,
        "Crop square = (1 + 2 x margin) x the longer side of the face box.",
        minimum=0.0,
        maximum=2.0,
    )
    search_missing: bool = param(
        True,
        "BlazeFace detectors: when a frame has fewer detections than live tracks, look again with the "
        "multi-pass detector's further passes (short range, mirrored, zoomed out, quarter turns), so a face "
        "turned away or upside-down keeps its track; other frames pay nothing.",
    )
    upright: bool = param(
        True,
        "Cut faces turned by their in-plane angle (found by the face mesh at first sight, then the tracked "
        "roll) and report a new face only once the face mesh calls it one.",
    )
    min_face_presence: float = param(
        0.0,
        "upright: face-mesh presence logit a new track needs to be reported (above 0: a face).",
        minimum=-100.0,
        maximum=100.0,
    )
    face_recheck_s: float = param(
        0.5,
        "upright: seconds before a track the face mesh rejected is looked at again.",
        minimum=0.0,
        maximum=3600.0,
    )
    max_time_gap_s: float = param(
        1.0,
        "A stamp jump forward larger than this (s), or any jump back, resets all tracks.",
        minimum=0.0,
        maximum=3600.0,
    )
    propagated_confidence: float = param(
        0.7, "Confidence factor while a face box is propagated (detector miss).", minimum=0.0, maximum=1.0
    )
    box_depth_sigma: float = param(
        0.15, "Relative std of the depth estimated from the face-box size.", minimum=0.0, maximum=10.0
    )
    sensor_depth_sigma: float = param(
        0.03, "Relative std of the depth read from a depth image.", minimum=0.0, maximum=10.0
    )
    lateral_sigma: float = param(
        0.02,
        "Std of the x/y position relative to the distance to the camera.",
        minimum=0.0,
        maximum=10.0,
    )


@dataclass
class _FaceState:
    anchors: AnchorBuffer
    rotation_filter: RotationOneEuroFilter
    position_filter: VectorOneEuroFilter
    rotation_kalman: RotationKalmanFilter
    geometry: KeyframeGeometry
    reference: FaceReference
    motion: HeadMotion
    last_rotation: np.ndarray | None = None
    reported_rotation: np.ndarray | None = None
    """The last pose reported (camera frame, filtered): which way the head faces, for its view ray."""
    angle_deg: float | None = None
    """The in-plane angle the face's crops are cut at (None: not found yet, or not a face)."""
    recheck_s: float = -np.inf
    """upright: time from which a face the face mesh rejected is looked at again."""


@dataclass
class _Query:
    face: TrackedFace
    state: _FaceState
    crop: np.ndarray
    box: CropBox
    """The square the crop was cut from (source pixels)."""
    anchors: list[Anchor]
    angle_deg: float
    """The crop's in-plane turn (clockwise as displayed): the engine's poses are composed back by it."""
    landmarks: np.ndarray | None = None
    """Landmark engines in relative mode: the query's landmarks [468, 3] (the engine's cached part)."""


class HeadPoseTracker:
    """Tracks the head pose of every face in a stream of frames; call :meth:`process` once per frame."""

    def __init__(
        self, engine: PoseEngine, detector: FaceDetector, config: TrackerConfig | None = None
    ) -> None:
        self.engine = engine
        self.detector = detector
        self.config = config or TrackerConfig()
        self.tracks = FaceTracks(self.config.tracking)
        self.states: dict[int, _FaceState] = {}
        self.last_stamp_ns: int | None = None
        self.clock_resets = 0
        self._calibrate: set[int] | None = None
        self.primary_track_id: int | None = None
        """Track id of the last frame's primary (largest) face."""
        self.view_frame = tuple(engine.token_shape or ()) == (FACE_MESH_LANDMARKS, 3)
        """A landmark engine: its poses are in each head's view camera (it sees only the crop), turned into
        the camera frame before filtering."""
        self.geometric = (
            self.view_frame and self.config.estimator == "relative" and "relative_cached" in engine.modes
        )
        """A landmark engine in relative mode: the keyframes buy a person shape and a pose graph."""
        self.turns_crops = self.config.upright and (self.geometric or self.config.estimator == "absolute")
        """Crops are cut upright (engines that pair crops keep unturned ones)."""
        self._upright = UprightFinder()
        self.searches_missing = self.config.search_missing and isinstance(detector, BlazeFaceDetector)
        """``search_missing`` applies: the detector is a single BlazeFace pass."""
        self._search: MultiPassDetector | None = None
        self.uses_motion = self.config.motion.enabled and self.config.estimator == "relative"
        """Rotations are fused with frame-to-frame image motion (``motion``) by the Kalman filter."""
        self.last_detections: list[Detection] = []
        """The detections the last frame was tracked from (``search_missing``'s included)."""

    def reset(self) -> None:
        """Forget every track, its anchors and the last stamp (new ids follow; the next frame, whatever its
        stamp, is no time jump): after a pause, or on a clock jump."""
        self.tracks.reset()
        self.states.clear()
        self.last_stamp_ns = None

    def anchor_counts(self) -> dict[int, int]:
        """Keyframes held per track id (for diagnostics)."""
        return {track_id: len(state.anchors.anchors) for track_id, state in self.states.items()}

    def request_calibration(self, track_ids: set[int] | None = None) -> None:
        """On the next frame these tracks (None: all) record their head rotation as their reference
        (:mod:`hpe_ros.reference`); their poses do not change."""
        self._calibrate = set() if track_ids is None else set(track_ids)

    def request_primary_calibration(self) -> int | None:
        """Calibrate the primary face of the last frame on the next frame; its track id (None: no face)."""
        if self.primary_track_id is not None:
            self.request_calibration({self.primary_track_id})
        return self.primary_track_id

    def process(
        self,
        image_rgb: np.ndarray,
        stamp_ns: int,
        K: np.ndarray,
        depth: np.ndarray | None = None,
    ) -> FrameResult:
        """Poses of the faces in one frame (faces from the tracker's detector)."""
        image = as_rgb_uint8(image_rgb)
        K = checked_intrinsics(K)
        if depth is not None and np.shape(depth)[:2] != image.shape[:2]:
            raise InputError(
                f"depth image {np.shape(depth)} is not registered to the colour image {image.shape}"
            )
        reset = self._handle_time_jump(int(stamp_ns))
        timings = dict.fromkeys(STAGES, 0.0)
        time_s = stamp_ns * 1e-9

        with _timed(timings, "detect"):
            found = self.detector.detect(image)
            if self.searches_missing:
                found = self._search_missing(image, found, time_s)
            self.last_detections = found
        with _timed(timings, "track"):
            boxes = detection_boxes(found)
            tracked = self.tracks.update(boxes, np.array([d.score for d in found]), time_s)
            known = self.tracks.known_ids()
            self.states = {i: s for i, s in self.states.items() if i in known}
        with _timed(timings, "crop"):
            queries = [q for face in tracked if (q := self._query(face, image, found, time_s)) is not None]
        with _timed(timings, "infer"):
            self._apply_calibrations(queries, stamp_ns)
            relative, absolute = self._infer(queries)
        with _timed(timings, "fuse"):
            estimates = self._estimates(queries, relative, absolute, stamp_ns)
        with _timed(timings, "filter"):
            gray = to_gray(image) if self.uses_motion and estimates else None
            poses = [self._output(q, est, stamp_ns, time_s, K, depth, gray) for q, est in estimates]

        areas = [float(np.prod(p.box[2:] - p.box[:2])) for p in poses]
        primary = int(np.argmax(areas)) if areas else -1
        self.primary_track_id = poses[primary].track_id if poses else None
        return FrameResult(
            stamp_ns=int(stamp_ns),
            faces=poses,
            primary_index=primary,
            num_detections=len(found),
            timings_ms=timings,
            reset=reset,
            dropped=len(queries) - len(poses),
        )

    def _search_missing(self, image: np.ndarray, found: list[Detection], time_s: float) -> list[Detection]:
        """``search_missing``: ``found`` plus the faces the further BlazeFace passes find where a confirmed
        track has no detection this frame (overlapping its predicted box), so a face that turned away or
        upside-down keeps its track while other faces (and empty frames) cost one pass. A detection of
        ``found`` lying mostly inside a face the search found is that face again (BlazeFace boxes a part of an
        upside-down face) and is dropped."""
        boxes = detection_boxes(found)
        regions = self.tracks.missing_regions(boxes, time_s)
        if not len(regions):
            return found
        if self._search is None:
            self._search = MultiPassDetector(min_score=self.detector.min_score)
        more = self._search.detect_missing(image, found, (self.detector.model_selection, View()))
        if more:
            near = box_iou(detection_boxes(more), regions).max(axis=1) >= MISSING_MIN_IOU
            more = [d for d, kept in zip(more, near, strict=True) if kept]
        if not more:
            return found
        inside = box_containment(boxes, detection_boxes(more)).max(axis=1) >= PART_OF_FACE
        return [d for d, part in zip(found, inside, strict=True) if not part] + more

    def _handle_time_jump(self, stamp_ns: int) -> bool:
        last = self.last_stamp_ns
        jumped = last is not None and (
            stamp_ns < last or (stamp_ns - last) * 1e-9 > self.config.max_time_gap_s
        )
        if jumped:
            self.reset()
            self.clock_resets += 1
        self.last_stamp_ns = stamp_ns
        return jumped

    def _query(
        self, face: TrackedFace, image: np.ndarray, found: list[Detection], time_s: float
    ) -> _Query | None:
        state = self.states.get(face.track_id)
        if state is None:
            state = _FaceState(
                AnchorBuffer(self.config.anchors),
                RotationOneEuroFilter(self.config.rotation_filter),
                VectorOneEuroFilter(self.config.position_filter),
                RotationKalmanFilter(self.config.rotation_kalman),
                KeyframeGeometry(self.config.anchors, self.config.shape),
                FaceReference(self.config.reference),
                HeadMotion(self.config.motion),
            )
            self.states[face.track_id] = state
        angle = self._cut_angle(state, face, image, found, time_s)
        if angle is None:
            return None
        square = box_from_detection(*face.box, margin=self.config.crop_margin)
        crop = network_input(image, square, self.engine.input_size, angle)
        relative = self.config.estimator == "relative" and state.anchors.bootstrapped
        anchors = state.anchors.select(state.last_rotation) if relative else []
        return _Query(face, state, crop, square, anchors, angle)

    def _cut_angle(
        self, state: _FaceState, face: TrackedFace, image: np.ndarray, found: list[Detection], time_s: float
    ) -> float | None:
        """The in-plane angle to cut a face at: the roll of its last pose; at first sight the face mesh's
        (:func:`~hpe_ros.orientation.find_upright`), None while the face mesh does not call it a face."""
        if not self.config.upright:
            return 0.0
        if state.angle_deg is not None:
            if self.turns_crops and state.last_rotation is not None:
                state.angle_deg = head_up_angle_deg(state.last_rotation)
            return state.angle_deg
        if time_s < state.recheck_s:
            return None
        detection = None if face.detection_index is None else found[face.detection_index]
        keypoints = None if detection is None else detection.keypoints
        box = Detection(*map(float, face.box), float(face.score), keypoints)
        prior = 0.0 if keypoints is None else eye_line_angle_deg(keypoints)
        found_upright = self._upright.find(image, box, self.config.crop_margin, prior)
        if not found_upright.presence > self.config.min_face_presence:
            state.recheck_s = time_s + self.config.face_recheck_s
            return None
        state.angle_deg = found_upright.angle_deg if self.turns_crops else 0.0
        return state.angle_deg

    def _apply_calibrations(self, queries: list[_Query], stamp_ns: int) -> None:
        """Mark the faces of a pending calibration request; without an absolute mode, bootstrap a face
        from a frontal root (R = I)."""
        wanted = self._calibrate
        self._calibrate = None
        for q in queries:
            if wanted is not None and (not wanted or q.face.track_id in wanted):
                q.state.reference.requested = True
        if self.config.estimator == "absolute":
            return
        no_absolute = "absolute" not in self.engine.modes
        for q in queries:
            if no_absolute and not q.state.anchors.bootstrapped:
                root = q.state.anchors.calibrate(q.crop, stamp_ns)
                q.anchors = [root]
                q.state.last_rotation = None
                q.state.rotation_filter.reset()
                q.state.rotation_kalman.reset()

    def _infer(self, queries: list[_Query]) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
        """One relative call over every (anchor, query) pair of every face, one absolute call for bootstraps.

        A batch with a non-finite output leaves its faces without an estimate this frame (counted as dropped).
        """
        if self.geometric:
            return self._infer_landmarks(queries)
        relative: list[np.ndarray | None] = [None] * len(queries)
        absolute: list[np.ndarray | None] = [None] * len(queries)
        paired = [i for i, q in enumerate(queries) if q.anchors]
        if paired:
            anchors = [a for i in paired for a in queries[i].anchors]
            query_batch = np.stack([queries[i].crop for i in paired for _ in queries[i].anchors])
            try:
                rotations = self._infer_pairs(anchors, query_batch)
                splits = np.cumsum([len(queries[i].anchors) for i in paired])[:-1]
                for i, chunk in zip(paired, np.split(rotations, splits), strict=True):
                    relative[i] = chunk
            except NonFiniteOutputError:
                pass
        self._infer_absolute(queries, [i for i, q in enumerate(queries) if not q.anchors], absolute)
        return relative, absolute

    def _infer_absolute(
        self, queries: list[_Query], indices: list[int], absolute: list[np.ndarray | None]
    ) -> None:
        """One absolute-mode call for ``queries[indices]``, written into ``absolute`` (left None when the
        engine returns non-finite values)."""
        if not indices:
            return
        try:
            rotations, _ = self.engine.infer_absolute(np.stack([queries[i].crop for i in indices]))
        except NonFiniteOutputError:
            return
        for i, rotation in zip(indices, rotations, strict=True):
            absolute[i] = from_upright(rotation, queries[i].angle_deg)

    def _infer_landmarks(
        self, queries: list[_Query]
    ) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
        """Landmark engines in relative mode: one landmark call for every face, the absolute call only for
        faces still bootstrapping (relative poses come from the keyframe geometry, not the engine)."""
        absolute: list[np.ndarray | None] = [None] * len(queries)
        if not queries:
            return [], []
        try:
            landmarks = self.engine.embed_anchors(np.stack([q.crop for q in queries]))
        except NonFiniteOutputError:
            return [None] * len(queries), absolute
        for q, cloud in zip(queries, landmarks, strict=True):
            q.landmarks = unturned_landmarks(cloud, q.angle_deg, self.engine.input_size)
        bootstrapping = [i for i, q in enumerate(queries) if not q.state.anchors.bootstrapped]
        self._infer_absolute(queries, bootstrapping, absolute)
        return [None] * len(queries), absolute

    def _geometric_estimate(
        self, q: _Query, absolute_rotation: np.ndarray | None, stamp_ns: int
    ) -> AnchorEstimate | None:
        """A landmark engine's estimate: bootstrap, then the query fitted to the person's shape; a new
        keyframe gets an absolute prior (one absolute call) and joins the pose graph."""
        buffer, geometry = q.state.anchors, q.state.geometry
        if buffer.bootstrapped and geometry.root_id != buffer.root_id:  # calibrated (or no absolute mode)
            root = next(a for a in buffer.anchors if a.anchor_id == buffer.root_id)
            if root.embedding is None:
                root.embedding = q.landmarks
            geometry.start(root, buffer.calibrated)
        if not buffer.bootstrapped:
            if absolute_rotation is None:
                return None
            fused = fuse_rotations(absolute_rotation[None], None, buffer.config)
            if buffer.offer_bootstrap(q.crop, stamp_ns, fused.rotation, fused.confidence, q.landmarks):
                geometry.start(buffer.anchors[0], calibrated=False)
            return AnchorEstimate(fused, None, 0)
        root = next(a for a in buffer.anchors if a.anchor_id == buffer.root_id)
        initial = root.rotation if q.state.last_rotation is None else q.state.last_rotation
        fused = geometry.estimate(q.landmarks, initial)
        anchor = buffer.nearest(fused.rotation)
        confidence = self._confidence(q.face, fused.confidence)
        added = buffer.consider(q.crop, stamp_ns, fused.rotation, confidence, q.landmarks)
        if added is not None:
            try:
                prior = from_upright(self.engine.infer_absolute(q.crop[None])[0][0], q.angle_deg)
            except NonFiniteOutputError:
                prior = fused.rotation
            geometry.insert(added, prior, buffer.anchors)
        return AnchorEstimate(fused, anchor, len(buffer.anchors))

    def _infer_pairs(self, anchors: list[Anchor], query_batch: np.ndarray) -> np.ndarray:
        """Relative rotations of (anchor, query) pairs; with a cached-anchor engine each anchor's per-frame
        part (its embedding: patch tokens, or a face-mesh model's landmarks) is computed once and kept on
        the anchor."""
        if "relative_cached" not in self.engine.modes:
            return self.engine.infer(np.stack([a.crop for a in anchors]), query_batch)[0]
        missing = list({id(a): a for a in anchors if a.embedding is None}.values())
        if missing:
            for anchor, embedding in zip(
                missing, self.engine.embed_anchors(np.stack([a.crop for a in missing])), strict=True
            ):
                anchor.embedding = embedding
        return self.engine.infer_cached(np.stack([a.embedding for a in anchors]), query_batch)[0]

    def _estimates(
        self,
        queries: list[_Query],
        relative: list[np.ndarray | None],
        absolute: list[np.ndarray | None],
        stamp_ns: int,
    ) -> list[tuple[_Query, AnchorEstimate]]:
        """The fused estimate of every face that got an engine output; keyframes are inserted here."""
        out = []
        for q, rel, absolute_rotation in zip(queries, relative, absolute, strict=True):
            buffer = q.state.anchors
            if q.landmarks is not None:
                estimate = self._geometric_estimate(q, absolute_rotation, stamp_ns)
                if estimate is None:
                    continue
            elif rel is not None:
                estimate = buffer.fuse(q.anchors, rel)
                confidence = self._confidence(q.face, estimate.fused.confidence)
                buffer.consider(q.crop, stamp_ns, estimate.fused.rotation, confidence)
            elif absolute_rotation is not None:
                estimate = AnchorEstimate(
                    fuse_rotations(absolute_rotation[None], None, buffer.config), None, 0
                )
                if self.config.estimator == "relative":
                    buffer.offer_bootstrap(
                        q.crop, stamp_ns, estimate.fused.rotation, estimate.fused.confidence
                    )
            else:
                continue
            q.state.last_rotation = estimate.fused.rotation
            out.append((q, estimate))
        return out

    def _confidence(self, face: TrackedFace, rotation_confidence: float) -> float:
        factor = self.config.propagated_confidence if face.propagated else max(face.score, 0.0)
        return float(np.clip(rotation_confidence * factor, 0.0, 1.0))

    def _output(
        self,
        q: _Query,
        estimate: AnchorEstimate,
        stamp_ns: int,
        time_s: float,
        K: np.ndarray,
        depth: np.ndarray | None,
        gray: np.ndarray | None,
    ) -> FacePose:
        fused, anchor = estimate.fused, estimate.anchor
        cfg = self.config
        raw_position, from_depth = head_position(q.face.box, K, depth, cfg.translation)
        position = q.state.position_filter(raw_position, time_s)
        measured, measured_covariance = fused.rotation, fused.covariance
        if self.view_frame:  # the ray to the skull's centre, from the filtered position and last pose
            facing = q.state.reported_rotation
            view = head_view_rotation(
                position, crop_view_rotation(K, q.box) @ measured if facing is None else facing
            )
            measured, measured_covariance = view @ measured, view @ measured_covariance @ view.T
        rotation, rotation_covariance = self._filtered_rotation(
            q, measured, measured_covariance, fused.rotation, time_s, K, gray, position
        )
        q.state.reported_rotation = rotation
        distance = float(np.linalg.norm(position))
        depth_sigma = (cfg.sensor_depth_sigma if from_depth else cfg.box_depth_sigma) * distance
        covariance = np.zeros((6, 6))
        covariance[:3, :3] = np.diag([(cfg.lateral_sigma * distance) ** 2] * 2 + [depth_sigma**2])
        covariance[3:, 3:] = rotation_covariance
        pitch, yaw, roll = np.degrees(aflw2000_from_head_rotation(rotation))
        confidence = self._confidence(q.face, fused.confidence)
        return FacePose(
            track_id=q.face.track_id,
            stamp_ns=int(stamp_ns),
            box=q.face.box.copy(),
            detection_score=float(q.face.score),
            rotation=rotation,
            position=position,
            covariance=covariance,
            yaw_deg=float(yaw),
            pitch_deg=float(pitch),
            roll_deg=float(roll),
            confidence=confidence,
            spread_deg=fused.spread_deg,
            anchor_id=0 if anchor is None else anchor.anchor_id,
            anchor_stamp_ns=stamp_ns if anchor is None else anchor.stamp_ns,
            num_anchors=estimate.num_anchors,
            position_from_depth=from_depth,
            reference_rotation=q.state.reference.update(rotation, confidence),
        )

    def _filtered_rotation(
        self,
        q: _Query,
        measured: np.ndarray,
        measured_covariance: np.ndarray,
        view_rotation: np.ndarray,
        time_s: float,
        K: np.ndarray,
        gray: np.ndarray | None,
        position: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The reported rotation (camera frame) and its covariance. With motion (``gray``), the Kalman filter
        fuses the frame's motion step with the estimate (weaker toward profile: ``view_rotation`` is the
        estimate in the head's view camera) and the One-Euro filter smooths the result; otherwise the filter
        the configuration chooses."""
        state, cfg = q.state, self.config
        if gray is not None:
            profile = np.radians(profile_sigma_deg(view_rotation, cfg.motion))
            step = state.motion.step(gray, K)
            fused = state.rotation_kalman(
                measured,
                measured_covariance + profile**2 * np.eye(3),
                time_s,
                None if step is None else (step.rotation, step.covariance),
            )
            state.motion.seed(gray, K, fused, position, q.face.box)
            return state.rotation_filter(fused, time_s), state.rotation_kalman.rotation_covariance
        if cfg.rotation_kalman.enabled:
            rotation = state.rotation_kalman(measured, measured_covariance, time_s)
            return rotation, state.rotation_kalman.rotation_covariance
        return state.rotation_filter(measured, time_s), measured_covariance


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] += (time.perf_counter() - start) * 1e3
