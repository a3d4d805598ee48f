"""Horn's rigid alignment in plain tensor ops (the mesh config's geometric seed) and the canonical cloud."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hpe_ros.model.pose_encoding import geodesic_angle, quat_to_matrix
from hpe_ros.model.procrustes import canonical_cloud, normalise_cloud, rigid_quaternion


def rotations(n: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(Rotation.random(n, random_state=seed).as_matrix()).float()


def test_recovers_rotations_whatever_the_scale_offset_and_noise():
    cloud = torch.randn(6, 468, 3, generator=torch.Generator().manual_seed(0))
    R = rotations(6, 1)
    seen = 3.0 * cloud @ R.transpose(-1, -2) + torch.tensor([40.0, -7.0, 2.0])
    seen = seen + 0.02 * torch.randn(seen.shape, generator=torch.Generator().manual_seed(2))
    error = torch.rad2deg(geodesic_angle(quat_to_matrix(rigid_quaternion(cloud, seen)), R))
    assert error.max() < 0.5


@pytest.mark.parametrize("angle_deg", [0.0, 0.5, 90.0, 179.5])
def test_identity_tiny_and_half_turns(angle_deg: float):
    cloud = torch.randn(1, 100, 3, generator=torch.Generator().manual_seed(3))
    R = torch.from_numpy(Rotation.from_rotvec(np.radians(angle_deg) * np.array([0.6, 0.8, 0.0])).as_matrix())
    seen = cloud @ R.float().T
    quat = rigid_quaternion(cloud, seen)
    assert torch.rad2deg(geodesic_angle(quat_to_matrix(quat), R.float()[None])).item() < 0.05
    assert quat[0, 3] >= 0 and torch.allclose(quat.norm(dim=-1), torch.ones(1))


def test_canonical_cloud_undoes_known_rotations():
    shape = normalise_cloud(torch.randn(468, 3, generator=torch.Generator().manual_seed(4)))
    R = rotations(20, 5)
    views = 2.0 * shape @ R.transpose(-1, -2) + torch.tensor([96.0, 90.0, 0.0])
    torch.testing.assert_close(canonical_cloud(views, R), shape, atol=1e-5, rtol=0)
