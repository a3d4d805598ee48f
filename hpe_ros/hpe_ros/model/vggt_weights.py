"""Load the camera branch (aggregator + camera head) of a user-supplied facebook/VGGT-1B checkpoint.

The weights are the user's (VGGT-1B is non-commercial; VGGT-1B-Commercial is gated); hpe_ros never ships them.
Accepts the official ``model.pt`` (loaded with ``weights_only=True``) or a ``.safetensors`` export.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from hpe_ros.errors import ModelFileError
from hpe_ros.model.checkpoint import check_state_dict
from hpe_ros.model.network import HeadPoseNet

CAMERA_BRANCH_PREFIXES = ("aggregator.", "camera_head.")


def camera_branch(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Only the aggregator.* and camera_head.* entries (the depth, point and track heads are dropped)."""
    return {k: v for k, v in state.items() if k.startswith(CAMERA_BRANCH_PREFIXES)}


def read_vggt_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The camera-branch tensors of a VGGT checkpoint file, or ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"VGGT weights {path} do not exist (download facebook/VGGT-1B model.pt yourself)"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch/safetensors raise many types for a corrupt or foreign file
        raise ModelFileError(f"cannot read VGGT weights {path}: {exc}") from exc
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path} is not a state dict of tensors")
    return camera_branch(state)


def load_vggt_weights(model: HeadPoseNet, path: str | Path) -> HeadPoseNet:
    """Copy VGGT-1B camera-branch weights into ``model`` (the "vggt1b" config); strict on keys and shapes."""
    state = read_vggt_state_dict(path)
    check_vggt_shapes(model, {k: tuple(v.shape) for k, v in state.items()}, str(path))
    model.load_state_dict(state)
    return model


def check_vggt_shapes(model: HeadPoseNet, shapes: Mapping[str, tuple[int, ...]], source: str) -> None:
    """ModelFileError unless the camera-branch part of ``shapes`` matches ``model``'s state dict exactly."""
    check_state_dict(
        model, {k: tuple(v) for k, v in shapes.items() if k.startswith(CAMERA_BRANCH_PREFIXES)}, source
    )
