"""Head position in the camera (optical) frame from a face box and the intrinsics, or from a depth image.

Pinhole model: a face of physical width W metres that spans w pixels at focal length fx lies at depth
z = fx * W / w; the position is that depth along the ray through the box centre, ``z * K^-1 [u, v, 1]``.
With a depth image registered to the colour image, z is the median depth inside the central part of the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpe_ros.config import Checked, param
from hpe_ros.errors import InputError


@dataclass
class TranslationConfig(Checked):
    """Tunables of the head-position estimate."""

    face_width_m: float = param(
        0.15, "Assumed physical width (m) of the face that the detector box spans.", minimum=0.01, maximum=1.0
    )
    depth_scale_m: float = param(
        0.001,
        "Metres per unit of an integer depth image (0.001 for uint16 millimetres).",
        minimum=1e-06,
        maximum=10.0,
    )
    depth_box_fraction: float = param(
        0.5,
        "Central fraction of the face box (per side) whose depth median is used.",
        minimum=0.01,
        maximum=1.0,
    )
    depth_min_m: float = param(0.1, "Depth readings below this (m) are invalid.", minimum=0.0, maximum=100.0)
    depth_max_m: float = param(
        10.0, "Depth readings above this (m) are invalid.", minimum=0.0, maximum=1000.0
    )


def _check_box(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64).reshape(4)
    if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise InputError(f"face box {box.tolist()} is not a finite box with x1 > x0 and y1 > y0")
    return box


def ray_through(K: np.ndarray, u: float | np.ndarray, v: float | np.ndarray) -> np.ndarray:
    """Camera-frame direction with unit depth (z = 1) through pixel (u, v): shape (3,), or (N, 3) for arrays
    of N pixels."""
    u, v = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64))
    pixels = np.stack([u, v, np.ones_like(u)], axis=-1)
    return np.linalg.solve(np.asarray(K, dtype=np.float64), pixels[..., None])[..., 0]


def position_from_box(box: np.ndarray, K: np.ndarray, config: TranslationConfig | None = None) -> np.ndarray:
    """Head position (m, camera frame) from a face box (x0, y0, x1, y1 pixels) and 3x3 intrinsics ``K``."""
    config = config or TranslationConfig()
    x0, y0, x1, y1 = _check_box(box)
    depth = K[0][0] * config.face_width_m / (x1 - x0)
    return depth * ray_through(K, (x0 + x1) / 2.0, (y0 + y1) / 2.0)


def depth_in_box(
    depth_image: np.ndarray, box: np.ndarray, config: TranslationConfig | None = None
) -> float | None:
    """Median valid depth (m) in the centre of ``box``, or None when no pixel there has a valid reading.

    ``depth_image``: float (metres) or integer (units of ``config.depth_scale_m``), registered to the colour
    image.
    """
    config = config or TranslationConfig()
    depth_image = np.asarray(depth_image)
    if depth_image.ndim != 2 or depth_image.size == 0:
        raise InputError(f"depth image must be a non-empty 2-D array, got shape {depth_image.shape}")
    x0, y0, x1, y1 = _check_box(box)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    half_w, half_h = (x1 - x0) * config.depth_box_fraction / 2.0, (y1 - y0) * config.depth_box_fraction / 2.0
    height, width = depth_image.shape
    cols = slice(max(0, int(cx - half_w)), min(width, int(np.ceil(cx + half_w))))
    rows = slice(max(0, int(cy - half_h)), min(height, int(np.ceil(cy + half_h))))
    patch = depth_image[rows, cols].astype(np.float64)
    if np.issubdtype(depth_image.dtype, np.integer):
        patch *= config.depth_scale_m
    valid = patch[np.isfinite(patch) & (patch >= config.depth_min_m) & (patch <= config.depth_max_m)]
    return float(np.median(valid)) if valid.size else None


def head_position(
    box: np.ndarray,
    K: np.ndarray,
    depth_image: np.ndarray | None = None,
    config: TranslationConfig | None = None,
) -> tuple[np.ndarray, bool]:
    """Head position (m, camera frame) and whether it came from depth (else from the box size)."""
    if depth_image is not None:
        depth = depth_in_box(depth_image, box, config)
        if depth is not None:
            x0, y0, x1, y1 = _check_box(box)
            return depth * ray_through(K, (x0 + x1) / 2.0, (y0 + y1) / 2.0), True
    return position_from_box(box, K, config), False
