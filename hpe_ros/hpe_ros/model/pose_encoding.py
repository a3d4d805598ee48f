"""Pose encodings in torch (differentiable, ONNX-exportable: no data-dependent control flow).

VGGT layout: translation (3), rotation, FoV (2: vertical, horizontal; radians). Rotation is either a
quaternion XYZW (not normalised: :func:`quat_to_matrix` divides by |q|², as VGGT does) or the 6-D
representation (the first two columns of R; :func:`sixd_to_matrix` applies Gram–Schmidt, as CLERF/6DRepNet).
The encoding of a view is of its extrinsics E = head→camera; frame 1 of a pair encodes T_q←a = E_q · E_a⁻¹.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from hpe_ros.model.config import RotationKind

ROTATION_DIMS: dict[str, int] = {"quat": 4, "6d": 6}


def quat_to_matrix(quat: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] from quaternions XYZW [..., 4] of any non-zero norm."""
    x, y, z, w = quat.unbind(-1)
    s = 2.0 / (quat * quat).sum(-1)
    return torch.stack(
        [
            1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
            s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
            s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
        ],
        dim=-1,
    ).unflatten(-1, (3, 3))  # fmt: skip


def matrix_to_quat(matrix: Tensor) -> Tensor:
    """Unit quaternions XYZW [..., 4] with w >= 0 from rotation matrices [..., 3, 3].

    Picks, per matrix, the best-conditioned of the four closed-form candidates (no data-dependent branches).
    """
    m = matrix.unflatten(-2, (1, 3)).flatten(-3)  # [..., 9]
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    # 4·(w², x², y², z²) from the diagonal
    squares = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )
    root = torch.sqrt(squares.clamp_min(1e-12))  # 2·|component|
    # candidate quaternions (w, x, y, z) scaled by 2·|component| each; rows: w-, x-, y-, z-based
    candidates = torch.stack(
        [
            torch.stack([squares[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, squares[..., 1], m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, squares[..., 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, squares[..., 3]], dim=-1),
        ],
        dim=-2,
    ) / (2.0 * root[..., None])
    best = F.one_hot(squares.argmax(dim=-1), 4).to(matrix.dtype)
    wxyz = (candidates * best[..., None]).sum(-2)
    wxyz = wxyz * torch.where(wxyz[..., :1] < 0, -1.0, 1.0)
    return torch.cat([wxyz[..., 1:], wxyz[..., :1]], dim=-1)


def sixd_to_matrix(sixd: Tensor) -> Tensor:
    """Gram–Schmidt: 6-D vectors [..., 6] (two raw columns) -> rotation matrices [..., 3, 3] (by columns)."""
    b1 = F.normalize(sixd[..., :3], dim=-1)
    a2 = sixd[..., 3:]
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    return torch.stack([b1, b2, cross(b1, b2)], dim=-1)


def matrix_to_sixd(matrix: Tensor) -> Tensor:
    """The first two columns of R, concatenated [..., 6]."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


def cross(a: Tensor, b: Tensor) -> Tensor:
    """Cross product over the last dim, written with elementwise ops so every ONNX exporter accepts it."""
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    return torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], dim=-1)


def rotation_to_matrix(rotation: Tensor, kind: RotationKind) -> Tensor:
    """The rotation part of an encoding -> matrices [..., 3, 3]."""
    return quat_to_matrix(rotation) if kind == "quat" else sixd_to_matrix(rotation)


def encoding_to_pose(encoding: Tensor, kind: RotationKind = "quat") -> tuple[Tensor, Tensor, Tensor]:
    """Pose encodings [..., E] -> (R [..., 3, 3], t [..., 3], FoV [..., 2] (vertical, horizontal))."""
    n_rot = ROTATION_DIMS[kind]
    if encoding.shape[-1] != 5 + n_rot:
        raise ValueError(f"a {kind!r} pose encoding is {5 + n_rot} wide, got {encoding.shape[-1]}")
    rotation = rotation_to_matrix(encoding[..., 3 : 3 + n_rot], kind)
    return rotation, encoding[..., :3], encoding[..., 3 + n_rot :]


def pose_to_encoding(
    rotation: Tensor, translation: Tensor, fov: Tensor, kind: RotationKind = "quat"
) -> Tensor:
    """(R [..., 3, 3], t [..., 3], FoV [..., 2]) -> pose encodings [..., E] (training targets)."""
    rot = matrix_to_quat(rotation) if kind == "quat" else matrix_to_sixd(rotation)
    return torch.cat([translation, rot, fov], dim=-1)


def intrinsics_to_fov(intrinsics: Tensor, height: float, width: float) -> Tensor:
    """FoV (vertical, horizontal) [..., 2] in radians from intrinsics [..., 3, 3], as VGGT encodes it."""
    fov_v = 2 * torch.atan(height / 2 / intrinsics[..., 1, 1])
    fov_h = 2 * torch.atan(width / 2 / intrinsics[..., 0, 0])
    return torch.stack([fov_v, fov_h], dim=-1)


def fov_to_focal(fov: Tensor, height: float, width: float) -> Tensor:
    """Focal lengths (fx, fy) [..., 2] in pixels from FoV (vertical, horizontal) [..., 2]."""
    return torch.stack(
        [width / 2 / torch.tan(fov[..., 1] / 2), height / 2 / torch.tan(fov[..., 0] / 2)], dim=-1
    )


def geodesic_angle(r1: Tensor, r2: Tensor) -> Tensor:
    """Rotation angle of R1 R2ᵀ in radians [...] (numerically safe near 0 and π)."""
    cos = ((r1 * r2).sum((-2, -1)) - 1) / 2
    return torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
