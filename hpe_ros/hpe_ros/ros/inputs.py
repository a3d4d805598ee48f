"""What the node makes of its side inputs: intrinsics from camera_info (or a default field of view), and
external detections or depth images paired with an image by stamp."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from hpe_ros.detect import Detection
from hpe_ros.io.intrinsics import intrinsics_from_fov

T = TypeVar("T")


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


def detection_from_centre(cx: float, cy: float, width: float, height: float, score: float) -> Detection:
    """A :class:`Detection` from a centre-size box (vision_msgs/BoundingBox2D) and a score."""
    return Detection(cx - width / 2.0, cy - height / 2.0, cx + width / 2.0, cy + height / 2.0, float(score))


@dataclass(frozen=True)
class Stamped(Generic[T]):
    """A side input (depth image, detections) with the stamp of the image it belongs to."""

    stamp_ns: int
    value: T


def paired(latest: Stamped[T] | None, image_stamp_ns: int, tolerance_s: float) -> T | None:
    """``latest.value`` when its stamp is within ``tolerance_s`` of the image's, else None."""
    if latest is None or abs(latest.stamp_ns - image_stamp_ns) > tolerance_s * 1e9:
        return None
    return latest.value
