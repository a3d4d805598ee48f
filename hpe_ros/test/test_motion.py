"""Frame-to-frame head motion (:mod:`hpe_ros.motion`) on the bundled demo clip, whose true poses are known."""

from __future__ import annotations

import dataclasses
import itertools
from itertools import islice

import cv2
import numpy as np
import pytest

from hpe_ros.camera import load_intrinsics
from hpe_ros.detect import load_detector
from hpe_ros.engine import open_engine
from hpe_ros.geometry import geodesic_deg
from hpe_ros.image import to_gray
from hpe_ros.io.sources import VideoSource
from hpe_ros.model.default import default_model_path
from hpe_ros.motion import HeadMotion, MotionConfig, profile_sigma_deg
from hpe_ros.synth.clip import CAMERA_NAME, DEMO_CLIP_DIR, GT_NAME, VIDEO_NAME, read_ground_truth
from hpe_ros.tracker import HeadPoseTracker, TrackerConfig


@pytest.fixture(scope="module")
def demo() -> tuple[list[np.ndarray], list, np.ndarray]:
    """Grey frames, true poses and intrinsics of the demo clip."""
    truth, _ = read_ground_truth(DEMO_CLIP_DIR / GT_NAME)
    frames = [to_gray(f.image) for f in VideoSource(str(DEMO_CLIP_DIR / VIDEO_NAME))]
    return frames, truth, load_intrinsics(DEMO_CLIP_DIR / CAMERA_NAME)


def _seeded(gray: np.ndarray, K: np.ndarray, pose) -> HeadMotion:
    motion = HeadMotion(MotionConfig())
    centre = K @ pose.t
    u, v = centre[:2] / centre[2]
    half = K[0, 0] * 0.09 / pose.t[2]
    motion.seed(gray, K, pose.R, pose.t, np.array([u - half, v - half, u + half, v + half]))
    return motion


def test_steps_follow_the_turning_head(demo):
    frames, truth, K = demo
    errors, true_steps = [], []
    for k in range(25, 100, 3):  # the sweep
        step = _seeded(frames[k], K, truth[k]).step(frames[k + 1], K)
        assert step is not None and step.inliers >= MotionConfig().min_inliers
        true_step = truth[k + 1].R @ truth[k].R.T
        errors.append(float(geodesic_deg(step.rotation, true_step)))
        true_steps.append(float(geodesic_deg(true_step, np.eye(3))))
    assert np.mean(true_steps) > 1.5
    assert np.mean(errors) < 0.5 * np.mean(true_steps), "the step measures most of the head's turn"


def test_a_repeated_frame_is_no_motion(demo):
    frames, truth, K = demo
    step = _seeded(frames[40], K, truth[40]).step(frames[40], K)
    assert step is not None and float(geodesic_deg(step.rotation, np.eye(3))) < 0.05


def test_no_texture_or_no_seed_gives_no_step(demo):
    frames, truth, K = demo
    flat = np.full_like(frames[0], 128)
    assert _seeded(flat, K, truth[0]).step(flat, K) is None, "no features on a flat image"
    assert HeadMotion().step(frames[1], K) is None, "never seeded"
    seeded = _seeded(frames[0], K, truth[0])
    assert seeded.step(cv2.resize(frames[1], (64, 48)), K) is None, "a frame of another size"
    seeded.clear()
    assert seeded.step(frames[1], K) is None


def test_profile_sigma_grows_toward_profile():
    config = MotionConfig(profile_sigma_deg=10.0)
    yaw = [cv2.Rodrigues(np.array([0.0, np.radians(a), 0.0]))[0] for a in (0.0, 45.0, 90.0, 120.0)]
    sigmas = [profile_sigma_deg(R, config) for R in yaw]
    assert sigmas[0] == 0.0 and sigmas[1] == pytest.approx(5.0) and sigmas[2] == pytest.approx(10.0)
    assert sigmas[3] == pytest.approx(10.0), "beyond profile the sigma stays at its profile value"


def _track_demo(K: np.ndarray, motion: bool, frames: int) -> tuple[list[np.ndarray], HeadPoseTracker]:
    config = dataclasses.replace(TrackerConfig(), motion=MotionConfig(enabled=motion))
    tracker = HeadPoseTracker(open_engine(default_model_path()), load_detector("blazeface"), config)
    rotations = []
    for frame in islice(VideoSource(str(DEMO_CLIP_DIR / VIDEO_NAME)), frames):
        result = tracker.process(frame.image, frame.stamp_ns, K)
        rotations.append(result.faces[0].rotation if result.faces else None)
    return rotations, tracker


def test_tracker_with_motion_stays_still_and_follows_the_turn(demo):
    _, truth, K = demo
    with_motion, tracker = _track_demo(K, True, 60)
    without, _ = _track_demo(K, False, 60)
    assert tracker.uses_motion and next(iter(tracker.states.values())).motion.step(demo[0][59], K) is not None
    assert all(R is not None for R in with_motion[1:])
    errors = [float(geodesic_deg(R, truth[k].R)) for k, R in enumerate(with_motion) if k]
    errors_without = [float(geodesic_deg(R, truth[k].R)) for k, R in enumerate(without) if k]
    assert np.mean(errors) < np.mean(errors_without) + 2.0, "the turn (frames 24-60) is followed as well"

    def still_speed(rotations: list[np.ndarray]) -> float:  # the head is still over frames 1-23
        return float(np.mean([geodesic_deg(a, b) for a, b in itertools.pairwise(rotations[1:23])]))

    assert still_speed(with_motion) < still_speed(without), "the still head moves less"
