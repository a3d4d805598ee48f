"""What an exported ONNX file says about itself: mode, model config (+ hash), input size, weights origin.

Stored as ONNX ``metadata_props`` under ``hpe_ros.*`` keys at export, read back by the engine loaders so that
an ONNX built for another config, another mode or by another tool is refused with a clear message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpe_ros.engine.base import MODES, Mode
from hpe_ros.errors import ModelFileError

PREFIX = "hpe_ros."
FORMAT_VERSION = "1"
POSE_OUTPUTS = ("rotation", "translation")
INPUT_NAMES: dict[str, tuple[str, ...]] = {
    "relative": ("anchor", "query"),
    "absolute": ("query",),
    "anchor_tokens": ("anchor",),
    "relative_cached": ("anchor_tokens", "query"),
}
# A landmark head (the part of a face-mesh config after the face mesh, shipped beside its checkpoint) takes
# the landmarks as its tokens.
LANDMARK_HEAD_INPUTS: dict[str, tuple[str, ...]] = {
    "relative": ("anchor_tokens", "query_tokens"),
    "absolute": ("query_tokens",),
}
POSE_MODEL, LANDMARK_HEAD = "pose_model", "landmark_head"
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "relative": POSE_OUTPUTS,
    "absolute": POSE_OUTPUTS,
    "anchor_tokens": ("tokens",),
    "relative_cached": POSE_OUTPUTS,
}


def config_dict(config: Any) -> dict[str, Any]:
    """A model config as a plain JSON-able dict (dataclass fields, tuples as lists)."""
    fields = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(vars(config))
    return json.loads(json.dumps(fields, default=str))


def config_sha256(config: Mapping[str, Any]) -> str:
    """Hash of a config dict, independent of key order."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def require_config(found: Mapping[str, Any], expected: Any, source: str | Path) -> None:
    """Raise ModelFileError naming the fields where config ``expected`` differs from dict ``found``."""
    wanted = config_dict(expected)
    if config_sha256(wanted) == config_sha256(found):
        return
    changed = sorted(k for k in wanted.keys() | found.keys() if wanted.get(k) != found.get(k))
    details = ", ".join(f"{k}: file {found.get(k)!r} vs expected {wanted.get(k)!r}" for k in changed)
    raise ModelFileError(f"{source} was made for another model config ({details})")


@dataclass(frozen=True)
class OnnxIdentity:
    """The ``hpe_ros.*`` metadata of an exported pose model, or (``part`` = ``landmark_head``) of the part of
    one that follows the face mesh."""

    mode: Mode
    config: dict[str, Any]
    input_size: int
    weights_source: str
    part: str = POSE_MODEL

    @property
    def config_sha256(self) -> str:
        return config_sha256(self.config)

    def to_props(self) -> dict[str, str]:
        """The metadata_props entries to write into the ONNX file."""
        return {
            f"{PREFIX}format": FORMAT_VERSION,
            f"{PREFIX}mode": self.mode,
            f"{PREFIX}config": json.dumps(self.config, sort_keys=True),
            f"{PREFIX}config_sha256": self.config_sha256,
            f"{PREFIX}input_size": str(self.input_size),
            f"{PREFIX}weights_source": self.weights_source,
            f"{PREFIX}part": self.part,
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str | Path) -> OnnxIdentity:
        """Parse metadata_props; raise ModelFileError when they are missing, inconsistent or of another
        format."""
        if props.get(f"{PREFIX}format") != FORMAT_VERSION:
            raise ModelFileError(
                f"{source} is not an hpe_ros pose model export "
                f"(no hpe_ros.format={FORMAT_VERSION} metadata); "
                "re-export it with `hpe export`"
            )
        try:
            identity = cls(
                mode=props[f"{PREFIX}mode"],  # type: ignore[arg-type]
                config=json.loads(props[f"{PREFIX}config"]),
                input_size=int(props[f"{PREFIX}input_size"]),
                weights_source=props.get(f"{PREFIX}weights_source", "unknown"),
                part=props.get(f"{PREFIX}part", POSE_MODEL),
            )
            stored_hash = props[f"{PREFIX}config_sha256"]
        except (KeyError, ValueError) as error:
            raise ModelFileError(f"{source}: hpe_ros metadata is damaged ({error!r})") from error
        if identity.mode not in MODES or stored_hash != identity.config_sha256:
            raise ModelFileError(f"{source}: hpe_ros metadata is inconsistent (mode or config hash)")
        if identity.part not in (POSE_MODEL, LANDMARK_HEAD):
            raise ModelFileError(f"{source}: unknown hpe_ros model part {identity.part!r}")
        return identity

    def require_pose_model(self, source: str | Path) -> None:
        """Raise ModelFileError for a landmark head, which takes landmarks, not images."""
        if self.part != POSE_MODEL:
            raise ModelFileError(
                f"{source} is the landmark head of a face-mesh model, not a whole pose model: "
                "open the .safetensors checkpoint beside it (its graph is assembled from both)"
            )

    def require_config(self, expected: Any, source: str | Path) -> None:
        """Raise ModelFileError when ``expected`` (a model config) is not this file's config."""
        require_config(self.config, expected, source)


def read_onnx_identity(path: str | Path) -> OnnxIdentity:
    """Read an ONNX file's metadata with the ``onnx`` package (external weight files are not loaded)."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"ONNX model {path} does not exist")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as error:
        raise ModelFileError(
            f"{path} is not a readable ONNX file (corrupt or truncated?): {error}"
        ) from error
    return OnnxIdentity.from_props({p.key: p.value for p in model.metadata_props}, path)


def companion_path(path: str | Path, mode: Mode) -> Path:
    """The file holding ``mode`` in the family of ``path``: ``x.onnx`` (relative), ``x.absolute.onnx``,
    ``x.anchor_tokens.onnx``, ``x.relative_cached.onnx`` (same for engines)."""
    path = Path(path)
    stem = path.name.removesuffix(path.suffix)
    for other in MODES:
        stem = stem.removesuffix(f".{other}")
    return path.with_name(f"{stem}{'' if mode == 'relative' else f'.{mode}'}{path.suffix}")
