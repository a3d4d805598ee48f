"""Anchor keyframe buffer: rotation fusion against known answers, bootstrap, selection, insert, evict."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros.anchors import AnchorBuffer, AnchorConfig, fuse_rotations
from hpe_ros.errors import InputError
from hpe_ros.geometry import geodesic_deg

CROP = np.zeros((3, 8, 8), dtype=np.float32)


def yaw(deg: float) -> np.ndarray:
    """Head turned about the camera's vertical axis (y, optical frame)."""
    return Rotation.from_euler("y", deg, degrees=True).as_matrix()


def about(axis: str, degs) -> np.ndarray:
    return Rotation.from_euler(axis, np.reshape(degs, (-1, 1)), degrees=True).as_matrix()


def test_fusion_of_symmetric_estimates_is_their_centre_with_their_spread():
    truth = Rotation.from_rotvec([0.2, -0.4, 0.1])
    estimates = (Rotation.from_matrix(about("x", [-10.0, 10.0])) * truth).as_matrix()
    fused = fuse_rotations(estimates, None, AnchorConfig(prior_sigma_deg=0.0))
    assert geodesic_deg(fused.rotation, truth.as_matrix()) < 1e-6
    assert fused.spread_deg == pytest.approx(10.0, abs=1e-6)
    # The scatter is about the camera x axis only.
    expected = np.radians(10.0) ** 2
    np.testing.assert_allclose(fused.covariance, np.diag([expected, 0.0, 0.0]), atol=1e-9)


def test_fusion_drops_an_outlier_and_lowers_confidence():
    estimates = np.concatenate([about("y", [28.0, 30.0, 32.0]), about("y", [120.0])])
    config = AnchorConfig(outlier_deg=20.0)
    fused = fuse_rotations(estimates, None, config)
    assert fused.inliers.tolist() == [True, True, True, False]
    assert geodesic_deg(fused.rotation, yaw(30.0)) < 1e-6
    clean = fuse_rotations(estimates[:3], None, config)
    assert fused.confidence == pytest.approx(clean.confidence * 0.75)
    # A single estimate carries only the prior.
    single = fuse_rotations(estimates[:1], None, AnchorConfig(prior_sigma_deg=8.0))
    np.testing.assert_allclose(np.degrees(np.sqrt(np.diag(single.covariance))), 8.0)


def test_fuse_composes_relative_predictions_with_anchor_poses():
    buffer = AnchorBuffer(AnchorConfig(anchors_per_query=3))
    buffer.calibrate(CROP, 0)
    buffer.anchors += [buffer._make(CROP, i, yaw(deg), 1.0) for i, deg in ((1, 20.0), (2, 40.0))]
    query = Rotation.from_euler("yx", [35.0, 5.0], degrees=True).as_matrix()
    anchors = buffer.select(query)
    relative = np.stack([query @ a.rotation.T for a in anchors])  # exact R_q←a
    estimate = buffer.fuse(anchors, relative)
    assert geodesic_deg(estimate.fused.rotation, query) < 1e-6
    assert estimate.num_anchors == 3 and estimate.fused.confidence > 0.5
    with pytest.raises(InputError):
        buffer.fuse(anchors, relative[:2])


def test_bootstrap_takes_a_neutral_frame_at_once_or_the_most_neutral_of_the_first():
    buffer = AnchorBuffer(AnchorConfig(bootstrap_frames=4, bootstrap_neutral_deg=10.0))
    assert not buffer.offer_bootstrap(CROP, 0, yaw(40.0), 0.9)
    assert buffer.offer_bootstrap(CROP, 1, yaw(5.0), 0.9)
    assert buffer.anchors[0].stamp_ns == 1 and buffer.root_id == buffer.anchors[0].anchor_id

    buffer = AnchorBuffer(AnchorConfig(bootstrap_frames=4, bootstrap_neutral_deg=10.0))
    results = [
        buffer.offer_bootstrap(CROP, i, yaw(deg), 0.9) for i, deg in enumerate([50.0, -30.0, 20.0, 45.0])
    ]
    assert results == [False, False, False, True]
    assert len(buffer.anchors) == 1 and buffer.anchors[0].stamp_ns == 2


def test_calibration_sets_a_frontal_root_and_clear_resets():
    buffer = AnchorBuffer()
    root = buffer.calibrate(CROP, 7)
    np.testing.assert_array_equal(root.rotation, np.eye(3))
    assert buffer.bootstrapped
    buffer.clear()
    assert not buffer.bootstrapped and buffer.select(np.eye(3)) == []


def test_insertion_needs_confidence_and_distance():
    buffer = AnchorBuffer(AnchorConfig(insert_min_angle_deg=12.0, insert_min_confidence=0.5))
    assert buffer.consider(CROP, 0, yaw(30.0), 0.9) is None  # not bootstrapped
    buffer.calibrate(CROP, 0)
    assert buffer.consider(CROP, 1, yaw(8.0), 0.9) is None  # too close to the root
    assert buffer.consider(CROP, 2, yaw(30.0), 0.3) is None  # not confident
    assert buffer.consider(CROP, 3, yaw(30.0), 0.9) is not None
    assert len(buffer.anchors) == 2


def test_eviction_bounds_memory_keeps_the_root_and_covers_the_poses_seen():
    config = AnchorConfig(
        max_anchors=6, anchors_per_query=2, insert_min_angle_deg=5.0, insert_min_confidence=0.1
    )
    buffer = AnchorBuffer(config)
    root = buffer.calibrate(CROP, 0)
    rng = np.random.default_rng(0)
    sweep = np.concatenate([np.linspace(5, 80, 40), np.linspace(-5, -80, 40)])
    for i, deg in enumerate(sweep, start=1):
        buffer.consider(CROP, i, yaw(deg), float(rng.uniform(0.5, 1.0)))
        assert len(buffer.anchors) <= 6
    assert len(buffer.anchors) == 6
    assert root in buffer.anchors
    yaws = sorted(np.degrees(Rotation.from_matrix(a.rotation).as_rotvec()[1]) for a in buffer.anchors)
    # Coverage: both extremes of the sweep are still represented and no two anchors crowd together.
    assert yaws[0] < -60.0 and yaws[-1] > 60.0
    assert np.min(np.diff(yaws)) > 15.0


def test_selection_policies():
    config = AnchorConfig(anchors_per_query=2, max_anchors=5)
    buffer = AnchorBuffer(config)
    buffer.calibrate(CROP, 0)
    for stamp, deg, conf in ((10, 60.0, 0.6), (20, -40.0, 0.95), (30, 25.0, 0.7), (40, -15.0, 0.8)):
        buffer.anchors.append(buffer._make(CROP, stamp, yaw(deg), conf))

    def stamps(policy, previous=None):
        buffer.config.policy = policy
        return [a.stamp_ns for a in buffer.select(previous)]

    assert stamps("nearest", yaw(50.0)) == [10, 30]
    assert stamps("nearest") == [40, 30]  # no previous estimate: temporally adjacent
    assert stamps("recent") == [40, 30]
    assert stamps("neutral") == [0, 40]
    assert stamps("best") == [0, 20]  # the calibrated root has confidence 1


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(InputError, match="policy"):
        AnchorConfig(policy="closest")
    with pytest.raises(InputError):
        AnchorConfig(anchors_per_query=8, max_anchors=4)
