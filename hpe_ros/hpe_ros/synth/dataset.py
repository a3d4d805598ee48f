"""Synthetic pairs on disk (WebDataset-style tar shards) and on the fly, as torch IterableDatasets.

Shard layout: ``shard-000000.tar`` … each holding, per pair, ``<index>.anchor.jpg``, ``<index>.query.jpg`` and
``<index>.json`` (labels, see :func:`hpe_ros.synth.generator.pair_labels`), and ``meta.json`` beside them.
Tar shards stream sequentially, so a DataLoader with several workers reads them efficiently (one shard per
worker at a time).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from hpe_ros.errors import InputError

SHARD_PATTERN = "shard-{:06d}.tar"


@dataclass
class SynthSettings:
    """What defines a synthetic pair stream: sampler options, render size and the asset cache."""

    poses: str = "biwi"
    anchor: str = "any"
    seed: int = 0
    identities: tuple[int, int] = (0, 250)
    size: int = 224
    degrade: bool = True
    cache: str | None = None
    supersample: int = 1

    def make(self):
        """(PairSampler, PairRenderer) for these settings; creates a GL context, so call it in the worker."""
        from hpe_ros.synth.generator import PairRenderer
        from hpe_ros.synth.sampler import PairSampler

        renderer = PairRenderer(size=self.size, cache=self.cache, supersample=self.supersample)
        sampler = PairSampler(
            renderer.model,
            self.size,
            self.poses,
            self.anchor,
            self.seed,
            tuple(self.identities),
            self.degrade,
        )
        return sampler, renderer


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InputError("JPEG encoding failed")
    return data.tobytes()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shard(path: Path, settings: SynthSettings, indices: range, quality: int = 95, progress=None) -> int:
    """Render the pairs ``indices`` into one tar shard (atomically: written to ``.part`` then renamed)."""
    sampler, renderer = settings.make()
    partial = path.with_suffix(".tar.part")
    try:
        with tarfile.open(partial, "w") as tar:
            for index in indices:
                anchor, query, labels = renderer.render_pair(sampler.sample(index))
                key = f"{index:09d}"
                _add(tar, f"{key}.anchor.jpg", _jpeg(anchor, quality))
                _add(tar, f"{key}.query.jpg", _jpeg(query, quality))
                _add(tar, f"{key}.json", json.dumps(labels).encode())
                if progress is not None:
                    progress.put(1)
    finally:
        renderer.close()
    partial.rename(path)
    return len(indices)


def write_shards(
    out_dir: str | os.PathLike,
    settings: SynthSettings,
    num_pairs: int,
    shard_size: int = 1000,
    workers: int = 1,
    quality: int = 95,
) -> list[Path]:
    """Render ``num_pairs`` pairs into shards under ``out_dir`` with ``workers`` processes (progress bar)."""
    from tqdm import tqdm

    if num_pairs <= 0 or shard_size <= 0 or workers <= 0:
        raise InputError("pairs, shard size and workers must be positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (out / SHARD_PATTERN.format(k), range(s, min(s + shard_size, num_pairs)))
        for k, s in enumerate(range(0, num_pairs, shard_size))
    ]
    (out / "meta.json").write_text(
        json.dumps(
            {"settings": asdict(settings), "pairs": num_pairs, "shard_size": shard_size, "shards": len(jobs)},
            indent=1,
        )
    )
    context = get_context("spawn")  # a fresh process per worker: GL contexts do not survive fork
    with context.Manager() as manager, tqdm(total=num_pairs, desc="rendering pairs", unit="pair") as bar:
        queue = manager.Queue()
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [
                pool.submit(write_shard, path, settings, indices, quality, queue) for path, indices in jobs
            ]
            done = 0
            while done < num_pairs:
                if any(f.done() and f.exception() for f in futures):
                    break
                try:
                    done += queue.get(timeout=1.0)
                    bar.update(1)
                except Exception:
                    continue
            for future in futures:
                future.result()
    return [path for path, _ in jobs]


def labels_to_tensors(labels: dict) -> dict[str, torch.Tensor]:
    """Float32 tensors of a pair's labels: R_a, t_a, K_a, R_q, t_q, K_q, R_rel, t_rel, gap_deg."""
    out = {}
    for view, suffix in (("anchor", "a"), ("query", "q")):
        for key in ("R", "t", "K"):
            out[f"{key}_{suffix}"] = torch.tensor(labels[view][key], dtype=torch.float32)
    out["R_rel"] = torch.tensor(labels["R_rel"], dtype=torch.float32)
    out["t_rel"] = torch.tensor(labels["t_rel"], dtype=torch.float32)
    out["gap_deg"] = torch.tensor(labels["gap_deg"], dtype=torch.float32)
    return out


def pair_sample(anchor: np.ndarray, query: np.ndarray, labels: dict) -> dict[str, torch.Tensor]:
    """A training sample: uint8 CHW images ``anchor``/``query`` plus :func:`labels_to_tensors`."""
    return {
        "anchor": torch.from_numpy(np.ascontiguousarray(anchor.transpose(2, 0, 1))),
        "query": torch.from_numpy(np.ascontiguousarray(query.transpose(2, 0, 1))),
        **labels_to_tensors(labels),
    }


def _worker_slice() -> tuple[int, int]:
    info = get_worker_info()
    return (info.id, info.num_workers) if info else (0, 1)


def read_shard(path: str | os.PathLike) -> Iterator[tuple[np.ndarray, np.ndarray, dict]]:
    """Yield (anchor RGB, query RGB, labels) from one tar shard, in order."""
    group: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r|") as tar:
            for member in tar:
                kind = member.name.partition(".")[2]
                group[kind] = tar.extractfile(member).read()
                if len(group) == 3:
                    images = [
                        cv2.imdecode(np.frombuffer(group[k], np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
                        for k in ("anchor.jpg", "query.jpg")
                    ]
                    yield images[0], images[1], json.loads(group["json"])
                    group = {}
    except (tarfile.TarError, KeyError, TypeError) as error:
        raise InputError(f"damaged synthetic shard {path}: {error}") from error


class ShardPairs(IterableDataset):
    """Pairs streamed from tar shards; DataLoader workers take disjoint shards (seeded shuffle per epoch)."""

    def __init__(self, shards: list[str | os.PathLike] | str | os.PathLike, shuffle_seed: int | None = None):
        if isinstance(shards, (str, os.PathLike)) and Path(shards).is_dir():
            shards = sorted(Path(shards).glob("shard-*.tar"))
        self.shards = [Path(s) for s in ([shards] if isinstance(shards, (str, os.PathLike)) else shards)]
        if not self.shards:
            raise InputError("no shard-*.tar files given")
        self.shuffle_seed, self.epoch = shuffle_seed, 0

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = list(self.shards)
        if self.shuffle_seed is not None:
            np.random.default_rng([self.shuffle_seed, self.epoch]).shuffle(order)
            self.epoch += 1
        worker, workers = _worker_slice()
        for path in order[worker::workers]:
            for anchor, query, labels in read_shard(path):
                yield pair_sample(anchor, query, labels)


class SyntheticPairs(IterableDataset):
    """Pairs rendered on the fly: worker w of n renders start+w, start+w+n, …, each with its own GL context.

    ``length`` pairs in total (None = endless). Deterministic: pair i is the same whatever the worker count.
    If the parent process already holds a GL context, give the DataLoader ``multiprocessing_context="spawn"``.
    """

    def __init__(self, settings: SynthSettings, length: int | None = None, start: int = 0):
        self.settings, self.length, self.start = settings, length, start

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker, workers = _worker_slice()
        sampler, renderer = self.settings.make()
        index = self.start + worker
        end = None if self.length is None else self.start + self.length
        try:
            while end is None or index < end:
                yield pair_sample(*renderer.render_pair(sampler.sample(index)))
                index += workers
        finally:
            renderer.close()
