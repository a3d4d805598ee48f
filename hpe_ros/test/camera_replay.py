"""A fake camera for the node's integration test and for manual runs: replays a video as sensor_msgs/Image +
sensor_msgs/CameraInfo with sensor-data QoS, in a chosen (possibly wrong) encoding.

Manual run, with ROS 2 and hpe_ros sourced::

    python hpe_ros/test/camera_replay.py ../shared/data/videos/liveportrait_d3.mp4 --rate 30
    python hpe_ros/test/camera_replay.py CLIP --encoding 32FC1       # refused by the node, reported
    python hpe_ros/test/camera_replay.py CLIP --no-camera-info       # default field of view, reported
    python hpe_ros/test/camera_replay.py CLIP --stamps clip          # stamps go back at each loop
    python hpe_ros/test/camera_replay.py CLIP --rate 100             # faster than inference: drops

The clip loops. ``--stamps now`` stamps each frame with the clock; ``--stamps clip`` with a fixed start plus
the frame's time in the clip, so every loop jumps back like a looping bag.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

ENCODINGS = ("bgr8", "rgb8", "mono8", "yuv422", "32FC1")
CLIP_START_NS = 1_700_000_000 * 10**9


def encode_frame(frame_bgr: np.ndarray, encoding: str) -> np.ndarray:
    """The pixels of a BGR uint8 frame in ``encoding``, (H, W[, C]) as they lie in the message (yuv422 is
    ROS's UYVY in BT.601 video range, two bytes per pixel; 32FC1 is grey in [0, 1], a depth encoding the
    node refuses on its image topic)."""
    if encoding == "bgr8":
        return frame_bgr
    if encoding == "rgb8":
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    if encoding == "mono8":
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    if encoding == "32FC1":
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    if encoding == "yuv422":
        return _uyvy(frame_bgr)
    raise ValueError(f"cannot encode {encoding!r}; one of {', '.join(ENCODINGS)}")


def _uyvy(frame_bgr: np.ndarray) -> np.ndarray:
    if frame_bgr.shape[1] % 2:
        frame_bgr = frame_bgr[:, :-1]
    b, g, r = (frame_bgr[..., i].astype(np.float64) for i in range(3))
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    packed = np.empty((*y.shape, 2))
    packed[:, 0::2, 0] = (u[:, 0::2] + u[:, 1::2]) / 2.0
    packed[:, 1::2, 0] = (v[:, 0::2] + v[:, 1::2]) / 2.0
    packed[..., 1] = y
    return np.clip(np.rint(packed), 0, 255).astype(np.uint8)


def image_message(frame_bgr: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "bgr8") -> Image:
    """sensor_msgs/Image of a BGR frame in ``encoding``."""
    pixels = np.ascontiguousarray(encode_frame(frame_bgr, encoding))
    msg = Image(encoding=encoding, height=pixels.shape[0], width=pixels.shape[1], step=pixels.strides[0])
    msg.header.stamp = Time(nanoseconds=stamp_ns).to_msg()
    msg.header.frame_id = frame_id
    msg.data = pixels.tobytes()
    return msg


def camera_info_message(image: Image, horizontal_fov_deg: float = 60.0) -> CameraInfo:
    """sensor_msgs/CameraInfo of an ideal pinhole camera with the image's header and size."""
    info = CameraInfo(header=image.header, width=image.width, height=image.height)
    f = image.width / (2.0 * math.tan(math.radians(horizontal_fov_deg) / 2.0))
    cx, cy = (image.width - 1) / 2.0, (image.height - 1) / 2.0
    info.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    return info


class LoopingClip:
    """Frames of a video file, from the start again after the last; ``position_s``: time of the last one in
    the clip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            raise OSError(f"cannot open video {path}")
        self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.index = -1
        self.loops = 0

    def next_frame(self) -> np.ndarray:
        """The next BGR frame (the first again after the last)."""
        ok, frame = self._capture.read()
        if not ok:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self.index, self.loops = -1, self.loops + 1
            ok, frame = self._capture.read()
            if not ok:
                raise OSError(f"{self.path} has no readable frame")
        self.index += 1
        return frame

    @property
    def position_s(self) -> float:
        return self.index / self.fps


class CameraReplay(Node):
    """Publishes a looping clip at ``rate_hz`` on ``image_topic`` (and ``info_topic`` unless disabled)."""

    def __init__(self, clip: LoopingClip, args: argparse.Namespace) -> None:
        super().__init__("camera_replay")
        self.clip, self.args = clip, args
        self.image_pub = self.create_publisher(Image, args.image_topic, qos_profile_sensor_data)
        self.info_pub = (
            None
            if args.no_camera_info
            else self.create_publisher(CameraInfo, args.info_topic, qos_profile_sensor_data)
        )
        self.sent = 0
        self.create_timer(1.0 / args.rate, self._tick)
        self.get_logger().info(
            f"replaying {clip.path.name} at {args.rate:g} Hz as {args.encoding} on {args.image_topic} "
            f"(camera_info: {'none' if self.info_pub is None else args.info_topic}, stamps: {args.stamps})"
        )

    def _tick(self) -> None:
        frame = self.clip.next_frame()
        if self.args.stamps == "clip":
            stamp_ns = CLIP_START_NS + round(self.clip.position_s * 1e9)
        else:
            stamp_ns = self.get_clock().now().nanoseconds
        image = image_message(frame, stamp_ns, self.args.frame_id, self.args.encoding)
        if self.info_pub is not None:
            self.info_pub.publish(camera_info_message(image, self.args.fov))
        self.image_pub.publish(image)
        self.sent += 1
        if self.args.count and self.sent >= self.args.count:
            raise SystemExit(0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command line of the manual replay."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second published")
    parser.add_argument("--encoding", choices=ENCODINGS, default="bgr8")
    parser.add_argument("--no-camera-info", action="store_true", help="publish no CameraInfo")
    parser.add_argument("--stamps", choices=("now", "clip"), default="now")
    parser.add_argument("--count", type=int, default=0, help="stop after this many frames (0: never)")
    parser.add_argument("--image-topic", default="/camera/image_raw")
    parser.add_argument("--info-topic", default="/camera/camera_info")
    parser.add_argument("--frame-id", default="camera_color_optical_frame")
    parser.add_argument("--fov", type=float, default=60.0, help="horizontal field of view in CameraInfo")
    args, _ros_args = parser.parse_known_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Replay a clip until Ctrl-C (or ``--count`` frames)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    rclpy.init()
    node = CameraReplay(LoopingClip(args.video), args)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException, SystemExit):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
