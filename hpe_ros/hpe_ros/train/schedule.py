"""Learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: Optimizer, total: int, warmup: int, min_ratio: float) -> LambdaLR:
    """A LambdaLR applying :func:`warmup_cosine_factor` (step it once per optimiser step)."""
    return LambdaLR(optimizer, lambda step: warmup_cosine_factor(step, total, warmup, min_ratio))
