"""Head position from a face box and intrinsics, and from a depth image, for known geometries."""

import numpy as np
import pytest

from hpe_ros.errors import InputError
from hpe_ros.translation import TranslationConfig, depth_in_box, head_position, position_from_box

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])


def project(point: np.ndarray) -> np.ndarray:
    uvw = K @ point
    return uvw[:2] / uvw[2]


def test_box_of_a_face_at_a_known_position():
    config = TranslationConfig(face_width_m=0.16)
    truth = np.array([0.3, -0.1, 1.5])
    centre = project(truth)
    half = 600.0 * 0.16 / 1.5 / 2  # a 16 cm wide face 1.5 m away spans 64 px
    box = np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])
    np.testing.assert_allclose(position_from_box(box, K, config), truth, atol=1e-9)


def test_depth_image_overrides_the_size_prior():
    depth_mm = np.full((480, 640), 2000, dtype=np.uint16)
    depth_mm[200:280, 280:360] = 900  # the face at 0.9 m in front of a wall at 2 m
    depth_mm[235:245, 315:325] = 0  # holes are ignored
    box = np.array([280.0, 200.0, 360.0, 280.0])
    assert depth_in_box(depth_mm, box) == pytest.approx(0.9)
    position, from_depth = head_position(box, K, depth_mm)
    assert from_depth
    np.testing.assert_allclose(position, [0.0, 0.0, 0.9], atol=1e-9)
    metres = depth_mm.astype(np.float32) / 1000.0
    assert depth_in_box(metres, box) == pytest.approx(0.9)


def test_missing_depth_falls_back_to_the_box():
    box = np.array([280.0, 200.0, 370.0, 290.0])
    position, from_depth = head_position(box, K, np.zeros((480, 640), np.uint16))
    assert not from_depth
    np.testing.assert_allclose(position, position_from_box(box, K))


def test_bad_box_and_depth_raise_input_error():
    with pytest.raises(InputError):
        position_from_box(np.array([10.0, 10.0, 10.0, 30.0]), K)
    with pytest.raises(InputError):
        depth_in_box(np.zeros((0, 0)), np.array([0.0, 0.0, 1.0, 1.0]))
