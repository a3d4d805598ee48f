"""TensorRT engine cache: keys, corrupt/stale detection, rebuild-or-refuse (no TensorRT needed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hpe_ros.engine.base import detect_availability
from hpe_ros.engine.cache import (
    EngineCacheKey,
    EngineState,
    inspect_engine,
    must_build,
    sha256_file,
    sidecar_path,
    write_engine,
)
from hpe_ros.engine.tensorrt_backend import TensorRTBuildSettings, expected_key
from hpe_ros.errors import ModelFileError

KEY = EngineCacheKey(
    onnx_sha256="a" * 64,
    config_sha256="c" * 64,
    tensorrt_version="10.3.0",
    gpu_name="NVIDIA H200",
    compute_capability="9.0",
    precision="fp16",
    batch_profile=(1, 4, 16),
)
ENGINE_BYTES = b"serialized-engine-bytes" * 100


@pytest.fixture()
def engine(tmp_path: Path) -> Path:
    path = tmp_path / "engines" / "model.engine"
    write_engine(path, ENGINE_BYTES, KEY)
    return path


def test_fresh_engine_is_valid_and_its_sidecar_holds_the_key(engine: Path) -> None:
    assert engine.read_bytes() == ENGINE_BYTES
    record = json.loads(sidecar_path(engine).read_text())
    assert record["key"]["gpu_name"] == "NVIDIA H200" and record["engine_sha256"] == sha256_file(engine)
    assert inspect_engine(engine, KEY).state is EngineState.VALID


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"onnx_sha256": "b" * 64}, "onnx_sha256"),
        ({"config_sha256": "d" * 64}, "config_sha256"),
        ({"tensorrt_version": "10.4.0"}, "tensorrt_version"),
        ({"gpu_name": "Orin"}, "gpu_name"),
        ({"compute_capability": "8.7"}, "compute_capability"),
        ({"precision": "fp32"}, "precision"),
        ({"batch_profile": (1, 8, 32)}, "batch_profile"),
    ],
)
def test_any_key_change_makes_the_engine_stale(engine: Path, change: dict, field: str) -> None:
    check = inspect_engine(engine, dataclasses.replace(KEY, **change))
    assert check.state is EngineState.STALE and field in check.reason


def test_unknown_hashes_are_not_compared(engine: Path) -> None:
    """Without the ONNX (or an expected config) the engine is judged on TensorRT, GPU and build settings."""
    assert inspect_engine(engine, dataclasses.replace(KEY, onnx_sha256=None, config_sha256=None)).state is (
        EngineState.VALID
    )


def test_truncated_engine_or_damaged_sidecar_is_corrupt(engine: Path) -> None:
    engine.write_bytes(ENGINE_BYTES[:100])
    assert inspect_engine(engine, KEY).state is EngineState.CORRUPT
    write_engine(engine, ENGINE_BYTES, KEY)
    sidecar_path(engine).write_text("{not json")
    assert inspect_engine(engine, KEY).state is EngineState.CORRUPT
    sidecar_path(engine).unlink()
    assert inspect_engine(engine, KEY).state is EngineState.CORRUPT


def test_missing_engine(tmp_path: Path) -> None:
    assert inspect_engine(tmp_path / "none.engine", KEY).state is EngineState.MISSING


def test_rebuild_decisions(engine: Path, tmp_path: Path) -> None:
    valid = inspect_engine(engine, KEY)
    stale = inspect_engine(engine, dataclasses.replace(KEY, tensorrt_version="11.0"))
    missing = inspect_engine(tmp_path / "none.engine", KEY)
    assert not must_build(valid, onnx_present=True, force_engine_update=False)
    assert not must_build(valid, onnx_present=False, force_engine_update=False)
    assert must_build(valid, onnx_present=True, force_engine_update=True)
    assert must_build(stale, onnx_present=True, force_engine_update=False)
    assert must_build(missing, onnx_present=True, force_engine_update=False)
    with pytest.raises(ModelFileError, match=r"tensorrt_version.*no ONNX model to rebuild"):
        must_build(stale, onnx_present=False, force_engine_update=False)
    with pytest.raises(ModelFileError, match="no engine at"):
        must_build(missing, onnx_present=False, force_engine_update=False)
    with pytest.raises(ModelFileError, match="force_engine_update"):
        must_build(valid, onnx_present=False, force_engine_update=True)


def test_expected_key_hashes_the_onnx_when_present(tmp_path: Path) -> None:
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"onnx bytes")
    settings = TensorRTBuildSettings(enable_fp16=False, batch_profile=(1, 2, 8))
    key = expected_key(onnx_file, None, settings, "10.3.0", ("NVIDIA H200", "9.0"))
    assert (
        key.onnx_sha256 == sha256_file(onnx_file)
        and key.precision == "fp32"
        and key.batch_profile == (1, 2, 8)
    )
    assert expected_key(tmp_path / "absent.onnx", None, settings, "10.3.0", ("x", "9.0")).onnx_sha256 is None


def test_tensorrt_build_and_run_round_trip(tmp_path: Path) -> None:
    if not detect_availability().tensorrt:
        pytest.skip("TensorRT with a CUDA GPU is not available on this machine (it cannot be installed here)")
    import numpy as np
    import torch

    from hpe_ros.engine.export import export_onnx
    from hpe_ros.engine.tensorrt_backend import TensorRTPoseEngine, ensure_engine
    from hpe_ros.model import CONFIGS, HeadPoseNet

    config = CONFIGS["tiny"]
    net = HeadPoseNet(config).eval()
    onnx_file = export_onnx(net, config, tmp_path / "tiny.onnx")
    settings = TensorRTBuildSettings(enable_fp16=False, timing_cache_path=tmp_path / "timing.cache")
    engine_file = ensure_engine(onnx_file, tmp_path / "tiny.engine", settings)
    assert (tmp_path / "timing.cache").is_file()
    crops = np.random.default_rng(0).random((3, 3, config.image_size, config.image_size), dtype=np.float32)
    rotation, _ = TensorRTPoseEngine([engine_file], settings).infer(crops, crops[::-1].copy())
    with torch.inference_mode():
        expected = net.predict_pose(torch.from_numpy(np.stack([crops, crops[::-1]], 1)))[0][:, 1]
    np.testing.assert_allclose(rotation, expected.numpy(), atol=2e-2)  # TensorRT uses TF32 by default
