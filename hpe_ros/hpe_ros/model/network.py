"""HeadPoseNet: the VGGT camera branch (aggregator + camera head) as a relative/absolute head-pose network.

Modes, by the number of frames S of ``images [B, S, 3, H, W]``:
- S = 2, relative: frame 0 is the anchor (token slot 0), frame 1 the query (slot 1); frame 1's encoding is
  the relative pose T_q←a, frame 0's is trained towards the identity.
- S = 1, absolute: the frame takes slot 1 and its encoding is its pose relative to a canonical frontal head.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hpe_ros.errors import InputError
from hpe_ros.model.aggregator import Aggregator
from hpe_ros.model.camera_head import CameraHead, activate_pose
from hpe_ros.model.config import FACE_MESH_LANDMARKS, ModelConfig
from hpe_ros.model.face_mesh import FaceMesh
from hpe_ros.model.pose_encoding import encoding_to_pose, matrix_to_sixd, quat_to_matrix
from hpe_ros.model.procrustes import rigid_quaternion

OPTIONAL_PARTS = ("aggregator", "camera_head")  # built only when the config runs them (cfg.refine)
GATE_WIDTH = 0.05  # of the refinement gate's sigmoid, in sin|yaw| (about ±3° around a 45° threshold)


def init_linear(module: nn.Module) -> None:
    """ViT initialisation of linear layers (truncated normal std 0.02, zero bias) for training anew."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class HeadPoseNet(nn.Module):
    """images [B, S, 3, H, W] RGB in [0, 1] -> pose encodings [B, S, E], one per refinement iteration.

    Face-mesh configs (``cfg.uses_landmarks``) run a frozen face mesh first and take its landmarks
    [B, S, 468, 3] in place of the images too (training on precomputed landmarks). With ``cfg.geometric_seed``
    the camera head refines the rigid alignment of the landmark clouds: anchor -> query in relative mode,
    ``canonical_landmarks`` (a head-frame cloud set from the training data, stored in the checkpoint) ->
    query in absolute mode. Only the parts a config runs are built: with ``cfg.refine`` false the seed is the
    output and there is no aggregator or camera head (:meth:`unbuilt_prefixes`).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.uses_landmarks:  # frozen; its weights come from the mediapipe wheel, never from a checkpoint
            self.face_mesh = FaceMesh()
        if cfg.refine:
            self.aggregator = Aggregator(cfg)
            self.camera_head = CameraHead(cfg)
        if cfg.geometric_seed:
            self.register_buffer("canonical_landmarks", torch.zeros(FACE_MESH_LANDMARKS, 3))
        self.apply(init_linear)
        if (
            cfg.geometric_seed and cfg.refine
        ):  # refinement starts as the identity: untrained, it returns the seed
            nn.init.zeros_(self.camera_head.pose_branch.fc2.weight)

    @property
    def encoding_dim(self) -> int:
        return self.cfg.encoding_dim

    def forward(self, frames: Tensor) -> list[Tensor]:
        """Pose encodings of every refinement iteration (the last one is the final prediction) of images
        [B, S, 3, H, W], or of landmarks [B, S, 468, 3] for face-mesh configs."""
        return self.pose_from_tokens(self.embed_frames(frames))

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

    def embed_frames(self, frames: Tensor, anchor_first: bool | None = None) -> Tensor:
        """The per-frame embedding [B, S, ...] of images (cacheable for anchors): per-frame tokens
        [B, S, P, D] (see ``cfg.frame_only_depth``), or for face-mesh configs the face-mesh landmarks
        [B, S, 468, 3] (landmarks given in place of the images pass through).

        ``anchor_first`` (default: S > 1) puts frame 0 in the anchor token slot: embed a lone anchor with
        True, a lone query with False, then ``pose_from_tokens(torch.cat([anchor, query], dim=1))``.
        Landmarks have no slot.
        """
        self._check_frames(frames)
        if not self.cfg.uses_landmarks:
            return self.aggregator.embed(frames, anchor_first)
        if frames.dim() == 4:
            return frames
        with torch.no_grad():  # no gradient flows into the frozen face mesh
            landmarks = self.face_mesh(frames.flatten(0, 1))[0]
        return landmarks.unflatten(0, frames.shape[:2])

    def pose_from_tokens(self, embedding: Tensor) -> list[Tensor]:
        """Pose encodings per iteration from per-frame embeddings (:meth:`embed_frames`; anchor first when
        S = 2): tokens [B, S, P, D], or landmarks [B, S, 468, 3] for face-mesh configs."""
        if not self.cfg.uses_landmarks:
            return self.camera_head(self.aggregator.aggregate(embedding))
        self._check_frames(embedding)
        seed = self.geometric_seed(embedding) if self.cfg.geometric_seed else None
        if not self.cfg.refine:
            return [activate_pose(seed)]
        gate = self.refine_gate(embedding) if self.cfg.refine_gate_deg else None
        return self.camera_head(self.aggregator(embedding), seed, gate)

    def refine_gate(self, landmarks: Tensor) -> Tensor:
        """[B, 1, 1] in (0, 1): how much of the learned refinement a sample gets, a smooth step of the query's
        |yaw| as the absolute seed sees it (the rigid alignment canonical -> query, also in relative mode) at
        ``cfg.refine_gate_deg``. The learned part then acts only where it was measured to help (turned
        faces), and the graph stays one family for ONNX Runtime and TensorRT (no branches)."""
        canonical = self.canonical_landmarks.float().expand(landmarks.shape[0], -1, -1)
        rotation = quat_to_matrix(rigid_quaternion(canonical, landmarks[:, -1].float()))
        side, depth = rotation[:, 0, 2], rotation[:, 2, 2]  # the face's forward axis is −z of the head frame
        sin_yaw = side.abs() / torch.sqrt(side * side + depth * depth + 1e-12)
        threshold = math.sin(math.radians(self.cfg.refine_gate_deg))
        return torch.sigmoid((sin_yaw - threshold) / GATE_WIDTH)[:, None, None].to(landmarks.dtype)

    def unbuilt_prefixes(self) -> tuple[str, ...]:
        """State-dict key prefixes of the optional parts this config leaves out (refine off: ``aggregator.``
        and ``camera_head.``); checkpoints written when every part was built still hold their keys."""
        return tuple(f"{name}." for name in OPTIONAL_PARTS if name not in self._modules)

    def predict_pose(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Final rotation [B, S, 3, 3] and translation [B, S, 3], float32 whatever the model's dtype (the
        rotation maths loses orthonormality in fp16/bf16); pure tensor ops, exportable."""
        rotation, translation, _ = encoding_to_pose(self(images)[-1].float(), self.cfg.rotation)
        return rotation, translation

    def _check_frames(self, frames: Tensor) -> None:
        size = self.cfg.image_size
        landmarks = (
            self.cfg.uses_landmarks and frames.dim() == 4 and frames.shape[2:] == (FACE_MESH_LANDMARKS, 3)
        )
        if not landmarks and (frames.dim() != 5 or frames.shape[2:] != (3, size, size)):
            extra = f" or landmarks [B, S, {FACE_MESH_LANDMARKS}, 3]" if self.cfg.uses_landmarks else ""
            raise InputError(
                f"{self.cfg.name} expects images [B, S, 3, {size}, {size}]{extra}, got {list(frames.shape)}"
            )
        if frames.shape[1] not in (1, 2):
            raise InputError(f"S must be 1 (absolute) or 2 (anchor, query), got {frames.shape[1]}")
