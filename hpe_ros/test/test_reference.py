"""The chosen reference: when it is set, and how messages and TF carry it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_face_pose
from scipy.spatial.transform import Rotation

from hpe_ros.geometry import R_HEAD_FROM_FACE, geodesic_deg, quat_xyzw_to_matrix
from hpe_ros.io.messages import FrameNaming, face_transforms_fields, head_pose_fields, header_fields
from hpe_ros.reference import FaceReference, ReferenceConfig, rotation_from_reference
from hpe_ros.results import FrameResult


def turn(yaw: float) -> np.ndarray:
    return Rotation.from_euler("y", yaw, degrees=True).as_matrix()


def test_reference_is_set_on_request_or_on_the_first_confident_frontal_frame():
    manual = FaceReference(ReferenceConfig())
    assert manual.update(turn(30), 0.9) is None
    manual.requested = True
    np.testing.assert_array_equal(manual.update(turn(30), 0.1), turn(30))
    np.testing.assert_array_equal(manual.update(turn(5), 0.9), turn(30))  # kept until the next request
    auto = FaceReference(ReferenceConfig(auto=True, auto_max_deg=10.0, auto_min_confidence=0.5))
    assert auto.update(turn(20), 0.9) is None and auto.update(turn(5), 0.3) is None
    np.testing.assert_array_equal(auto.update(turn(5), 0.6), turn(5))
    np.testing.assert_array_equal(auto.update(turn(1), 0.9), turn(5))


def test_messages_carry_the_offset_and_tf_the_reference_frame():
    naming = FrameNaming()
    header = header_fields(5, "cam")
    face = make_face_pose(3, 5, yaw_deg=25.0, x=0.0, anchor_stamp_ns=1)
    assert head_pose_fields(face, header, naming)["has_reference"] is False
    assert [
        t["child_frame_id"]
        for t in face_transforms_fields(FrameResult(5, [face], 0, 1, {}, False, 0), header, naming)
    ] == ["face_f3", "gaze_f3"]
    face.reference_rotation = turn(10.0)
    fields = head_pose_fields(face, header, naming)
    assert fields["has_reference"] and fields["reference_frame_id"] == "face_ref_f3"
    assert fields["angle_from_reference"] == pytest.approx(15.0, abs=1e-5)
    q = fields["orientation_in_reference"]
    in_reference = quat_xyzw_to_matrix(np.array([q["x"], q["y"], q["z"], q["w"]]))
    expected = R_HEAD_FROM_FACE.T @ rotation_from_reference(turn(10.0), turn(25.0)) @ R_HEAD_FROM_FACE
    assert geodesic_deg(in_reference, expected) < 1e-4
    transforms = face_transforms_fields(FrameResult(5, [face], 0, 1, {}, False, 0), header, naming)
    reference = next(t for t in transforms if t["child_frame_id"] == "face_ref_f3")
    assert reference["header"]["frame_id"] == "cam"
    r = reference["transform"]["rotation"]
    R_cam_ref_face = quat_xyzw_to_matrix(np.array([r["x"], r["y"], r["z"], r["w"]]))
    assert geodesic_deg(R_cam_ref_face, turn(10.0) @ R_HEAD_FROM_FACE) < 1e-4
