"""Named network configurations: from a CPU-friendly tiny model up to the VGGT-1B camera branch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from hpe_ros.errors import InputError, ModelFileError

FACE_MESH_INPUT_SIZE = 192  # MediaPipe face_landmark.tflite input (hpe_ros.model.face_mesh)
FACE_MESH_LANDMARKS = 468

PatchEmbedKind = Literal["conv_stem", "dinov2", "face_mesh"]
RotationKind = Literal["quat", "6d"]


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`hpe_ros.model.HeadPoseNet` (stored in every checkpoint)."""

    name: str
    image_size: int  # square input crops, pixels
    patch_size: int
    embed_dim: int  # D: width of the aggregator
    depth: int  # number of (frame, global) attention block pairs
    num_heads: int
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    rope_frequency: float = 100.0
    layer_scale_init: float = 0.01
    frame_only_depth: int = 0  # leading per-frame blocks (no global partner): an anchor's output is cacheable
    patch_embed: PatchEmbedKind = "conv_stem"  # face_mesh: tokens pooled from frozen face-mesh landmarks
    mesh_tokens: int = 32  # face_mesh only: tokens the 468 landmarks are pooled into (learned assignment)
    geometric_seed: bool = False  # face_mesh only: refinement starts from the rigid landmark alignment
    refine: bool = True  # False (geometric_seed only): the output is the seed; no attention or head is built
    refine_gate_deg: float = 0.0  # > 0 (with the seed): the refinement acts only beyond this seed |yaw|
    stem_channels: int = 32  # conv_stem only: width of the 3x3 convolutions at half resolution
    dino_depth: int = 0  # dinov2 only: number of ViT blocks inside the patch embed
    dino_pretrained_grid: int = 37  # dinov2 only: the pos-embed grid of the pretrained weights (518 / 14)
    rotation: RotationKind = "quat"
    head_depth: int = 4  # camera head trunk blocks
    head_num_heads: int = 16
    head_iterations: int = 4  # adaLN refinement iterations

    def __post_init__(self) -> None:
        if self.depth < 1 or self.frame_only_depth < 0 or self.head_depth < 1 or self.head_iterations < 1:
            raise ValueError(f"{self.name}: depth, head_depth and head_iterations must be >= 1")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"{self.name}: image_size {self.image_size} is not a multiple of {self.patch_size}"
            )
        if self.embed_dim % self.num_heads or (2 * self.embed_dim) % self.head_num_heads:
            raise ValueError(f"{self.name}: embed_dim {self.embed_dim} does not split into the heads")
        if (self.embed_dim // self.num_heads) % 4:
            raise ValueError(f"{self.name}: 2-D RoPE needs a head dimension divisible by 4")
        if self.patch_embed == "conv_stem" and self.patch_size % 2:
            raise ValueError(f"{self.name}: conv_stem needs an even patch_size")
        if not self.refine and not self.geometric_seed:
            raise ValueError(f"{self.name}: refine=false needs geometric_seed (something to output)")
        gate_ok = self.refine and self.geometric_seed and 0 < self.refine_gate_deg < 90
        if self.refine_gate_deg and not gate_ok:
            raise ValueError(f"{self.name}: refine_gate_deg needs refine, geometric_seed and 0 < angle < 90")
        if self.geometric_seed and self.patch_embed != "face_mesh":
            raise ValueError(f"{self.name}: geometric_seed needs patch_embed face_mesh (landmarks to align)")
        if self.patch_embed == "face_mesh" and self.image_size != FACE_MESH_INPUT_SIZE:
            raise ValueError(f"{self.name}: face_mesh needs image_size {FACE_MESH_INPUT_SIZE}")
        if self.rotation not in ("quat", "6d"):
            raise ValueError(f"{self.name}: rotation must be 'quat' or '6d', not {self.rotation!r}")

    @property
    def grid_size(self) -> int:
        """Patches per image side."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Tokens per frame besides the camera and register tokens: patches, or pooled face-mesh landmarks."""
        return self.mesh_tokens if self.patch_embed == "face_mesh" else self.grid_size**2

    @property
    def uses_landmarks(self) -> bool:
        """Whether the network also takes face-mesh landmarks [B, S, 468, 3] in place of images."""
        return self.patch_embed == "face_mesh"

    @property
    def encoding_dim(self) -> int:
        """Pose-encoding width: translation 3 + rotation (quaternion 4 or 6-D) + FoV 2."""
        return 3 + (4 if self.rotation == "quat" else 6) + 2

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (e.g. ``CONFIGS["nano"].replace(rotation="6d")``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from :meth:`to_dict` output; unknown or missing fields raise ModelFileError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ModelFileError(f"model config has unknown fields {unknown} (written by a newer hpe_ros?)")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"invalid model config: {exc}") from exc


CONFIGS: dict[str, ModelConfig] = {
    # < 40 ms per pair with ONNX Runtime on 2 CPU cores.
    "tiny": ModelConfig(
        name="tiny", image_size=112, patch_size=14, embed_dim=160, depth=4, num_heads=5,
        stem_channels=16, head_depth=2, head_num_heads=5,
    ),
    # ~13 M parameters, ~6.9 GFLOP per pair, 224 px -> 16 x 16 patches.
    "nano": ModelConfig(
        name="nano", image_size=224, patch_size=14, embed_dim=224, depth=4, num_heads=4,
        stem_channels=16, head_depth=3, head_num_heads=7,
    ),
    # nano's blocks rearranged: 4 per-frame blocks, then 2 frame/global pairs. An anchor's per-frame tokens
    # can be cached, so each extra anchor of a query costs ~half a pair (50% of the FLOPs).
    "nano-cache": ModelConfig(
        name="nano-cache", image_size=224, patch_size=14, embed_dim=224, depth=2, frame_only_depth=4,
        num_heads=4, stem_channels=16, head_depth=3, head_num_heads=7,
    ),
    # Tokens come from the 468 landmarks of MediaPipe's frozen, real-trained face-mesh network (0.6 M
    # parameters, read from the mediapipe wheel, never stored in our checkpoints), not image patches: the
    # sim-to-real lever measured in models/MODEL_CARD.md. Landmarks (with learned identity embeddings) are
    # pooled into 32 tokens by a learned soft assignment; no RoPE. The camera head's refinement starts from
    # the rigid alignment of the landmark clouds (anchor -> query; absolute: a canonical cloud -> query).
    "mesh": ModelConfig(
        name="mesh", image_size=192, patch_size=16, embed_dim=96, depth=2, num_heads=4,
        patch_embed="face_mesh", geometric_seed=True, head_depth=2, head_num_heads=4,
    ),
    "small": ModelConfig(
        name="small", image_size=224, patch_size=14, embed_dim=384, depth=6, num_heads=6,
        stem_channels=48, head_depth=4, head_num_heads=12,
    ),
    # The camera branch of facebook/VGGT-1B (aggregator + camera head), key for key.
    "vggt1b": ModelConfig(
        name="vggt1b", image_size=518, patch_size=14, embed_dim=1024, depth=24, num_heads=16,
        patch_embed="dinov2", dino_depth=24, head_depth=4, head_num_heads=16,
    ),
}  # fmt: skip


def get_config(name: str) -> ModelConfig:
    """The named config, or an InputError listing the known names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise InputError(f"unknown model config {name!r}; known: {', '.join(CONFIGS)}") from None
