"""TensorRT 10 backend: build an FP16 engine from an exported ONNX, cache it, run it on CUDA.

Thin on purpose, written against the TensorRT 10 Python API (Builder, OnnxParser, IOptimizationProfile,
BuilderConfig.set_memory_pool_limit, timing cache, Runtime.deserialize_cuda_engine, set_tensor_address +
execute_async_v3). Device buffers are torch CUDA tensors, so no pycuda / cuda-python is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpe_ros.engine.base import MODES, TENSORRT_INSTALL_HINT, BackendUnavailableError, Mode, PoseEngine
from hpe_ros.engine.cache import (
    EngineCacheKey,
    announce,
    inspect_engine,
    must_build,
    sha256_file,
    write_atomic,
    write_engine,
)
from hpe_ros.engine.metadata import INPUT_NAMES, OUTPUT_NAMES, read_onnx_identity
from hpe_ros.errors import HpeError, ModelFileError


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or BackendUnavailableError with the install hint."""
    try:
        import tensorrt
    except Exception as error:  # ImportError, or the PyPI download stub failing at import
        raise BackendUnavailableError(f"{TENSORRT_INSTALL_HINT} ({type(error).__name__}: {error})") from error
    return tensorrt


def current_gpu() -> tuple[str, str]:
    """Name and compute capability ("9.0") of the current CUDA device."""
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailableError(f"no CUDA GPU is visible. {TENSORRT_INSTALL_HINT}")
    device = torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(device)
    return torch.cuda.get_device_name(device), f"{major}.{minor}"


@dataclass(frozen=True)
class TensorRTBuildSettings:
    """Engine build options (names as in isaac_ros_tensor_rt where they mean the same)."""

    enable_fp16: bool = True
    max_workspace_size: int = 2 << 30
    batch_profile: tuple[int, int, int] = (1, 4, 16)
    timing_cache_path: Path | None = None

    @property
    def precision(self) -> str:
        return "fp16" if self.enable_fp16 else "fp32"


def expected_key(
    onnx_path: Path | None,
    config_sha256: str | None,
    settings: TensorRTBuildSettings,
    tensorrt_version: str,
    gpu: tuple[str, str],
) -> EngineCacheKey:
    """The cache key an engine for ``onnx_path`` (None/missing: not compared) must carry here."""
    return EngineCacheKey(
        onnx_sha256=sha256_file(onnx_path) if onnx_path is not None and onnx_path.is_file() else None,
        config_sha256=config_sha256,
        tensorrt_version=tensorrt_version,
        gpu_name=gpu[0],
        compute_capability=gpu[1],
        precision=settings.precision,
        batch_profile=tuple(settings.batch_profile),
    )


def build_engine(onnx_path: Path, engine_path: Path, settings: TensorRTBuildSettings) -> None:
    """Parse ``onnx_path``, build an engine with a batch profile, write it with its cache sidecar."""
    from rich.console import Console

    trt = import_tensorrt()
    config_hash = read_onnx_identity(onnx_path).config_sha256
    key = expected_key(onnx_path, config_hash, settings, trt.__version__, current_gpu())
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelFileError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.max_workspace_size))
    if settings.enable_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    low, opt, high = settings.batch_profile
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        per_item = tuple(tensor.shape)[1:]
        profile.set_shape(tensor.name, (low, *per_item), (opt, *per_item), (high, *per_item))
    config.add_optimization_profile(profile)
    cache_file = settings.timing_cache_path
    cached = cache_file.read_bytes() if cache_file is not None and cache_file.is_file() else b""
    timing_cache = config.create_timing_cache(cached)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)
    announce(
        f"building a TensorRT {settings.precision} engine from {onnx_path.name}",
        "1-5 min",
        engine_path.parent,
    )
    with Console(stderr=True).status(f"building TensorRT {settings.precision} engine from {onnx_path.name}"):
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelFileError(
            f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)"
        )
    if cache_file is not None:
        write_atomic(cache_file, bytes(config.get_timing_cache().serialize()))
    write_engine(engine_path, bytes(serialized), key)


def ensure_engine(
    onnx_path: Path | None,
    engine_path: Path,
    settings: TensorRTBuildSettings,
    force_engine_update: bool = False,
    config_sha256: str | None = None,
) -> Path:
    """Return a valid engine at ``engine_path``, (re)building it from the ONNX when stale, corrupt or forced.

    ``config_sha256`` (of the expected model config) is checked against the engine's record when given.
    """
    trt = import_tensorrt()
    onnx_present = onnx_path is not None and onnx_path.is_file()
    key = expected_key(onnx_path, config_sha256, settings, trt.__version__, current_gpu())
    check = inspect_engine(engine_path, key)
    if must_build(check, onnx_present, force_engine_update):
        build_engine(onnx_path, engine_path, settings)
    return engine_path


class TensorRTPoseEngine(PoseEngine):
    """Runs one deserialized engine per mode; batches larger than the profile maximum are split."""

    backend_name = "tensorrt"

    def __init__(self, engine_paths: Sequence[str | Path], settings: TensorRTBuildSettings):
        import torch

        trt = self._trt = import_tensorrt()
        self.precision = settings.precision
        self._max_batch = settings.batch_profile[2]
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engines: dict[Mode, tuple[Any, Any]] = {}
        for path in engine_paths:
            engine = self._runtime.deserialize_cuda_engine(Path(path).read_bytes())
            if engine is None:
                raise ModelFileError(
                    f"TensorRT could not deserialize {path} (corrupt, or built by another version)"
                )
            names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
            inputs = {n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT}
            mode = next((m for m in MODES if inputs == set(INPUT_NAMES[m])), None)
            if mode is None or mode in self._engines:
                raise ModelFileError(f"{path}: unexpected inputs {sorted(inputs)} or a second {mode} engine")
            self._engines[mode] = (engine, engine.create_execution_context())
        input_sizes = {
            int(engine.get_tensor_shape(INPUT_NAMES[mode][-1])[-1])  # query or anchor [batch, 3, H, W]
            for mode, (engine, _) in self._engines.items()
        }
        if len(input_sizes) != 1:
            raise ModelFileError(f"the engines {[str(p) for p in engine_paths]} have different input sizes")
        token_shape = None
        if "relative_cached" in self._engines:
            token_shape = tuple(self._engines["relative_cached"][0].get_tensor_shape("anchor_tokens"))[1:]
        super().__init__(input_sizes.pop(), tuple(m for m in MODES if m in self._engines), token_shape)
        self._torch = torch
        self._device = torch.device("cuda", torch.cuda.current_device())

    def _run(self, mode: Mode, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        chunks = [
            self._run_chunk(mode, *(array[start : start + self._max_batch] for array in inputs))
            for start in range(0, inputs[0].shape[0], self._max_batch)
        ]
        return tuple(np.concatenate(parts) for parts in zip(*chunks, strict=True))

    def _run_chunk(self, mode: Mode, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        torch, trt = self._torch, self._trt
        engine, context = self._engines[mode]
        stream = torch.cuda.current_stream(self._device)
        inputs = [torch.from_numpy(array).to(self._device, non_blocking=True) for array in arrays]
        for name, tensor in zip(INPUT_NAMES[mode], inputs, strict=True):
            context.set_input_shape(name, tuple(tensor.shape))
            context.set_tensor_address(name, tensor.data_ptr())
        outputs = []
        for name in OUTPUT_NAMES[mode]:
            dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
            output = torch.empty(tuple(context.get_tensor_shape(name)), dtype=dtype, device=self._device)
            context.set_tensor_address(name, output.data_ptr())
            outputs.append(output)
        if not context.execute_async_v3(stream.cuda_stream):
            raise HpeError(f"TensorRT execution failed ({mode} engine)")
        stream.synchronize()
        return tuple(output.float().cpu().numpy() for output in outputs)

    def _describe_runtime(self) -> dict[str, Any]:
        name, capability = current_gpu()
        return {"tensorrt": self._trt.__version__, "device": f"cuda ({name}, sm {capability})"}
