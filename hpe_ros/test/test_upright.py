"""Upright inference: in-plane angles, exact composition back, turned crops, equivariance on real faces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros.crop import CropBox, crop_and_resize
from hpe_ros.errors import InputError
from hpe_ros.geometry import geodesic_deg
from hpe_ros.upright import (
    PoseTransform,
    camera_roll,
    eye_line_angle_deg,
    from_upright,
    head_up_angle_deg,
    in_plane_angle_deg,
    relative_from_upright,
)


def test_in_plane_angle_is_the_roll_whatever_the_yaw_and_pitch():
    rng = np.random.default_rng(0)
    for _ in range(50):
        roll, yaw, pitch = rng.uniform(-180, 180), rng.uniform(-85, 85), rng.uniform(-60, 60)
        R = camera_roll(roll) @ Rotation.from_euler("YX", [yaw, pitch], degrees=True).as_matrix()
        assert in_plane_angle_deg(R) == pytest.approx(roll, abs=1e-6)


def test_head_up_angle_is_the_roll_without_nodding_and_stays_steady_toward_profile():
    rng = np.random.default_rng(1)
    for _ in range(50):
        roll, yaw = rng.uniform(-180, 180), rng.uniform(-90, 90)
        R = camera_roll(roll) @ Rotation.from_euler("Y", yaw, degrees=True).as_matrix()
        assert np.cos(np.radians(head_up_angle_deg(R) - roll)) == pytest.approx(1.0)
    profile = Rotation.from_euler("Y", 85.0, degrees=True)
    for _ in range(20):  # a 2° estimation error at 85° of yaw
        noisy = (
            Rotation.from_rotvec(np.radians(2.0) * rng.normal(size=3) / np.sqrt(3)) * profile
        ).as_matrix()
        assert abs(head_up_angle_deg(noisy)) < 4.0


def test_eye_line_angle_follows_a_turned_face():
    eyes = np.array([[80.0, 100.0], [120.0, 100.0], [100.0, 120.0]])  # right eye, left eye, nose
    assert eye_line_angle_deg(eyes) == pytest.approx(0.0)
    for angle in (30.0, 90.0, 180.0, -120.0):
        turned = PoseTransform("t", angle_deg=angle).apply_points(eyes.T, 200, (100.0, 100.0)).T
        assert np.cos(np.radians(eye_line_angle_deg(turned) - angle)) == pytest.approx(1.0)
    with pytest.raises(InputError):
        eye_line_angle_deg(np.zeros((1, 2)))


def test_composition_back_is_exact():
    rng = np.random.default_rng(1)
    R_a, R_q = Rotation.random(2, random_state=2).as_matrix()
    t_a, t_q = rng.normal(size=(2, 3))
    for angle_a, angle_q in ((0.0, 0.0), (30.0, -75.0), (180.0, 90.0)):
        # What an exact engine sees in crops turned by each face's angle.
        R_a_up, R_q_up = camera_roll(angle_a).T @ R_a, camera_roll(angle_q).T @ R_q
        t_a_up, t_q_up = camera_roll(angle_a).T @ t_a, camera_roll(angle_q).T @ t_q
        assert from_upright(R_q_up, angle_q) == pytest.approx(R_q)
        R_rel_up = R_q_up @ R_a_up.T
        R_rel, t_rel = relative_from_upright(R_rel_up, t_q_up - R_rel_up @ t_a_up, angle_a, angle_q)
        assert R_rel == pytest.approx(R_q @ R_a.T)
        assert t_rel == pytest.approx(t_q - R_rel @ t_a)


def test_a_turned_crop_of_a_turned_image_is_the_upright_crop():
    rng = np.random.default_rng(3)
    image = cv_blur(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8))
    box, size = CropBox.around(97.0, 83.0, 60.0), 48
    upright = crop_and_resize(image, box, size).astype(float)
    for angle in (30.0, 90.0, 180.0, -45.0):
        turned = PoseTransform("t", angle_deg=angle).apply_image(image, box.center)
        again = crop_and_resize(turned, box, size, angle_deg=angle).astype(float)
        assert np.abs(again - upright)[4:-4, 4:-4].mean() < 3.0, angle


def test_turned_crop_puts_a_point_where_the_turn_says():
    image = np.zeros((100, 100), np.float32)
    image[30, 70] = 1.0  # (u, v) = (70, 30): right of and above the centre (50, 50)
    crop = crop_and_resize(image, CropBox.around(50.0, 50.0, 64.0), 64, angle_deg=90.0)
    row, col = np.unravel_index(np.argmax(crop), crop.shape)
    # Turning the crop's axes by +90° (clockwise) maps source offset (20, −20) to crop offset (−20, −20).
    assert (col - 31.5, row - 31.5) == pytest.approx((-20.0, -20.0), abs=1.0)


def cv_blur(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), 2.0)


@pytest.fixture(scope="module")
def default_estimator():
    from hpe_ros.evaluate.estimators import load_estimator

    return load_estimator("default")


@pytest.mark.parametrize(("angle", "keypoints"), [(90.0, True), (180.0, True), (-30.0, False)])
def test_a_turned_real_face_gives_the_turned_pose(aflw2000_dev, default_estimator, angle, keypoints):
    """Equivariance on real dev faces with the shipped model: estimate(turned image) = Rz(θ)·estimate(image),
    with the eye keypoints of a detector, or without any (a first pass finds the angle)."""
    from hpe_ros.evaluate.aflw2000 import load_aflw2000, read_image_rgb
    from hpe_ros.evaluate.harness import image_center, landmark_face

    samples = [
        s for s in load_aflw2000(aflw2000_dev, aflw2000_dev / "SPLIT.txt") if abs(s.angles_deg[1]) < 30
    ]
    turn = PoseTransform("t", angle_deg=angle)
    gaps = []
    for sample in samples[:8]:
        image = read_image_rgb(sample.image_path)
        center = image_center(image)
        points = sample.keypoints() if keypoints else None
        R = default_estimator.estimate(image, landmark_face(sample.pt2d, points))
        turned_points = turn.apply_keypoints(points, image.shape[1], center) if keypoints else None
        # A detector that found the face in a quarter-turned view reports that turn as the image's up.
        up = 90.0 * round(angle / 90.0) if keypoints else 0.0
        turned_face = landmark_face(turn.apply_points(sample.pt2d, image.shape[1], center), turned_points, up)
        R_turned = default_estimator.estimate(turn.apply_image(image, center), turned_face)
        gaps.append(geodesic_deg(R_turned, turn.apply_rotation(R)))
    # Measured: median ~1° (the landmark box of a turned face is larger, so the crop differs a little);
    # without upright inference the median is 10-100°.
    assert np.median(gaps) < 4.0
