"""Every conversion of pixels in one place: any frame to RGB uint8, RGB to grey, and a square RGB crop to
network input.

Who calls what: detectors and the tracker check their input with :func:`as_rgb_uint8` (8-bit only, no
guessing); frame sources and the ROS image decoder go through :func:`to_rgb8`, which also maps 16-bit, float
and BGR(A) frames; the engines take :func:`to_network_input` of a crop; image flow (:mod:`hpe_ros.motion`)
runs on :func:`to_gray` of a frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from hpe_ros.errors import InputError


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Check an image and return it as a contiguous RGB uint8 (H, W, 3) array.

    Grayscale (H, W) or (H, W, 1) images are expanded to three channels and RGBA drops its alpha channel;
    anything else (empty, not uint8, other shapes) raises :class:`InputError` saying what was wrong.
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected an image as a numpy array, got {type(image).__name__}")
    if image.size == 0 or image.ndim < 2 or min(image.shape[:2]) == 0:
        raise InputError(f"the image is empty (shape {image.shape})")
    if image.dtype != np.uint8:
        raise InputError(
            f"expected an 8-bit image (uint8), got {image.dtype}: convert it to 8 bits per channel first"
        )
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an RGB image of shape (H, W, 3), got shape {image.shape}")
    return np.ascontiguousarray(image)


def to_gray(image_rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 frame (as :func:`as_rgb_uint8` returns it) as grey uint8 (H, W)."""
    return cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)


def to_rgb8(image: np.ndarray, bgr: bool = True, where: str = "frame") -> np.ndarray:
    """``image`` as RGB uint8: 16-bit scaled by 1/257, float read as [0, 1], gray expanded, BGR(A) swapped."""
    image = np.asarray(image)
    if image.size == 0 or image.ndim < 2 or min(image.shape[:2]) == 0:
        raise InputError(f"{where} is empty (shape {image.shape})")
    if image.dtype == np.uint16:
        image = (image.astype(np.uint32) * 255 + 32767) // 65535
        image = image.astype(np.uint8)
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise InputError(f"{where} has NaN or Inf pixels")
        image = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"{where} has pixel type {image.dtype}; expected 8-bit, 16-bit or float images")
    try:
        rgb = as_rgb_uint8(image)
    except InputError as error:
        raise InputError(f"{where}: {error}") from None
    if bgr and image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = np.ascontiguousarray(rgb[:, :, ::-1])
    return rgb


def to_network_input(crop_rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 square crop (S, S, 3) as the engines' float32 [3, S, S] input in [0, 1]."""
    return np.ascontiguousarray(crop_rgb.transpose(2, 0, 1), dtype=np.float32) / 255.0
