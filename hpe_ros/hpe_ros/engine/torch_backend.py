"""PyTorch backend: CPU (fp32, bf16) and CUDA (fp32, fp16, bf16 by autocast; optional torch.compile).

``compile_mode="reduce-overhead"`` is torch.compile's CUDA-graph mode: the recommended way to get CUDA graphs
without hand-managed static buffers (it re-captures per batch size, as the graph shapes are static).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hpe_ros.engine.base import MODES, InputError, Mode, PoseEngine
from hpe_ros.engine.deploy import deploy_module, token_shape

AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "fp16", "bf16")}


class TorchPoseEngine(PoseEngine):
    """The network itself, both modes, on one device."""

    backend_name = "torch"

    def __init__(
        self,
        net: nn.Module,
        input_size: int,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        compile_mode: str | None = None,
    ):
        super().__init__(input_size, MODES, token_shape(net.cfg))
        self.device = torch.device(device)
        if self.device.type not in PRECISIONS:
            raise InputError(f"torch backend runs on cpu or cuda, not {self.device}")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("torch backend: CUDA was requested but no CUDA GPU is visible")
        if precision not in PRECISIONS[self.device.type]:
            raise InputError(
                f"torch on {self.device.type} supports {PRECISIONS[self.device.type]}, not {precision}"
            )
        self.precision = precision
        self.compile_mode = compile_mode
        net = net.to(self.device).eval()
        self._modules = {mode: deploy_module(net, mode) for mode in MODES}
        if compile_mode is not None:
            self._modules = {
                m: torch.compile(mod, mode=compile_mode, dynamic=False) for m, mod in self._modules.items()
            }

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, expected_config: Any = None, **options: Any
    ) -> TorchPoseEngine:
        """Load a safetensors checkpoint (``hpe_ros.model.load_checkpoint``); refuse one of another config."""
        from hpe_ros.engine.metadata import config_dict, require_config
        from hpe_ros.model import load_checkpoint

        net, config, _meta = load_checkpoint(path)
        if expected_config is not None:
            require_config(config_dict(config), expected_config, path)
        return cls(net, config.image_size, **options)

    def _run(self, mode: Mode, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        tensors = [torch.from_numpy(array).to(self.device, non_blocking=True) for array in inputs]
        autocast = torch.autocast(
            self.device.type,
            dtype=AUTOCAST_DTYPES.get(self.precision),
            enabled=self.precision in AUTOCAST_DTYPES,
        )
        with torch.inference_mode(), autocast:
            outputs = self._modules[mode](*tensors)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return tuple(output.float().cpu().numpy() for output in outputs)

    def _describe_runtime(self) -> dict[str, Any]:
        device = str(self.device)
        if self.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(self.device)})"
        return {"torch": torch.__version__, "device": device, "compile_mode": self.compile_mode}
