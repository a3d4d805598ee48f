"""Square face crops: the box protocols, the crop itself and the crop camera's intrinsics.

Pixel coordinates follow OpenCV/ROS: pixel (row i, column j) has its centre at (u, v) = (j, i), so it covers
[j − 0.5, j + 0.5] × [i − 0.5, i + 0.5]. A :class:`CropBox` is a square in those continuous coordinates; the
crop maps it exactly (sub-pixel) onto a ``size × size`` image, and :func:`crop_intrinsics` is the matching
pinhole camera, so a 3-D point projects to the same place through either path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.geometry.rotations import rotation_onto_ray
from hpe_ros.image import to_network_input
from hpe_ros.translation import ray_through

# 6DRepNet's AFLW2000 test transform: Resize(256) then CenterCrop(224).
SIXDREPNET_CENTER_CROP = 224 / 256
FACE_BOX_MARGIN = 0.34
"""Margin per side (x the longer side of a tight face box) that frames a real face as our synthetic training
crops do; measured with BlazeFace on renders (derivation in :mod:`hpe_ros.evaluate.network`)."""


@dataclass(frozen=True)
class CropBox:
    """A square in source-image pixels: left edge ``x0``, top edge ``y0`` and ``side``.

    Continuous OpenCV coordinates (pixel centres at integers): the box covering exactly pixels 0..N−1 is
    ``CropBox(-0.5, -0.5, N)``.
    """

    x0: float
    y0: float
    side: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.x0, self.y0, self.side)) or self.side <= 0:
            raise InputError(f"degenerate crop box {self}: needs finite values and a positive side")

    @classmethod
    def around(cls, cx: float, cy: float, side: float) -> CropBox:
        """The box of the given side centred on (cx, cy)."""
        return cls(cx - side / 2, cy - side / 2, side)

    @property
    def center(self) -> tuple[float, float]:
        """Centre (cx, cy) in pixels."""
        return self.x0 + self.side / 2, self.y0 + self.side / 2

    def scale(self, size: int) -> float:
        """Source pixels per crop pixel for a ``size``-pixel crop."""
        return self.side / size


def box_from_landmarks(
    pts2d: np.ndarray,
    k: float = 0.20,
    center_crop: float = SIXDREPNET_CENTER_CROP,
    drop_invisible: bool = False,
) -> CropBox:
    """6DRepNet's AFLW2000 crop (``datasets.AFLW2000`` + its test transform) from landmarks ``(N, 2)``.

    6DRepNet takes the landmarks' bounding box, widens it in place (``x_min -= 2k·w``, ``y_min -= 2k·h``, then
    ``x_max += 2k·(x_max − x_min)`` and ``y_max += 0.6k·(y_max − y_min)`` with the already moved minima),
    truncates the corners with ``int()`` for PIL's crop (zero-padded outside the image), resizes the shorter
    side to 256 and centre-crops 224. The returned square is that centre crop: centred on the truncated
    rectangle, side = ``center_crop`` × its shorter side. Differences from the original: torchvision's
    rounding of the long side and of the centre-crop offset (under one resized pixel), its resampling filter.

    AFLW2000 ``pt2d`` marks invisible landmarks with a negative coordinate (e.g. (−1, 452)); 6DRepNet keeps
    them, which on the dev split widens the box by a median 1.8× (height 1.4×); ``drop_invisible`` drops them.
    """
    pts = np.asarray(pts2d, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise InputError(f"expected landmarks of shape (N, 2), got {pts.shape}")
    if drop_invisible:
        pts = pts[(pts >= 0).all(axis=1)]
    if len(pts) < 2 or not np.isfinite(pts).all():
        raise InputError("need at least two finite (visible) landmarks for a crop box")
    x_min, y_min = pts.min(axis=0)
    x_max, y_max = pts.max(axis=0)
    x_min -= 2 * k * (x_max - x_min)
    y_min -= 2 * k * (y_max - y_min)
    x_max += 2 * k * (x_max - x_min)
    y_max += 0.6 * k * (y_max - y_min)
    left, top, right, bottom = (math.trunc(v) for v in (x_min, y_min, x_max, y_max))
    width, height = right - left, bottom - top
    if width <= 0 or height <= 0:
        raise InputError("landmarks span no area: cannot build a crop box")
    # PIL's box edge `left` is the edge of pixel `left`, at u = left − 0.5 in OpenCV coordinates.
    return CropBox.around(left - 0.5 + width / 2, top - 0.5 + height / 2, center_crop * min(width, height))


def box_from_detection(x0: float, y0: float, x1: float, y1: float, margin: float = 0.2) -> CropBox:
    """Square around a detector box (corners in pixels) with ``margin`` × the longer side added on each side.

    The square is centred on the detector box, side = (1 + 2·margin) · max(width, height). The default 0.2
    matches 6DRepNet's ``demo.py``, which widens its RetinaFace box by 20 % of the box size on each side.
    """
    width, height = x1 - x0, y1 - y0
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or width <= 0 or height <= 0 or margin < -0.5:
        raise InputError(f"degenerate detection box ({x0}, {y0}, {x1}, {y1}) or margin {margin}")
    return CropBox.around((x0 + x1) / 2, (y0 + y1) / 2, (1 + 2 * margin) * max(width, height))


def crop_and_resize(image: np.ndarray, box: CropBox, size: int, angle_deg: float = 0.0) -> np.ndarray:
    """The ``size × size`` crop of ``box`` from an HxW or HxWxC image (same dtype).

    ``angle_deg`` turns the square about its centre, clockwise as displayed (x right, y down): the crop's x
    axis runs along source direction (cos θ, sin θ), so a face rolled clockwise by θ comes out upright.
    Parts of the box outside the image are zero (black), as PIL's crop in 6DRepNet's protocol and REP-155's
    "0-padded" cropped faces. Downscaling goes through ``cv2.INTER_AREA`` first so that it does not alias;
    the final sub-pixel placement is a bilinear ``cv2.warpAffine``.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0 or image.size == 0:
        raise InputError(f"expected a non-empty HxW or HxWxC image, got shape {image.shape}")
    if int(size) != size or size < 1:
        raise InputError(f"crop size must be a positive integer, got {size}")
    if not math.isfinite(angle_deg):
        raise InputError(f"crop angle must be finite, got {angle_deg}")
    size = int(size)
    height, width = image.shape[:2]
    scale = box.scale(size)
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    if angle_deg == 0.0:
        cos, sin = 1.0, 0.0
    # Source pixels the turned square can touch (one pixel of interpolation margin), clipped to the image.
    (cx, cy), reach = box.center, 0.5 * box.side * (abs(cos) + abs(sin))
    col0 = max(math.floor(cx - reach) - 1, 0)
    row0 = max(math.floor(cy - reach) - 1, 0)
    col1 = min(math.ceil(cx + reach) + 2, width)
    row1 = min(math.ceil(cy + reach) + 2, height)
    if col1 <= col0 or row1 <= row0:
        return np.zeros((size, size, *image.shape[2:]), dtype=image.dtype)
    patch = image[row0:row1, col0:col1]
    shrink_x = shrink_y = 1.0
    if scale > 1.0:
        out_w = max(round(patch.shape[1] / scale), 1)
        out_h = max(round(patch.shape[0] / scale), 1)
        shrink_x, shrink_y = patch.shape[1] / out_w, patch.shape[0] / out_h
        patch = cv2.resize(patch, (out_w, out_h), interpolation=cv2.INTER_AREA)
    # Crop pixel (j, i) -> source (u, v) = centre + scale·Rot(θ)·(j + 0.5 − size/2, i + 0.5 − size/2)
    # -> shrunk patch index ((u − col0 + 0.5)/shrink − 0.5, (v − row0 + 0.5)/shrink − 0.5).
    turn = scale * np.array([[cos, -sin], [sin, cos]])
    offset = np.array([cx, cy]) - turn @ np.full(2, 0.5 * size - 0.5)
    shrink = np.array([shrink_x, shrink_y])
    matrix = np.column_stack([turn / shrink[:, None], (offset - np.array([col0, row0]) + 0.5) / shrink - 0.5])
    return cv2.warpAffine(
        np.ascontiguousarray(patch),
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    ).reshape(size, size, *image.shape[2:])


def network_input(image_rgb: np.ndarray, box: CropBox, size: int, angle_deg: float = 0.0) -> np.ndarray:
    """The engines' input for one face: ``box`` of an RGB uint8 image (turned by ``angle_deg`` as in
    :func:`crop_and_resize`) as float32 [3, size, size] in [0, 1]."""
    return to_network_input(crop_and_resize(image_rgb, box, size, angle_deg))


def crop_intrinsics(K: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Pinhole intrinsics of the crop camera: K_crop = A·K with A the pixel map of :func:`crop_and_resize`."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise InputError(f"expected a 3x3 intrinsic matrix, got shape {K.shape}")
    scale = box.scale(size)
    # Source pixel u -> crop pixel (u − x0)/scale − 0.5.
    pixel_map = np.array(
        [
            [1 / scale, 0.0, -box.x0 / scale - 0.5],
            [0.0, 1 / scale, -box.y0 / scale - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )
    return pixel_map @ K


def crop_view_rotation(K: np.ndarray, box: CropBox) -> np.ndarray:
    """R_cam←view: the camera turned (by the smallest rotation) to look through the centre of ``box``; a
    face seen there looks turned by this ray (see :func:`hpe_ros.geometry.frames.head_view_rotation`)."""
    if np.shape(K) != (3, 3):
        raise InputError(f"expected a 3x3 intrinsic matrix, got shape {np.shape(K)}")
    return rotation_onto_ray(ray_through(K, *box.center))
