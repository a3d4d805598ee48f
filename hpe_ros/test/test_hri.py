"""ROS4HRI face topics without ROS: ids from the face frames, normalised regions, CDR round trips."""

import dataclasses

import numpy as np
import pytest
from conftest import make_face_pose
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from hpe_ros.io.bag import build_message
from hpe_ros.io.messages import FrameNaming, header_fields, hri_faces_fields, hri_roi_topic
from hpe_ros.results import FrameResult

# The field lists of hri_msgs 2.0.0 (ros4hri/hri_msgs, branch humble-devel, BSD licence), comments left out.
HRI_MSGS = {
    "hri_msgs/msg/IdsList": "std_msgs/Header header\nstring[] ids\n",
    "hri_msgs/msg/NormalizedRegionOfInterest2D": (
        "std_msgs/Header header\nfloat32 xmin\nfloat32 ymin\nfloat32 xmax\nfloat32 ymax\nfloat32 c\n"
    ),
}
ROS4HRI_NAMING = FrameNaming()  # the defaults: face ids f<n>


def hri_typestore():
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for name, text in HRI_MSGS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def round_trip(store, typename: str, fields: dict):
    raw = store.serialize_cdr(build_message(store, typename, fields), typename)
    return store.deserialize_cdr(raw, typename)


def test_hri_ids_are_the_ids_of_the_face_frames_and_valid_topic_tokens():
    assert ROS4HRI_NAMING.hri_id(3) == "f3" and ROS4HRI_NAMING.face(3) == "face_f3"
    assert hri_roi_topic("f3") == "/humans/faces/f3/roi"
    assert FrameNaming(id_prefix="").hri_id(3) is None  # "3": a ROS 2 topic token cannot start with a digit
    assert FrameNaming("head_", "gaze_").hri_id(3) is None  # not REP-155 face_<id> frames
    assert FrameNaming("robot1/face_", "robot1/gaze_").hri_id(3) is None  # nor are these


def test_tracked_ids_and_normalised_regions_survive_cdr():
    inside = make_face_pose(3, 0, 10.0, 0.0, 0)  # box 100..160 x 60..130
    outside = dataclasses.replace(
        make_face_pose(7, 0, 0.0, 0.0, 0), box=np.array([-20.0, 200.0, 60.0, 260.0])
    )
    result = FrameResult(5_000_000_123, [inside, outside], 0, 2, {}, False, 0)
    header = header_fields(result.stamp_ns, "camera_optical_frame")
    tracked, rois = hri_faces_fields(result, header, ROS4HRI_NAMING, 320, 240)
    store = hri_typestore()

    ids = round_trip(store, "hri_msgs/msg/IdsList", tracked)
    assert ids.ids == ["f3", "f7"] and ids.header.frame_id == "camera_optical_frame"
    assert (ids.header.stamp.sec, ids.header.stamp.nanosec) == (5, 123)

    roi = round_trip(store, "hri_msgs/msg/NormalizedRegionOfInterest2D", rois["f3"])
    assert (roi.xmin, roi.ymin, roi.xmax, roi.ymax) == pytest.approx(
        (100 / 320, 60 / 240, 160 / 320, 130 / 240)
    )
    assert roi.c == pytest.approx(0.8)
    clipped = round_trip(store, "hri_msgs/msg/NormalizedRegionOfInterest2D", rois["f7"])
    assert (clipped.xmin, clipped.ymax) == (0.0, 1.0)  # a box over the image border stays in [0, 1]


def test_no_hri_fields_with_ids_that_cannot_be_topics():
    result = FrameResult(0, [make_face_pose(1, 0, 0.0, 0.0, 0)], 0, 1, {}, False, 0)
    bare_numbers = FrameNaming(id_prefix="")
    assert hri_faces_fields(result, header_fields(0, "cam"), bare_numbers, 320, 240) is None
    header = header_fields(0, "cam")
    assert hri_faces_fields(FrameResult(0, [], -1, 0, {}, False, 0), header, bare_numbers, 1, 1) is None
    empty = hri_faces_fields(FrameResult(0, [], -1, 0, {}, False, 0), header, ROS4HRI_NAMING, 1, 1)
    assert empty == ({"header": header, "ids": []}, {})  # no face: an empty list, so apps drop old faces
