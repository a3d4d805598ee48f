"""Parameter and FLOP counts per config (FLOPs counted by torch's FlopCounterMode on the meta device)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from hpe_ros.model.config import ModelConfig
from hpe_ros.model.network import HeadPoseNet


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def forward_flops(cfg: ModelConfig, num_frames: int = 2) -> int:
    """FLOPs (2 per multiply-add) of one forward pass on one sample of ``num_frames`` frames (2 = a pair)."""
    with torch.device("meta"):
        model = HeadPoseNet(cfg).eval().requires_grad_(False)
        images = torch.zeros(1, num_frames, 3, cfg.image_size, cfg.image_size)
    with FlopCounterMode(display=False) as counter:
        model(images)
    return counter.get_total_flops()


def complexity_table(cfgs: list[ModelConfig]) -> list[dict[str, float | str]]:
    """Rows {config, params, gflop_per_pair, gflop_per_frame_absolute} for a report or ``hpe bench``."""
    rows = []
    for cfg in cfgs:
        with torch.device("meta"):
            params = count_parameters(HeadPoseNet(cfg))
        rows.append(
            {
                "config": cfg.name,
                "params": params,
                "gflop_per_pair": forward_flops(cfg, 2) / 1e9,
                "gflop_per_frame_absolute": forward_flops(cfg, 1) / 1e9,
            }
        )
    return rows
