"""hpe_ros.crop: box protocols, the crop itself, and the crop camera's intrinsics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros.crop import (
    CropBox,
    box_from_detection,
    box_from_landmarks,
    crop_and_resize,
    crop_intrinsics,
    crop_view_rotation,
)
from hpe_ros.errors import InputError

K = np.array([[500.0, 0.0, 319.5], [0.0, 510.0, 239.5], [0.0, 0.0, 1.0]])


def project(K: np.ndarray, points: np.ndarray) -> np.ndarray:
    uvw = points @ K.T
    return uvw[:, :2] / uvw[:, 2:]


def centroid(image: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(image.shape)
    weights = image / image.sum()
    return np.array([(cols * weights).sum(), (rows * weights).sum()])


def test_box_from_landmarks_reproduces_sixdrepnet_arithmetic():
    # Landmark box (100, 100)-(200, 200): x_min = 60, y_min = 60, x_max = 200 + 0.4·140 = 256,
    # y_max = 200 + 0.12·140 = 216.8 -> int() -> 196 x 156 rectangle; the 224/256 centre crop of its short
    # side, centred on the rectangle (PIL's edge 60 is u = 59.5 in pixel-centre coordinates).
    box = box_from_landmarks(np.array([[100.0, 100.0], [200.0, 200.0], [150.0, 120.0]]))
    assert box.side == pytest.approx(156 * 224 / 256)
    assert box.center == pytest.approx((60 - 0.5 + 98, 60 - 0.5 + 78))


def test_box_from_landmarks_invisible_points():
    pts = np.array([[100.0, 100.0], [200.0, 200.0], [-1.0, 452.0]])
    kept, dropped = box_from_landmarks(pts), box_from_landmarks(pts, drop_invisible=True)
    assert dropped == box_from_landmarks(pts[:2])
    assert kept.side > dropped.side
    with pytest.raises(InputError):
        box_from_landmarks(np.array([[-1.0, 5.0], [3.0, -1.0]]), drop_invisible=True)
    with pytest.raises(InputError):
        box_from_landmarks(np.zeros((2, 5)))


def test_box_from_detection_known_answer_and_errors():
    box = box_from_detection(10.0, 20.0, 50.0, 100.0)
    assert box.center == pytest.approx((30.0, 60.0))
    assert box.side == pytest.approx(80.0 * 1.4)
    assert box_from_detection(0.0, 0.0, 10.0, 10.0, margin=0.0).side == pytest.approx(10.0)
    with pytest.raises(InputError):
        box_from_detection(10.0, 10.0, 10.0, 30.0)
    with pytest.raises(InputError):
        CropBox(0.0, 0.0, 0.0)
    with pytest.raises(InputError):
        CropBox(math.nan, 0.0, 10.0)


def test_crop_of_the_whole_image_is_the_image():
    image = np.random.default_rng(0).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_and_resize(image, CropBox(-0.5, -0.5, 40), 40), image)
    gray = image[..., 0]
    np.testing.assert_array_equal(crop_and_resize(gray, CropBox(-0.5, -0.5, 40), 40), gray)
    np.testing.assert_allclose(crop_intrinsics(K, CropBox(-0.5, -0.5, 40), 40), K)


def test_crop_outside_the_image_is_zero_padded():
    image = np.full((50, 60, 3), 200, dtype=np.uint8)
    crop = crop_and_resize(image, CropBox(-30.5, 9.5, 60), 60)  # left half outside
    assert crop.dtype == np.uint8 and crop.shape == (60, 60, 3)
    assert (crop[:, :29] == 0).all() and (crop[:40, 31:] == 200).all() and (crop[41:] == 0).all()
    assert (crop_and_resize(image, CropBox(500.0, 500.0, 30.0), 16) == 0).all()
    huge = crop_and_resize(image, CropBox(-1e5, -1e5, 3e5), 8)  # no giant allocation, image in the middle
    assert huge.shape == (8, 8, 3)


def test_crop_rejects_bad_input():
    with pytest.raises(InputError):
        crop_and_resize(np.zeros((0, 10, 3), np.uint8), CropBox(0.0, 0.0, 5.0), 8)
    with pytest.raises(InputError):
        crop_and_resize(np.zeros(10, np.uint8), CropBox(0.0, 0.0, 5.0), 8)
    with pytest.raises(InputError):
        crop_and_resize(np.zeros((10, 10, 3), np.uint8), CropBox(0.0, 0.0, 5.0), 0)
    with pytest.raises(InputError):
        crop_intrinsics(np.eye(2), CropBox(0.0, 0.0, 5.0), 8)


@pytest.mark.parametrize(
    "box",
    [CropBox(250.3, 180.7, 60.0), CropBox(100.2, 40.9, 330.0), CropBox(-80.0, -50.0, 400.0)],
    ids=["upscale", "downscale", "partly-outside"],
)
def test_points_project_to_the_same_place_through_the_crop(box):
    """Blobs drawn at K's projections land, after the crop, where K_crop projects the same 3-D points."""
    size = 128
    fractions = np.array([[0.3, 0.4], [0.7, 0.35], [0.55, 0.7]])  # where in the box the points are seen
    depths = np.array([0.8, 1.0, 1.3])
    rays = np.linalg.solve(K, np.c_[np.array([box.x0, box.y0]) + fractions * box.side, np.ones(3)].T).T
    points = rays * depths[:, None]
    pixels_crop = project(crop_intrinsics(K, box, size), points)
    np.testing.assert_allclose(pixels_crop, fractions * size - 0.5, atol=1e-9)  # crop pixel centres
    radius = 2.0 * max(box.side / size, 1.0)  # a blob a few crop pixels wide
    rows, cols = np.indices((480, 640))
    for (u, v), expected in zip(project(K, points), pixels_crop, strict=True):
        blob = np.exp(-((cols - u) ** 2 + (rows - v) ** 2) / (2 * radius**2)).astype(np.float32)
        np.testing.assert_allclose(centroid(crop_and_resize(blob, box, size)), expected, atol=0.1)


def sixdrepnet_reference_crop(image, pt2d: np.ndarray) -> np.ndarray:
    """6DRepNet's AFLW2000 pipeline in PIL: loose landmark crop, Resize(256), CenterCrop(224)."""
    from PIL import Image

    x_min, y_min = pt2d.min(axis=0)
    x_max, y_max = pt2d.max(axis=0)
    k = 0.20
    x_min -= 2 * k * abs(x_max - x_min)
    y_min -= 2 * k * abs(y_max - y_min)
    x_max += 2 * k * abs(x_max - x_min)
    y_max += 0.6 * k * abs(y_max - y_min)
    crop = image.crop((int(x_min), int(y_min), int(x_max), int(y_max)))
    w, h = crop.size
    new_w, new_h = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    resized = crop.resize((new_w, new_h), Image.BILINEAR)
    top, left = round((new_h - 224) / 2.0), round((new_w - 224) / 2.0)
    return np.asarray(resized.crop((left, top, left + 224, top + 224)))


def test_landmark_crop_matches_sixdrepnet_pipeline_on_aflw2000(aflw2000_dev):
    from PIL import Image
    from scipy.io import loadmat

    images = sorted(aflw2000_dev.glob("*.jpg"))[:6]
    for path in images:
        pt2d = loadmat(path.with_suffix(".mat"), variable_names=["pt2d"])["pt2d"].T
        image = Image.open(path).convert("RGB")
        reference = sixdrepnet_reference_crop(image, pt2d).astype(np.float64)
        ours = crop_and_resize(np.asarray(image), box_from_landmarks(pt2d), 224).astype(np.float64)
        inner = np.s_[3:-3, 3:-3]
        differences = {
            (dy, dx): np.abs(np.roll(ours, (dy, dx), axis=(0, 1))[inner] - reference[inner]).mean()
            for dy in range(-3, 4)
            for dx in range(-3, 4)
        }
        best_dy, best_dx = min(differences, key=differences.get)
        assert abs(best_dy) <= 1 and abs(best_dx) <= 1, path.name  # torchvision's rounding: at most a pixel
        assert differences[(0, 0)] < 5.0, path.name  # grey levels: the same picture up to resampling


def test_crop_view_rotation_looks_through_the_box_centre_without_rolling():
    square = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
    centred = crop_view_rotation(square, CropBox.around(319.5, 239.5, 100.0))
    np.testing.assert_allclose(centred, np.eye(3), atol=1e-12)
    V = crop_view_rotation(square, CropBox.around(619.5, 39.5, 80.0))
    ray = np.linalg.solve(square, [619.5, 39.5, 1.0])
    np.testing.assert_allclose(V @ [0.0, 0.0, 1.0], ray / np.linalg.norm(ray), atol=1e-12)
    np.testing.assert_allclose(V.T @ V, np.eye(3), atol=1e-12)
    axis = Rotation.from_matrix(V).as_rotvec()
    assert abs(axis[2]) < 1e-12  # turned about an axis in the image plane: no roll added
    assert np.degrees(np.linalg.norm(axis)) == pytest.approx(np.degrees(np.arctan(np.hypot(300, 200) / 500)))
