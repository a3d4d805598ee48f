"""Face detection behind one interface: BlazeFace (default), a user-supplied ONNX detector, outside boxes.

Detector classes import their heavy dependencies (mediapipe, onnxruntime) only when constructed.
"""

from __future__ import annotations

from pathlib import Path

from hpe_ros.detect.base import Detection, ExternalDetections, FaceDetector, clip_to_image, detection_boxes
from hpe_ros.detect.blazeface import FULL_RANGE, SHORT_RANGE, BlazeFaceDetector
from hpe_ros.detect.multipass import MultiPassDetector
from hpe_ros.detect.onnx_detector import OnnxFaceDetector
from hpe_ros.errors import InputError

BLAZEFACE_MODELS = {"blazeface": FULL_RANGE, "blazeface-short": SHORT_RANGE}
MULTI_PASS = "blazeface-multi"
EXTERNAL_DETECTOR = "external"
DETECTOR_NAMES = (*BLAZEFACE_MODELS, MULTI_PASS, EXTERNAL_DETECTOR)

__all__ = [
    "BlazeFaceDetector",
    "Detection",
    "ExternalDetections",
    "FaceDetector",
    "MultiPassDetector",
    "OnnxFaceDetector",
    "clip_to_image",
    "detection_boxes",
    "load_detector",
]


def load_detector(spec: str = "blazeface", min_score: float | None = None) -> FaceDetector:
    """A detector from a spec: ``blazeface`` (full range, the default), ``blazeface-short`` (short range:
    faces within about 2 m, better on large close-up faces), ``blazeface-multi`` (full range, then more
    passes while no face is found: :mod:`hpe_ros.detect.multipass`), ``external``
    (:class:`ExternalDetections`: boxes set from outside) or the path of an RFB-320-style ONNX file."""
    options = {} if min_score is None else {"min_score": min_score}
    if spec == EXTERNAL_DETECTOR:
        return ExternalDetections()
    if spec in BLAZEFACE_MODELS:
        return BlazeFaceDetector(model_selection=BLAZEFACE_MODELS[spec], **options)
    if spec == MULTI_PASS:
        return MultiPassDetector(**options)
    if spec.endswith(".onnx"):
        return OnnxFaceDetector(Path(spec), **options)
    raise InputError(
        f"unknown face detector {spec!r}: use {', '.join(DETECTOR_NAMES)} or the path of an ONNX detector"
    )
