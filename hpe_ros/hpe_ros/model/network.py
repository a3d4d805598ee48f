"""HeadPoseNet: the VGGT camera branch (aggregator + camera head) as a relative/absolute head-pose network.

Modes, by the number of frames S of ``images [B, S, 3, H, W]``:
- S = 2, relative: frame 0 is the anchor (token slot 0), frame 1 the query (slot 1); frame 1's encoding is
  the relative pose T_q←a, frame 0's is trained towards the identity.
- S = 1, absolute: the frame takes slot 1 and its encoding is its pose relative to a canonical frontal head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hpe_ros.errors import InputError
from hpe_ros.model.aggregator import Aggregator
from hpe_ros.model.camera_head import CameraHead, activate_pose
from hpe_ros.model.config import FACE_MESH_LANDMARKS, ModelConfig
from hpe_ros.model.pose_encoding import encoding_to_pose, matrix_to_sixd, quat_to_matrix
from hpe_ros.model.procrustes import rigid_quaternion


def init_linear(module: nn.Module) -> None:
    """ViT initialisation of linear layers (truncated normal std 0.02, zero bias) for training anew."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class HeadPoseNet(nn.Module):
    """images [B, S, 3, H, W] RGB in [0, 1] -> pose encodings [B, S, E], one per refinement iteration.

    Face-mesh configs (``cfg.uses_landmarks``) also take the landmarks of their frozen front end
    [B, S, 468, 3] in place of the images (training on precomputed landmarks). With ``cfg.geometric_seed`` the
    camera head refines the rigid alignment of the landmark clouds: anchor -> query in relative mode,
    ``canonical_landmarks`` (a head-frame cloud set from the training data, stored in the checkpoint) -> query
    in absolute mode. With ``cfg.refine`` false the seed is the output: the attention and the camera head are
    built (one checkpoint layout) but never run, so neither costs inference time.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.aggregator = Aggregator(cfg)
        self.camera_head = CameraHead(cfg)
        if cfg.geometric_seed:
            self.register_buffer("canonical_landmarks", torch.zeros(FACE_MESH_LANDMARKS, 3))
        self.apply(init_linear)
        if cfg.geometric_seed:  # refinement starts as the identity: an untrained network returns the seed
            nn.init.zeros_(self.camera_head.pose_branch.fc2.weight)

    @property
    def encoding_dim(self) -> int:
        return self.cfg.encoding_dim

    def forward(self, images: Tensor) -> list[Tensor]:
        """Pose encodings of every refinement iteration (the last one is the final prediction)."""
        if not self.cfg.geometric_seed:
            self._check_input(images)
            return self.camera_head(self.aggregator(images))
        landmarks = self.embed_frames(images)
        seed = self.geometric_seed(landmarks)
        if not self.cfg.refine:
            return [activate_pose(seed)]
        return self.camera_head(self.aggregator(landmarks), seed)

    def geometric_seed(self, landmarks: Tensor) -> Tensor:
        """Encodings [B, S, E] of the rigid landmark alignment (zero translation and FoV): frame 0 of a
        pair is the identity, the query the anchor -> query rotation; a lone frame canonical -> frame."""
        B, S = landmarks.shape[:2]
        if S == 2:
            query = rigid_quaternion(landmarks[:, 0], landmarks[:, 1])
            identity = torch.cat([torch.zeros_like(query[:, :3]), torch.ones_like(query[:, 3:])], dim=-1)
            quats = torch.stack([identity, query], dim=1)
        else:
            canonical = self.canonical_landmarks.float().expand(B, -1, -1)
            quats = rigid_quaternion(canonical, landmarks[:, 0])[:, None]
        rotation = quats if self.cfg.rotation == "quat" else matrix_to_sixd(quat_to_matrix(quats))
        zeros = rotation.new_zeros
        return torch.cat([zeros(B, S, 3), rotation, zeros(B, S, 2)], dim=-1)

    def embed_frames(self, images: Tensor, anchor_first: bool | None = None) -> Tensor:
        """Per-frame tokens [B, S, P, D] (cacheable for anchors: see ``cfg.frame_only_depth``).

        ``anchor_first`` (default: S > 1) puts frame 0 in the anchor slot: embed a lone anchor with True,
        a lone query with False, then ``pose_from_tokens(torch.cat([anchor, query], dim=1))``. Face-mesh
        configs cache their frozen front end's output instead: landmarks [B, S, 468, 3] (no slot).
        """
        self._check_input(images)
        if self.cfg.uses_landmarks:
            if images.dim() == 4:
                return images
            return self.aggregator.patch_embed.landmarks(images.flatten(0, 1)).unflatten(0, images.shape[:2])
        return self.aggregator.embed(images, anchor_first)

    def pose_from_tokens(self, tokens: Tensor) -> list[Tensor]:
        """Pose encodings per iteration from per-frame tokens [B, S, P, D] (anchor first when S = 2)."""
        if self.cfg.uses_landmarks:
            return self(tokens)
        return self.camera_head(self.aggregator.aggregate(tokens))

    def predict_pose(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Final rotation [B, S, 3, 3] and translation [B, S, 3], float32 whatever the model's dtype (the
        rotation maths loses orthonormality in fp16/bf16); pure tensor ops, exportable."""
        rotation, translation, _ = encoding_to_pose(self(images)[-1].float(), self.cfg.rotation)
        return rotation, translation

    def _check_input(self, images: Tensor) -> None:
        size = self.cfg.image_size
        landmarks = (
            self.cfg.uses_landmarks and images.dim() == 4 and images.shape[2:] == (FACE_MESH_LANDMARKS, 3)
        )
        if not landmarks and (images.dim() != 5 or images.shape[2:] != (3, size, size)):
            extra = f" or landmarks [B, S, {FACE_MESH_LANDMARKS}, 3]" if self.cfg.uses_landmarks else ""
            raise InputError(
                f"{self.cfg.name} expects images [B, S, 3, {size}, {size}]{extra}, got {list(images.shape)}"
            )
        if images.shape[1] not in (1, 2):
            raise InputError(f"S must be 1 (absolute) or 2 (anchor, query), got {images.shape[1]}")
