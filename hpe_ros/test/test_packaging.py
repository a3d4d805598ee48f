"""The two ROS packages are well-formed without ROS: manifests, messages, colcon discovery, CI wiring."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from catkin_pkg.package import parse_package

from hpe_ros.io.rosmsgs import MESSAGE_NAMES, make_typestore, message_definitions


@pytest.mark.parametrize(
    ("package", "build_type"), [("hpe_ros", "ament_python"), ("hpe_msgs", "ament_cmake")]
)
def test_package_xml_parses_and_validates(repo_root: Path, package: str, build_type: str) -> None:
    manifest = parse_package(repo_root / package / "package.xml")
    manifest.validate()
    assert manifest.name == package
    assert manifest.package_format == 3
    assert manifest.get_build_type() == build_type


def test_message_package_is_a_rosidl_interface_package(repo_root: Path) -> None:
    manifest = parse_package(repo_root / "hpe_msgs" / "package.xml")
    assert "rosidl_interface_packages" in [group.name for group in manifest.member_of_groups]
    cmake = (repo_root / "hpe_msgs" / "CMakeLists.txt").read_text()
    listed = set(re.findall(r'"msg/(\w+)\.msg"', cmake))
    on_disk = {path.stem for path in (repo_root / "hpe_msgs" / "msg").glob("*.msg")}
    assert listed == on_disk == set(MESSAGE_NAMES)


def test_python_package_reads_the_message_package_definitions(repo_root: Path) -> None:
    for typename, text in message_definitions().items():
        name = typename.rsplit("/", 1)[1]
        assert text == (repo_root / "hpe_msgs" / "msg" / f"{name}.msg").read_text()


def test_head_pose_array_cdr_round_trip() -> None:
    store = make_typestore()
    types = store.types
    Time = types["builtin_interfaces/msg/Time"]
    Header = types["std_msgs/msg/Header"]
    Pose = types["geometry_msgs/msg/Pose"]
    stamp = Time(sec=1700000000, nanosec=123456789)
    header = Header(stamp=stamp, frame_id="camera_color_optical_frame")

    def face(track_id: int) -> object:
        covariance = np.zeros(36)
        covariance[21] = 0.01 * track_id
        pose = types["geometry_msgs/msg/PoseWithCovariance"](
            pose=Pose(
                position=types["geometry_msgs/msg/Point"](x=0.1, y=-0.2, z=1.5),
                orientation=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            ),
            covariance=covariance,
        )
        return types["hpe_msgs/msg/HeadPose"](
            header=header,
            track_id=track_id,
            face_frame_id=f"face_f{track_id}",
            pose=pose,
            yaw=12.5,
            pitch=-3.0,
            roll=1.0,
            confidence=0.9,
            anchor_id=7,
            anchor_stamp=stamp,
            num_anchors=3,
            box_x=10.0,
            box_y=20.0,
            box_width=64.0,
            box_height=70.0,
            detection_score=0.95,
            has_reference=track_id == 4,
            reference_frame_id=f"face_ref_f{track_id}" if track_id == 4 else "",
            orientation_in_reference=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.1, z=0.0, w=0.995),
            angle_from_reference=11.5,
        )

    message = types["hpe_msgs/msg/HeadPoseArray"](header=header, faces=[face(1), face(4)], primary_index=0)
    raw = store.serialize_cdr(message, "hpe_msgs/msg/HeadPoseArray")
    back = store.deserialize_cdr(raw, "hpe_msgs/msg/HeadPoseArray")
    assert back.primary_index == 0
    assert [f.track_id for f in back.faces] == [1, 4]
    assert back.faces[1].face_frame_id == "face_f4"
    assert back.faces[1].pose.covariance[21] == pytest.approx(0.04)
    assert back.faces[0].anchor_stamp.nanosec == 123456789
    assert back.faces[1].has_reference and back.faces[1].reference_frame_id == "face_ref_f4"
    assert not back.faces[0].has_reference and back.faces[1].angle_from_reference == pytest.approx(11.5)
    assert back.header.frame_id == "camera_color_optical_frame"


def test_setup_declares_test_extra_not_tests_require(repo_root: Path) -> None:
    tree = ast.parse((repo_root / "hpe_ros" / "setup.py").read_text())
    keywords = {kw.arg for node in ast.walk(tree) if isinstance(node, ast.Call) for kw in node.keywords}
    assert "tests_require" not in keywords
    assert "extras_require" in keywords
    from importlib.metadata import requires

    assert any(req.startswith("pytest") and 'extra == "test"' in req for req in requires("hpe_ros"))


def _readme_command(repo_root: Path, label: str) -> str:
    """The shell command on the README line after the line that mentions ``label``."""
    lines = (repo_root / "README.md").read_text().splitlines()
    for index, line in enumerate(lines[:30]):
        if label in line.lower():
            command = next(text for text in lines[index + 1 :] if text.strip() and not text.startswith("```"))
            return command.strip()
    raise AssertionError(f"README has no {label!r} line in its first 30 lines")


def test_ci_runs_the_readme_test_command(repo_root: Path) -> None:
    command = _readme_command(repo_root, "run the tests")
    assert "pytest" in command
    assert command in (repo_root / ".ci" / "run").read_text()


@pytest.mark.skipif(
    shutil.which("colcon") is None, reason="colcon is not installed (the test extra brings it)"
)
def test_colcon_finds_both_packages_and_builds_the_python_one(repo_root: Path, tmp_path: Path) -> None:
    listed = subprocess.run(
        ["colcon", "list"], cwd=repo_root, capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^hpe_ros\s+hpe_ros\s+\(ros\.ament_python\)$", listed, re.M), listed
    assert re.search(r"^hpe_msgs\s+hpe_msgs\s+\(ros\.ament_cmake\)$", listed, re.M), listed
    # hpe_msgs needs rosidl (ROS); ignoring it lets colcon treat it as an external dependency.
    build = subprocess.run(
        [
            "colcon",
            "--log-base",
            str(tmp_path / "log"),
            "build",
            "--build-base",
            str(tmp_path / "build"),
            "--install-base",
            str(tmp_path / "install"),
            "--packages-select",
            "hpe_ros",
            "--packages-ignore",
            "hpe_msgs",
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    install = tmp_path / "install" / "hpe_ros"
    assert (install / "lib" / "hpe_ros" / "hpe").exists()
    assert (install / "share" / "hpe_ros" / "package.xml").exists()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    installed_msgs = install / "lib" / version / "site-packages" / "hpe_ros" / "interfaces"
    assert sorted(p.name for p in installed_msgs.glob("*.msg")) == [f"{n}.msg" for n in sorted(MESSAGE_NAMES)]


def _setup_list(repo_root: Path, name: str) -> list[str]:
    """A top-level list of requirement strings assigned in setup.py (``RUNTIME``, ``TORCH``)."""
    tree = ast.parse((repo_root / "hpe_ros" / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"setup.py assigns no {name}")


def test_runtime_requirements_pin_a_working_set_without_torch(repo_root: Path) -> None:
    """A plain `pip install ./hpe_ros` must not pick a mediapipe without face models, numpy 2, protobuf 5."""
    from packaging.requirements import Requirement

    runtime = {req.name: req.specifier for req in map(Requirement, _setup_list(repo_root, "RUNTIME"))}
    assert "torch" not in runtime and {"onnxruntime", "onnx", "tflite"} <= runtime.keys()
    assert str(runtime["mediapipe"]) == "==0.10.14"
    assert "2.0" not in runtime["numpy"] and "1.26.4" in runtime["numpy"]
    assert "5.0" not in runtime["protobuf"] and "4.25.9" in runtime["protobuf"]
    assert (
        "4.12.0.88" not in runtime["opencv-contrib-python"]
        and "4.11.0.86" in runtime["opencv-contrib-python"]
    )


def test_constraints_agree_with_setup(repo_root: Path) -> None:
    from packaging.requirements import Requirement

    declared = {}
    for name in ("RUNTIME", "TORCH"):
        declared.update({req.name: req.specifier for req in map(Requirement, _setup_list(repo_root, name))})
    lines = (repo_root / "constraints.txt").read_text().splitlines()
    for constraint in (Requirement(line) for line in lines if line.strip() and not line.startswith("#")):
        pinned = next(iter(constraint.specifier)).version
        assert constraint.name in declared, f"{constraint.name} is constrained but not a dependency"
        assert pinned in declared[constraint.name], f"{constraint} contradicts setup.py"


def test_package_xml_declares_apt_rosdep_keys_and_no_pip_keys(repo_root: Path) -> None:
    package = parse_package(repo_root / "hpe_ros" / "package.xml")
    keys = {dep.name for dep in package.exec_depends}
    expected = {"python3-numpy", "python3-scipy", "python3-yaml", "python3-matplotlib", "python3-tqdm"}
    assert expected <= keys
    pip_keys = [key for key in keys if key.endswith("-pip") and key != "python3-pip"]
    assert not pip_keys  # rosdep's pip keys (python3-mediapipe-pip ...) install unpinned wheels


def test_ros_workflow_runs_the_readme_install_lines(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    section = readme[readme.index("### ROS 2 install") :]
    block = section.split("```")[1]
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    assert lines[0].startswith("rosdep install") and any("pip install" in line for line in lines)
    workflow = (repo_root / ".github" / "workflows" / "ros.yml").read_text()
    workflow_lines = [line.strip() for line in workflow.splitlines()]
    start = workflow_lines.index(lines[0])
    assert workflow_lines[start : start + len(lines)] == lines
