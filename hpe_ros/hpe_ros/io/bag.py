"""A ROS 2 bag (MCAP storage, rosbags' rosbag2 writer) with the topics the ROS node publishes.

- ``/head_pose`` geometry_msgs/PoseStamped: the primary face's ``face_<id>`` pose (none without faces);
- ``/head_poses`` hpe_msgs/HeadPoseArray: every face, one message per frame (empty when no face);
- ``/tf`` tf2_msgs/TFMessage: ``<camera frame> -> face_<id>`` and ``face_<id> -> gaze_<id>`` (REP-155);
- optionally ``/image/compressed`` sensor_msgs/CompressedImage (JPEG) of the input frames.

Every header carries the frame's stamp and the camera optical frame id; messages are logged at that stamp.
The bag is a directory (``metadata.yaml``, format 9 as on Jazzy, and ``<name>.mcap``). Humble's rosbag2
may refuse newer metadata; there, play the ``.mcap`` file itself
(``ros2 bag play <dir>/<name>.mcap``; single storage files are read since rosbag2 0.15.3, PR #1072).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Writer, WriterError
from rosbags.rosbag2.enums import StoragePlugin

from hpe_ros.errors import InputError
from hpe_ros.geometry import face_pose_from_head, gaze_pose_in_face, matrix_to_quat_xyzw
from hpe_ros.io.rosmsgs import make_typestore
from hpe_ros.tracker import FacePose, FrameResult

TOPICS = {
    "/head_pose": "geometry_msgs/msg/PoseStamped",
    "/head_poses": "hpe_msgs/msg/HeadPoseArray",
    "/tf": "tf2_msgs/msg/TFMessage",
}
IMAGE_TOPIC = ("/image/compressed", "sensor_msgs/msg/CompressedImage")
DEFAULT_CAMERA_FRAME = "camera_optical_frame"


def face_frame_id(track_id: int) -> str:
    """TF frame of a tracked face (REP-155)."""
    return f"face_{track_id}"


def gaze_frame_id(track_id: int) -> str:
    """TF frame of a tracked face's gaze (REP-155)."""
    return f"gaze_{track_id}"


class PoseBagWriter:
    """Write :class:`~hpe_ros.tracker.FrameResult` objects as ROS 2 messages into a new bag directory."""

    def __init__(
        self, path: Path, camera_frame: str = DEFAULT_CAMERA_FRAME, write_images: bool = False
    ) -> None:
        self.types = make_typestore()
        self.camera_frame = camera_frame
        try:
            self.writer = Writer(Path(path), version=9, storage_plugin=StoragePlugin.MCAP)
            self.writer.open()
        except WriterError as error:
            raise InputError(f"cannot create bag {path}: {error}") from None
        topics = dict(TOPICS)
        if write_images:
            topics[IMAGE_TOPIC[0]] = IMAGE_TOPIC[1]
        self.connections = {
            topic: self.writer.add_connection(topic, msgtype, typestore=self.types)
            for topic, msgtype in topics.items()
        }
        self.messages = 0

    def write(self, result: FrameResult, image_rgb: np.ndarray | None = None) -> None:
        """Write one frame's messages (the image too when the bag was opened with ``write_images``)."""
        header = self._header(result.stamp_ns)
        faces = [self._head_pose(header, face) for face in result.faces]
        if result.primary_index >= 0:
            primary = faces[result.primary_index].pose.pose
            self._put(
                "/head_pose", self._msg("geometry_msgs/msg/PoseStamped", header=header, pose=primary), result
            )
        array = self._msg(
            "hpe_msgs/msg/HeadPoseArray", header=header, faces=faces, primary_index=result.primary_index
        )
        self._put("/head_poses", array, result)
        if result.faces:
            transforms = [t for face in result.faces for t in self._transforms(header, face)]
            self._put("/tf", self._msg("tf2_msgs/msg/TFMessage", transforms=transforms), result)
        if image_rgb is not None and IMAGE_TOPIC[0] in self.connections:
            ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image_rgb[:, :, ::-1]))
            if ok:
                image = self._msg(
                    "sensor_msgs/msg/CompressedImage", header=header, format="jpeg", data=jpeg.ravel()
                )
                self._put(IMAGE_TOPIC[0], image, result)

    def close(self) -> None:
        """Finish the MCAP file and write ``metadata.yaml``."""
        self.writer.close()

    def _msg(self, typename: str, **fields: Any) -> Any:
        return self.types.types[typename](**fields)

    def _put(self, topic: str, message: Any, result: FrameResult) -> None:
        data = self.types.serialize_cdr(message, self.connections[topic].msgtype)
        self.writer.write(self.connections[topic], result.stamp_ns, data)
        self.messages += 1

    def _header(self, stamp_ns: int, frame_id: str | None = None) -> Any:
        sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
        stamp = self._msg("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)
        return self._msg("std_msgs/msg/Header", stamp=stamp, frame_id=frame_id or self.camera_frame)

    def _pose(self, rotation: np.ndarray, position: np.ndarray) -> Any:
        qx, qy, qz, qw = (float(v) for v in matrix_to_quat_xyzw(rotation))
        x, y, z = (float(v) for v in position)
        return self._msg(
            "geometry_msgs/msg/Pose",
            position=self._msg("geometry_msgs/msg/Point", x=x, y=y, z=z),
            orientation=self._msg("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
        )

    def _head_pose(self, header: Any, face: FacePose) -> Any:
        R_cam_face, t = face_pose_from_head(face.rotation, face.position)
        x0, y0, x1, y1 = (float(v) for v in face.box)
        sec, nanosec = divmod(int(face.anchor_stamp_ns), 1_000_000_000)
        return self._msg(
            "hpe_msgs/msg/HeadPose",
            header=header,
            track_id=face.track_id,
            face_frame_id=face_frame_id(face.track_id),
            pose=self._msg(
                "geometry_msgs/msg/PoseWithCovariance",
                pose=self._pose(R_cam_face, t),
                covariance=np.asarray(face.covariance, dtype=np.float64).reshape(36),
            ),
            yaw=face.yaw_deg,
            pitch=face.pitch_deg,
            roll=face.roll_deg,
            confidence=face.confidence,
            anchor_id=face.anchor_id,
            anchor_stamp=self._msg("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec),
            num_anchors=face.num_anchors,
            box_x=x0,
            box_y=y0,
            box_width=x1 - x0,
            box_height=y1 - y0,
            detection_score=face.detection_score,
        )

    def _transforms(self, header: Any, face: FacePose) -> list[Any]:
        R_cam_face, t_cam_face = face_pose_from_head(face.rotation, face.position)
        R_face_gaze, t_face_gaze = gaze_pose_in_face()
        face_frame = face_frame_id(face.track_id)
        return [
            self._transform(header, face_frame, R_cam_face, t_cam_face),
            self._transform(
                self._header(face.stamp_ns, face_frame),
                gaze_frame_id(face.track_id),
                R_face_gaze,
                t_face_gaze,
            ),
        ]

    def _transform(self, header: Any, child: str, rotation: np.ndarray, translation: np.ndarray) -> Any:
        pose = self._pose(rotation, translation)
        vector = self._msg(
            "geometry_msgs/msg/Vector3", x=pose.position.x, y=pose.position.y, z=pose.position.z
        )
        return self._msg(
            "geometry_msgs/msg/TransformStamped",
            header=header,
            child_frame_id=child,
            transform=self._msg("geometry_msgs/msg/Transform", translation=vector, rotation=pose.orientation),
        )
