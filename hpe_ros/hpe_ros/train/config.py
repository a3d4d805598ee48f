"""Training recipes: nested dataclasses read from YAML, with ``section.key=value`` command-line overrides
(typed and checked by :mod:`hpe_ros.config`, the same path as the tracker's and the node's parameters)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from hpe_ros.config import assign, from_dict, parse_assignments
from hpe_ros.errors import InputError


@dataclass
class ModelSection:
    """Which network to train and which of its parameters move."""

    name: str = "tiny"  # a key of hpe_ros.model.CONFIGS
    overrides: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields, e.g. {rotation: 6d}
    init: str | None = None  # start from an hpe_ros checkpoint (.safetensors) or VGGT-1B weights
    init_format: Literal["hpe", "vggt"] = "hpe"
    freeze: Literal["full", "head", "lora"] = "full"  # hpe_ros.model.lora policies
    lora_rank: int = 8
    lora_alpha: float = 16.0


@dataclass
class DataSection:
    """Training pairs: rendered on the fly (``render``), read from ``hpe synth render`` shards, or (face-mesh
    configs) the precomputed landmarks of such shards (``hpe synth landmarks``, augmentation included)."""

    source: Literal["render", "shards", "landmarks"] = "render"
    shards: str | None = None  # folder of shard-*.tar (source: shards)
    landmarks: str | None = None  # `hpe synth landmarks` .npz, or a folder of them (source: landmarks)
    poses: Literal["biwi", "full"] = "biwi"
    anchor: Literal["neutral", "small-gap", "any"] = "any"
    identities: int = 250
    degrade: bool = True
    cache: str | None = None  # MakeHuman asset cache (default $HPE_CACHE_DIR or ~/.cache/hpe_ros)
    supersample: int = 1
    batch_size: int = 8
    workers: int = 1  # DataLoader worker processes (0: load in the training process)
    worker_timeout_s: float = 600.0  # a worker that delivers no batch for this long is an error, not a stall


@dataclass
class OptimSection:
    """AdamW with linear warm-up and cosine decay; gradient clipping; mixed precision on CUDA."""

    steps: int = 1000
    lr: float = 3e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 50  # linear warm-up (capped at a tenth of a stage's steps)
    min_lr_ratio: float = 0.02  # final learning rate as a fraction of lr
    grad_clip: float = 1.0
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"  # CUDA autocast dtype; the CPU always runs fp32


@dataclass
class LossSection:
    """Weights of the pose-loss terms (see :mod:`hpe_ros.train.losses`)."""

    translation: float = 1.0  # L1 on the translation part of the encoding
    rotation: float = 1.0  # L1 on the rotation part (quaternion sign-invariant, or 6-D)
    geodesic: float = 0.5  # angle between predicted and true rotation matrices, radians
    fov: float = 0.1  # L1 on log tan(FoV/2) (relative mode: the query/anchor ratio)
    iteration_gamma: float = 0.6  # refinement iteration i of n weighs gamma^(n-1-i), normalised
    absolute_weight: float = 1.0  # mixed mode: total = relative loss + absolute_weight * absolute loss


@dataclass
class AugmentSection:
    """Photometric randomisation and CLERF's pose-exact in-plane rotation and horizontal flip."""

    photometric: bool = True
    brightness: float = 0.3  # multiplicative factor in [1 - b, 1 + b]
    contrast: float = 0.3
    saturation: float = 0.4
    colour_cast: float = 0.1  # per-channel gain in [1 - c, 1 + c] (white balance)
    grey_prob: float = 0.1
    blur_prob: float = 0.2
    blur_sigma: float = 1.5  # upper bound of the Gaussian blur sigma, pixels
    noise_prob: float = 0.3
    noise_std: float = 0.04  # upper bound of the additive Gaussian noise (images in [0, 1])
    virtual_camera: bool = True  # labels and pixels in the camera looking at the crop centre (see augment)
    roll_deg: float = 0.0  # in-plane rotation uniform in ±roll_deg (0: off)
    flip_prob: float = 0.0  # horizontal flip probability per image


@dataclass
class ContrastiveSection:
    """CLERF-style pre-training of the aggregator with Circle loss on camera-token embeddings."""

    enabled: bool = False
    steps: int = 200
    lr: float = 3e-4
    batch_size: int = 8  # triplets (anchor, positive, negative) per step
    margin: float = 0.25
    scale: float = 32.0  # Circle loss gamma
    positive_max_deg: float = 1.0  # two images this close in pose are positives
    negative_min_deg: float = 20.0  # two images at least this far apart in pose are negatives


@dataclass
class EvalSection:
    """Held-out evaluation on the fixed synthetic protocols (identities never seen in training)."""

    every: int = 200  # steps (0: only at the end)
    protocols: tuple[str, ...] = ("easy", "hard")
    pairs: int = 64  # first pairs of each protocol
    batch_size: int = 16


@dataclass
class TrainConfig:
    """A whole training recipe."""

    mode: Literal["relative", "absolute", "mixed"] = "relative"  # mixed: both tasks in every batch
    seed: int = 0
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    contrastive: ContrastiveSection = field(default_factory=ContrastiveSection)
    eval: EvalSection = field(default_factory=EvalSection)
    log_every: int = 10
    checkpoint_every: int = 200

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """A validated :class:`TrainConfig` (unknown keys and wrong types raise InputError)."""
    cfg = from_dict(TrainConfig, data, "config")
    if cfg.optim.steps < 0 or cfg.data.batch_size <= 0 or cfg.eval.pairs < 0:
        raise InputError(
            "optim.steps and eval.pairs must be >= 0 (0 steps: build, fit, evaluate and export without "
            "optimising) and data.batch_size positive"
        )
    if cfg.data.source == "shards" and not cfg.data.shards:
        raise InputError("data.source is 'shards' but data.shards names no folder")
    return cfg


def load_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML recipe and apply overrides."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise InputError(f"cannot read training config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"training config {path} is not valid YAML: {exc}") from exc
    return config_from_dict(assign(data, parse_assignments(overrides)))
