"""The overlay (annotated video, debug image): axes far to near, labels off the face, a legend in a corner."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import make_face_pose
from scipy.spatial.transform import Rotation

from hpe_ros.geometry.frames import R_HEAD_FROM_FACE
from hpe_ros.io.video import AXIS_BGR, axis_order, draw_result, legend_corner
from hpe_ros.results import FacePose, FrameResult

K = np.array([[300.0, 0.0, 159.5], [0.0, 300.0, 119.5], [0.0, 0.0, 1.0]])
GRAY = 128
FRONTAL_FACE = R_HEAD_FROM_FACE  # R_cam←face of a head looking into the camera (R_cam←head = identity)


def turned_face(turn_deg: float, box: tuple[float, ...] = (100.0, 60.0, 220.0, 200.0)) -> FacePose:
    """A face at 0.5 m turned about the camera's vertical axis; positive: toward image-right."""
    R_cam_face = Rotation.from_euler("y", -turn_deg, degrees=True).as_matrix() @ FRONTAL_FACE
    pose = make_face_pose(1, 0, 0.0, 0.0, 0)
    return dataclasses.replace(
        pose, rotation=R_cam_face @ R_HEAD_FROM_FACE.T, position=np.array([0.0, 0.0, 0.5]), box=np.array(box)
    )


def frame(*faces: FacePose) -> FrameResult:
    return FrameResult(0, list(faces), 0 if faces else -1, len(faces), {}, False, 0)


def gray_image() -> np.ndarray:
    return np.full((240, 320, 3), GRAY, np.uint8)


def test_the_turn_helper_turns_toward_image_right():
    face = turned_face(60.0)
    out_of_face = (face.rotation @ R_HEAD_FROM_FACE)[:, 0]
    assert out_of_face[0] > 0.8  # the face's x axis points to image-right


@pytest.mark.parametrize(("turn_deg", "nearest"), [(60.0, 0), (-60.0, 1), (0.0, 0)])
def test_the_nearest_axis_is_drawn_last(turn_deg: float, nearest: int):
    """Turned toward image-right, the out-of-face axis (red) is nearest and covers the others at the origin;
    turned toward image-left, the person's-left axis (green) comes nearest."""
    face = turned_face(turn_deg)
    R_cam_face = face.rotation @ R_HEAD_FROM_FACE
    assert axis_order(R_cam_face, face.position)[-1] == nearest
    canvas = draw_result(gray_image(), frame(face), K, legend=False)
    origin = canvas[120, 160].astype(int)  # the face's centre projects to the principal point
    assert int(np.argmax(origin)) == int(np.argmax(AXIS_BGR[nearest]))


def plate_rows(canvas: np.ndarray, x0: int, x1: int) -> np.ndarray:
    """Rows where the label plate (darkened gray) covers most of the columns x0..x1."""
    dark = (canvas[:, x0:x1] < GRAY // 2).all(axis=2).mean(axis=1)
    return np.flatnonzero(dark > 0.5)


def test_label_sits_above_the_face_or_below_it_at_the_top_edge():
    middle = turned_face(0.0, box=(130.0, 120.0, 190.0, 180.0))
    rows = plate_rows(draw_result(gray_image(), frame(middle), K, legend=False), 130, 190)
    assert rows.size and rows.max() < 120  # above the box, clear of the face
    top = turned_face(0.0, box=(130.0, 0.0, 190.0, 60.0))
    top.position = np.array([0.0, -0.3, 2.0])  # small axes near the top edge
    rows = plate_rows(draw_result(gray_image(), frame(top), K, legend=False), 130, 190)
    assert rows.size and rows.min() > 60  # no room above: below the box


def test_label_stays_inside_the_image_and_grows_with_the_face():
    edge = turned_face(0.0, box=(290.0, 120.0, 320.0, 150.0))
    canvas = draw_result(gray_image(), frame(edge), K, legend=False)
    assert plate_rows(canvas, 220, 320).size  # pushed left into the image, not cut off
    small = plate_rows(
        draw_result(gray_image(), frame(turned_face(0.0, (140, 150, 180, 190))), K, False), 0, 1
    )
    big = turned_face(0.0, (20, 150, 300, 235))
    assert plate_rows(draw_result(gray_image(), frame(big), K, False), 0, 320).size > small.size


def test_legend_takes_the_corner_with_the_fewest_faces():
    size, panel = (320, 240), (100, 60)
    assert legend_corner(size, panel, []) == (0, 180)  # bottom-left by default
    assert legend_corner(size, panel, [np.array([0.0, 150.0, 90.0, 240.0])]) == (220, 180)
    drawn = draw_result(gray_image(), frame(), K)
    assert drawn[-20:, :40].mean() < GRAY / 2 < drawn[-20:, -40:].mean()  # the legend, bottom-left
    assert (draw_result(gray_image(), frame(), K, legend=False) == GRAY).all()
