"""Field values of the messages the node publishes (and ``hpe track`` writes into its bag), as plain data.

Every function returns nested dicts keyed by the ROS message field names (lists for sequences); fields left
out take the message default. The node fills real messages from them with
``rosidl_runtime_py.set_message_fields``, the bag writer builds rosbags messages with
:func:`hpe_ros.io.bag.build_message`: one definition of what goes where, used by both.

Poses are REP-155 ``face_<id>`` frames in the image's optical frame; the header of every message is the
image's (its stamp, its frame), never "now".

ROS4HRI (REP-155) faces: ``/humans/faces/tracked`` (hri_msgs/IdsList) lists the ids of the tracked faces and
``/humans/faces/<id>/roi`` (hri_msgs/NormalizedRegionOfInterest2D) holds each face's box in [0, 1] image
coordinates. A face's id is the ``<id>`` of its ``face_<id>`` frame, so ROS4HRI apps find its TF frames; it
must be a valid topic-name token (ROS 2 tokens start with a letter), so it is a letter prefix plus the track
number: track 3 is face ``f3``, frames ``face_f3`` / ``gaze_f3``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpe_ros.geometry import (
    R_HEAD_FROM_FACE,
    face_pose_from_head,
    gaze_pose_in_face,
    geodesic_deg,
    matrix_to_quat_xyzw,
)
from hpe_ros.reference import rotation_from_reference
from hpe_ros.results import FacePose, FrameResult

Fields = dict[str, Any]

# visualization_msgs/Marker constants.
MARKER_ARROW, MARKER_TEXT = 0, 9
MARKER_ADD, MARKER_DELETEALL = 0, 3
MARKER_NAMESPACE = "hpe_faces"


HRI_TRACKED_TOPIC = "/humans/faces/tracked"
HRI_FACE_FRAME_PREFIX, HRI_GAZE_FRAME_PREFIX = "face_", "gaze_"
_TOPIC_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class FrameNaming:
    """Names of a tracked face: its id ``<id_prefix><track number>`` and the TF frames ``<face_prefix><id>``,
    ``<gaze_prefix><id>`` (REP-155)."""

    face_prefix: str = "face_"
    gaze_prefix: str = "gaze_"
    id_prefix: str = "f"

    def face_id(self, track_id: int) -> str:
        """The face's id, e.g. ``f3``: the ``<id>`` of REP-155's ``face_<id>``."""
        return f"{self.id_prefix}{int(track_id)}"

    def face(self, track_id: int) -> str:
        """The face frame of a track, e.g. ``face_f3``."""
        return f"{self.face_prefix}{self.face_id(track_id)}"

    def gaze(self, track_id: int) -> str:
        """The gaze frame of a track, e.g. ``gaze_f3``."""
        return f"{self.gaze_prefix}{self.face_id(track_id)}"

    def hri_id(self, track_id: int) -> str | None:
        """The ROS4HRI face id of a track, its :meth:`face_id`; None when the frames are not ``face_<id>`` and
        ``gaze_<id>`` (REP-155) or the id is not a topic-name token (one that starts with a digit)."""
        face_id = self.face_id(track_id)
        rep155 = (self.face_prefix, self.gaze_prefix) == (HRI_FACE_FRAME_PREFIX, HRI_GAZE_FRAME_PREFIX)
        return face_id if rep155 and _TOPIC_TOKEN.fullmatch(face_id) else None

    def reference(self, track_id: int) -> str:
        """The calibrated reference frame of a track, e.g. ``face_ref_f3``."""
        return f"{self.face_prefix}ref_{self.face_id(track_id)}"


def stamp_fields(stamp_ns: int) -> Fields:
    """builtin_interfaces/Time (also the layout of Duration) from nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return {"sec": sec, "nanosec": nanosec}


def stamp_ns_of(stamp: Any) -> int:
    """Nanoseconds of a Time message (anything with ``sec`` and ``nanosec``)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def header_fields(stamp_ns: int, frame_id: str) -> Fields:
    """std_msgs/Header."""
    return {"stamp": stamp_fields(stamp_ns), "frame_id": frame_id}


def pose_fields(rotation: np.ndarray, translation: np.ndarray) -> Fields:
    """geometry_msgs/Pose from a rotation matrix and a translation."""
    qx, qy, qz, qw = (float(v) for v in matrix_to_quat_xyzw(rotation))
    x, y, z = (float(v) for v in translation)
    return {"position": {"x": x, "y": y, "z": z}, "orientation": {"x": qx, "y": qy, "z": qz, "w": qw}}


def face_pose_fields(face: FacePose) -> Fields:
    """geometry_msgs/Pose of the face's REP-155 frame in the camera frame."""
    return pose_fields(*face_pose_from_head(face.rotation, face.position))


def head_pose_fields(face: FacePose, header: Fields, naming: FrameNaming) -> Fields:
    """hpe_msgs/HeadPose of one face."""
    x0, y0, x1, y1 = (float(v) for v in face.box)
    return {
        "header": header,
        "track_id": int(face.track_id),
        "face_frame_id": naming.face(face.track_id),
        "pose": {
            "pose": face_pose_fields(face),
            "covariance": [float(v) for v in np.asarray(face.covariance, dtype=np.float64).reshape(36)],
        },
        "yaw": float(face.yaw_deg),
        "pitch": float(face.pitch_deg),
        "roll": float(face.roll_deg),
        "confidence": float(face.confidence),
        "anchor_id": int(face.anchor_id),
        "anchor_stamp": stamp_fields(face.anchor_stamp_ns),
        "num_anchors": int(face.num_anchors),
        "box_x": x0,
        "box_y": y0,
        "box_width": x1 - x0,
        "box_height": y1 - y0,
        "detection_score": float(face.detection_score),
        **reference_fields(face, naming),
    }


def reference_fields(face: FacePose, naming: FrameNaming) -> Fields:
    """The HeadPose fields of the face's chosen reference (``has_reference`` false until calibrated)."""
    if face.reference_rotation is None:
        return {"has_reference": False}
    offset = rotation_from_reference(face.reference_rotation, face.rotation)
    qx, qy, qz, qw = (float(v) for v in matrix_to_quat_xyzw(R_HEAD_FROM_FACE.T @ offset @ R_HEAD_FROM_FACE))
    return {
        "has_reference": True,
        "reference_frame_id": naming.reference(face.track_id),
        "orientation_in_reference": {"x": qx, "y": qy, "z": qz, "w": qw},
        "angle_from_reference": float(geodesic_deg(face.reference_rotation, face.rotation)),
    }


def head_pose_array_fields(result: FrameResult, header: Fields, naming: FrameNaming) -> Fields:
    """hpe_msgs/HeadPoseArray: every face of the frame (empty list without faces)."""
    faces = [head_pose_fields(face, header, naming) for face in result.faces]
    return {"header": header, "faces": faces, "primary_index": int(result.primary_index)}


def primary_pose_stamped_fields(result: FrameResult, header: Fields) -> Fields | None:
    """geometry_msgs/PoseStamped of the primary face, None when the frame has no face."""
    if result.primary_index < 0:
        return None
    return {"header": header, "pose": face_pose_fields(result.faces[result.primary_index])}


def transform_fields(
    header: Fields, child_frame_id: str, rotation: np.ndarray, translation: np.ndarray
) -> Fields:
    """geometry_msgs/TransformStamped: ``child_frame_id`` in ``header.frame_id``."""
    pose = pose_fields(rotation, translation)
    return {
        "header": header,
        "child_frame_id": child_frame_id,
        "transform": {"translation": pose["position"], "rotation": pose["orientation"]},
    }


def face_transforms_fields(result: FrameResult, header: Fields, naming: FrameNaming) -> list[Fields]:
    """TransformStamped of ``camera -> face_<id>`` and ``face_<id> -> gaze_<id>`` for every face."""
    R_face_gaze, t_face_gaze = gaze_pose_in_face()
    transforms = []
    for face in result.faces:
        face_frame = naming.face(face.track_id)
        transforms.append(
            transform_fields(header, face_frame, *face_pose_from_head(face.rotation, face.position))
        )
        gaze_header = {"stamp": header["stamp"], "frame_id": face_frame}
        transforms.append(transform_fields(gaze_header, naming.gaze(face.track_id), R_face_gaze, t_face_gaze))
        if face.reference_rotation is not None:
            reference = face_pose_from_head(face.reference_rotation, face.position)
            transforms.append(transform_fields(header, naming.reference(face.track_id), *reference))
    return transforms


def marker_array_fields(result: FrameResult, header: Fields, naming: FrameNaming) -> Fields:
    """visualization_msgs/MarkerArray: clear the previous frame's markers, then per face an arrow out of the
    face (the face frame's x axis) and a text label with the id and angles above the head."""
    markers: list[Fields] = [{"header": header, "ns": MARKER_NAMESPACE, "action": MARKER_DELETEALL}]
    for face in result.faces:
        pose = face_pose_fields(face)
        label_position = dict(pose["position"], y=pose["position"]["y"] - 0.15)
        markers.append(
            {
                "header": header,
                "ns": MARKER_NAMESPACE,
                "id": 2 * int(face.track_id),
                "type": MARKER_ARROW,
                "action": MARKER_ADD,
                "pose": pose,
                "scale": {"x": 0.2, "y": 0.02, "z": 0.02},
                "color": {"r": 0.2, "g": 0.8, "b": 0.2, "a": max(0.3, float(face.confidence))},
            }
        )
        markers.append(
            {
                "header": header,
                "ns": MARKER_NAMESPACE,
                "id": 2 * int(face.track_id) + 1,
                "type": MARKER_TEXT,
                "action": MARKER_ADD,
                "pose": {"position": label_position, "orientation": {"w": 1.0}},
                "scale": {"z": 0.05},
                "color": {"r": 1.0, "g": 1.0, "b": 1.0, "a": 1.0},
                "text": f"{naming.face(face.track_id)} y{face.yaw_deg:+.0f} p{face.pitch_deg:+.0f} "
                f"r{face.roll_deg:+.0f}",
            }
        )
    return {"markers": markers}


def bgr8_image_fields(image_bgr: np.ndarray, header: Fields) -> Fields:
    """sensor_msgs/Image (bgr8) of an (H, W, 3) uint8 BGR array, e.g. the debug overlay."""
    image = np.ascontiguousarray(image_bgr, dtype=np.uint8)
    height, width = image.shape[:2]
    return {
        "header": header,
        "height": height,
        "width": width,
        "encoding": "bgr8",
        "is_bigendian": 0,
        "step": width * 3,
        "data": image.tobytes(),
    }


def hri_roi_topic(face_id: str) -> str:
    """The ROS4HRI topic of a face's region of interest."""
    return f"/humans/faces/{face_id}/roi"


def hri_faces_fields(
    result: FrameResult, header: Fields, naming: FrameNaming, width: int, height: int
) -> tuple[Fields, dict[str, Fields]] | None:
    """hri_msgs/IdsList of the tracked faces and, per face id, its hri_msgs/NormalizedRegionOfInterest2D
    (box clipped to the image, divided by its size; ``c`` = the pose confidence); None when the naming gives
    no ROS4HRI ids (:meth:`FrameNaming.hri_id`)."""
    if naming.hri_id(1) is None:  # the prefixes decide, whatever the track number
        return None
    ids = [naming.hri_id(face.track_id) for face in result.faces]
    scale = np.array([width, height, width, height], dtype=np.float64)
    rois = {}
    for face_id, face in zip(ids, result.faces, strict=True):
        xmin, ymin, xmax, ymax = (float(v) for v in np.clip(np.asarray(face.box) / scale, 0.0, 1.0))
        confidence = float(np.clip(face.confidence, 0.0, 1.0))
        rois[face_id] = {
            "header": header,
            "xmin": xmin,
            "ymin": ymin,
            "xmax": xmax,
            "ymax": ymax,
            "c": confidence,
        }
    return {"header": header, "ids": ids}, rois
