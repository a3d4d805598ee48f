"""VGGT-style camera head: a transformer trunk over each frame's camera token with adaLN-modulated iterative
refinement; every iteration adds a delta to the (detached) previous pose encoding. Without a seed the first
iteration's output is the first estimate (VGGT); with one (the ``mesh`` config's rigid landmark alignment)
every iteration, the first included, refines it.

Encoding layout (``E`` wide): translation (3), rotation (quaternion XYZW 4, or 6-D 6), FoV (2, ReLU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpe_ros.model.config import ModelConfig
from hpe_ros.model.layers import Block, Mlp


def activate_pose(encoding: Tensor) -> Tensor:
    """Output activations: identity on translation and rotation, ReLU on the two FoV values."""
    return torch.cat([encoding[..., :-2], F.relu(encoding[..., -2:])], dim=-1)


class CameraHead(nn.Module):
    """tokens [B, S, P, 2·D] -> list (one per iteration) of pose encodings [B, S, E]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        dim = 2 * cfg.embed_dim
        self.iterations = cfg.head_iterations
        self.target_dim = cfg.encoding_dim
        self.token_norm = nn.LayerNorm(dim)
        self.trunk = nn.Sequential(
            *(
                Block(dim, cfg.head_num_heads, cfg.mlp_ratio, init_values=cfg.layer_scale_init)
                for _ in range(cfg.head_depth)
            )
        )
        self.trunk_norm = nn.LayerNorm(dim)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, self.target_dim))
        self.embed_pose = nn.Linear(self.target_dim, dim)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * dim))
        self.adaln_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim, dim // 2, self.target_dim)

    def forward(
        self, tokens: Tensor, seed: Tensor | None = None, step_scale: Tensor | None = None
    ) -> list[Tensor]:
        """Encodings per iteration from tokens [B, S, P, 2·D], refining ``seed`` [B, S, E] when given; a
        ``step_scale`` (broadcast to [B, S, 1], in [0, 1]) scales every refinement step (0: the seed)."""
        camera_tokens = self.token_norm(tokens[:, :, 0])
        B, S, C = camera_tokens.shape
        normed = self.adaln_norm(camera_tokens)
        pred = self.empty_pose_tokens.expand(B, S, -1) if seed is None else seed.to(camera_tokens.dtype)
        outputs = []
        for iteration in range(self.iterations):
            modulation = self.poseLN_modulation(self.embed_pose(pred))
            shift, scale, gate = modulation[..., :C], modulation[..., C : 2 * C], modulation[..., 2 * C :]
            x = gate * (normed * (1 + scale) + shift) + camera_tokens
            delta = self.pose_branch(self.trunk_norm(self.trunk(x)))
            if step_scale is not None:
                delta = step_scale * delta
            pred = delta if iteration == 0 and seed is None else pred + delta
            outputs.append(activate_pose(pred))
            pred = pred.detach()
        return outputs
