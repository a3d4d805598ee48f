"""The launch file: parses as Python and declares its arguments; where launch_ros is installed, it loads and
its LaunchDescription lists them."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

EXPECTED_ARGUMENTS = {
    "image",
    "camera_info",
    "params_file",
    "model_file_path",
    "engine_file_path",
    "namespace",
    "use_rviz",
}


def launch_file(repo_root: Path) -> Path:
    return repo_root / "hpe_ros" / "launch" / "tracker.launch.py"


def test_launch_file_parses_and_declares_the_arguments(repo_root: Path):
    tree = ast.parse(launch_file(repo_root).read_text())
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    arguments = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign | ast.Assign)
        and "ARGUMENTS" in ast.unparse(node.target if isinstance(node, ast.AnnAssign) else node.targets[0])
    )
    names = {ast.literal_eval(item.elts[0]) for item in arguments.elts}
    assert names >= EXPECTED_ARGUMENTS
    source = launch_file(repo_root).read_text()
    assert '"tracker_node"' in source and '"hpe_tracker"' in source


def test_config_and_rviz_files_are_where_the_launch_file_looks(repo_root: Path):
    import yaml

    package = repo_root / "hpe_ros"
    assert (package / "config" / "tracker.yaml").is_file()
    rviz = yaml.safe_load((package / "rviz" / "tracker.rviz").read_text())
    displays = {d["Class"]: d for d in rviz["Visualization Manager"]["Displays"]}
    assert displays["rviz_default_plugins/Image"]["Topic"]["Reliability Policy"] == "Best Effort"
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "/debug_image"
    assert displays["rviz_default_plugins/Pose"]["Topic"]["Value"] == "/head_pose"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/markers"
    assert "rviz_default_plugins/TF" in displays


def test_launch_description_lists_its_arguments(repo_root: Path):
    pytest.importorskip("launch_ros", reason="launch_ros (ROS 2) is not installed here")
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("tracker_launch", launch_file(repo_root))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {
        entity.name: entity.description
        for entity in description.entities
        if isinstance(entity, DeclareLaunchArgument)
    }
    assert set(declared) >= EXPECTED_ARGUMENTS
    assert all(declared.values())
    assert {arg.name for arg in description.get_launch_arguments()} == set(declared)
