"""The face-detector interface: a detection record, the detector protocol, outside boxes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from hpe_ros.image import as_rgb_uint8


@dataclass(frozen=True)
class Detection:
    """One face: box corners in pixels (x0, y0) top-left, (x1, y1) bottom-right, a score in [0, 1].

    ``keypoints`` is an optional (6, 2) array of pixel positions in BlazeFace order: right eye, left eye,
    nose tip, mouth centre, right ear tragion, left ear tragion ("right" = the subject's right).
    ``up_deg`` is the in-plane angle (degrees, clockwise as displayed; a multiple of 90) of the image
    orientation the face was found upright in: 0 for a detector run on the frame as it is.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: np.ndarray | None = None
    up_deg: float = 0.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        return (0.5 * (self.x0 + self.x1), 0.5 * (self.y0 + self.y1))


def detection_boxes(detections: Sequence[Detection]) -> np.ndarray:
    """[N, 4] float64 boxes (x0, y0, x1, y1) of ``detections``."""
    return np.array([[d.x0, d.y0, d.x1, d.y1] for d in detections], dtype=np.float64).reshape(-1, 4)


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces in an RGB uint8 image (H, W, 3); returns detections sorted by score."""

    def detect(self, image_rgb: np.ndarray) -> list[Detection]: ...


def clip_to_image(detection: Detection, width: int, height: int) -> Detection | None:
    """The detection with its box clipped to the image, or None when nothing of it lies inside."""
    x0, x1 = np.clip([detection.x0, detection.x1], 0.0, float(width))
    y0, y1 = np.clip([detection.y0, detection.y1], 0.0, float(height))
    if x1 <= x0 or y1 <= y0:
        return None
    return dataclasses.replace(detection, x0=float(x0), y0=float(y0), x1=float(x1), y1=float(y1))


class ExternalDetections:
    """A detector whose detections come from outside (e.g. another ROS node): set them, then ``detect``."""

    def __init__(self) -> None:
        self._detections: list[Detection] = []

    def set(self, detections: Sequence[Detection]) -> None:
        """Replace the detections that the next ``detect`` calls return."""
        self._detections = sorted(detections, key=lambda d: d.score, reverse=True)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """The detections last set, clipped to this image (the image is checked like any detector's input)."""
        image = as_rgb_uint8(image_rgb)
        height, width = image.shape[:2]
        clipped = (clip_to_image(d, width, height) for d in self._detections)
        return [d for d in clipped if d is not None]
