"""Deploy wrappers: the network as the engines see it, one module per mode with named tensor inputs.

- relative: ``(anchor[B,3,H,W], query[B,3,H,W]) -> (rotation[B,3,3], translation[B,3])``, the pose
  query←anchor (frame 1 of a 2-frame sequence whose frame 0 is the anchor);
- absolute: ``query -> (rotation, translation)`` from a 1-frame sequence;
- anchor_tokens: ``anchor -> tokens[B,P,D]``, the anchor's per-frame tokens (patch embed and the
  ``frame_only_depth`` per-frame blocks), which can be cached;
- relative_cached: ``(anchor_tokens[B,P,D], query) -> (rotation, translation)``, equal to relative.

The torch backend and the ONNX export both run exactly these modules. A face-mesh config's relative and
absolute modules also take landmarks [B, 468, 3] in place of images: exported that way they are the
landmark heads shipped beside its checkpoint (:mod:`hpe_ros.engine.landmark_head`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hpe_ros.engine.base import Mode
from hpe_ros.model.config import FACE_MESH_LANDMARKS
from hpe_ros.model.pose_encoding import encoding_to_pose


class RelativePoseDeploy(nn.Module):
    """Pose of ``query`` relative to ``anchor`` for each pair of the batch."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, anchor: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rotation, translation = self.net.predict_pose(torch.stack((anchor, query), dim=1))
        return rotation[:, 1], translation[:, 1]


class AbsolutePoseDeploy(nn.Module):
    """Pose of each single ``query`` frame."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rotation, translation = self.net.predict_pose(query.unsqueeze(1))
        return rotation[:, 0], translation[:, 0]


class AnchorTokensDeploy(nn.Module):
    """Per-frame tokens of each anchor (anchor token slot), to cache."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, anchor: torch.Tensor) -> torch.Tensor:
        return self.net.embed_frames(anchor.unsqueeze(1), anchor_first=True)[:, 0]


class CachedRelativePoseDeploy(nn.Module):
    """Relative pose from cached anchor tokens and a query image: the same result as RelativePoseDeploy."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, anchor_tokens: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        query_tokens = self.net.embed_frames(query.unsqueeze(1), anchor_first=False)
        encodings = self.net.pose_from_tokens(torch.cat((anchor_tokens.unsqueeze(1), query_tokens), dim=1))
        rotation, translation, _ = encoding_to_pose(encodings[-1][:, 1].float(), self.net.cfg.rotation)
        return rotation, translation


WRAPPERS: dict[str, type[nn.Module]] = {
    "relative": RelativePoseDeploy,
    "absolute": AbsolutePoseDeploy,
    "anchor_tokens": AnchorTokensDeploy,
    "relative_cached": CachedRelativePoseDeploy,
}


def deploy_module(net: nn.Module, mode: Mode) -> nn.Module:
    """The eval-mode deploy wrapper of ``net`` for ``mode``."""
    return WRAPPERS[mode](net).eval()


def export_modes(config: Any) -> tuple[Mode, ...]:
    """The modes worth exporting for a config: the cached-anchor pair only when it has per-frame blocks
    (or a face-mesh front end, whose landmarks are the anchor's cacheable part)."""
    cacheable = config.frame_only_depth > 0 or config.uses_landmarks
    cached: tuple[Mode, ...] = ("anchor_tokens", "relative_cached") if cacheable else ()
    return ("relative", "absolute", *cached)


def token_shape(config: Any) -> tuple[int, int]:
    """(P, D) of a config's per-frame tokens: camera + register tokens + patches, embed width; for a
    face-mesh config its landmarks (468, 3)."""
    if config.uses_landmarks:
        return FACE_MESH_LANDMARKS, 3
    return 1 + config.num_register_tokens + config.num_patches, config.embed_dim
