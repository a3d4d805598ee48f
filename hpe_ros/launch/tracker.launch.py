"""``ros2 launch hpe_ros tracker.launch.py``: the head-pose tracker node, and rviz with ``use_rviz:=true``.

Example: ``ros2 launch hpe_ros tracker.launch.py image:=/camera/color/image_raw
camera_info:=/camera/color/camera_info model_file_path:=/models/hpe.onnx use_rviz:=true``.
``model_file_path`` and ``engine_file_path`` given here override the params file; left empty, the params
file (or the node's defaults) decide.
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "hpe_ros"
OVERRIDES = ("model_file_path", "engine_file_path")
REMAPPED_TOPICS = ("image", "camera_info", "depth", "detections")

ARGUMENTS: tuple[tuple[str, object, str], ...] = (
    ("image", "/camera/image_raw", "sensor_msgs/Image topic of the camera (any common encoding)"),
    ("camera_info", "/camera/camera_info", "sensor_msgs/CameraInfo topic of that camera"),
    ("depth", "/camera/depth/image_rect_raw", "registered depth image topic (read with use_depth: true)"),
    ("detections", "/face_detections", "vision_msgs/Detection2DArray topic (read with detector: external)"),
    (
        "params_file",
        PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "tracker.yaml"]),
        "parameters file (/**/hpe_tracker: ros__parameters:)",
    ),
    ("model_file_path", "", "model (.safetensors or .onnx); empty: the params file's, else the embedded one"),
    ("engine_file_path", "", "TensorRT engine file; empty: the params file's, else the cache"),
    ("namespace", "", "namespace of the node and its topics"),
    ("use_rviz", "false", "start rviz2 with the package's configuration"),
    ("rviz_fixed_frame", "camera_color_optical_frame", "rviz fixed frame: the camera's optical frame"),
)


def _tracker_node(context: LaunchContext) -> list[Node]:
    overrides = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDES}
    parameters: list[object] = [LaunchConfiguration("params_file")]
    if any(overrides.values()):
        parameters.append(
            {name: ParameterValue(value, value_type=str) for name, value in overrides.items() if value}
        )
    return [
        Node(
            package=PACKAGE,
            executable="tracker_node",
            name="hpe_tracker",
            namespace=LaunchConfiguration("namespace"),
            parameters=parameters,
            remappings=[(topic, LaunchConfiguration(topic)) for topic in REMAPPED_TOPICS],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """The tracker node and, optionally, rviz2."""
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=[
            "-d",
            PathJoinSubstitution([FindPackageShare(PACKAGE), "rviz", "tracker.rviz"]),
            "-f",
            LaunchConfiguration("rviz_fixed_frame"),
        ],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
    )
    arguments = [
        DeclareLaunchArgument(name, default_value=value, description=text) for name, value, text in ARGUMENTS
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_tracker_node), rviz])
