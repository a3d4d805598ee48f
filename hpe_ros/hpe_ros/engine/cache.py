"""The model cache (``$HPE_CACHE_DIR``): atomic writes, recorded hashes checked on load, the one-line notice
before a one-time step that fills it, and for TensorRT engines the key an engine was built under and the
load/build decision.

Cached ONNX files (exports, assembled graphs) get a sidecar ``<file>.json`` with the sha256 of the file (and
of its external-data file); a file that does not match its record (a write cut short by power loss, a full
disk, a killed process) is rebuilt with a warning instead of failing every later run.

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
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from hpe_ros.errors import ModelFileError

SIDECAR_SUFFIX = ".json"
log = logging.getLogger(__name__)


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


def announce(step: str, estimate: str, where: Path) -> None:
    """One line on stderr before a one-time step (an export, a graph assembly, an engine build), so a first
    run never stalls silently."""
    print(f"hpe_ros: {step} (one time, about {estimate}; cached in {where})", file=sys.stderr, flush=True)


def cached_files(path: Path) -> list[Path]:
    """A cached model file and its external-data file when it has one."""
    data = path.with_name(path.name + ".data")
    return [path, data] if data.is_file() else [path]


def record_cached(path: Path) -> None:
    """Write the sidecar holding the sha256 of a freshly written cache file (and of its external data)."""
    record = {"sha256": {p.name: sha256_file(p) for p in cached_files(path)}}
    write_atomic(sidecar_path(path), json.dumps(record, indent=2).encode())


def cached_problem(path: Path) -> str | None:
    """Why the cached file at ``path`` cannot be trusted (``None``: present and matching its record)."""
    if not path.is_file():
        return f"{path} is missing"
    try:
        recorded = json.loads(sidecar_path(path).read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"the hash record of {path} is missing or unreadable ({error})"
    for part in cached_files(path):
        if recorded.get(part.name) != sha256_file(part):
            return f"{part} does not match its recorded sha256 (truncated or damaged)"
    return None


def drop_damaged(path: Path) -> bool:
    """True when ``path`` holds a valid cached file; else remove what is there (warning when something was)
    and return False, so the caller rebuilds it."""
    problem = cached_problem(path)
    if problem is None:
        return True
    if path.exists() or sidecar_path(path).exists():
        log.warning("hpe_ros: %s; rebuilding it", problem)
        for part in [*cached_files(path), sidecar_path(path)]:
            part.unlink(missing_ok=True)
    return False


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
