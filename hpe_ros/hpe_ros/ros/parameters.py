"""Every parameter of the node: the runtime (model, engine, detector), the node's own settings and every
tracker setting (``group.name``), declared from the config dataclasses' :func:`hpe_ros.config.param` fields.

Node-level names follow isaac_ros_tensor_rt where they mean the same (``model_file_path``,
``engine_file_path``, ``force_engine_update``, ``enable_fp16``, ``max_workspace_size``). Runtime and input
settings are read-only (they need a restart); tracker settings may change at run time (the tracks restart).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hpe_ros.camera import DEFAULT_HORIZONTAL_FOV_DEG
from hpe_ros.config import Checked, ParameterSpec, param, parameter_specs, with_overrides
from hpe_ros.errors import InputError
from hpe_ros.io.messages import FrameNaming
from hpe_ros.pipeline import RuntimeConfig
from hpe_ros.tracker import TrackerConfig


def _frame_prefix(value: str) -> str | None:
    if not value or value.startswith("/") or any(c.isspace() for c in value):
        return f"must be a frame prefix: non-empty, without spaces, not starting with '/', got {value!r}"
    return None


def _face_id_prefix(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|", value):
        return f"must be letters, digits or '_', not starting with a digit (or empty), got {value!r}"
    return None


@dataclass(frozen=True)
class NodeSettings(Checked):
    """The node's own parameters (topics, frames, timing)."""

    sync_tolerance_s: float = param(
        0.05,
        "A depth image or external detections are used for an image when their stamps differ by at most "
        "this many seconds.",
        minimum=0.0,
        maximum=10.0,
    )
    use_depth: bool = param(
        False,
        "Subscribe to a depth image registered to the colour image (topic depth: 16UC1 in the unit "
        "translation.depth_scale_m, or 32FC1 metres) and take the head distance from it.",
        read_only=True,
    )
    face_id_prefix: str = param(
        "f",
        "A face's id = this prefix + its track number (f3). The id names its frames (face_f3) and, where "
        "hri_msgs is installed, its ROS4HRI topics (/humans/faces/f3/roi): those need it to start with a "
        "letter, so with an empty prefix no ROS4HRI topics are published.",
        rule=_face_id_prefix,
    )
    face_frame_prefix: str = param(
        "face_",
        "TF frame of a tracked face = this prefix + the face id (REP-155: face_<id>).",
        rule=_frame_prefix,
    )
    gaze_frame_prefix: str = param(
        "gaze_",
        "TF frame of a face's gaze = this prefix + the face id (REP-155: gaze_<id>).",
        rule=_frame_prefix,
    )
    publish_tf: bool = param(True, "Broadcast the face_<id> and gaze_<id> transforms on /tf.")
    camera_frame_override: str = param(
        "",
        "frame_id of the outputs instead of the image header's (for a camera driver with a wrong frame_id); "
        "empty: the image's frame_id.",
    )
    default_horizontal_fov_deg: float = param(
        DEFAULT_HORIZONTAL_FOV_DEG,
        "Horizontal field of view (deg) assumed while no valid camera_info has arrived (reported as WARN).",
        minimum=1.0,
        maximum=179.0,
    )
    camera_info_max_age_s: float = param(
        5.0,
        "A camera_info older than this (s since it arrived) is reported stale on /diagnostics "
        "(WARN, with its age); its K stays in use. 0: never stale (for drivers that publish camera_info "
        "once, latched).",
        minimum=0.0,
        maximum=86400.0,
    )
    autostart: bool = param(
        True,
        "Configure and activate at start-up; false: wait for lifecycle transitions "
        "(ros2 lifecycle set /hpe_tracker configure, then activate).",
        read_only=True,
    )
    diagnostics_period_s: float = param(
        1.0, "Period (s) of the /diagnostics status.", read_only=True, minimum=0.1, maximum=3600.0
    )


@dataclass(frozen=True)
class NodeParameters:
    """Everything the node's parameters set."""

    runtime: RuntimeConfig
    settings: NodeSettings
    tracker: TrackerConfig


RUNTIME_PARAMETERS: tuple[ParameterSpec, ...] = tuple(parameter_specs(RuntimeConfig()))
NODE_PARAMETERS: tuple[ParameterSpec, ...] = tuple(parameter_specs(NodeSettings()))
_RUNTIME_NAMES = {spec.name for spec in RUNTIME_PARAMETERS}
_NODE_NAMES = {spec.name for spec in NODE_PARAMETERS}


def parameter_table(config: TrackerConfig | None = None) -> list[ParameterSpec]:
    """Runtime and node parameters, then every tracker parameter (``group.name``) with its default."""
    return [*RUNTIME_PARAMETERS, *NODE_PARAMETERS, *parameter_specs(config or TrackerConfig())]


def _split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    runtime = {k: v for k, v in values.items() if k in _RUNTIME_NAMES}
    node = {k: v for k, v in values.items() if k in _NODE_NAMES}
    tracker = {k: v for k, v in values.items() if k not in _RUNTIME_NAMES | _NODE_NAMES}
    return runtime, node, tracker


def _build(values: dict[str, Any]) -> NodeParameters:
    runtime, node, tracker = _split(values)
    return NodeParameters(
        with_overrides(RuntimeConfig(), runtime),
        with_overrides(NodeSettings(), node),
        with_overrides(TrackerConfig(), tracker),
    )


def parameter_problems(values: dict[str, Any]) -> list[str]:
    """Everything wrong with a full or partial set of parameter values (empty: all fine)."""
    specs = {spec.name: spec for spec in parameter_table()}
    problems = [f"unknown parameter {name!r}" for name in values if name not in specs]
    problems += [p for name, v in values.items() if name in specs and (p := specs[name].check(v)) is not None]
    if not problems:
        try:
            _build(values)  # the rules that relate several values
        except InputError as error:
            problems.append(str(error))
    return problems


def settings_from_parameters(values: dict[str, Any]) -> NodeParameters:
    """Runtime, node settings and tracker config from ``{name: value}``; problems raise one InputError."""
    problems = parameter_problems(values)
    if problems:
        raise InputError("invalid parameters: " + "; ".join(problems))
    return _build(values)


def frame_naming(settings: NodeSettings) -> FrameNaming:
    """The face ids and TF frame names the settings give."""
    return FrameNaming(settings.face_frame_prefix, settings.gaze_frame_prefix, settings.face_id_prefix)
