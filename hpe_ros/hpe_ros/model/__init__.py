"""The relative head-pose network (VGGT structure): configs, network, checkpoints.

Names are imported lazily, so torch-free modules of this package (``config``, ``default``,
``checkpoint_header``, ``tflite_graph``) load without torch. LoRA (:mod:`hpe_ros.model.lora`, needs ``peft``)
and VGGT-1B weight loading (:mod:`hpe_ros.model.vggt_weights`) are imported from their modules.
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "CONFIGS": "config",
    "ModelConfig": "config",
    "get_config": "config",
    "HeadPoseNet": "network",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
