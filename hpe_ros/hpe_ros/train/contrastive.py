"""CLERF-style contrastive pre-training: pose triplets from renders, Circle loss on camera-token embeddings.

A triplet is (anchor, positive, negative): the positive shows the anchor's exact pose (R, t, K) on another
identity with another outfit, expression, light and background; the negative is the same identity in another
pose. Within a batch every pair of images is a positive when their poses are within ``positive_max_deg`` and a
negative when at least ``negative_min_deg`` apart (pairs in between are ignored).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import IterableDataset, get_worker_info

from hpe_ros.synth.dataset import SynthSettings

OTHER_LOOK_OFFSET = 7_919_000  # the positive borrows identity and looks from this far along the index stream


class TripletRenders(IterableDataset):
    """Endless triplets ``{"images": uint8 [3, 3, H, W], "rotations": [3, 3, 3]}`` rendered on the fly."""

    def __init__(self, settings: SynthSettings, start: int = 0) -> None:
        self.settings, self.start = settings, start

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        sampler, renderer = self.settings.make()
        index = self.start + worker
        try:
            while True:
                pair, other = sampler.sample(index), sampler.sample(index + OTHER_LOOK_OFFSET)
                look = dataclasses.replace(
                    other.anchor, R=pair.anchor.R, t=pair.anchor.t, K=pair.anchor.K,
                    crop_side_px=pair.anchor.crop_side_px,
                )  # fmt: skip
                views = [
                    renderer.render_view(pair, pair.anchor),
                    renderer.render_view(other, look),
                    renderer.render_view(pair, pair.query),
                ]
                images = torch.stack([torch.from_numpy(v.transpose(2, 0, 1).copy()) for v in views])
                rotations = torch.from_numpy(np.stack([pair.anchor.R, pair.anchor.R, pair.query.R])).float()
                yield {"images": images, "rotations": rotations}
                index += workers
        finally:
            renderer.close()


def camera_embeddings(aggregator: nn.Module, frames: Tensor) -> Tensor:
    """Unit-length embeddings [N, 2·D] of single frames [N, 1, ...] (images, or the landmarks of face-mesh
    configs): the last aggregator layer's camera token (what the camera head reads), layer-normalised; each
    frame alone (absolute-mode slot). ``aggregator`` is a HeadPoseNet's (or its DDP wrapper)."""
    camera = aggregator(frames)[:, 0, 0].float()  # [N, 2·D]
    return F.normalize(F.layer_norm(camera, camera.shape[-1:]), dim=-1)


def circle_loss(
    embeddings: Tensor,
    rotations: Tensor,
    margin: float = 0.25,
    scale: float = 32.0,
    positive_max_deg: float = 1.0,
    negative_min_deg: float = 20.0,
) -> Tensor:
    """Circle loss (Sun et al., CVPR 2020) over all pairs of a batch, positives/negatives defined by pose.

    ``embeddings`` [N, C] unit length, ``rotations`` [N, 3, 3]. Per anchor i with positives P and negatives N:
    log(1 + Σ_n exp(γ α_n (s_n − m)) · Σ_p exp(−γ α_p (s_p − 1 + m))), α_p = [1 + m − s_p]₊, α_n = [s_n + m]₊;
    averaged over the anchors that have both.
    """
    similarity = embeddings @ embeddings.T
    cos = ((rotations[:, None] * rotations[None]).sum((-2, -1)) - 1) / 2
    angle = torch.rad2deg(torch.acos(cos.clamp(-1, 1)))
    not_self = ~torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
    positive = (angle <= positive_max_deg) & not_self
    negative = angle >= negative_min_deg
    valid = positive.any(1) & negative.any(1)
    if not bool(valid.any()):
        return similarity.sum() * 0.0
    similarity, positive, negative = similarity[valid], positive[valid], negative[valid]
    alpha_p = (1 + margin - similarity).clamp_min(0).detach()
    alpha_n = (similarity + margin).clamp_min(0).detach()
    logit_p = torch.where(positive, -scale * alpha_p * (similarity - 1 + margin), -torch.inf)
    logit_n = torch.where(negative, scale * alpha_n * (similarity - margin), -torch.inf)
    return F.softplus(torch.logsumexp(logit_p, 1) + torch.logsumexp(logit_n, 1)).mean()
