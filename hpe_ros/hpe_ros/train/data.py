"""Training data streams: endless, resumable, sharded by DDP rank; and the held-out evaluation pairs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset

from hpe_ros.errors import HpeError, InputError
from hpe_ros.synth.dataset import ShardPairs, SyntheticPairs, SynthSettings, pair_sample
from hpe_ros.train.config import DataSection

RANK_STRIDE = 10**9  # on-the-fly renders: rank r draws pair indices from r·RANK_STRIDE on


def synth_settings(data: DataSection, size: int, seed: int) -> SynthSettings:
    """The renderer settings of a data section for crops of ``size`` pixels."""
    return SynthSettings(
        poses=data.poses,
        anchor=data.anchor,
        seed=seed,
        identities=(0, data.identities),
        size=size,
        degrade=data.degrade,
        cache=data.cache,
        supersample=data.supersample,
    )


class EndlessShards(IterableDataset):
    """Shard pairs repeated epoch after epoch (reshuffled by seed and epoch), skipping the first ``skip``."""

    def __init__(self, shards: list[Path], seed: int, skip: int = 0) -> None:
        self.shards, self.seed, self.skip = shards, seed, skip

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        pairs = ShardPairs(self.shards, shuffle_seed=self.seed)

        def epochs() -> Iterator[dict[str, torch.Tensor]]:
            while True:
                empty = True
                for sample in pairs:
                    empty = False
                    yield sample
                if empty:
                    raise InputError(f"the shards {[str(s) for s in self.shards]} hold no pairs")

        return itertools.islice(epochs(), self.skip, None)


def training_stream(
    data: DataSection, size: int, seed: int, rank: int = 0, world: int = 1, skip: int = 0
) -> tuple[IterableDataset, int]:
    """(endless pair dataset for this rank, worker count to use), resuming after ``skip`` samples.

    Renders: rank r takes indices r·RANK_STRIDE + skip, … (each worker a stride of them). Shards: rank r takes
    every world-th shard; a DataLoader worker needs a shard of its own, so workers ≤ shards per rank.
    """
    if data.source == "landmarks":
        from hpe_ros.train.landmarks import LandmarkPairs

        if world > 1:
            raise InputError("data.source landmarks trains in one process (it is milliseconds per step)")
        if not data.landmarks:
            raise InputError("data.source is landmarks but data.landmarks (the .npz) is unset")
        return LandmarkPairs(data.landmarks, seed, skip), 0
    if data.source == "render":
        settings = synth_settings(data, size, seed)
        return SyntheticPairs(settings, length=None, start=rank * RANK_STRIDE + skip), data.workers
    folder = Path(data.shards)
    shards = sorted(folder.glob("shard-*.tar")) if folder.is_dir() else []
    if len(shards) < world:
        raise InputError(f"{folder} has {len(shards)} shard-*.tar files; {world} DDP ranks need one each")
    mine = shards[rank::world]
    return EndlessShards(mine, seed, skip), min(data.workers, len(mine))


def make_loader(
    dataset: IterableDataset, batch_size: int, workers: int, timeout_s: float = 0.0
) -> DataLoader:
    """A DataLoader over an iterable dataset; workers are spawned (a GL context does not survive fork).

    ``timeout_s`` > 0: waiting longer than that for a worker's batch raises (see :func:`next_batch`).
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        multiprocessing_context="spawn" if workers > 0 else None,
        persistent_workers=workers > 0,
        timeout=timeout_s if workers > 0 else 0.0,
    )


def next_batch(batches: Iterator[Any], step: int) -> Any:
    """The next batch; a worker that timed out (e.g. a renderer hang on one sample) becomes an HpeError that
    says how to go on: the renders are deterministic per seed, so resume with another seed."""
    try:
        return next(batches)
    except RuntimeError as exc:
        if "timed out" not in str(exc):
            raise
        raise HpeError(
            f"no training batch after step {step}: {exc}. A data worker hangs (seen: the renderer stuck in "
            "Framebuffer.read on one sample); the same sample hangs again on resume, so continue with "
            "--resume --set seed=<another seed> (the last checkpoint is state.pt)"
        ) from exc


def protocol_batches(name: str, size: int, pairs: int, cache: str | None) -> dict[str, torch.Tensor]:
    """The first ``pairs`` pairs of a synthetic protocol as one collated batch (kept in memory)."""
    from hpe_ros.synth.protocols import protocol_pairs

    samples = [pair_sample(*p) for p in protocol_pairs(name, cache=cache, size=size, limit=pairs)]
    return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Images as float in [0, 1], labels as float32, all on ``device``."""
    out = {}
    for key, value in batch.items():
        value = value.to(device, non_blocking=True)
        out[key] = value.float() / 255 if value.dtype == torch.uint8 else value.float()
    return out
