"""2-D rotary position embedding (VGGT/CroCo style) with static cos/sin tables, so it exports to ONNX.

The head dimension is split in two halves: the first half is rotated by the token's row, the second by its
column. Patch (row, col) positions start at 1; the camera and register tokens sit at position (0, 0).
The tables are built once for the fixed patch grid (no ``cartesian_prod``, no data-dependent sizes).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

RopeTables = tuple[Tensor, Tensor]  # cos [N, head_dim], signed sin [N, head_dim]


def rope_angles(positions: Tensor, dim: int, frequency: float) -> Tensor:
    """Rotation angles [N, dim] of 1-D RoPE over ``dim`` features for integer ``positions`` [N]."""
    inv_freq = 1.0 / frequency ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    return torch.cat([angles, angles], dim=-1)


def token_positions(grid_size: int, num_special: int) -> Tensor:
    """(row, col) of every token of one frame [num_special + grid², 2]: special tokens first at (0, 0)."""
    rows = torch.arange(grid_size).repeat_interleave(grid_size) + 1
    cols = torch.arange(grid_size).repeat(grid_size) + 1
    patches = torch.stack([rows, cols], dim=-1)
    return torch.cat([torch.zeros(num_special, 2, dtype=patches.dtype), patches])


def swap_quarters(x: Tensor) -> Tensor:
    """(x1, x2 | x3, x4) -> (x2, x1 | x4, x3) over quarters of the last dim (split + concat: fast in ONNX)."""
    x1, x2, x3, x4 = x.unflatten(-1, (4, -1)).unbind(-2)
    return torch.cat([x2, x1, x4, x3], dim=-1)


def rotation_sign(head_dim: int) -> Tensor:
    """Sign that turns :func:`swap_quarters` into the RoPE rotation (x1, x2) -> (-x2, x1) in each half."""
    quarter = head_dim // 4
    return torch.cat([-torch.ones(quarter), torch.ones(quarter)]).repeat(2)


class RotaryEmbedding2D(nn.Module):
    """Static 2-D RoPE tables for the tokens of one frame (special tokens, then the patch grid row by row)."""

    def __init__(self, head_dim: int, grid_size: int, num_special: int, frequency: float = 100.0) -> None:
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"2-D RoPE needs a head dimension divisible by 4, got {head_dim}")
        pos = token_positions(grid_size, num_special)
        angles = torch.cat(
            [
                rope_angles(pos[:, 0], head_dim // 2, frequency),
                rope_angles(pos[:, 1], head_dim // 2, frequency),
            ],
            dim=-1,
        )
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("signed_sin", (angles.sin() * rotation_sign(head_dim)).float(), persistent=False)

    def tables(self, num_frames: int) -> RopeTables:
        """cos and signed sin tables [num_frames * tokens_per_frame, head_dim] for frames laid end to end."""
        return self.cos.repeat(num_frames, 1), self.signed_sin.repeat(num_frames, 1)


def apply_rope(x: Tensor, tables: RopeTables) -> Tensor:
    """Rotate ``x`` [B, heads, N, head_dim] by the position tables: x·cos + rotate(x)·sin."""
    cos, signed_sin = tables
    return x * cos.to(x.dtype) + swap_quarters(x) * signed_sin.to(x.dtype)
