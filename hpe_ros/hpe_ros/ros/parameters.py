"""Every parameter of the node: name, default, description, constraints, and the settings built from them.

Node-level names follow isaac_ros_tensor_rt where they mean the same (``model_file_path``,
``engine_file_path``, ``force_engine_update``, ``enable_fp16``, ``max_workspace_size``); every tracker
setting is declared as ``group.name`` from :func:`hpe_ros.tracker.parameter_descriptions`. Engine and input
settings are read-only (they need a restart); tracker settings may change at run time (the tracks restart).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hpe_ros.camera import DEFAULT_HORIZONTAL_FOV_DEG
from hpe_ros.detect import BLAZEFACE_MODELS
from hpe_ros.engine.base import BACKENDS
from hpe_ros.engine.loader import DEFAULT_WORKSPACE
from hpe_ros.errors import InputError
from hpe_ros.model.default import require_source_camera, resolve_model
from hpe_ros.tracker import TrackerConfig, config_from_parameters, parameter_descriptions

Value = bool | int | float | str
EXTERNAL_DETECTOR = "external"
ROS_TYPE_NAMES = {bool: "bool", int: "integer", float: "double", str: "string"}


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter; :meth:`check` says what is wrong with a value, None when it is fine."""

    name: str
    default: Value
    description: str
    read_only: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    rule: Callable[[Any], str | None] | None = None

    @property
    def ros_type(self) -> str:
        """The ROS parameter type name: bool, integer, double or string."""
        return ROS_TYPE_NAMES[type(self.default)]

    @property
    def constraints(self) -> str:
        """The constraints in words (ParameterDescriptor.additional_constraints)."""
        parts = []
        if self.choices:
            parts.append(f"one of: {', '.join(self.choices)}")
        if self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        return "; ".join(parts)

    def check(self, value: Any) -> str | None:
        """The problem with ``value`` for this parameter, or None."""
        kind = type(self.default)
        numeric = kind is float and type(value) is int
        if type(value) is not kind and not numeric:
            return f"{self.name} must be of type {self.ros_type}, got {value!r}"
        if kind is float and not math.isfinite(value):
            return f"{self.name} must be finite, got {value!r}"
        if self.minimum is not None and value < self.minimum:
            return f"{self.name} must be >= {self.minimum:g}, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"{self.name} must be <= {self.maximum:g}, got {value!r}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        return self.rule(value) if self.rule is not None else None


def _frame_prefix(value: str) -> str | None:
    if not value or value.startswith("/") or any(c.isspace() for c in value):
        return f"a frame prefix must be non-empty, without spaces and not start with '/', got {value!r}"
    return None


def _detector(value: str) -> str | None:
    if value in (*BLAZEFACE_MODELS, EXTERNAL_DETECTOR) or value.endswith(".onnx"):
        return None
    names = ", ".join((*BLAZEFACE_MODELS, EXTERNAL_DETECTOR))
    return f"detector must be {names} or the path of an .onnx face detector, got {value!r}"


def _parameter(default: Value, description: str, **constraints: Any) -> Any:
    """A dataclass field whose metadata becomes a :class:`ParameterSpec`."""
    return field(default=default, metadata={"description": description, **constraints})


@dataclass(frozen=True)
class NodeSettings:
    """The node-level parameters; each field's metadata holds its description and constraints."""

    model_file_path: str = _parameter(
        "",
        "Model file: a checkpoint (.safetensors) or an exported ONNX (.onnx); empty: the default model "
        "embedded in the package (hpe_ros/models/*.safetensors).",
        read_only=True,
    )
    engine_file_path: str = _parameter(
        "",
        "TensorRT engine file, built from the model when missing, stale or force_engine_update; empty: "
        "cached under $HPE_CACHE_DIR or ~/.cache/hpe_ros.",
        read_only=True,
    )
    force_engine_update: bool = _parameter(
        False, "Rebuild the TensorRT engine at start-up even when a matching one exists.", read_only=True
    )
    enable_fp16: bool = _parameter(
        True, "FP16 TensorRT engine (and fp16 for the torch backend on CUDA).", read_only=True
    )
    max_workspace_size: int = _parameter(
        DEFAULT_WORKSPACE, "TensorRT builder workspace in bytes.", read_only=True, minimum=1 << 20
    )
    backend: str = _parameter(
        "auto",
        "Inference backend; auto prefers TensorRT, then torch on CUDA, then ONNX Runtime, then torch on CPU.",
        read_only=True,
        choices=("auto", *BACKENDS),
    )
    intra_op_threads: int = _parameter(
        0, "CPU threads of the ONNX Runtime backend; 0: all cores.", read_only=True, minimum=0
    )
    detector: str = _parameter(
        "blazeface",
        "Face detector: blazeface (full range), blazeface-short (faces within ~2 m), the path of an "
        "RFB-320-style .onnx detector, or external (vision_msgs/Detection2DArray on the detections topic).",
        read_only=True,
        rule=_detector,
    )
    sync_tolerance_s: float = _parameter(
        0.05,
        "A depth image or external detections are used for an image when their stamps differ by at most "
        "this many seconds.",
        minimum=0.0,
    )
    use_depth: bool = _parameter(
        False,
        "Subscribe to a depth image registered to the colour image (topic depth: 16UC1 in the unit "
        "translation.depth_scale_m, or 32FC1 metres) and take the head distance from it.",
        read_only=True,
    )
    face_frame_prefix: str = _parameter(
        "face_",
        "TF frame of a tracked face = this prefix + the track id (REP-155: face_<id>).",
        rule=_frame_prefix,
    )
    gaze_frame_prefix: str = _parameter(
        "gaze_",
        "TF frame of a face's gaze = this prefix + the track id (REP-155: gaze_<id>).",
        rule=_frame_prefix,
    )
    publish_tf: bool = _parameter(True, "Broadcast the face_<id> and gaze_<id> transforms on /tf.")
    camera_frame_override: str = _parameter(
        "",
        "frame_id of the outputs instead of the image header's (for a camera driver with a wrong frame_id); "
        "empty: the image's frame_id.",
    )
    default_horizontal_fov_deg: float = _parameter(
        DEFAULT_HORIZONTAL_FOV_DEG,
        "Horizontal field of view (deg) assumed while no valid camera_info has arrived (reported as WARN).",
        minimum=1.0,
        maximum=179.0,
    )
    diagnostics_period_s: float = _parameter(
        1.0, "Period (s) of the /diagnostics status.", read_only=True, minimum=0.1
    )


NODE_PARAMETERS: tuple[ParameterSpec, ...] = tuple(
    ParameterSpec(item.name, item.default, **item.metadata) for item in fields(NodeSettings)
)
_NODE_NAMES = {spec.name for spec in NODE_PARAMETERS}


def parameter_table(config: TrackerConfig | None = None) -> list[ParameterSpec]:
    """Node parameters, then every tracker parameter (``group.name``) with its default and description."""
    tracker = [
        ParameterSpec(name, value, description)
        for name, (value, description) in parameter_descriptions(config or TrackerConfig()).items()
    ]
    return [*NODE_PARAMETERS, *tracker]


def parameter_problems(values: dict[str, Any], table: list[ParameterSpec] | None = None) -> list[str]:
    """Everything wrong with a full or partial set of parameter values (empty: all fine)."""
    specs = {spec.name: spec for spec in table or parameter_table()}
    problems = [f"unknown parameter {name!r}" for name in values if name not in specs]
    problems += [p for name, v in values.items() if name in specs and (p := specs[name].check(v)) is not None]
    if not problems:
        try:
            config_from_parameters({k: v for k, v in values.items() if k not in _NODE_NAMES})
        except (InputError, TypeError, ValueError) as error:
            problems.append(str(error))
    return problems


def settings_from_parameters(values: dict[str, Any]) -> tuple[NodeSettings, TrackerConfig]:
    """Node settings and tracker config from ``{name: value}``; problems raise one InputError naming all."""
    problems = parameter_problems(values)
    if problems:
        raise InputError("invalid parameters: " + "; ".join(problems))
    node = {k: v for k, v in values.items() if k in _NODE_NAMES}
    tracker = {k: v for k, v in values.items() if k not in _NODE_NAMES}
    return NodeSettings(**node), config_from_parameters(tracker)


def model_file(settings: NodeSettings) -> Path:
    """``model_file_path``, else the package's embedded default model; ModelFileError when there is none or
    when the checkpoint's poses are in a frame the tracker does not use."""
    model = resolve_model(Path(settings.model_file_path).expanduser() if settings.model_file_path else None)
    require_source_camera(model)
    return model
