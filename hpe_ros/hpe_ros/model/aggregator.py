"""VGGT-style aggregator: per-frame patch tokens plus camera/register tokens, alternating frame and global
attention; returns only the last layer's tokens (frame and global outputs concatenated, 2·D wide).

Token slots: the camera and register tokens have two learned slots. Slot 0 marks the reference (anchor)
frame of a multi-frame input, slot 1 every other frame. A single frame (absolute mode) takes slot 1: its pose
is then predicted relative to the canonical frontal head rather than defined as the identity of a reference.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hpe_ros.model.config import ModelConfig
from hpe_ros.model.layers import Block
from hpe_ros.model.patch_embed import ConvStemPatchEmbed, DinoV2PatchEmbed, LandmarkEmbed
from hpe_ros.model.rope import RopeTables, RotaryEmbedding2D

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_patch_embed(cfg: ModelConfig) -> nn.Module:
    """The patch embedding named by ``cfg.patch_embed``."""
    if cfg.patch_embed == "dinov2":
        return DinoV2PatchEmbed(
            cfg.image_size, cfg.patch_size, cfg.embed_dim, cfg.dino_depth, cfg.num_heads,
            cfg.num_register_tokens, cfg.dino_pretrained_grid, cfg.mlp_ratio,
        )  # fmt: skip
    if cfg.patch_embed == "face_mesh":
        return LandmarkEmbed(cfg.embed_dim, cfg.mesh_tokens)
    return ConvStemPatchEmbed(cfg.patch_size, cfg.embed_dim, cfg.stem_channels)


def frame_slots(token: Tensor, batch: int, num_frames: int, anchor_first: bool) -> Tensor:
    """Per-frame special tokens [batch * num_frames, n, D] from the slotted parameter [1, 2, n, D]:
    slot 0 for frame 0 when ``anchor_first``, slot 1 for every other frame."""
    other = token[:, 1:2].expand(1, num_frames, -1, -1)
    slots = torch.cat([token[:, :1], other[:, 1:]], dim=1) if anchor_first else other
    return slots.expand(batch, -1, -1, -1).reshape(batch * num_frames, *token.shape[2:])


class Aggregator(nn.Module):
    """images [B, S, 3, H, W] in [0, 1] -> last-layer tokens [B, S, 1 + registers + patches, 2·D].

    Face-mesh configs take landmarks [B, S, 468, 3] in place of images (the output of the network's frozen
    face mesh) and use no RoPE: their tokens are pooled from the landmarks with learned embeddings.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.patch_start_idx = 1 + cfg.num_register_tokens
        self.patch_embed = build_patch_embed(cfg)
        self.camera_token = nn.Parameter(torch.randn(1, 2, 1, cfg.embed_dim) * 1e-6)
        self.register_token = nn.Parameter(torch.randn(1, 2, cfg.num_register_tokens, cfg.embed_dim) * 1e-6)
        self.uses_landmarks = cfg.uses_landmarks
        self.rope = (
            None
            if cfg.uses_landmarks
            else RotaryEmbedding2D(
                cfg.embed_dim // cfg.num_heads, cfg.grid_size, self.patch_start_idx, cfg.rope_frequency
            )
        )

        def block() -> Block:
            return Block(
                cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, qk_norm=True, init_values=cfg.layer_scale_init
            )

        self.frame_only_blocks = nn.ModuleList(block() for _ in range(cfg.frame_only_depth))
        self.frame_blocks = nn.ModuleList(block() for _ in range(cfg.depth))
        self.global_blocks = nn.ModuleList(block() for _ in range(cfg.depth))
        self.register_buffer(
            "_resnet_mean", torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), persistent=False
        )
        self.register_buffer("_resnet_std", torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1), persistent=False)

    def forward(self, frames: Tensor) -> Tensor:
        return self.aggregate(self.embed(frames))

    def embed(self, frames: Tensor, anchor_first: bool | None = None) -> Tensor:
        """Per-frame stage: images [B, S, 3, H, W] (face-mesh configs: landmarks [B, S, 468, 3]) -> tokens
        [B, S, P, D] after the frame-only blocks.

        Frames do not interact here, so an anchor's tokens can be computed once and cached.
        ``anchor_first`` (default: S > 1) gives frame 0 the anchor slot; other frames take the other slot.
        """
        B, S = frames.shape[:2]
        anchor_first = S > 1 if anchor_first is None else anchor_first
        flat = frames.flatten(0, 1)
        if self.uses_landmarks:
            patches = self.patch_embed(flat)
        else:
            patches = self.patch_embed((flat - self._resnet_mean[0]) / self._resnet_std[0])
        camera = frame_slots(self.camera_token, B, S, anchor_first)
        registers = frame_slots(self.register_token, B, S, anchor_first)
        tokens = torch.cat([camera, registers, patches], dim=1)
        frame_rope = self._rope(1)
        for block in self.frame_only_blocks:
            tokens = block(tokens, frame_rope)
        return tokens.reshape(B, S, *tokens.shape[1:])

    def aggregate(self, tokens: Tensor) -> Tensor:
        """Cross-frame stage (alternating attention): tokens [B, S, P, D] -> last tokens [B, S, P, 2·D]."""
        B, S, P, C = tokens.shape
        frame_rope, global_rope = self._rope(1), self._rope(S)
        frame_out = global_out = tokens
        for frame_block, global_block in zip(self.frame_blocks, self.global_blocks, strict=True):
            frame_out = frame_block(global_out.reshape(B * S, P, C), frame_rope)
            global_out = global_block(frame_out.reshape(B, S * P, C), global_rope)
        return torch.cat([frame_out.reshape(B, S, P, C), global_out.reshape(B, S, P, C)], dim=-1)

    def _rope(self, num_frames: int) -> RopeTables | None:
        return None if self.rope is None else self.rope.tables(num_frames)
