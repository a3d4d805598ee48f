"""Inference engines: one :class:`PoseEngine` interface over PyTorch, ONNX Runtime and TensorRT, plus export.

``open_engine(model_file_path, backend="auto", ...)`` is the entry point; backends import their runtime
lazily.
"""

from hpe_ros.engine.base import (
    BACKENDS,
    BackendAvailability,
    BackendUnavailableError,
    NonFiniteOutputError,
    PoseEngine,
    choose_backend,
    detect_availability,
)
from hpe_ros.engine.loader import default_cache_dir, open_engine

__all__ = [
    "BACKENDS",
    "BackendAvailability",
    "BackendUnavailableError",
    "NonFiniteOutputError",
    "PoseEngine",
    "choose_backend",
    "default_cache_dir",
    "detect_availability",
    "open_engine",
]
