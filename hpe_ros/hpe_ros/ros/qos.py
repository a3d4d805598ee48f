"""QoS of every topic of the node, as data (the node maps it to rclpy ``QoSProfile``).

Inputs are read BEST_EFFORT with depth 1, as ``qos_profile_sensor_data`` but without its backlog: a
best-effort reader matches both best-effort and reliable writers (a RELIABLE reader never matches a
BEST_EFFORT camera, the classic "rviz shows nothing"), and only the newest frame matters. Outputs are
RELIABLE depth 10 (they match every reader); the debug image keeps depth 1 (large, only the newest matters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class QosChoice:
    """Reliability, history depth and durability of one topic."""

    reliability: Literal["best_effort", "reliable"]
    depth: int
    durability: Literal["volatile", "transient_local"] = "volatile"


SENSOR_INPUT = QosChoice("best_effort", 1)
RELIABLE_OUTPUT = QosChoice("reliable", 10)
LARGE_OUTPUT = QosChoice("reliable", 1)

# Topic names are relative (remap or namespace them); /diagnostics is global by convention.
INPUT_TOPICS = {
    "image": ("sensor_msgs/msg/Image", SENSOR_INPUT),
    "camera_info": ("sensor_msgs/msg/CameraInfo", SENSOR_INPUT),
    "depth": ("sensor_msgs/msg/Image", SENSOR_INPUT),
    "detections": ("vision_msgs/msg/Detection2DArray", SENSOR_INPUT),
}
OUTPUT_TOPICS = {
    "head_pose": ("geometry_msgs/msg/PoseStamped", RELIABLE_OUTPUT),
    "head_poses": ("hpe_msgs/msg/HeadPoseArray", RELIABLE_OUTPUT),
    "/diagnostics": ("diagnostic_msgs/msg/DiagnosticArray", RELIABLE_OUTPUT),
    "debug_image": ("sensor_msgs/msg/Image", LARGE_OUTPUT),
    "markers": ("visualization_msgs/msg/MarkerArray", RELIABLE_OUTPUT),
}
