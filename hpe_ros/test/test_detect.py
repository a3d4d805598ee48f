"""Face detectors on a real AFLW2000 image, a blank image, and bad inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.io

from hpe_ros.detect import (
    FULL_RANGE,
    SHORT_RANGE,
    BlazeFaceDetector,
    Detection,
    ExternalDetections,
    MultiPassDetector,
    OnnxFaceDetector,
    load_detector,
)
from hpe_ros.detect.multipass import View
from hpe_ros.errors import InputError, ModelFileError
from hpe_ros.image import as_rgb_uint8

IMAGE = "image00013"


@pytest.fixture(scope="module")
def face_image(aflw2000_dev):
    """A real dev image (RGB) and its 68 ground-truth landmarks in pixels (2, 68), from ``pt3d_68``."""
    folder = aflw2000_dev
    image = cv2.cvtColor(cv2.imread(str(folder / f"{IMAGE}.jpg")), cv2.COLOR_BGR2RGB)
    return image, scipy.io.loadmat(str(folder / f"{IMAGE}.mat"))["pt3d_68"][:2]


@pytest.fixture(scope="module")
def rfb320(shared):
    path = shared / "baselines" / "rfb320" / "version-RFB-320.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return OnnxFaceDetector(path)


@pytest.fixture(scope="module")
def blazeface():
    detector = BlazeFaceDetector(min_score=0.5)
    yield detector
    detector.close()


def _assert_box_holds_landmarks(detection: Detection, pt2d: np.ndarray) -> None:
    """The face box covers the centre of the landmarks and has a face-like size."""
    cx, cy = pt2d.mean(axis=1)
    assert detection.x0 < cx < detection.x1 and detection.y0 < cy < detection.y1
    span = max(np.ptp(pt2d[0]), np.ptp(pt2d[1]))
    assert 0.5 * span < detection.width < 2.0 * span


def test_blazeface_finds_the_face_with_keypoints_in_place(blazeface, face_image):
    image, pt2d = face_image
    detections = blazeface.detect(image)
    assert len(detections) == 1
    face = detections[0]
    assert face.score > 0.5
    _assert_box_holds_landmarks(face, pt2d)
    # Keypoint 2 is the nose tip: near landmark 30 (0-based) of the 68-point annotation.
    assert np.linalg.norm(face.keypoints[2] - pt2d[:, 30]) < 0.15 * face.width


def test_blazeface_several_faces_and_none_in_blank(blazeface, face_image):
    image, _ = face_image
    assert blazeface.detect(np.zeros((240, 320, 3), np.uint8)) == []
    assert blazeface.detect(np.full((240, 320), 128, np.uint8)) == []  # grayscale is accepted
    pair = np.concatenate([image, image[:, ::-1]], axis=1)
    faces = blazeface.detect(pair)
    assert len(faces) == 2
    assert sorted(f.center[0] < image.shape[1] for f in faces) == [False, True]


def test_multipass_search_reports_only_faces_not_yet_known_and_releases_its_graphs(face_image):
    image, pt2d = face_image
    detector = MultiPassDetector()
    (face,) = detector.detect(image)
    assert detector.last_pass == 0
    _assert_box_holds_landmarks(face, pt2d)
    assert detector.detect_missing(image, [face]) == []  # the later passes find that face again: not new
    assert detector.last_pass == -1
    detector.close()


def test_multipass_search_skips_only_the_pass_its_caller_ran(face_image):
    image, _ = face_image
    detector = MultiPassDetector(passes=((FULL_RANGE, View()), (SHORT_RANGE, View())))
    assert detector.detect_missing(image, []) and detector.last_pass == 1  # after a full-range caller
    # After a short-range caller the full-range pass is still to try (it was skipped before).
    assert detector.detect_missing(image, [], ran=(SHORT_RANGE, View())) and detector.last_pass == 0
    detector.close()


def test_onnx_rfb320_finds_the_face_and_none_in_blank(rfb320, face_image):
    image, pt2d = face_image
    detections = rfb320.detect(image)
    assert len(detections) == 1  # NMS merged the overlapping anchors
    _assert_box_holds_landmarks(detections[0], pt2d)
    assert rfb320.detect(np.zeros((240, 320, 3), np.uint8)) == []


def test_onnx_detector_rejects_bad_model_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        OnnxFaceDetector(tmp_path / "missing.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx model")
    with pytest.raises(ModelFileError, match="cannot load"):
        OnnxFaceDetector(corrupt)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 10, 3), np.uint16), "8-bit"),
        (np.zeros((10, 10, 3), np.float32), "8-bit"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        ([[0, 1], [2, 3]], "numpy array"),
    ],
)
def test_bad_images_raise_input_error(image, message):
    with pytest.raises(InputError, match=message):
        as_rgb_uint8(image)


def test_grayscale_and_rgba_are_converted():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = as_rgb_uint8(gray)
    assert rgb.shape == (3, 4, 3) and (rgb[..., 1] == gray).all()
    assert as_rgb_uint8(np.zeros((3, 4, 4), np.uint8)).shape == (3, 4, 3)


def test_external_detections_are_clipped_to_the_image():
    source = ExternalDetections()
    source.set([Detection(-5, 2, 8, 9, 0.4), Detection(1, 1, 4, 4, 0.9), Detection(50, 50, 60, 60, 1.0)])
    found = source.detect(np.zeros((20, 10, 3), np.uint8))
    assert [d.score for d in found] == [0.9, 0.4]
    assert (found[1].x0, found[1].x1) == (0.0, 8.0)


def test_load_detector_rejects_unknown_spec():
    with pytest.raises(InputError, match="unknown face detector"):
        load_detector("yolo")
