"""Pose encodings pinned to scipy's conventions (quaternion XYZW, matrices acting on column vectors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hpe_ros.model.pose_encoding import (
    encoding_to_pose,
    fov_to_focal,
    geodesic_angle,
    intrinsics_to_fov,
    matrix_to_quat,
    matrix_to_sixd,
    pose_to_encoding,
    quat_to_matrix,
    sixd_to_matrix,
)

ROTATIONS = Rotation.random(64, random_state=3)
# include the hard cases for the matrix -> quaternion branch choice: identity and half turns about each axis
SPECIAL = Rotation.from_rotvec(np.array([[0, 0, 0], [math.pi, 0, 0], [0, math.pi, 0], [0, 0, math.pi]]))


def test_quat_to_matrix_matches_scipy_and_ignores_scale() -> None:
    quat = torch.from_numpy(ROTATIONS.as_quat())  # scipy: XYZW
    scale = torch.linspace(0.2, 5.0, len(ROTATIONS), dtype=torch.float64)[:, None]
    expected = torch.from_numpy(ROTATIONS.as_matrix())
    torch.testing.assert_close(quat_to_matrix(quat * scale), expected)


@pytest.mark.parametrize("rotations", [ROTATIONS, SPECIAL], ids=["random", "half-turns"])
def test_matrix_to_quat_matches_scipy_with_non_negative_w(rotations: Rotation) -> None:
    quat = matrix_to_quat(torch.from_numpy(rotations.as_matrix()))
    expected = rotations.as_quat()
    expected = expected * np.where(expected[:, 3:] < 0, -1, 1)
    assert (quat[:, 3] >= 0).all()
    # a half turn has w = 0, where q and -q are both canonical: compare as rotations then
    torch.testing.assert_close(quat_to_matrix(quat), torch.from_numpy(rotations.as_matrix()))
    regular = np.abs(expected[:, 3]) > 1e-6
    np.testing.assert_allclose(quat.numpy()[regular], expected[regular], atol=1e-9)


def test_sixd_gram_schmidt_recovers_rotation_from_perturbed_columns() -> None:
    matrices = torch.from_numpy(ROTATIONS.as_matrix())
    sixd = torch.cat([2.0 * matrices[..., :, 0], matrices[..., :, 1] + 0.3 * matrices[..., :, 0]], dim=-1)
    torch.testing.assert_close(sixd_to_matrix(sixd), matrices)


def test_sixd_gram_schmidt_on_columns() -> None:
    """The 6-D convention (moved here from the numpy twin in geometry, which only tests used)."""
    # Columns [1, 0, 0] and [1, 1, 0]: Gram–Schmidt keeps x, makes y = [0, 1, 0], so R = I.
    identity = sixd_to_matrix(torch.tensor([2.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(identity, torch.eye(3, dtype=torch.float64))
    R = torch.from_numpy(Rotation.from_euler("xz", [20, 70], degrees=True).as_matrix())
    x = matrix_to_sixd(R)
    torch.testing.assert_close(x, torch.cat([R[:, 0], R[:, 1]]))
    torch.testing.assert_close(sixd_to_matrix(x * 3.0), R)
    Rs = sixd_to_matrix(torch.from_numpy(np.random.default_rng(5).normal(size=(4, 7, 6))))
    assert Rs.shape == (4, 7, 3, 3)
    eye = torch.eye(3, dtype=torch.float64).expand(4, 7, 3, 3)
    torch.testing.assert_close(Rs @ Rs.transpose(-1, -2), eye)
    torch.testing.assert_close(torch.linalg.det(Rs), torch.ones(4, 7, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["quat", "6d"])
def test_encoding_round_trip(kind: str) -> None:
    rotation = torch.from_numpy(ROTATIONS.as_matrix())
    translation = torch.randn(len(ROTATIONS), 3, dtype=torch.float64)
    fov = torch.rand(len(ROTATIONS), 2, dtype=torch.float64)
    encoding = pose_to_encoding(rotation, translation, fov, kind)
    assert encoding.shape == (len(ROTATIONS), 9 if kind == "quat" else 11)
    r, t, f = encoding_to_pose(encoding, kind)
    torch.testing.assert_close(r, rotation)
    torch.testing.assert_close(t, translation)
    torch.testing.assert_close(f, fov)
    with pytest.raises(ValueError, match="wide"):
        encoding_to_pose(encoding[..., :-1], kind)


def test_fov_matches_vggt_definition() -> None:
    # 640 x 480 image, fx = 500, fy = 400: FoV_v = 2 atan(240 / 400), FoV_h = 2 atan(320 / 500)
    K = torch.tensor([[500.0, 0, 320], [0, 400.0, 240], [0, 0, 1]], dtype=torch.float64)
    fov = intrinsics_to_fov(K, height=480, width=640)
    torch.testing.assert_close(
        fov, torch.tensor([2 * math.atan(0.6), 2 * math.atan(0.64)], dtype=torch.float64)
    )
    torch.testing.assert_close(fov_to_focal(fov, 480, 640), torch.tensor([500.0, 400.0], dtype=torch.float64))


def test_geodesic_angle_known_answer() -> None:
    a = torch.from_numpy(Rotation.from_euler("z", 10, degrees=True).as_matrix())
    b = torch.from_numpy(Rotation.from_euler("z", 70, degrees=True).as_matrix())
    assert math.degrees(geodesic_angle(a, b).item()) == pytest.approx(60.0, abs=1e-4)
