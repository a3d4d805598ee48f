"""The relative head-pose network (VGGT structure): configs, network, checkpoints.

LoRA (:mod:`hpe_ros.model.lora`, needs ``peft``) and VGGT-1B weight loading
(:mod:`hpe_ros.model.vggt_weights`) are imported from their modules.
"""

from hpe_ros.model.checkpoint import load_checkpoint, save_checkpoint
from hpe_ros.model.config import CONFIGS, ModelConfig, get_config
from hpe_ros.model.network import HeadPoseNet

__all__ = ["CONFIGS", "HeadPoseNet", "ModelConfig", "get_config", "load_checkpoint", "save_checkpoint"]
