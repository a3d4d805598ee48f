"""The tracker with the default (face-mesh) engine on the bundled clip: person shape, keyframe graph and the
chosen reference (calibration changes the reference frame and nothing else)."""

from __future__ import annotations

import dataclasses
from itertools import islice

import numpy as np
import pytest

from hpe_ros.anchors import AnchorConfig
from hpe_ros.detect import ExternalDetections, load_detector
from hpe_ros.engine import open_engine
from hpe_ros.geometry import geodesic_deg
from hpe_ros.io.sources import VideoSource
from hpe_ros.model.default import default_model_path
from hpe_ros.reference import ReferenceConfig, rotation_from_reference
from hpe_ros.synth.clip import CAMERA_NAME, DEMO_CLIP_DIR, GT_NAME, VIDEO_NAME, read_ground_truth
from hpe_ros.tracker import HeadPoseTracker, TrackerConfig

FRAMES = 48


@pytest.fixture(scope="module")
def clip():
    """The first frames of the demo clip with their BlazeFace detections and truth, and the engine."""
    from hpe_ros.camera import load_intrinsics

    engine = open_engine(default_model_path(), backend="torch")
    detector = load_detector("blazeface")
    frames = list(islice(VideoSource(str(DEMO_CLIP_DIR / VIDEO_NAME)), FRAMES))
    detections = [detector.detect(f.image) for f in frames]
    truth, _ = read_ground_truth(DEMO_CLIP_DIR / GT_NAME)
    return (
        engine,
        frames,
        detections,
        [t.R for t in truth[:FRAMES]],
        load_intrinsics(DEMO_CLIP_DIR / CAMERA_NAME),
    )


def track(clip, config: TrackerConfig | None = None, calibrate_at: int | None = None):
    engine, frames, detections, _, K = clip
    given = ExternalDetections()
    tracker = HeadPoseTracker(engine, given, config)
    faces = []
    for k, (frame, found) in enumerate(zip(frames, detections, strict=True)):
        given.set(found)
        if k == calibrate_at:
            tracker.request_calibration()
        result = tracker.process(frame.image, frame.stamp_ns, K)
        faces.append(result.faces[result.primary_index] if result.faces else None)
    return tracker, faces


def test_landmark_engine_builds_a_person_shape_and_a_bounded_keyframe_graph(clip):
    config = TrackerConfig(anchors=AnchorConfig(max_anchors=4, anchors_per_query=2, insert_min_angle_deg=6.0))
    tracker, faces = track(clip, config)
    assert tracker.geometric
    state = next(iter(tracker.states.values()))
    held = {a.anchor_id for a in state.anchors.anchors}
    assert 2 <= len(held) <= 4, "the turn inserts keyframes, eviction keeps at most max_anchors"
    assert set(state.geometry.graph.rotations) == held and len(state.geometry.shape) == len(held)
    for anchor in state.anchors.anchors:  # keyframe poses are the graph's solution
        assert np.allclose(anchor.rotation, state.geometry.graph.rotations[anchor.anchor_id])
    truth = clip[3]
    errors = [float(geodesic_deg(f.rotation, R)) for f, R in zip(faces, truth, strict=True) if f is not None]
    assert len(errors) >= FRAMES - 4 and np.mean(errors) < 12.0
    assert all(np.all(np.isfinite(f.covariance)) for f in faces if f is not None)


def test_calibration_changes_the_reference_frame_and_nothing_else(clip):
    _, plain = track(clip)
    _, calibrated = track(clip, calibrate_at=20)
    for k, (a, b) in enumerate(zip(plain, calibrated, strict=True)):
        assert (a is None) == (b is None)
        if a is None:
            continue
        np.testing.assert_array_equal(a.rotation, b.rotation)
        np.testing.assert_array_equal(a.position, b.position)
        assert a.reference_rotation is None
        assert (b.reference_rotation is None) == (k < 20)
    reference = calibrated[20].reference_rotation
    np.testing.assert_allclose(reference, calibrated[20].rotation)
    np.testing.assert_allclose(
        rotation_from_reference(reference, calibrated[20].rotation), np.eye(3), atol=1e-12
    )
    assert all(np.array_equal(f.reference_rotation, reference) for f in calibrated[20:] if f is not None)


def test_automatic_calibration_takes_the_first_confident_near_frontal_frame(clip):
    config = TrackerConfig(reference=ReferenceConfig(auto=True, auto_max_deg=15.0, auto_min_confidence=0.3))
    _, faces = track(clip, config)
    first = next(k for k, f in enumerate(faces) if f is not None and f.reference_rotation is not None)
    chosen = faces[first]
    assert geodesic_deg(chosen.reference_rotation, np.eye(3)) <= 15.0 and chosen.confidence >= 0.3
    assert all(f.reference_rotation is None for f in faces[:first] if f is not None)
    strict = dataclasses.replace(config, reference=ReferenceConfig(auto=True, auto_max_deg=0.01))
    _, never = track(clip, strict)
    assert all(f.reference_rotation is None for f in never if f is not None)
