"""TensorRT engine cache: the key an engine was built under, kept in a JSON sidecar, and the load/build
decision.

An engine is only valid for the ONNX it came from, the TensorRT version that built it, the GPU (name and
compute capability) and the build settings (precision, batch profile). The sidecar ``<engine>.json`` stores
that key and the engine's own sha256, so a truncated or corrupt engine is caught before TensorRT sees it. A
stale or corrupt engine is rebuilt when the ONNX is present; without the ONNX it is a
:class:`~hpe_ros.errors.ModelFileError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from hpe_ros.errors import ModelFileError

SIDECAR_SUFFIX = ".json"


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, so readers never see half a
    file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


@dataclass(frozen=True)
class EngineCacheKey:
    """Everything a serialized engine depends on; a ``None`` hash in an expected key means "unknown, not
    compared" (the ONNX is absent; no config was asked for)."""

    onnx_sha256: str | None
    config_sha256: str | None
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    batch_profile: tuple[int, int, int]

    def differences(self, stored: EngineCacheKey) -> list[str]:
        """Human-readable fields where ``stored`` differs from this (expected) key."""
        changed = []
        for field in dataclasses.fields(self):
            expected, found = getattr(self, field.name), getattr(stored, field.name)
            if expected is None:
                continue
            if expected != found:
                changed.append(f"{field.name}: engine has {found!r}, expected {expected!r}")
        return changed


class EngineState(Enum):
    """What :func:`inspect_engine` found on disk."""

    VALID = "valid"
    MISSING = "missing"
    CORRUPT = "corrupt"
    STALE = "stale"


@dataclass(frozen=True)
class EngineCheck:
    state: EngineState
    reason: str


def sidecar_path(engine_path: Path) -> Path:
    """The JSON file that holds an engine's cache key."""
    return engine_path.with_name(engine_path.name + SIDECAR_SUFFIX)


def write_engine(engine_path: Path, engine_bytes: bytes, key: EngineCacheKey) -> None:
    """Store a serialized engine and its sidecar (engine first: a sidecar always describes a whole engine)."""
    write_atomic(engine_path, engine_bytes)
    record = {"key": dataclasses.asdict(key), "engine_sha256": hashlib.sha256(engine_bytes).hexdigest()}
    write_atomic(sidecar_path(engine_path), json.dumps(record, indent=2).encode())


def inspect_engine(engine_path: Path, expected: EngineCacheKey) -> EngineCheck:
    """Classify the engine at ``engine_path`` against the ``expected`` key without deserializing it."""
    if not engine_path.is_file():
        return EngineCheck(EngineState.MISSING, f"no engine at {engine_path}")
    try:
        record = json.loads(sidecar_path(engine_path).read_text())
        key_fields = dict(record["key"])
        key_fields["batch_profile"] = tuple(key_fields["batch_profile"])
        stored = EngineCacheKey(**key_fields)
        stored_sha = str(record["engine_sha256"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return EngineCheck(
            EngineState.CORRUPT, f"engine cache record {sidecar_path(engine_path)} unreadable: {error}"
        )
    if sha256_file(engine_path) != stored_sha:
        return EngineCheck(EngineState.CORRUPT, f"engine {engine_path} does not match its recorded sha256")
    if changed := expected.differences(stored):
        return EngineCheck(
            EngineState.STALE, f"engine {engine_path} was built for another setup: {'; '.join(changed)}"
        )
    return EngineCheck(EngineState.VALID, f"engine {engine_path} matches")


def must_build(check: EngineCheck, onnx_present: bool, force_engine_update: bool) -> bool:
    """True to (re)build from the ONNX, False to load; raise when a build is needed but the ONNX is absent."""
    if check.state is EngineState.VALID and not force_engine_update:
        return False
    if onnx_present:
        return True
    why = "force_engine_update was requested" if check.state is EngineState.VALID else check.reason
    raise ModelFileError(
        f"cannot use the TensorRT engine ({why}) and there is no ONNX model to rebuild it from"
    )
