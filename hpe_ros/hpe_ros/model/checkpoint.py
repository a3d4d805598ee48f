"""Checkpoints: one safetensors file holding the weights, the model config and free-form metadata (JSON).

LoRA adapters are merged before saving, so a checkpoint always holds a plain :class:`HeadPoseNet`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from hpe_ros.errors import ModelFileError
from hpe_ros.model.checkpoint_header import (
    FORMAT,
    open_checkpoint,
    parse_metadata,
    read_checkpoint_header,
)
from hpe_ros.model.config import ModelConfig
from hpe_ros.model.network import HeadPoseNet

__all__ = ["check_state_dict", "load_checkpoint", "read_checkpoint_header", "save_checkpoint"]
LOG = logging.getLogger(__name__)


def save_checkpoint(
    path: str | Path,
    model: HeadPoseNet,
    cfg: ModelConfig,
    meta: dict[str, Any],
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model``'s weights (cast to ``dtype``, e.g. torch.float16) with ``cfg`` and ``meta`` (JSON)."""
    if cfg != model.cfg:
        raise ValueError(f"cfg {cfg.name!r} is not the config the model was built with ({model.cfg.name!r})")
    if any(".lora_" in name for name, _ in model.named_parameters()):
        from hpe_ros.model.lora import merge_lora

        model = merge_lora(model)
    tensors = {
        name: (t.detach().to(dtype) if dtype is not None else t.detach()).cpu().contiguous()
        for name, t in model.state_dict().items()
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, "config": json.dumps(cfg.to_dict()), "meta": json.dumps(meta)}
    save_file(tensors, str(path), metadata=metadata)
    return path


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[HeadPoseNet, ModelConfig, dict]:
    """(model in eval mode, float32, on ``device``; its config; the saved metadata).

    Strict on every part the config builds; weights of parts it leaves out (an older checkpoint of a
    ``refine: false`` config holds an unused aggregator and camera head) are ignored and logged.
    """

    def read(f: Any) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
        return f.metadata(), {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118

    metadata, tensors = open_checkpoint(path, read)
    cfg, meta = parse_metadata(path, metadata)
    model = HeadPoseNet(cfg)
    unbuilt = model.unbuilt_prefixes()
    ignored = [k for k in tensors if k.startswith(unbuilt)]
    if ignored:  # saved while every part was built; this config never runs these
        parts = ", ".join(prefix.rstrip(".") for prefix in unbuilt)
        LOG.info(
            "checkpoint %s: ignored %d tensors of parts its config does not build (%s)",
            path,
            len(ignored),
            parts,
        )
        tensors = {k: v for k, v in tensors.items() if not k.startswith(unbuilt)}
    check_state_dict(model, {k: tuple(v.shape) for k, v in tensors.items()}, f"checkpoint {path}")
    model.load_state_dict(tensors)
    return model.to(device).eval(), cfg, meta


def check_state_dict(model: torch.nn.Module, shapes: dict[str, tuple[int, ...]], source: str) -> None:
    """Raise ModelFileError unless ``shapes`` has exactly the model's keys with the model's shapes."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = [
        f"{k}: {shapes[k]} != {expected[k]}"
        for k in sorted(expected)
        if k in shapes and shapes[k] != expected[k]
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (e.g. {'; '.join(wrong[:3])})")
    if problems:
        raise ModelFileError(f"{source} does not match the model: " + "; ".join(problems))
