"""Quiet third-party logging for the command line (``hpe --verbose`` shows it all).

Two kinds of noise reach a user's terminal from the native libraries under us:

- OpenCV's ``[ WARN:..]`` / ``[ERROR:..]`` lines and FFmpeg's (``moov atom not found``): switched off through
  the libraries' own settings (``OPENCV_LOG_LEVEL``, ``OPENCV_FFMPEG_LOGLEVEL``, ``cv2.setLogLevel``); our own
  errors say what went wrong in words.
- MediaPipe's absl and TensorFlow Lite lines (``INFO: Created TensorFlow Lite XNNPACK delegate``, ``W0000 ...
  inference_feedback_manager.cc``): absl's C++ logging has no setting a Python process can reach before its
  first message, so the native standard error (file descriptor 2) is passed through a filter that drops
  absl/glog INFO and WARNING lines and TF Lite's INFO lines and forwards everything else (errors, crashes).
  Python's own ``sys.stderr`` (progress bars, our warnings and errors) goes straight to the terminal.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_ENVIRONMENT = {
    "OPENCV_LOG_LEVEL": "SILENT",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # AV_LOG_QUIET
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
"""Library settings read from the environment (a value the user set is kept)."""
NATIVE_NOISE = re.compile(
    rb"^(INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\])"
)
"""Native standard-error lines dropped: TF Lite INFO, absl's pre-init notice, absl/glog INFO and WARNING."""


def forward_native_lines(source_fd: int, target_fd: int) -> None:
    """Copy lines from ``source_fd`` to ``target_fd`` until end of file, leaving out :data:`NATIVE_NOISE`."""
    with open(source_fd, "rb", buffering=0, closefd=True) as source:
        pending = b""
        while chunk := source.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not NATIVE_NOISE.match(line))
            if kept:
                os.write(target_fd, kept)
        if pending and not NATIVE_NOISE.match(pending):
            os.write(target_fd, pending)


def _writes_to_native_stderr(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False


@contextmanager
def quiet_third_party(verbose: bool = False) -> Iterator[None]:
    """Within the block, third-party log lines are silenced (nothing changes when ``verbose``)."""
    if verbose:
        yield
        return
    saved_environment = {name: os.environ.get(name) for name in QUIET_ENVIRONMENT}
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    cv2 = sys.modules.get("cv2")  # already imported: its environment may have been read
    opencv_level = None if cv2 is None else cv2.getLogLevel()
    if cv2 is not None:
        cv2.setLogLevel(0)  # silent
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    read_fd, write_fd = os.pipe()
    forwarder = threading.Thread(
        target=forward_native_lines, args=(read_fd, terminal_fd), name="hpe-stderr", daemon=True
    )
    forwarder.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    python_stderr = sys.stderr
    if _writes_to_native_stderr(python_stderr):  # else it is captured already (a test harness): leave it
        sys.stderr = io.TextIOWrapper(
            io.FileIO(terminal_fd, "w", closefd=False),
            encoding=python_stderr.encoding,
            errors="replace",
            line_buffering=True,
        )
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = python_stderr
        os.dup2(terminal_fd, 2)  # closes the pipe's last writer: the forwarder drains and ends
        forwarder.join(timeout=5.0)
        os.close(terminal_fd)
        if cv2 is not None:
            cv2.setLogLevel(opencv_level)
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
