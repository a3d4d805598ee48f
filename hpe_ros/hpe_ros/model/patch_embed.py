"""Patch embeddings: the per-frame tokens [N, P, D] the aggregator attends over.

- :class:`ConvStemPatchEmbed` for the small configs trained from scratch: images [N, 3, H, W] (already
  normalised) -> patch tokens [N, grid², D] through a convolutional stem (early convolutions train better than
  a single patchify layer) and a patchifying projection.
- :class:`LandmarkEmbed` for the face-mesh configs: the 468 3-D landmarks of the frozen, real-trained
  MediaPipe face mesh (:mod:`hpe_ros.model.face_mesh`, run by the network before the aggregator) -> tokens
  pooled from per-landmark features.
- :class:`DinoV2PatchEmbed`: the DINOv2 ViT with register tokens that VGGT-1B uses (key names match), with its
  position embedding resampled by a constant linear map computed once for the fixed input size, which is the
  same antialiased bicubic resampling DINOv2 does but exports to ONNX as a plain matrix product.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpe_ros.model.config import FACE_MESH_INPUT_SIZE, FACE_MESH_LANDMARKS
from hpe_ros.model.layers import Block


class ConvStemPatchEmbed(nn.Module):
    """3x3 conv (stride 2) -> 3x3 conv -> (patch/2)-strided projection to D -> LayerNorm."""

    def __init__(self, patch_size: int, embed_dim: int, stem_channels: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_channels, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(stem_channels, stem_channels, 3, padding=1),
            nn.GELU(),
        )
        self.proj = nn.Conv2d(stem_channels, embed_dim, patch_size // 2, stride=patch_size // 2)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, images: Tensor) -> Tensor:
        return self.norm(self.proj(self.stem(images)).flatten(2).transpose(1, 2))


class LandmarkEmbed(nn.Module):
    """Face-mesh landmarks [N, 468, 3] in crop pixels -> tokens [N, T, D].

    Each landmark becomes a feature (its coordinates projected, plus a learned per-landmark embedding, then an
    MLP); a learned soft assignment pools the 468 features into T tokens (the "patches" of this embedding),
    which keeps the attention as cheap as a 6 × 6 patch grid. The coordinates are scaled to [-1, 1] about the
    crop centre, so the position and size of the face in the crop stay visible to the network.
    """

    def __init__(self, embed_dim: int, num_tokens: int) -> None:
        super().__init__()
        self.proj = nn.Linear(3, embed_dim)
        self.landmark_embed = nn.Parameter(torch.zeros(1, FACE_MESH_LANDMARKS, embed_dim))
        self.mlp = nn.Sequential(nn.GELU(), nn.Linear(embed_dim, embed_dim))
        self.assignment = nn.Parameter(torch.zeros(num_tokens, FACE_MESH_LANDMARKS))
        self.norm = nn.LayerNorm(embed_dim)
        nn.init.trunc_normal_(self.landmark_embed, std=0.02)
        nn.init.normal_(self.assignment, std=1.0)

    def forward(self, landmarks: Tensor) -> Tensor:
        half = FACE_MESH_INPUT_SIZE / 2
        scaled = (landmarks - landmarks.new_tensor([half, half, 0.0])) / half
        features = self.mlp(self.proj(scaled) + self.landmark_embed)
        return self.norm(self.assignment.softmax(dim=-1) @ features)


class PatchProjection(nn.Module):
    """Non-overlapping patchify convolution (DINOv2's ``patch_embed.proj``)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, patch_size, stride=patch_size)

    def forward(self, images: Tensor) -> Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


def bicubic_resample_matrix(source_grid: int, target_grid: int) -> Tensor:
    """Matrix [target², source²] equal to antialiased bicubic resampling of a square grid (a linear map)."""
    basis = torch.eye(source_grid * source_grid).reshape(-1, 1, source_grid, source_grid)
    resampled = F.interpolate(basis, size=(target_grid, target_grid), mode="bicubic", antialias=True)
    return resampled.reshape(source_grid * source_grid, -1).T.contiguous()


class DinoV2PatchEmbed(nn.Module):
    """DINOv2 ViT-L/14-style encoder with register tokens; returns the normalised patch tokens."""

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        num_register_tokens: int,
        pretrained_grid: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.num_register_tokens = num_register_tokens
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + pretrained_grid**2, embed_dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # unused at inference; kept for VGGT keys
        self.patch_embed = PatchProjection(patch_size, embed_dim)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qk_norm=False, init_values=1.0, norm_eps=1e-6)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        grid = image_size // patch_size
        resample = None if grid == pretrained_grid else bicubic_resample_matrix(pretrained_grid, grid)
        self.register_buffer("pos_resample", resample, persistent=False)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        nn.init.normal_(self.register_tokens, std=1e-6)

    def patch_pos_embed(self) -> Tensor:
        """Position embedding of the patches for the configured input size [1, grid², D]."""
        patches = self.pos_embed[:, 1:]
        if self.pos_resample is None:
            return patches
        return (self.pos_resample @ patches[0])[None]

    def forward(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images) + self.patch_pos_embed()
        n = x.shape[0]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(n, -1, -1)
        x = torch.cat([cls, self.register_tokens.expand(n, -1, -1), x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 1 + self.num_register_tokens :]
