"""Camera intrinsics: from values, a calibration file, a CameraInfo's K, or an assumed field of view.

Calibration files: a ROS ``camera_info`` YAML (``camera_calibration`` / ``camera_info_manager`` format with
``camera_matrix: {rows, cols, data}``, or a dumped CameraInfo message with ``k``/``K``) or an OpenCV
FileStorage YAML/XML with ``camera_matrix``, ``cameraMatrix`` or ``K``. Lens distortion is not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

from hpe_ros.errors import InputError

DEFAULT_HORIZONTAL_FOV_DEG = 60.0
"""Assumed when nothing else is known: a typical webcam / robot head camera."""

_MATRIX_KEYS = ("camera_matrix", "cameraMatrix", "K", "k")


def intrinsics_from_values(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """3x3 pinhole matrix; focal lengths must be positive."""
    if not all(math.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
        raise InputError(f"intrinsics need finite values and positive focal lengths, got {(fx, fy, cx, cy)}")
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def intrinsics_from_fov(
    width: int, height: int, horizontal_fov_deg: float = DEFAULT_HORIZONTAL_FOV_DEG
) -> np.ndarray:
    """Square pixels, principal point at the image centre, the given horizontal field of view."""
    if not 0.0 < horizontal_fov_deg < 180.0:
        raise InputError(f"field of view must be between 0 and 180 degrees, got {horizontal_fov_deg}")
    focal = (width / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)
    return intrinsics_from_values(focal, focal, (width - 1) / 2.0, (height - 1) / 2.0)


def _as_matrix(value: object) -> np.ndarray | None:
    if isinstance(value, dict):
        value = value.get("data")
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    return array.reshape(3, 3) if array.size == 9 else None


def load_intrinsics(path: Path) -> np.ndarray:
    """The 3x3 camera matrix of a ROS camera_info YAML or an OpenCV FileStorage file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"calibration file {path} does not exist")
    text = path.read_text(encoding="utf-8", errors="replace")
    matrix = None
    if not text.lstrip().startswith(("%YAML", "<?xml")):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InputError(f"calibration file {path} is not valid YAML: {error}") from None
        if isinstance(data, dict):
            matrix = next((m for key in _MATRIX_KEYS if (m := _as_matrix(data.get(key))) is not None), None)
    else:
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        try:
            for key in _MATRIX_KEYS:
                node = storage.getNode(key)
                if not node.empty() and node.isMap():
                    matrix = _as_matrix(node.mat())
                if matrix is not None:
                    break
        finally:
            storage.release()
    if matrix is None:
        raise InputError(f"calibration file {path} has no 3x3 camera matrix ({', '.join(_MATRIX_KEYS)})")
    return intrinsics_from_values(matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2])


def checked_intrinsics(K: np.ndarray) -> np.ndarray:
    """``K`` as a float64 3x3 matrix; InputError unless it is finite with positive focal lengths."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError(
            f"camera intrinsics must be a finite 3x3 matrix with positive focal lengths, got {K}"
        )
    return K


def intrinsics_for_image(
    k: Sequence[float] | None,
    info_width: int,
    info_height: int,
    width: int,
    height: int,
    default_fov_deg: float,
) -> tuple[np.ndarray, bool]:
    """``(K, from_camera_info)``: camera_info's K (row-major 9 values) scaled to the image size when it was
    calibrated at another resolution; the default field of view when there is no usable camera_info (None,
    or zero focal lengths as uncalibrated drivers publish)."""
    if k is not None and len(k) == 9:
        K = np.asarray(k, dtype=np.float64).reshape(3, 3)
        if np.isfinite(K).all() and K[0, 0] > 0 and K[1, 1] > 0:
            if info_width > 0 and info_height > 0 and (info_width, info_height) != (width, height):
                K = np.diag([width / info_width, height / info_height, 1.0]) @ K
            return K, True
    return intrinsics_from_fov(width, height, default_fov_deg), False
