"""What the node makes of its side inputs: external detections or depth images paired with an image by stamp
(intrinsics from camera_info: :func:`hpe_ros.camera.intrinsics_for_image`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from hpe_ros.detect import Detection

T = TypeVar("T")


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
