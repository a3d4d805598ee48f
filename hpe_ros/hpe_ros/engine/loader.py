"""``open_engine``: one call from a model file to a ready :class:`~hpe_ros.engine.base.PoseEngine`.

Model files: a checkpoint (``.safetensors``: torch directly; ONNX backends through a cached export) or an
exported ONNX (``x.onnx`` relative, with ``x.absolute.onnx``, ``x.anchor_tokens.onnx`` and
``x.relative_cached.onnx`` beside it for the other modes when present). TensorRT engines are cached (see
:mod:`hpe_ros.engine.cache`); ``engine_file_path`` names the relative engine, ``x.<mode>.engine`` beside it
the others. Parameter names follow isaac_ros_tensor_rt where they
mean the same.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hpe_ros.engine.base import (
    MODES,
    BackendUnavailableError,
    PoseEngine,
    choose_backend,
    detect_availability,
)
from hpe_ros.engine.cache import announce, drop_damaged, record_cached, sha256_file, write_atomic
from hpe_ros.engine.metadata import companion_path, config_dict, config_sha256
from hpe_ros.engine.runtime_graph import assemble, assembly_digest, landmark_head_path, read_landmark_heads
from hpe_ros.errors import ModelFileError
from hpe_ros.model.tflite_graph import face_mesh_tflite_path

DEFAULT_WORKSPACE = 2 << 30
DEFAULT_BATCH_PROFILE = (1, 4, 16)


def default_cache_dir() -> Path:
    """``$HPE_CACHE_DIR``, else ``~/.cache/hpe_ros``: exported ONNX files, TensorRT engines, timing cache."""
    return Path(os.environ.get("HPE_CACHE_DIR") or Path.home() / ".cache" / "hpe_ros")


def onnx_for_checkpoint(checkpoint: Path, cache_dir: Path) -> Path:
    """The cached ONNX family of a checkpoint (keyed by its sha256); return its relative-mode file.

    A face-mesh checkpoint with its landmark heads beside it is assembled without torch (about a second);
    any other is exported with torch once (the ``export`` extra). Files that are missing, or do not match
    their recorded hash, are (re)built; the first build prints a one-line notice.
    """
    from hpe_ros.model.checkpoint_header import read_checkpoint_header

    digest = sha256_file(checkpoint)
    config = read_checkpoint_header(checkpoint)[0]
    heads = read_landmark_heads(checkpoint, digest) if config.uses_landmarks else None
    onnx_dir = cache_dir / "onnx"
    if heads is not None:
        tflite = face_mesh_tflite_path()
        relative = onnx_dir / f"{checkpoint.stem}-{assembly_digest(digest, tflite)}.onnx"
        missing = [m for m in MODES if not drop_damaged(companion_path(relative, m))]
        if missing:
            announce(f"assembling the ONNX Runtime graphs of {checkpoint.name}", "2 s", onnx_dir)
        for mode in missing:
            path = companion_path(relative, mode)
            write_atomic(path, assemble(mode, heads, tflite).SerializeToString())
            record_cached(path)
        return relative
    return _exported_with_torch(checkpoint, config, digest, onnx_dir)


def _exported_with_torch(checkpoint: Path, config: Any, digest: str, onnx_dir: Path) -> Path:
    """Export (validated against torch) the modes of ``checkpoint`` that are not cached and intact."""
    from hpe_ros.engine.deploy import export_modes

    relative = onnx_dir / f"{checkpoint.stem}-{digest[:16]}.onnx"
    missing = [m for m in export_modes(config) if not drop_damaged(companion_path(relative, m))]
    if not missing:
        return relative
    if not detect_availability().onnx_export:
        raise BackendUnavailableError(
            f"{checkpoint} must be exported to ONNX once, which needs torch: pip install 'hpe_ros[export]' "
            "(or, for a face-mesh model, write its landmark heads: python -m hpe_ros.engine.landmark_head)"
        )
    from tqdm import tqdm

    from hpe_ros.engine.export import export_validated
    from hpe_ros.model import load_checkpoint

    announce(f"exporting {checkpoint.name} to ONNX with torch", f"{10 * len(missing)} s", onnx_dir)
    net, _config, _meta = load_checkpoint(checkpoint)
    for mode in tqdm(missing, desc="export", unit="mode"):
        path = companion_path(relative, mode)
        export_validated(net, config, path, mode, weights_source=f"sha256:{digest}")
        record_cached(path)
    return relative


def has_torch_free_graph(model_path: Path) -> bool:
    """Whether ONNX backends can run ``model_path`` without torch: an ONNX file, or a face-mesh checkpoint
    with its landmark heads beside it."""
    return model_path.suffix == ".onnx" or (
        model_path.suffix == ".safetensors"
        and companion_path(landmark_head_path(model_path), "absolute").is_file()
    )


def family_files(path: Path) -> list[Path]:
    """``path`` plus its other-mode sibling (``x.onnx`` / ``x.absolute.onnx``; same for engines) if any."""
    siblings = [companion_path(path, mode) for mode in MODES]
    return [path, *(p for p in siblings if p != path and p.is_file())]


def open_engine(
    model_file_path: str | Path,
    backend: str = "auto",
    engine_file_path: str | Path | None = None,
    force_engine_update: bool = False,
    enable_fp16: bool = True,
    max_workspace_size: int = DEFAULT_WORKSPACE,
    batch_profile: tuple[int, int, int] = DEFAULT_BATCH_PROFILE,
    timing_cache_path: str | Path | None = None,
    expected_config: Any = None,
    device: str | None = None,
    precision: str | None = None,
    compile_mode: str | None = None,
    intra_op_threads: int | None = None,
    cache_dir: str | Path | None = None,
) -> PoseEngine:
    """Open ``model_file_path`` with ``backend`` ("auto", "torch", "onnxruntime", "tensorrt").

    ``expected_config`` (a ModelConfig) makes a file of another config a ModelFileError. torch: ``device``
    (default cuda when available), ``precision`` (default fp16 on CUDA when ``enable_fp16``, else fp32),
    ``compile_mode``. onnxruntime: ``intra_op_threads`` (default: all cores). tensorrt: ``engine_file_path``,
    ``force_engine_update``, ``enable_fp16``, ``max_workspace_size``, ``batch_profile`` (min, opt, max),
    ``timing_cache_path``.
    """
    model_path = Path(model_file_path)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    is_onnx = model_path.suffix == ".onnx"
    name = choose_backend(backend, detect_availability(), is_onnx, has_torch_free_graph(model_path))
    if name == "tensorrt":
        return _open_tensorrt(
            model_path, engine_file_path, force_engine_update, enable_fp16, max_workspace_size, batch_profile,
            timing_cache_path, expected_config, cache,
        )  # fmt: skip
    if not model_path.is_file():
        raise ModelFileError(f"model file {model_path} does not exist")
    if name == "torch":
        import torch

        from hpe_ros.engine.torch_backend import TorchPoseEngine

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        precision = precision or ("fp16" if device.startswith("cuda") and enable_fp16 else "fp32")
        return TorchPoseEngine.from_checkpoint(
            model_path, expected_config, device=device, precision=precision, compile_mode=compile_mode
        )
    from hpe_ros.engine.onnxruntime_backend import OnnxRuntimePoseEngine

    onnx_path = model_path if is_onnx else onnx_for_checkpoint(model_path, cache)
    engine = OnnxRuntimePoseEngine(family_files(onnx_path), None, intra_op_threads)
    if expected_config is not None:
        engine.identity.require_config(expected_config, onnx_path)
    return engine


def _open_tensorrt(
    model_path: Path,
    engine_file_path: str | Path | None,
    force_engine_update: bool,
    enable_fp16: bool,
    max_workspace_size: int,
    batch_profile: tuple[int, int, int],
    timing_cache_path: str | Path | None,
    expected_config: Any,
    cache: Path,
) -> PoseEngine:
    from hpe_ros.engine.metadata import read_onnx_identity
    from hpe_ros.engine.tensorrt_backend import TensorRTBuildSettings, TensorRTPoseEngine, ensure_engine

    settings = TensorRTBuildSettings(
        enable_fp16=enable_fp16,
        max_workspace_size=max_workspace_size,
        batch_profile=tuple(batch_profile),
        timing_cache_path=Path(timing_cache_path) if timing_cache_path else cache / "tensorrt.timing_cache",
    )
    if model_path.is_file() and model_path.suffix != ".onnx":
        model_path = onnx_for_checkpoint(model_path, cache)
    expected_hash = config_sha256(config_dict(expected_config)) if expected_config is not None else None
    if model_path.is_file():
        engine_files = []
        for onnx_file in family_files(model_path):
            identity = read_onnx_identity(onnx_file)
            identity.require_pose_model(onnx_file)
            if expected_config is not None:
                identity.require_config(expected_config, onnx_file)
            if engine_file_path is not None:
                engine_file = companion_path(engine_file_path, identity.mode)
            else:
                digest = sha256_file(onnx_file)[:12]
                engine_file = cache / "engines" / f"{onnx_file.stem}-{digest}-{settings.precision}.engine"
            engine_files.append(
                ensure_engine(onnx_file, engine_file, settings, force_engine_update, expected_hash)
            )
    elif engine_file_path is not None and Path(engine_file_path).is_file():
        engine_files = [
            ensure_engine(None, engine_file, settings, force_engine_update, expected_hash)
            for engine_file in family_files(Path(engine_file_path))
        ]
    else:
        raise ModelFileError(f"neither the ONNX {model_path} nor an engine ({engine_file_path}) exists")
    return TensorRTPoseEngine(engine_files, settings)
