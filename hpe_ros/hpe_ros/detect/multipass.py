"""A face detector that tries again when it finds nothing: BlazeFace passes on edited views of the image.

BlazeFace misses faces it was not trained for: large close-up faces (the full-range model expects faces far
away), faces turned toward profile, and faces at a large roll or upside down. Each pass runs a BlazeFace model
on an exact affine view of the frame (mirrored, zoomed out into a larger canvas, turned by 90°, 180° or
270°) and maps its boxes and keypoints back (a mirror also swaps the subject's sides of the keypoints). The
passes run in order and the first one that finds any face answers, so a frame where the first pass finds a
face costs one pass, and only a frame where it does not pays for more (at most all of them: a frame without
any face). Every pass keeps BlazeFace's own score threshold; nothing new is accepted below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from hpe_ros.detect.base import Detection, clip_to_image, detection_boxes
from hpe_ros.detect.blazeface import FULL_RANGE, SHORT_RANGE, BlazeFaceDetector
from hpe_ros.image import as_rgb_uint8
from hpe_ros.tracks import not_covered
from hpe_ros.upright import MIRRORED_KEYPOINTS


@dataclass(frozen=True)
class View:
    """An edit of the frame: mirror first, then a turn by a multiple of 90° clockwise, then a zoom-out that
    puts the frame in the middle of a canvas ``zoom_out`` times larger (black around it)."""

    mirror: bool = False
    quarter_turns: int = 0
    zoom_out: float = 1.0

    def matrix(self, width: int, height: int) -> tuple[np.ndarray, tuple[int, int]]:
        """The 3x3 map from frame pixel (u, v) to view pixel, and the view's (width, height)."""
        flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        A = flip if self.mirror else np.eye(3)
        w, h = width, height
        for _ in range(self.quarter_turns % 4):  # clockwise as displayed: (u, v) -> (h − 1 − v, u)
            A = np.array([[0.0, -1.0, h - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ A
            w, h = h, w
        if self.zoom_out != 1.0:
            W, H = round(w * self.zoom_out), round(h * self.zoom_out)
            A = np.array([[1.0, 0.0, (W - w) // 2], [0.0, 1.0, (H - h) // 2], [0.0, 0.0, 1.0]]) @ A
            w, h = W, H
        return A, (w, h)

    def apply(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The view of an image and the 3x3 map back from view pixels to frame pixels."""
        height, width = image.shape[:2]
        if not self.mirror and not self.quarter_turns % 4 and self.zoom_out == 1.0:
            return image, np.eye(3)
        A, size = self.matrix(width, height)
        view = cv2.warpAffine(image, A[:2], size, flags=cv2.INTER_NEAREST, borderValue=0)
        return view, np.linalg.inv(A)


def map_detection(detection: Detection, back: np.ndarray, view: View) -> Detection:
    """A detection in a view mapped back to the frame (box = bounding box of the mapped corners; ``up_deg``
    the frame's angle of the view's up: a face upright in a view turned clockwise is turned anticlockwise in
    the frame, clockwise when the view is also mirrored)."""
    corners = np.array(
        [
            [detection.x0, detection.x1, detection.x1, detection.x0],
            [detection.y0, detection.y0, detection.y1, detection.y1],
            [1.0, 1.0, 1.0, 1.0],
        ]
    )
    (x0, y0), (x1, y1) = (back @ corners)[:2].min(axis=1), (back @ corners)[:2].max(axis=1)
    keypoints = None
    if detection.keypoints is not None:
        points = np.c_[detection.keypoints, np.ones(len(detection.keypoints))] @ back[:2].T
        keypoints = points[MIRRORED_KEYPOINTS] if view.mirror and len(points) == 6 else points
    turn = 90.0 * view.quarter_turns * (1 if view.mirror else -1)
    up_deg = (turn + 180.0) % 360.0 - 180.0
    return Detection(float(x0), float(y0), float(x1), float(y1), detection.score, keypoints, up_deg)


DEFAULT_PASSES: tuple[tuple[int, View], ...] = (
    (FULL_RANGE, View()),
    (SHORT_RANGE, View()),
    (SHORT_RANGE, View(mirror=True)),
    (SHORT_RANGE, View(zoom_out=2.0)),
    (SHORT_RANGE, View(quarter_turns=1)),
    (SHORT_RANGE, View(quarter_turns=3)),
    (SHORT_RANGE, View(quarter_turns=2)),
)
"""Full range on the frame (the single-pass default), then the short-range model (close-up faces, which it
finds far more often), mirrored (its misses are not symmetric), zoomed out (faces too large for it), and
turned by a quarter, three quarters and half a turn (faces at any roll, upside-down included)."""


class MultiPassDetector:
    """Faces from BlazeFace passes on views of the frame; the first pass that finds a face answers."""

    name = "blazeface-multi"

    def __init__(self, passes: Sequence[tuple[int, View]] = DEFAULT_PASSES, min_score: float = 0.5) -> None:
        models = {model for model, _ in passes}
        self._detectors: dict[int, BlazeFaceDetector] = {
            model: BlazeFaceDetector(min_score=min_score, model_selection=model) for model in models
        }
        self.passes = tuple(passes)
        self.last_pass = -1  # index of the pass that answered the last call (-1: none found a face)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image, best score first, from the first pass that finds any."""
        return self._first_found(as_rgb_uint8(image_rgb), range(len(self.passes)), [])

    def detect_missing(
        self, image_rgb: np.ndarray, known: Sequence[Detection], ran: tuple[int, View] = (FULL_RANGE, View())
    ) -> list[Detection]:
        """Faces that the ``known`` detections (from the caller's own detector, the pass ``ran``) do not
        cover (:func:`hpe_ros.tracks.not_covered`), from the first of the other passes that finds one: how a
        tracker looks harder when a face it tracks went missing, without paying for it on other frames."""
        others = [index for index, done in enumerate(self.passes) if done != ran]
        return self._first_found(as_rgb_uint8(image_rgb), others, list(known))

    def _first_found(
        self, image: np.ndarray, indices: Iterable[int], known: list[Detection]
    ) -> list[Detection]:
        height, width = image.shape[:2]
        known_boxes = detection_boxes(known)
        for index in indices:
            model, view = self.passes[index]
            edited, back = view.apply(image)
            clipped = (
                clip_to_image(map_detection(d, back, view), width, height)
                for d in self._detectors[model].detect(edited)
            )
            mapped = [d for d in clipped if d is not None]
            new = not_covered(detection_boxes(mapped), known_boxes)
            found = [d for d, is_new in zip(mapped, new, strict=True) if is_new]
            if found:
                self.last_pass = index
                return sorted(found, key=lambda d: d.score, reverse=True)
        self.last_pass = -1
        return []

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for detector in self._detectors.values():
            detector.close()
