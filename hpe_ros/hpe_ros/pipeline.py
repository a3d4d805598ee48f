"""The one way to build a tracker: the model, its engine and the face detector from a :class:`RuntimeConfig`,
the pipeline's tunables from a :class:`~hpe_ros.tracker.TrackerConfig`.

``hpe track``, the ROS node and the evaluators all call :func:`build_tracker` (or :func:`open_runtime` when
several trackers share one engine), so the per-frame path reads top to bottom from here through
:meth:`hpe_ros.tracker.HeadPoseTracker.process`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpe_ros.config import Checked, param
from hpe_ros.detect import DETECTOR_NAMES, FaceDetector, load_detector
from hpe_ros.engine.base import BACKENDS, PoseEngine
from hpe_ros.engine.loader import DEFAULT_WORKSPACE
from hpe_ros.model.default import DEFAULT_MODEL, require_source_camera, resolve_model
from hpe_ros.tracker import HeadPoseTracker, TrackerConfig


def _detector_spec(value: str) -> str | None:
    if value in DETECTOR_NAMES or value.endswith(".onnx"):
        return None
    names = ", ".join(DETECTOR_NAMES)
    return f"must be {names} or the path of an .onnx face detector, got {value!r}"


@dataclass(frozen=True)
class RuntimeConfig(Checked):
    """What runs: the model file, its inference engine and the face detector (fixed while a tracker lives)."""

    model_file_path: str = param(
        "",
        "Model file: a checkpoint (.safetensors) or an exported ONNX (.onnx); empty or 'default': the "
        "default model embedded in the package (hpe_ros/models/*.safetensors).",
        read_only=True,
    )
    engine_file_path: str = param(
        "",
        "TensorRT engine file, built from the model when missing, stale or force_engine_update; empty: "
        "cached under $HPE_CACHE_DIR or ~/.cache/hpe_ros.",
        read_only=True,
    )
    force_engine_update: bool = param(
        False, "Rebuild the TensorRT engine at start-up even when a matching one exists.", read_only=True
    )
    enable_fp16: bool = param(
        True, "FP16 TensorRT engine (and fp16 for the torch backend on CUDA).", read_only=True
    )
    max_workspace_size: int = param(
        DEFAULT_WORKSPACE,
        "TensorRT builder workspace in bytes.",
        read_only=True,
        minimum=1 << 20,
        maximum=1 << 40,
    )
    backend: str = param(
        "auto",
        "Inference backend; auto prefers TensorRT, then torch on CUDA, then ONNX Runtime, then torch on CPU.",
        read_only=True,
        choices=("auto", *BACKENDS),
    )
    intra_op_threads: int = param(
        0, "CPU threads of the ONNX Runtime backend; 0: all cores.", read_only=True, minimum=0, maximum=1024
    )
    detector: str = param(
        "blazeface",
        "Face detector: blazeface (full range), blazeface-short (faces within ~2 m), the path of an "
        "RFB-320-style .onnx detector, or external (boxes from outside: vision_msgs/Detection2DArray on the "
        "node's detections topic).",
        read_only=True,
        rule=_detector_spec,
    )

    def model_path(self) -> Path:
        """The model file to open: ``model_file_path``, else the embedded default (ModelFileError when the
        installation lacks it or the checkpoint's poses are in a frame the tracker does not use)."""
        spec = self.model_file_path or DEFAULT_MODEL
        model = resolve_model(spec if spec == DEFAULT_MODEL else Path(spec).expanduser())
        require_source_camera(model)
        return model


def open_runtime(
    runtime: RuntimeConfig, detector_min_score: float | None = None
) -> tuple[PoseEngine, FaceDetector]:
    """The engine and the face detector a :class:`RuntimeConfig` names (``detector_min_score``: the
    detector's own score threshold, None for its default)."""
    from hpe_ros.engine import open_engine

    engine = open_engine(
        runtime.model_path(),
        backend=runtime.backend,
        engine_file_path=runtime.engine_file_path or None,
        force_engine_update=runtime.force_engine_update,
        enable_fp16=runtime.enable_fp16,
        max_workspace_size=runtime.max_workspace_size,
        intra_op_threads=runtime.intra_op_threads or None,
    )
    return engine, load_detector(runtime.detector, detector_min_score)


def build_tracker(
    runtime: RuntimeConfig, config: TrackerConfig | None = None, detector_min_score: float | None = None
) -> HeadPoseTracker:
    """A ready :class:`~hpe_ros.tracker.HeadPoseTracker`: engine opened, detector loaded."""
    engine, detector = open_runtime(runtime, detector_min_score)
    return HeadPoseTracker(engine, detector, config)
