"""Frame sources for ``hpe track``: a video file, a camera index or a folder of images, with timestamps.

Every frame comes out as RGB uint8 (H, W, 3). Grayscale, 16-bit and alpha frames are converted (16-bit by the
full-range map v -> v / 257); anything else unusable (empty frames, unreadable files) raises
:class:`~hpe_ros.errors.InputError` naming the file and frame. A video file whose middle cannot be decoded
(corrupt packets) is read on past the damage; :meth:`FrameSource.problems` then says how many frames were
skipped, and whether the file ended before the frame count its header reports (a truncated file).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.image import to_rgb8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
DEFAULT_FPS = 30.0
MAX_UNDECODABLE_RUN = 100
"""Consecutive frames of a video file that may fail to decode before the file is taken to end there."""


@dataclass
class Frame:
    """One image of a source."""

    index: int
    stamp_ns: int
    """Capture time: from the frame index and rate for files, the wall clock for a live camera."""
    image: np.ndarray
    """RGB uint8 (H, W, 3)."""


class FrameSource:
    """Iterate over :class:`Frame` objects; ``fps`` and ``length`` (None when unknown) describe the source."""

    fps: float
    length: int | None
    name: str

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file."""

    def problems(self) -> list[str]:
        """What went wrong while reading, for the user (frames skipped, file ended early); empty when none."""
        return []


class VideoSource(FrameSource):
    """A video file (stamps = index / fps) or a live camera (stamps = wall clock); cv2.VideoCapture."""

    def __init__(self, spec: str | int, fps: float | None = None) -> None:
        self.live = isinstance(spec, int)
        self.name = f"camera {spec}" if self.live else str(spec)
        if not self.live and not Path(spec).is_file():
            raise InputError(f"video file {spec} does not exist")
        self.capture = cv2.VideoCapture(spec)
        if not self.capture.isOpened():
            raise InputError(
                f"cannot open {self.name}: no camera at this index, or it is busy or not permitted "
                "(see /dev/video*, the video group, other programs using it)"
                if self.live
                else f"cannot open {self.name}: not a readable video (corrupt file or unsupported codec)"
            )
        reported = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(
            fps or (reported if reported and np.isfinite(reported) and reported > 0 else DEFAULT_FPS)
        )
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.length = None if self.live or count <= 0 else count
        self.ended_at: int | None = None
        """Frames read (decoded or skipped) when the file stopped decoding before its reported length."""
        self._first, failed = self._read()
        self.skipped = failed
        """Frames inside the file that could not be decoded (read past)."""
        if self._first is None:
            self.capture.release()
            raise InputError(
                f"{self.name} opened but delivered no frame (is it streaming? try another index)"
                if self.live
                else f"{self.name}: no frame could be decoded (corrupt or empty video)"
            )

    def __iter__(self) -> Iterator[Frame]:
        index, raw = self.skipped, self._first
        while raw is not None:
            stamp = time.time_ns() if self.live else round(index * 1e9 / self.fps)
            yield Frame(index, stamp, to_rgb8(raw, where=f"{self.name} frame {index}"))
            raw, failed = self._read(index + 1)
            if raw is not None:
                self.skipped += failed
            elif self.length is not None and index + 1 < self.length:
                self.ended_at = index + 1
            index += 1 + failed

    def _read(self, position: int = 0) -> tuple[np.ndarray | None, int]:
        """The next decodable frame (None at the end) and how many frames before it failed to decode.

        A live camera or a file of unknown length ends at the first failure; a file is read past failures
        until its reported length or :data:`MAX_UNDECODABLE_RUN` failures in a row.
        """
        failed = 0
        while True:
            ok, raw = self.capture.read()
            if ok and raw is not None:
                return raw, failed
            failed += 1
            if self.length is None or position + failed >= self.length or failed >= MAX_UNDECODABLE_RUN:
                return None, failed

    def problems(self) -> list[str]:
        """Undecodable frames that were skipped, and a file that ended before its reported frame count."""
        found = []
        if self.skipped:
            found.append(f"{self.name}: {self.skipped} undecodable frame(s) skipped (corrupt data)")
        if self.ended_at is not None:
            found.append(
                f"{self.name}: the video stopped decoding after {self.ended_at} of the {self.length} frames "
                "its header reports (truncated or corrupt file)"
            )
        return found

    def close(self) -> None:
        self.capture.release()


class ImageFolderSource(FrameSource):
    """The images of a folder in name order; stamps = index / fps."""

    def __init__(self, folder: Path, fps: float | None = None) -> None:
        self.name = str(folder)
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise InputError(f"folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.fps = float(fps or DEFAULT_FPS)
        self.length = len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if raw is None:
                raise InputError(f"cannot read image {path} (corrupt or unsupported format)")
            yield Frame(index, round(index * 1e9 / self.fps), to_rgb8(raw, where=f"image {path}"))


def open_source(spec: str, fps: float | None = None) -> FrameSource:
    """A source from a command-line spec: a camera index (``0``), an image folder or a video file."""
    if spec.isdigit():
        return VideoSource(int(spec), fps)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps)
    return VideoSource(spec, fps)
