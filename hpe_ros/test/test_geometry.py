"""hpe_ros.geometry: conventions pinned to data (AFLW2000-3D) and to known answers, not only round trips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros import geometry as g
from hpe_ros.errors import InputError
from hpe_ros.geometry.frames import head_view_rotation
from hpe_ros.geometry.rotations import rotation_onto_ray

# AFLW 21-point annotation (pt2d), 0-based: eye centres, nose centre, mouth centre, the two ears.
EYE_CENTRES = [7, 10]
NOSE_CENTRE = 14
MOUTH_CENTRE = 18
EAR_IMAGE_LEFT, EAR_IMAGE_RIGHT = 12, 16
# 68-point pt3d_68 (iBUG order): nose tip, chin, the person's right eye (image left), left eye.
NOSE_TIP, CHIN = 30, 8
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)


def rot(axis: str, deg: float) -> np.ndarray:
    return Rotation.from_euler(axis, deg, degrees=True).as_matrix()


@pytest.fixture(scope="module")
def aflw(aflw2000_dev):
    """Angles (N, 3) pitch/yaw/roll in radians, pt2d (N, 21, 2), pt3d_68 (N, 68, 3) of the dev split."""
    from scipy.io import loadmat

    mats = sorted(aflw2000_dev.glob("*.mat"))
    data = [loadmat(m, variable_names=["Pose_Para", "pt2d", "pt3d_68"]) for m in mats]
    angles = np.array([d["Pose_Para"][0, :3] for d in data], dtype=np.float64)
    pt2d = np.array([d["pt2d"].T for d in data], dtype=np.float64)
    pt3d = np.array([d["pt3d_68"].T for d in data], dtype=np.float64)
    return angles, pt2d, pt3d


def head_rotations(angles: np.ndarray) -> np.ndarray:
    return g.head_rotation_from_aflw2000(angles[:, 0], angles[:, 1], angles[:, 2])


def normalised_shapes(pt3d: np.ndarray) -> np.ndarray:
    """pt3d_68 in optical axes (image x right, y down; 3DDFA's z points at the viewer, so negate it)."""
    shapes = pt3d * np.array([1.0, 1.0, -1.0])
    shapes -= shapes.mean(axis=1, keepdims=True)
    return shapes / np.sqrt((shapes**2).sum(-1).mean(-1))[:, None, None]


def frontal_residual(shapes: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, float]:
    """De-rotate every shape by Rᵀ: the mean frontal shape and the RMS distance of the shapes to it."""
    frontal = shapes @ R  # row vectors: (Rᵀ·p)ᵀ = pᵀ·R
    mean = frontal.mean(axis=0)
    return mean, float(np.sqrt(((frontal - mean) ** 2).sum(-1).mean()))


# --- AFLW2000-3D data pins the mapping between the dataset's angles and R_cam<-head ---------------


def test_aflw2000_rotation_derotates_3d_landmarks_to_one_frontal_face(aflw):
    angles, _, pt3d = aflw
    shapes = normalised_shapes(pt3d)
    frontal, residual = frontal_residual(shapes, head_rotations(angles))
    # 6DRepNet's matrix taken as R_cam<-head (the tempting mistake) leaves poses in the shapes.
    _, wrong_residual = frontal_residual(shapes, g.aflw2000_to_matrix(*angles.T))
    assert residual < 0.12 < 0.3 < wrong_residual
    # The frontal face in the head frame: x toward the person's left, y toward the chin, z into the head.
    eyes = (frontal[RIGHT_EYE].mean(0) + frontal[LEFT_EYE].mean(0)) / 2
    assert frontal[NOSE_TIP, 2] < eyes[2] - 0.3  # the nose sticks out toward the camera
    assert frontal[CHIN, 1] > eyes[1] + 1.0
    assert frontal[RIGHT_EYE, 0].mean() < -0.3 and frontal[LEFT_EYE, 0].mean() > 0.3


def test_rotated_mean_shape_projects_onto_held_out_landmarks(aflw):
    """A frontal shape from half the images, rotated by the other half's ground truth, lands on their x, y."""
    angles, _, pt3d = aflw
    shapes = normalised_shapes(pt3d)
    R = head_rotations(angles)
    frontal, _ = frontal_residual(shapes[0::2], R[0::2])

    def median_error(rotations: np.ndarray) -> float:
        errors = []
        for R_i, target in zip(rotations, shapes[1::2, :, :2], strict=True):
            projected = (frontal @ R_i.T)[:, :2]  # orthographic; fit scale and translation
            p, t = projected - projected.mean(0), target - target.mean(0)
            scale = (p * t).sum() / (p * p).sum()
            errors.append(np.sqrt(((scale * p - t) ** 2).sum(-1).mean() / (t**2).sum(-1).mean()))
        return float(np.median(errors))

    assert median_error(R[1::2]) < 0.08
    assert median_error(np.swapaxes(R[1::2], 1, 2)) > 0.2


def test_yaw_sign_agrees_with_hand_clicked_landmarks_and_rep155_face_axis(aflw):
    """The REP-155 face x axis (out of the face) points where the annotator's nose sits beside the eyes."""
    angles, pt2d, _ = aflw
    R_face, _ = g.face_pose_from_head(head_rotations(angles), np.zeros((len(angles), 3)))
    visible = (pt2d >= 0).all(-1)
    yaw_deg = np.degrees(angles[:, 1])
    chosen = visible[:, [*EYE_CENTRES, NOSE_CENTRE]].all(1) & (np.abs(yaw_deg) > 15)
    assert chosen.sum() > 50
    nose_offset = pt2d[chosen, NOSE_CENTRE, 0] - pt2d[chosen][:, EYE_CENTRES, 0].mean(1)
    face_x_in_image = R_face[chosen, 0, 0]
    assert np.mean(np.sign(nose_offset) == np.sign(face_x_in_image)) > 0.9
    # yaw > 0: the person turns to their right (face toward image left), so the image-right ear shows.
    only_right_ear = visible[:, EAR_IMAGE_RIGHT] & ~visible[:, EAR_IMAGE_LEFT]
    only_left_ear = visible[:, EAR_IMAGE_LEFT] & ~visible[:, EAR_IMAGE_RIGHT]
    assert np.mean(yaw_deg[only_right_ear] > 0) > 0.9 and np.mean(yaw_deg[only_left_ear] < 0) > 0.9


def test_roll_and_pitch_signs_agree_with_hand_clicked_landmarks(aflw):
    angles, pt2d, _ = aflw
    R = head_rotations(angles)
    visible = (pt2d >= 0).all(-1)
    pitch, yaw, roll = np.degrees(angles.T)
    near_frontal = visible[:, [*EYE_CENTRES, NOSE_CENTRE, MOUTH_CENTRE]].all(1) & (np.abs(yaw) < 30)
    # Roll: the eye line in the image follows the head x axis (the person's left, image right).
    chosen = near_frontal & (np.abs(pitch) < 30)
    eye_line = pt2d[chosen, EYE_CENTRES[1]] - pt2d[chosen, EYE_CENTRES[0]]
    image_angle = np.degrees(np.arctan2(eye_line[:, 1], eye_line[:, 0]))
    head_x_angle = np.degrees(np.arctan2(R[chosen, 1, 0], R[chosen, 0, 0]))
    assert np.median(g.wrapped_angle_errors_deg(image_angle, head_x_angle)) < 3.0
    assert np.corrcoef(image_angle, roll[chosen])[0, 1] > 0.9
    # Pitch: chin up (pitch > 0) brings the protruding nose up toward the eyes in the image.
    chosen = near_frontal & (np.abs(roll) < 20)
    eyes_y = pt2d[chosen][:, EYE_CENTRES, 1].mean(1)
    nose_height = (pt2d[chosen, NOSE_CENTRE, 1] - eyes_y) / (pt2d[chosen, MOUTH_CENTRE, 1] - eyes_y)
    face_forward_y = -R[chosen, 1, 2]
    assert np.corrcoef(nose_height, face_forward_y)[0, 1] > 0.7
    assert np.corrcoef(nose_height, pitch[chosen])[0, 1] < -0.7


def test_dataset_angles_round_trip_through_head_rotation(aflw):
    angles, _, _ = aflw
    within = np.abs(angles[:, 1]) < np.pi / 2
    back = np.stack(g.aflw2000_from_head_rotation(head_rotations(angles[within])), axis=-1)
    np.testing.assert_allclose(back, angles[within], atol=1e-6)


# --- Euler conventions: known answers from 6DRepNet's own formulas --------------------------------


def sixdrepnet_get_r(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """6DRepNet ``utils.get_R`` written out: Rz(roll)·Ry(yaw)·Rx(pitch), radians."""
    cx, sx, cy, sy, cz, sz = (
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
        np.cos(roll),
        np.sin(roll),
    )
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def test_aflw2000_matrix_matches_sixdrepnet_get_r_and_its_euler_decoder():
    rng = np.random.default_rng(0)
    angles = rng.uniform([-1.5, -1.5, -1.5], [1.5, 1.5, 1.5], size=(20, 3))
    R = g.aflw2000_to_matrix(*angles.T)
    assert R.shape == (20, 3, 3)
    for R_i, (p, y, r) in zip(R, angles, strict=True):
        np.testing.assert_allclose(R_i, sixdrepnet_get_r(p, y, r), atol=1e-12)
    # 6DRepNet test.py decodes with compute_euler_angles_from_rotation_matrices:
    decoded = np.stack(
        [
            np.arctan2(R[:, 2, 1], R[:, 2, 2]),
            np.arctan2(-R[:, 2, 0], np.hypot(R[:, 0, 0], R[:, 1, 0])),
            np.arctan2(R[:, 1, 0], R[:, 0, 0]),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(np.stack(g.matrix_to_aflw2000(R), axis=-1), decoded, atol=1e-9)
    np.testing.assert_allclose(decoded, angles, atol=1e-9)
    pitch, yaw, _ = g.matrix_to_aflw2000(R[0])
    assert np.ndim(pitch) == 0 and float(yaw) == pytest.approx(angles[0, 1])


def test_head_rotation_closed_form_and_biwi_order():
    p, y, r = 0.3, -0.7, 0.2
    expected = rot("x", -np.degrees(p)) @ rot("y", np.degrees(y)) @ rot("z", np.degrees(r))
    np.testing.assert_allclose(g.head_rotation_from_aflw2000(p, y, r), expected, atol=1e-12)
    np.testing.assert_allclose(g.aflw2000_from_head_rotation(expected), (p, y, r), atol=1e-12)
    # BIWI: (yaw, pitch, roll) in degrees, same matrix as AFLW2000 (pitch, yaw, roll) in radians.
    yaw_d, pitch_d, roll_d = np.degrees([y, p, r])
    np.testing.assert_allclose(
        g.biwi_to_matrix(yaw_d, pitch_d, roll_d), sixdrepnet_get_r(p, y, r), atol=1e-12
    )
    np.testing.assert_allclose(
        g.matrix_to_biwi(sixdrepnet_get_r(p, y, r)), (yaw_d, pitch_d, roll_d), atol=1e-9
    )
    np.testing.assert_allclose(g.head_rotation_from_biwi(yaw_d, pitch_d, roll_d), expected, atol=1e-12)
    np.testing.assert_allclose(g.biwi_from_head_rotation(expected), (yaw_d, pitch_d, roll_d), atol=1e-9)


def test_yaw_alone_turns_the_face_toward_image_left():
    R_face, _ = g.face_pose_from_head(g.head_rotation_from_aflw2000(0.0, np.radians(40), 0.0), np.zeros(3))
    out_of_face = R_face[:, 0]
    assert out_of_face[0] < -0.6 and out_of_face[2] < 0  # toward image left and still toward the camera


# --- REP-155 frames -------------------------------------------------------------------------------


def test_rep155_axes_of_a_frontal_face():
    t = np.array([0.1, -0.05, 0.8])
    R_face, t_face = g.face_pose_from_head(np.eye(3), t)
    np.testing.assert_array_equal(R_face[:, 0], [0, 0, -1])  # x out of the face: toward the camera
    np.testing.assert_array_equal(R_face[:, 1], [1, 0, 0])  # y to the person's left: image right
    np.testing.assert_array_equal(R_face[:, 2], [0, -1, 0])  # z toward the scalp: image up
    np.testing.assert_array_equal(t_face, t)
    R_gaze_in_face, t_gaze = g.gaze_pose_in_face()
    np.testing.assert_array_equal(t_gaze, np.zeros(3))
    R_gaze = R_face @ R_gaze_in_face
    np.testing.assert_array_equal(R_gaze[:, 2], R_face[:, 0])  # gaze z = face x
    np.testing.assert_array_equal(R_gaze[:, 0], [-1, 0, 0])  # x: the person's right = image left
    np.testing.assert_array_equal(R_gaze[:, 1], [0, 1, 0])  # y down
    for R in (g.R_HEAD_FROM_FACE, g.R_FACE_FROM_GAZE):
        assert np.linalg.det(R) == pytest.approx(1.0)
    batch, _ = g.face_pose_from_head(np.stack([np.eye(3), rot("y", 30)]), np.zeros((2, 3)))
    assert batch.shape == (2, 3, 3)


# --- relative poses -------------------------------------------------------------------------------


def test_compose_relative_known_answer_and_vggt_extrinsics():
    R_a, t_a = rot("y", 30), np.array([0.0, 0.0, 1.0])
    R_rel, t_rel = rot("z", 90), np.array([0.1, 0.0, 0.0])
    R_q, t_q = g.compose_relative(R_rel, t_rel, R_a, t_a)
    np.testing.assert_allclose(R_q, rot("z", 90) @ rot("y", 30), atol=1e-12)
    np.testing.assert_allclose(t_q, [0.1, 0.0, 1.0], atol=1e-12)

    def extrinsic(R, t):
        E = np.eye(4)
        E[:3, :3], E[:3, 3] = R, t
        return E

    # VGGT: T_rel = E_q · E_a⁻¹ with E = head->camera.
    T_rel = extrinsic(R_q, t_q) @ np.linalg.inv(extrinsic(R_a, t_a))
    R_back, t_back = g.relative_transform(R_a, t_a, R_q, t_q)
    np.testing.assert_allclose(R_back, T_rel[:3, :3], atol=1e-12)
    np.testing.assert_allclose(t_back, T_rel[:3, 3], atol=1e-12)
    np.testing.assert_allclose(t_back, t_rel, atol=1e-12)


def test_relative_pose_batches_broadcast():
    rng = np.random.default_rng(1)
    R_a = Rotation.random(6, random_state=2).as_matrix().reshape(2, 3, 3, 3)
    R_q = Rotation.random(6, random_state=3).as_matrix().reshape(2, 3, 3, 3)
    t_a, t_q = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 3))
    R_rel, t_rel = g.relative_transform(R_a, t_a, R_q, t_q)
    R_back, t_back = g.compose_relative(R_rel, t_rel, R_a, t_a)
    np.testing.assert_allclose(R_back, R_q, atol=1e-12)
    np.testing.assert_allclose(t_back, t_q, atol=1e-12)
    with pytest.raises(InputError):
        g.compose_relative(np.eye(3), np.zeros(2), np.eye(3), np.zeros(3))


# --- rotation encodings ---------------------------------------------------------------------------


def test_quaternion_xyzw_known_answer_not_normalised_and_canonical():
    s = np.sqrt(0.5)
    rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(g.quat_xyzw_to_matrix([0.0, 0.0, s, s]), rz90, atol=1e-12)
    np.testing.assert_allclose(g.quat_xyzw_to_matrix([0.0, 0.0, 3.0, 3.0]), rz90, atol=1e-12)  # |q| = 4.2
    np.testing.assert_allclose(g.quat_xyzw_to_matrix([0.0, 0.0, -3.0, -3.0]), rz90, atol=1e-12)
    np.testing.assert_allclose(g.matrix_to_quat_xyzw(rz90), [0.0, 0.0, s, s], atol=1e-12)
    Rs = Rotation.random(50, random_state=4).as_matrix().reshape(5, 10, 3, 3)
    q = g.matrix_to_quat_xyzw(Rs)
    assert q.shape == (5, 10, 4) and (q[..., 3] >= 0).all()
    np.testing.assert_allclose(g.quat_xyzw_to_matrix(q * 2.5), Rs, atol=1e-12)
    with pytest.raises(InputError):
        g.quat_xyzw_to_matrix(np.zeros(4))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gt", "error"),
    [
        (179.0, -179.0, 2.0),
        (10.0, 350.0, 20.0),
        (-170.0, 170.0, 20.0),
        (30.0, 10.0, 20.0),
        (90.0, -90.0, 0.0),
    ],
)
def test_wrapped_angle_error_known_cases(pred, gt, error):
    assert g.wrapped_angle_errors_deg(pred, gt) == pytest.approx(error)


def test_wrapped_angle_errors_broadcast_over_images_and_angles():
    pred = np.array([[179.0, 10.0, 5.0], [0.0, 0.0, 100.0]])
    gt = np.array([[-179.0, 350.0, -5.0], [0.0, 181.0, -100.0]])
    np.testing.assert_allclose(g.wrapped_angle_errors_deg(pred, gt), [[2.0, 20.0, 10.0], [0.0, 1.0, 20.0]])


def test_geodesic_known_angles_and_numerical_safety():
    assert g.geodesic_deg(rot("z", 30), np.eye(3)) == pytest.approx(30.0)
    assert g.geodesic_deg(rot("x", 180), np.eye(3)) == pytest.approx(180.0)
    drift = np.eye(3) * (1 + 1e-12)  # trace slightly above 3 must not give NaN
    assert g.geodesic_deg(drift, np.eye(3)) == 0.0
    R = Rotation.random(8, random_state=6).as_matrix()
    np.testing.assert_allclose(
        g.geodesic_deg(R, R[::-1]),
        np.degrees((Rotation.from_matrix(R).inv() * Rotation.from_matrix(R[::-1])).magnitude()),
    )


# --- rotation averaging ---------------------------------------------------------------------------


def test_average_of_symmetric_rotations_is_their_centre():
    R0 = rot("y", 35) @ rot("x", -20)
    theta = 12.0
    four = np.stack([R0 @ rot(a, s * theta) for a in "xy" for s in (1, -1)])
    mean, spread = g.average_rotations(four)
    assert g.geodesic_deg(mean, R0) < 1e-5 and spread == pytest.approx(theta)
    axes = [(np.cos(a), np.sin(a), 0.0) for a in np.radians([0, 120, 240])]
    three = np.stack([R0 @ Rotation.from_rotvec(np.radians(theta) * np.array(v)).as_matrix() for v in axes])
    mean, spread = g.average_rotations(three)
    assert g.geodesic_deg(mean, R0) < 1e-5 and spread == pytest.approx(theta)


def test_one_outlier_does_not_drag_the_average():
    R0 = rot("z", 10) @ rot("y", -40)
    small = [R0 @ rot(a, s * 2.0) for a in "xyz" for s in (1, -1)]
    outlier = R0 @ rot("x", 90)
    Rs = np.stack([*small, outlier])
    chordal = Rotation.from_matrix(Rs).mean().as_matrix()
    mean, spread = g.average_rotations(Rs)
    assert g.geodesic_deg(chordal, R0) > 8.0  # what a plain mean does
    assert g.geodesic_deg(mean, R0) < 1.0
    assert spread > 30.0  # the outlier shows up in the dispersion
    weights = np.array([1.0] * len(small) + [0.0])
    mean_w, spread_w = g.average_rotations(Rs, weights)
    assert g.geodesic_deg(mean_w, R0) < 1e-5 and spread_w == pytest.approx(2.0)


def test_average_of_one_and_bad_input():
    R = rot("x", 33)
    mean, spread = g.average_rotations(R[None])
    np.testing.assert_allclose(mean, R, atol=1e-12)
    assert spread == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(InputError):
        g.average_rotations(np.zeros((0, 3, 3)))
    with pytest.raises(InputError):
        g.average_rotations(np.stack([R, R]), weights=[1.0, -1.0])
    with pytest.raises(InputError):
        g.average_rotations(np.stack([R, R]), weights=[0.0, 0.0])


def test_a_head_facing_the_camera_from_the_edge_looks_frontal_in_its_view_camera():
    face = np.array([0.6, -0.25, 1.2])  # 28 deg right of the axis and up
    R_facing = rotation_onto_ray(face)  # the head's z (into the head) along the ray: it faces the camera
    np.testing.assert_allclose(R_facing @ [0.0, 0.0, 1.0], face / np.linalg.norm(face), atol=1e-12)
    np.testing.assert_allclose(R_facing.T @ R_facing, np.eye(3), atol=1e-12)
    assert g.geodesic_deg(R_facing, np.eye(3)) > 25.0
    view = head_view_rotation(face, R_facing)
    assert g.geodesic_deg(view.T @ R_facing, np.eye(3)) < 1.5  # frontal, but for the skull centre's 2 cm drop
    np.testing.assert_allclose(rotation_onto_ray([0.0, 0.0, 2.0]), np.eye(3))
    np.testing.assert_allclose(
        rotation_onto_ray([0.0, 0.0, -1.0]) @ [0.0, 0.0, 1.0], [0.0, 0.0, -1.0], atol=1e-12
    )
    with pytest.raises(InputError):
        rotation_onto_ray([0.0, 0.0, 0.0])
