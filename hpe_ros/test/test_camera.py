"""Camera intrinsics from values, calibration files (ROS camera_info, OpenCV) and an assumed field of view."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from hpe_ros.camera import intrinsics_from_fov, load_intrinsics
from hpe_ros.errors import InputError

EXPECTED = np.array([[612.5, 0.0, 318.2], [0.0, 610.0, 241.7], [0.0, 0.0, 1.0]])

ROS_CAMERA_INFO = """\
image_width: 640
image_height: 480
camera_name: head_camera
camera_matrix:
  rows: 3
  cols: 3
  data: [612.5, 0.0, 318.2, 0.0, 610.0, 241.7, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0.1, -0.2, 0.0, 0.0, 0.0]}
"""


def test_fov_gives_the_focal_length_of_that_angle():
    K = intrinsics_from_fov(640, 480, 90.0)
    assert K[0, 0] == pytest.approx(320.0) and K[1, 1] == pytest.approx(320.0)
    assert (K[0, 2], K[1, 2]) == (319.5, 239.5)
    with pytest.raises(InputError):
        intrinsics_from_fov(640, 480, 180.0)


def test_ros_camera_info_and_message_dump(tmp_path: Path):
    (tmp_path / "head_camera.yaml").write_text(ROS_CAMERA_INFO)
    np.testing.assert_allclose(load_intrinsics(tmp_path / "head_camera.yaml"), EXPECTED)
    (tmp_path / "dump.yaml").write_text(f"height: 480\nwidth: 640\nk: {EXPECTED.ravel().tolist()}\n")
    np.testing.assert_allclose(load_intrinsics(tmp_path / "dump.yaml"), EXPECTED)


def test_opencv_filestorage(tmp_path: Path):
    path = tmp_path / "calib.yml"
    storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    storage.write("camera_matrix", EXPECTED)
    storage.release()
    np.testing.assert_allclose(load_intrinsics(path), EXPECTED)


def test_unusable_calibration_files(tmp_path: Path):
    with pytest.raises(InputError, match="does not exist"):
        load_intrinsics(tmp_path / "missing.yaml")
    (tmp_path / "other.yaml").write_text("camera_matrix: {rows: 2, cols: 2, data: [1, 0, 0, 1]}\n")
    with pytest.raises(InputError, match="no 3x3"):
        load_intrinsics(tmp_path / "other.yaml")
    (tmp_path / "broken.yaml").write_text("camera_matrix: [1, 2\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_intrinsics(tmp_path / "broken.yaml")
    (tmp_path / "negative.yaml").write_text("K: [-1, 0, 0, 0, 1, 0, 0, 0, 1]\n")
    with pytest.raises(InputError, match="positive"):
        load_intrinsics(tmp_path / "negative.yaml")
