"""The header of an hpe_ros checkpoint (a safetensors file): its model config and free-form metadata, read
without torch (the runtime reads it to pick the model's graph; :mod:`hpe_ros.model.checkpoint` loads weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from hpe_ros.errors import ModelFileError
from hpe_ros.model.config import ModelConfig

FORMAT = "hpe_ros.HeadPoseNet/1"


def read_checkpoint_header(path: str | Path) -> tuple[ModelConfig, dict[str, Any]]:
    """The config and metadata of a checkpoint without loading its weights."""
    metadata = open_checkpoint(path, lambda f: f.metadata(), framework="numpy")
    return parse_metadata(path, metadata)


def open_checkpoint(path: str | Path, read: Any, framework: str = "pt") -> Any:
    """``read(handle)`` on the open safetensors file; ModelFileError when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework=framework, device="cpu") as f:
            return read(f)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"checkpoint {path} is not a readable safetensors file: {exc}") from exc


def parse_metadata(path: str | Path, metadata: dict[str, str] | None) -> tuple[ModelConfig, dict[str, Any]]:
    if not metadata or metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is a safetensors file but not an hpe_ros checkpoint (no {FORMAT} header)"
        )
    try:
        config, meta = json.loads(metadata["config"]), json.loads(metadata.get("meta", "{}"))
    except (KeyError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"checkpoint {path} has a corrupt header: {exc}") from exc
    return ModelConfig.from_dict(config), meta
