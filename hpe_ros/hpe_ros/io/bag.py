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
from rosbags.interfaces import Nodetype
from rosbags.rosbag2 import Writer, WriterError
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys.store import Typestore

from hpe_ros.errors import InputError
from hpe_ros.io.messages import (
    Fields,
    FrameNaming,
    face_transforms_fields,
    head_pose_array_fields,
    header_fields,
    primary_pose_stamped_fields,
)
from hpe_ros.io.rosmsgs import make_typestore
from hpe_ros.results import FrameResult

TOPICS = {
    "/head_pose": "geometry_msgs/msg/PoseStamped",
    "/head_poses": "hpe_msgs/msg/HeadPoseArray",
    "/tf": "tf2_msgs/msg/TFMessage",
}
IMAGE_TOPIC = ("/image/compressed", "sensor_msgs/msg/CompressedImage")
DEFAULT_CAMERA_FRAME = "camera_optical_frame"
_NUMPY_TYPES = {"byte": "uint8", "char": "uint8", "bool": "bool"}


def build_message(typestore: Typestore, typename: str, fields: Fields) -> Any:
    """A rosbags message of ``typename`` from nested field values (:mod:`hpe_ros.io.messages`); fields left
    out take the message default (0, "", empty sequence), unknown field names are a KeyError."""
    _, definitions = typestore.fielddefs[typename]
    unknown = set(fields) - {name for name, _ in definitions}
    if unknown:
        raise KeyError(f"{typename} has no field(s) {', '.join(sorted(unknown))}")
    values = {}
    for name, (nodetype, detail) in definitions:
        value = fields.get(name)
        if nodetype == Nodetype.NAME:
            values[name] = build_message(typestore, detail, value or {})
        elif nodetype == Nodetype.BASE:
            values[name] = value if value is not None else _default_scalar(detail[0])
        else:
            (element_type, element_detail), length = detail
            items = [] if value is None else value
            if element_type == Nodetype.NAME:
                values[name] = [build_message(typestore, element_detail, item) for item in items]
            elif element_detail[0] == "string":
                values[name] = list(items)
            else:
                dtype = np.dtype(_NUMPY_TYPES.get(element_detail[0], element_detail[0]))
                if value is None and nodetype == Nodetype.ARRAY:
                    values[name] = np.zeros(length, dtype)
                elif isinstance(items, bytes):
                    values[name] = np.frombuffer(items, dtype)
                else:
                    values[name] = np.asarray(items, dtype)
    return typestore.types[typename](**values)


def _default_scalar(type_name: str) -> Any:
    if type_name == "string":
        return ""
    return False if type_name == "bool" else 0.0 if type_name.startswith("float") else 0


class PoseBagWriter:
    """Write :class:`~hpe_ros.results.FrameResult` objects as ROS 2 messages into a new bag directory."""

    def __init__(
        self,
        path: Path,
        camera_frame: str = DEFAULT_CAMERA_FRAME,
        write_images: bool = False,
        naming: FrameNaming | None = None,
    ) -> None:
        self.types = make_typestore()
        self.camera_frame = camera_frame
        self.naming = naming or FrameNaming()
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
        header = header_fields(result.stamp_ns, self.camera_frame)
        primary = primary_pose_stamped_fields(result, header)
        if primary is not None:
            self._put("/head_pose", primary, result)
        self._put("/head_poses", head_pose_array_fields(result, header, self.naming), result)
        if result.faces:
            self._put("/tf", {"transforms": face_transforms_fields(result, header, self.naming)}, result)
        if image_rgb is not None and IMAGE_TOPIC[0] in self.connections:
            ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image_rgb[:, :, ::-1]))
            if ok:
                self._put(IMAGE_TOPIC[0], {"header": header, "format": "jpeg", "data": jpeg.ravel()}, result)

    def close(self) -> None:
        """Finish the MCAP file and write ``metadata.yaml``."""
        self.writer.close()

    def _put(self, topic: str, fields: Fields, result: FrameResult) -> None:
        msgtype = self.connections[topic].msgtype
        data = self.types.serialize_cdr(build_message(self.types, msgtype, fields), msgtype)
        self.writer.write(self.connections[topic], result.stamp_ns, data)
        self.messages += 1
