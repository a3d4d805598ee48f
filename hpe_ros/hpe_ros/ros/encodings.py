"""sensor_msgs/Image bytes -> numpy arrays, without cv_bridge (names as in sensor_msgs/image_encodings.hpp).

Colour input for the tracker becomes RGB uint8: 16-bit channels are scaled by 255/65535 (as
:func:`hpe_ros.image.to_rgb8`), alpha is dropped, mono is expanded, YUV 4:2:2 and 8-bit Bayer images are
converted with OpenCV (Bayer patterns mapped to OpenCV's names as cv_bridge does). Depth input (16UC1 in the
unit of ``translation.depth_scale_m``, 32FC1 in metres) keeps its values. Rows may be padded (``step`` bytes
per row); multi-byte pixels follow ``is_bigendian``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.image import to_rgb8


@dataclass(frozen=True)
class EncodingLayout:
    """How one encoding lies in memory: numpy element type, channels per pixel, colour conversion."""

    dtype: str
    channels: int
    bgr: bool = False
    cv2_code: int | None = None
    depth: bool = False


ENCODINGS: dict[str, EncodingLayout] = {
    "rgb8": EncodingLayout("u1", 3),
    "rgba8": EncodingLayout("u1", 4),
    "bgr8": EncodingLayout("u1", 3, bgr=True),
    "bgra8": EncodingLayout("u1", 4, bgr=True),
    "rgb16": EncodingLayout("u2", 3),
    "rgba16": EncodingLayout("u2", 4),
    "bgr16": EncodingLayout("u2", 3, bgr=True),
    "bgra16": EncodingLayout("u2", 4, bgr=True),
    "mono8": EncodingLayout("u1", 1),
    "8UC1": EncodingLayout("u1", 1),
    "8UC3": EncodingLayout("u1", 3, bgr=True),  # OpenCV's default channel order
    "8UC4": EncodingLayout("u1", 4, bgr=True),
    "mono16": EncodingLayout("u2", 1),
    "16UC1": EncodingLayout("u2", 1, depth=True),
    "32FC1": EncodingLayout("f4", 1, depth=True),
    "uyvy": EncodingLayout("u1", 2, cv2_code=cv2.COLOR_YUV2RGB_UYVY),
    "yuv422": EncodingLayout("u1", 2, cv2_code=cv2.COLOR_YUV2RGB_UYVY),  # ROS "yuv422" is UYVY
    "yuyv": EncodingLayout("u1", 2, cv2_code=cv2.COLOR_YUV2RGB_YUYV),
    "yuv422_yuy2": EncodingLayout("u1", 2, cv2_code=cv2.COLOR_YUV2RGB_YUYV),
    # OpenCV names a Bayer pattern by the second row's first two pixels: ROS rggb8 is OpenCV BayerBG.
    "bayer_rggb8": EncodingLayout("u1", 1, cv2_code=cv2.COLOR_BayerBG2RGB),
    "bayer_bggr8": EncodingLayout("u1", 1, cv2_code=cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg8": EncodingLayout("u1", 1, cv2_code=cv2.COLOR_BayerGR2RGB),
    "bayer_grbg8": EncodingLayout("u1", 1, cv2_code=cv2.COLOR_BayerGB2RGB),
}
COLOUR_ENCODINGS = tuple(name for name, layout in ENCODINGS.items() if not layout.depth)
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


class UnsupportedEncodingError(InputError):
    """An image encoding the node cannot read (the node reports it in /diagnostics and skips the frame)."""


class ImageLike(Protocol):
    """What a sensor_msgs/Image holds (a ROS message or :class:`ImageData`)."""

    width: int
    height: int
    encoding: str
    step: int
    is_bigendian: int
    data: Any


@dataclass(frozen=True)
class ImageData:
    """A sensor_msgs/Image without ROS (tests, tools)."""

    width: int
    height: int
    encoding: str
    step: int
    data: bytes
    is_bigendian: int = 0


def image_array(image: ImageLike) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as a native-endian (H, W[, C]) array in the message's encoding."""
    encoding, width, height, step = image.encoding, int(image.width), int(image.height), int(image.step)
    layout = _layout(encoding, ENCODINGS)
    itemsize = np.dtype(layout.dtype).itemsize
    row_bytes = width * layout.channels * itemsize
    if width <= 0 or height <= 0:
        raise InputError(f"{encoding} image has no pixels ({width}x{height})")
    if step < row_bytes:
        raise InputError(
            f"{encoding} image step {step} is shorter than one row ({width} px = {row_bytes} bytes)"
        )
    raw = np.frombuffer(image.data, dtype=np.uint8)
    if raw.size < step * height:
        raise InputError(
            f"{encoding} image {width}x{height} with step {step} needs {step * height} bytes, got {raw.size}"
        )
    rows = raw[: step * height].reshape(height, step)[:, :row_bytes]
    order = (">" if image.is_bigendian else "<") if itemsize > 1 else "|"
    pixels = np.ascontiguousarray(rows).view(np.dtype(order + layout.dtype)).astype(layout.dtype, copy=False)
    shape = (height, width) if layout.channels == 1 else (height, width, layout.channels)
    return pixels.reshape(shape)


def rgb_from_image(image: ImageLike) -> np.ndarray:
    """A sensor_msgs/Image as RGB uint8 (H, W, 3) for the tracker; depth or unknown encodings are refused."""
    layout = _layout(image.encoding, {n: ENCODINGS[n] for n in COLOUR_ENCODINGS})
    pixels = image_array(image)
    if layout.cv2_code is not None:
        return cv2.cvtColor(pixels, layout.cv2_code)
    return to_rgb8(pixels, bgr=layout.bgr, where=f"{image.encoding} image")


def depth_from_image(image: ImageLike) -> np.ndarray:
    """A depth image (H, W): uint16 in the depth unit (16UC1, mono16) or float32 metres (32FC1)."""
    _layout(image.encoding, {n: ENCODINGS[n] for n in DEPTH_ENCODINGS})
    return image_array(image)


def _layout(encoding: str, accepted: dict[str, EncodingLayout]) -> EncodingLayout:
    layout = accepted.get(encoding)
    if layout is None:
        kind = "depth" if set(accepted) <= set(DEPTH_ENCODINGS) else "colour"
        hint = " (a depth encoding: publish it on the depth topic)" if encoding in DEPTH_ENCODINGS else ""
        raise UnsupportedEncodingError(
            f"unsupported {kind} image encoding {encoding!r}{hint}; supported: {', '.join(accepted)}"
        )
    return layout
