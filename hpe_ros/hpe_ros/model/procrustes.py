"""Rigid alignment of landmark clouds (Horn's quaternion method), in plain tensor ops so it exports to ONNX
and TensorRT (no SVD or eigen-solver operator): the geometric seed of the ``mesh`` config's camera head.

Horn (1987): for centred clouds ``a`` and ``b`` with ``b ≈ s·R·a``, the quaternion of ``R`` is the top
eigenvector of a symmetric 4 × 4 matrix built from ``M = Σ a bᵀ``. The eigenvector comes from repeated
squaring of the matrix shifted to be positive semi-definite (each squaring doubles the power; 16 of them
separate eigenvalues whose ratio is as close as 1 − 10⁻⁴), then its best-conditioned column.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SQUARINGS = 16


def normalise_cloud(points: Tensor) -> Tensor:
    """Clouds [..., N, 3] centred on their mean and scaled to unit RMS radius."""
    centred = points - points.mean(-2, keepdim=True)
    radius = centred.square().sum(-1).mean(-1).clamp_min(1e-12).sqrt()
    return centred / radius[..., None, None]


def horn_matrix(source: Tensor, target: Tensor) -> Tensor:
    """Horn's symmetric matrix [..., 4, 4] (quaternion order w, x, y, z) of centred clouds [..., N, 3]."""
    m = source.transpose(-1, -2) @ target  # [..., 3, 3], m[i, j] = Σ a_i b_j
    sxx, sxy, sxz, syx, syy, syz, szx, szy, szz = m.flatten(-2).unbind(-1)
    rows = [
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ]
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def rigid_quaternion(source: Tensor, target: Tensor) -> Tensor:
    """Unit quaternion XYZW [..., 4] of the rotation R best mapping ``source`` onto ``target`` (clouds
    [..., N, 3], any centring and scale) in the least-squares sense: ``target ≈ s·R·source + t``."""
    n = horn_matrix(normalise_cloud(source.float()), normalise_cloud(target.float()))
    shift = n.flatten(-2).norm(dim=-1)[..., None, None] + 1e-6  # ≥ |every eigenvalue|
    power = n + shift * torch.eye(4, dtype=n.dtype, device=n.device)
    for _ in range(SQUARINGS):
        power = power @ power
        power = power / power.flatten(-2).norm(dim=-1)[..., None, None]
    best = F.one_hot(power.norm(dim=-2).argmax(dim=-1), 4).to(power.dtype)  # the largest column
    wxyz = F.normalize((power * best[..., None, :]).sum(-1), dim=-1)
    wxyz = wxyz * torch.where(wxyz[..., :1] < 0, -1.0, 1.0)
    return torch.cat([wxyz[..., 1:], wxyz[..., :1]], dim=-1)


def canonical_cloud(landmarks: Tensor, rotations: Tensor) -> Tensor:
    """The mean head-frame cloud [N, 3] (unit RMS radius) of clouds [M, N, 3] seen with known head→camera
    rotations [M, 3, 3]: each normalised cloud turned back by Rᵀ, then averaged."""
    head_frame = normalise_cloud(landmarks.float()) @ rotations.float()  # rows: (Rᵀ p)ᵀ = pᵀ R
    return normalise_cloud(head_frame.mean(0))
