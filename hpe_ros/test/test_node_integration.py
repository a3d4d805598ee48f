"""launch_testing integration test of the real node: fake camera publisher -> tracker_node -> /head_pose, TF
and /diagnostics; then bad input (an unsupported encoding, a time jump) that the node survives and reports.

Runs where ROS 2 (rclpy, launch_testing, tf2_ros, hpe_msgs) is installed and hpe_ros is built with colcon;
skips cleanly elsewhere. The network is a randomly initialised tiny checkpoint (mechanics, not accuracy);
the faces come from the bundled demo clip and the real BlazeFace detector.
"""

from __future__ import annotations

import tempfile
import time
import unittest
from importlib import resources
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed here")
pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed here")

import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import tf2_ros  # noqa: E402
from camera_replay import LoopingClip, camera_info_message, image_message  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from rclpy.time import Time  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from hpe_msgs.msg import HeadPoseArray  # noqa: E402

CAMERA_FRAME = "camera_optical"
FRAME_NS = 33_333_333
START_NS = 1_700_000_000 * 10**9
TIMEOUT_S = 90.0


def tiny_checkpoint() -> Path:
    import torch

    from hpe_ros.model import CONFIGS, HeadPoseNet, save_checkpoint

    torch.manual_seed(0)
    path = Path(tempfile.mkdtemp(prefix="hpe_node_test_")) / "tiny.safetensors"
    save_checkpoint(path, HeadPoseNet(CONFIGS["tiny"]), CONFIGS["tiny"], {})
    return path


@pytest.mark.launch_test
def generate_test_description():
    node = launch_ros.actions.Node(
        package="hpe_ros",
        executable="tracker_node",
        name="hpe_tracker",
        parameters=[
            {
                "model_file_path": str(tiny_checkpoint()),
                "backend": "torch",
                "tracking.confirm_hits": 1,
                "diagnostics_period_s": 0.5,
            }
        ],
        remappings=[("image", "/camera/image_raw"), ("camera_info", "/camera/camera_info")],
        output="screen",
    )
    return launch.LaunchDescription([node, launch_testing.actions.ReadyToTest()]), {"tracker": node}


class TestTrackerNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.clip = LoopingClip(Path(str(resources.files("hpe_ros") / "assets" / "demo_clip.mp4")))

    @classmethod
    def tearDownClass(cls):
        rclpy.shutdown()

    def setUp(self):
        self.node = rclpy.create_node("fake_camera")
        self.image_pub = self.node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
        self.info_pub = self.node.create_publisher(CameraInfo, "/camera/camera_info", qos_profile_sensor_data)
        self.poses: list[PoseStamped] = []
        self.arrays: list[HeadPoseArray] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.node.create_subscription(PoseStamped, "/head_pose", self.poses.append, 10)
        self.node.create_subscription(HeadPoseArray, "/head_poses", self.arrays.append, 10)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.tf_buffer = tf2_ros.Buffer()
        self.tf_listener = tf2_ros.TransformListener(self.tf_buffer, self.node)

    def tearDown(self):
        self.node.destroy_node()

    def publish(self, stamp_ns: int, encoding: str = "bgr8") -> None:
        image = image_message(self.clip.next_frame(), stamp_ns, CAMERA_FRAME, encoding)
        self.info_pub.publish(camera_info_message(image))
        self.image_pub.publish(image)

    def stream_until(self, done, first_stamp_ns: int, encoding: str = "bgr8") -> list[int]:
        """Publish at ~30 Hz until ``done()``; return the stamps sent."""
        stamps = []
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and not done():
            stamps.append(first_stamp_ns + len(stamps) * FRAME_NS)
            self.publish(stamps[-1], encoding)
            rclpy.spin_once(self.node, timeout_sec=1 / 30)
        return stamps

    def spin_until(self, done, timeout_s: float = 10.0) -> bool:
        """Spin the test node (its TF listener too) without publishing until ``done()``; return ``done()``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done():
            rclpy.spin_once(self.node, timeout_sec=0.1)
        return done()

    def status_messages(self) -> list[str]:
        return [status.message for array in self.diagnostics for status in array.status]

    def test_head_pose_tf_and_diagnostics(self):
        stamps = self.stream_until(lambda: len(self.poses) >= 5 and len(self.diagnostics) >= 2, START_NS)
        self.assertGreaterEqual(len(self.poses), 5, "no /head_pose from the node")
        pose = self.poses[-1]
        self.assertEqual(pose.header.frame_id, CAMERA_FRAME)
        stamp_ns = Time.from_msg(pose.header.stamp).nanoseconds
        self.assertIn(stamp_ns, stamps, "header must be the image's header, not now")
        self.assertGreater(pose.pose.position.z, 0.1)
        # /head_poses and /tf follow /head_pose: spin until the array and camera -> face -> gaze of its image.
        stamp = pose.header.stamp
        self.assertTrue(self.spin_until(lambda: any(a.header.stamp == stamp for a in self.arrays)))
        array = next(a for a in self.arrays if a.header.stamp == stamp)
        face = array.faces[array.primary_index]
        self.assertEqual(face.face_frame_id, f"face_f{face.track_id}")
        self.assertEqual(face.pose.pose, pose.pose)
        gaze_frame = f"gaze_f{face.track_id}"
        self.assertTrue(
            self.spin_until(lambda: self.tf_buffer.can_transform(CAMERA_FRAME, gaze_frame, stamp)),
            f"no TF {CAMERA_FRAME} -> {face.face_frame_id} -> {gaze_frame} at the pose's stamp",
        )
        transform = self.tf_buffer.lookup_transform(CAMERA_FRAME, face.face_frame_id, stamp)
        self.assertAlmostEqual(transform.transform.translation.z, pose.pose.position.z, places=5)
        values = {kv.key: kv.value for kv in self.diagnostics[-1].status[0].values}
        self.assertEqual(values["backend"], "torch")
        self.assertIn("frames dropped", values)

    def test_ros4hri_faces_with_the_default_ids(self):
        try:
            from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D
        except ImportError:
            self.skipTest("hri_msgs (ROS4HRI) is not installed here")
        tracked: list[IdsList] = []
        self.node.create_subscription(IdsList, "/humans/faces/tracked", tracked.append, 10)
        stamps = self.stream_until(lambda: any(message.ids for message in tracked), START_NS)
        face_id = next(message.ids[0] for message in tracked if message.ids)
        self.assertRegex(face_id, r"^f[0-9]+$", "ids are face_id_prefix + the track number")
        rois: list[NormalizedRegionOfInterest2D] = []
        topic = f"/humans/faces/{face_id}/roi"
        self.node.create_subscription(NormalizedRegionOfInterest2D, topic, rois.append, 10)
        self.stream_until(lambda: bool(rois), stamps[-1] + FRAME_NS)
        self.assertTrue(rois, f"no {topic}")
        self.assertTrue(0.0 <= rois[-1].xmin < rois[-1].xmax <= 1.0)

    def test_bad_input_is_reported_and_survived(self):
        self.stream_until(lambda: any("unsupported" in m for m in self.status_messages()), START_NS, "32FC1")
        self.assertTrue(any("unsupported colour image encoding '32FC1'" in m for m in self.status_messages()))
        # A stamp far back (a looping bag): the tracks reset, the node says so and keeps tracking.
        self.stream_until(lambda: len(self.poses) >= 2, START_NS + 10**12)
        self.diagnostics.clear()
        self.poses.clear()
        self.stream_until(lambda: any("time jump" in m for m in self.status_messages()), START_NS)
        self.assertTrue(any("time jump" in m for m in self.status_messages()))
        self.stream_until(lambda: len(self.poses) >= 3, START_NS + 2 * 10**12)
        self.assertGreaterEqual(len(self.poses), 3, "the node stopped publishing after bad input")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2])
