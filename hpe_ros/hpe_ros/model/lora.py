"""LoRA adapters (peft) on qkv/proj/fc1/fc2 of every frame and global block, freeze policies, merging.

VGGT-HPE recipe: r=8, alpha=16, aggregator frozen, adapters and camera head trained ("lora" policy).
"""

from __future__ import annotations

import copy
from typing import Literal

from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

from hpe_ros.model.network import HeadPoseNet

TrainPolicy = Literal["lora", "head", "full"]
POLICIES: tuple[str, ...] = ("lora", "head", "full")
LORA_TARGETS = r"aggregator\.(frame_blocks|global_blocks)\.\d+\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)"


def add_lora(model: HeadPoseNet, rank: int = 8, alpha: float = 16, dropout: float = 0.0) -> HeadPoseNet:
    """Inject LoRA adapters in place (zero-initialised: output unchanged) and apply the "lora" policy."""
    if has_lora(model):
        raise ValueError("the model already has LoRA adapters")
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS)
    inject_adapter_in_model(config, model)
    set_trainable(model, "lora")
    return model


def has_lora(model: nn.Module) -> bool:
    """Whether ``model`` carries LoRA adapters."""
    return any(isinstance(m, LoraLayer) for m in model.modules())


def set_trainable(model: nn.Module, policy: TrainPolicy) -> None:
    """Freeze/unfreeze: "lora" (adapters + camera head), "head" (camera head only), "full" (everything)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown training policy {policy!r}; known: {', '.join(POLICIES)}")
    if policy == "lora" and not has_lora(model):
        raise ValueError('policy "lora" needs adapters: call add_lora(model) first')
    for name, param in model.named_parameters():
        in_head = name.startswith("camera_head.")
        is_adapter = ".lora_" in name
        param.requires_grad_(policy == "full" or in_head or (policy == "lora" and is_adapter))


def merge_lora(model: HeadPoseNet) -> HeadPoseNet:
    """A plain HeadPoseNet (no adapters) whose weights have the adapters merged in; ``model`` is unchanged."""
    merged = copy.deepcopy(model)
    for name, module in list(merged.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(merged.get_submodule(parent_name), child, module.get_base_layer())
    for param in merged.parameters():
        param.requires_grad_(True)
    return merged
