"""The pose loss: L1 on translation and rotation encodings, geodesic angle, FoV log-tan term, weighted over
the camera head's refinement iterations.

Relative mode supervises the query frame only (its encoding is T_q←a); the FoV term compares the predicted
query/anchor log-tan ratio with the true one, as VGGT-HPE does. Absolute mode supervises the single frame with
its own pose and FoV. Mixed mode trains one network on both tasks: every batch gives the relative loss on
(anchor, query) and the absolute loss on the query alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from hpe_ros.model.config import RotationKind
from hpe_ros.model.pose_encoding import (
    ROTATION_DIMS,
    intrinsics_to_fov,
    matrix_to_quat,
    matrix_to_sixd,
    rotation_to_matrix,
)
from hpe_ros.train.config import LossSection

MODE_TASKS = {"relative": ("relative",), "absolute": ("absolute",), "mixed": ("relative", "absolute")}
MIN_FOV = 1e-3  # radians: keeps log tan finite while a ReLU'd FoV prediction is still zero


@dataclass
class PoseTargets:
    """What the supervised frame should predict: rotation [B, 3, 3], translation [B, 3], log tan(FoV/2) [B, 2]
    (relative mode: query minus anchor)."""

    rotation: Tensor
    translation: Tensor
    log_tan_fov: Tensor


def log_tan_half(fov: Tensor) -> Tensor:
    """log tan(FoV / 2), with the FoV clamped to a small positive minimum."""
    return torch.log(torch.tan(fov.clamp_min(MIN_FOV) / 2))


def pose_targets(batch: dict[str, Tensor], mode: str, image_size: int) -> PoseTargets:
    """Targets of a batch of pair samples for one task: relative (R_rel, t_rel, FoV ratio) or absolute
    (the query)."""
    fov_q = log_tan_half(intrinsics_to_fov(batch["K_q"], image_size, image_size))
    if mode == "relative":
        fov_a = log_tan_half(intrinsics_to_fov(batch["K_a"], image_size, image_size))
        return PoseTargets(batch["R_rel"], batch["t_rel"], fov_q - fov_a)
    return PoseTargets(batch["R_q"], batch["t_q"], fov_q)


def rotation_l1(rotation: Tensor, target: Tensor, kind: RotationKind) -> Tensor:
    """Mean L1 between a predicted rotation encoding [B, 4|6] and the target matrices [B, 3, 3].

    Quaternions: the smaller of the distances to q and −q (both are the same rotation).
    """
    if kind == "quat":
        q = matrix_to_quat(target)
        return torch.minimum((rotation - q).abs().mean(-1), (rotation + q).abs().mean(-1)).mean()
    return F.l1_loss(rotation, matrix_to_sixd(target))


def geodesic_loss(rotation: Tensor, target: Tensor) -> Tensor:
    """Mean rotation angle (radians) between predicted and target matrices [B, 3, 3]."""
    cos = ((rotation * target).sum((-2, -1)) - 1) / 2
    return torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6)).mean()


def iteration_weights(count: int, gamma: float) -> list[float]:
    """Weights of the refinement iterations: gamma^(count-1-i), normalised to sum to one."""
    raw = [gamma ** (count - 1 - i) for i in range(count)]
    return [w / sum(raw) for w in raw]


class PoseLoss:
    """Weighted sum of the pose terms over all refinement iterations; returns every term for logging."""

    def __init__(self, weights: LossSection, rotation: RotationKind, mode: str) -> None:
        self.weights, self.kind, self.mode = weights, rotation, mode
        self.n_rot = ROTATION_DIMS[rotation]

    def single(self, encoding: Tensor, targets: PoseTargets) -> dict[str, Tensor]:
        """The unweighted terms for one iteration's encodings [B, S, E]."""
        query = encoding[:, -1].float()
        rot = query[:, 3 : 3 + self.n_rot]
        fov = log_tan_half(query[:, -2:])
        if self.mode == "relative":
            fov = fov - log_tan_half(encoding[:, 0, -2:].float())
        return {
            "translation": F.l1_loss(query[:, :3], targets.translation),
            "rotation": rotation_l1(rot, targets.rotation, self.kind),
            "geodesic": geodesic_loss(rotation_to_matrix(rot, self.kind), targets.rotation),
            "fov": F.l1_loss(fov, targets.log_tan_fov),
        }

    def __call__(self, predictions: list[Tensor], targets: PoseTargets) -> dict[str, Tensor]:
        """``{"loss": weighted total, term: iteration-weighted term, ...}`` from the head's output list."""
        terms: dict[str, Tensor] = {}
        for weight, encoding in zip(
            iteration_weights(len(predictions), self.weights.iteration_gamma), predictions, strict=True
        ):
            for name, value in self.single(encoding, targets).items():
                terms[name] = terms.get(name, 0.0) + weight * value
        terms["loss"] = sum(getattr(self.weights, name) * value for name, value in terms.items())
        return terms


def task_weights(mode: str, absolute_weight: float) -> dict[str, float]:
    """Weight of each task's loss in the total of a training mode (mixed: relative 1, absolute as given)."""
    if mode not in MODE_TASKS:
        raise ValueError(f"unknown training mode {mode!r}")
    return {
        task: (absolute_weight if mode == "mixed" and task == "absolute" else 1.0)
        for task in MODE_TASKS[mode]
    }


def mode_terms(task_terms: dict[str, dict[str, Tensor]], weights: dict[str, float]) -> dict[str, Tensor]:
    """One step's terms from each task's :class:`PoseLoss` output: ``loss`` = Σ weight · task loss, plus every
    task's terms, prefixed ``<task>/`` when the mode has several tasks (mixed)."""
    prefixed = len(task_terms) > 1
    terms = {"loss": sum(weights[task] * values["loss"] for task, values in task_terms.items())}
    for task, values in task_terms.items():
        terms.update(
            {f"{task}/{k}" if prefixed else k: v for k, v in values.items() if prefixed or k != "loss"}
        )
    return terms
