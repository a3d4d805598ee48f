"""Precomputed face-mesh landmarks: the training data of the face-mesh configs (``patch_embed: face_mesh``).

Their front end (MediaPipe's face-mesh network) is frozen, so the landmarks of each augmented crop never
change: :func:`precompute_landmarks` renders nothing, it reads ``hpe synth render`` shards, applies the
pose-exact CLERF roll/flip (labels transformed exactly) and the photometric augmentation to the *images*, runs
the front end once, and stores landmarks + labels in one ``.npz``. Each shard pair yields ``variants``
differently augmented samples. :class:`LandmarkPairs` streams them (shuffled, endless) to the trainer, which
then costs milliseconds per step instead of a face-mesh pass per crop.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset
from tqdm import tqdm

from hpe_ros.errors import InputError
from hpe_ros.model.config import FACE_MESH_LANDMARKS
from hpe_ros.model.face_mesh import FaceMesh
from hpe_ros.model.procrustes import canonical_cloud
from hpe_ros.synth.dataset import ShardPairs
from hpe_ros.train.augment import geometric_augment, photometric_augment, view_camera_labels
from hpe_ros.train.config import AugmentSection

IMAGE_KEYS = ("anchor", "query")


def precompute_landmarks(
    shards: str | Path,
    out_path: str | Path,
    variants: int = 2,
    augment: AugmentSection | None = None,
    seed: int = 0,
    batch_size: int = 32,
    limit: int | None = None,
) -> dict[str, int]:
    """Write ``out_path`` (.npz): ``anchor``/``query`` landmarks [N, 468, 3] (float16, crop pixels),
    ``presence_a``/``presence_q`` logits and every label of the pairs (float32); N = pairs × ``variants``.

    The rotation and translation labels are in each head's view camera
    (:func:`~hpe_ros.train.augment.view_camera_labels`): landmarks say nothing of where a crop was cut, and
    the renders' crops look through rays up to 46° off the axis (median 20°), so source-camera labels
    would ask the network for what it cannot see. The tracker maps poses back
    (:func:`hpe_ros.geometry.frames.head_view_rotation`)."""
    folder = Path(shards)
    files = sorted(folder.glob("shard-*.tar"))
    if not files:
        raise InputError(f"{folder} holds no shard-*.tar files (write them with `hpe synth render`)")
    augment = augment or AugmentSection(virtual_camera=False)
    if augment.virtual_camera:
        raise InputError(
            "landmarks are precomputed on the crops as cut (labels in the view camera, pixels unwarped): "
            "augment.virtual_camera must be false"
        )
    generator = torch.Generator().manual_seed(seed)
    face_mesh = FaceMesh().eval()
    loader = DataLoader(ShardPairs(files), batch_size=batch_size)
    columns: dict[str, list[np.ndarray]] = {}
    pairs = 0
    with torch.no_grad():
        for batch in tqdm(loader, desc="face-mesh landmarks", unit="batch"):
            pairs += len(batch["anchor"])
            for _ in range(variants):
                sample = {k: v.float() / 255 if k in IMAGE_KEYS else v.float() for k, v in batch.items()}
                geometric_augment(sample, augment, generator)
                view_camera_labels(sample)
                for key, suffix in (("anchor", "a"), ("query", "q")):
                    images = photometric_augment(sample[key], augment, generator)
                    sample[key], sample[f"presence_{suffix}"] = face_mesh(images)
                for key, value in sample.items():
                    dtype = np.float16 if key in IMAGE_KEYS else np.float32
                    columns.setdefault(key, []).append(value.numpy().astype(dtype))
            if limit is not None and pairs >= limit:
                break
    arrays = {key: np.concatenate(parts) for key, parts in columns.items()}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out_path, **arrays)
    return {"pairs": pairs, "samples": len(arrays["anchor"])}


def landmark_files(path: str | Path) -> tuple[Path, ...]:
    """The :func:`precompute_landmarks` files at ``path``: one ``.npz``, or every ``.npz`` of a folder."""
    path = Path(path)
    files = tuple(sorted(path.glob("*.npz"))) if path.is_dir() else (path,)
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"no landmark file at {path} (write one with `hpe synth landmarks`)")
    return files


def load_landmark_arrays(files: tuple[Path, ...]) -> dict[str, torch.Tensor]:
    """Every array of ``files`` concatenated, as float32 tensors; read once per process while the files are
    unchanged (the trainer takes the canonical cloud and the training stream from the same arrays)."""
    return _read_arrays(tuple((file, file.stat().st_mtime_ns) for file in files))


@lru_cache(maxsize=1)
def _read_arrays(versions: tuple[tuple[Path, int], ...]) -> dict[str, torch.Tensor]:
    parts: dict[str, list[np.ndarray]] = {}
    for file, _ in versions:
        with np.load(file) as data:
            if data["anchor"].shape[1:] != (FACE_MESH_LANDMARKS, 3):
                raise InputError(f"{file}: anchor landmarks have shape {list(data['anchor'].shape)}")
            for key in data.files:
                parts.setdefault(key, []).append(data[key].astype(np.float32))
    return {key: torch.from_numpy(np.concatenate(value)) for key, value in parts.items()}


def canonical_landmarks(arrays: dict[str, torch.Tensor]) -> torch.Tensor:
    """The head-frame landmark cloud [468, 3] of a landmark set (:func:`load_landmark_arrays`): every view the
    face mesh was confident about (presence logit > 0), turned back by its true rotation and averaged (the
    absolute-mode geometric seed)."""
    views = [
        (arrays[key], arrays[f"R_{s}"], arrays[f"presence_{s}"])
        for key, s in (("anchor", "a"), ("query", "q"))
    ]
    clouds = torch.cat([cloud[presence > 0] for cloud, _, presence in views])
    rotations = torch.cat([rotation[presence > 0] for _, rotation, presence in views])
    if len(clouds) == 0:
        raise InputError("no view of the landmark set has a confident face mesh (presence > 0)")
    return canonical_cloud(clouds, rotations)


class LandmarkPairs(IterableDataset):
    """Samples of :func:`precompute_landmarks` files (one ``.npz`` or a folder of them), reshuffled every
    epoch, endless, after ``skip``."""

    def __init__(self, path: str | Path, seed: int, skip: int = 0) -> None:
        self.arrays = load_landmark_arrays(landmark_files(path))
        self.seed, self.skip = seed, skip

    def __len__(self) -> int:
        return len(self.arrays["anchor"])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        def epochs() -> Iterator[dict[str, torch.Tensor]]:
            for epoch in itertools.count():
                order = torch.randperm(len(self), generator=torch.Generator().manual_seed(self.seed + epoch))
                for index in order.tolist():
                    yield {key: value[index] for key, value in self.arrays.items()}

        return itertools.islice(epochs(), self.skip, None)
