"""ONNX export (checker, opset, dynamic batch, metadata, ORT-vs-torch parity) and the engines' one API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from hpe_ros.cli import main as hpe_main
from hpe_ros.engine import (
    BackendAvailability,
    BackendUnavailableError,
    NonFiniteOutputError,
    choose_backend,
    detect_availability,
    open_engine,
)
from hpe_ros.engine.export import PARITY_TOLERANCE, check_parity, export_onnx, export_validated
from hpe_ros.engine.loader import onnx_for_checkpoint
from hpe_ros.engine.metadata import companion_path, read_onnx_identity
from hpe_ros.engine.onnxruntime_backend import OnnxRuntimePoseEngine
from hpe_ros.engine.torch_backend import TorchPoseEngine
from hpe_ros.errors import InputError, ModelFileError
from hpe_ros.model import CONFIGS, HeadPoseNet, save_checkpoint

# The smallest network with every part of the real one (one block pair, one refinement): fast to export.
MICRO = CONFIGS["tiny"].replace(
    name="micro", image_size=28, embed_dim=32, num_heads=2, depth=1, stem_channels=8,
    head_depth=1, head_num_heads=2, head_iterations=1,
)  # fmt: skip


@pytest.fixture(scope="module")
def net() -> HeadPoseNet:
    torch.manual_seed(0)
    return HeadPoseNet(MICRO).eval()


@pytest.fixture(scope="module")
def checkpoint(net: HeadPoseNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "micro.safetensors", net, MICRO, {"note": "test"}
    )


@pytest.fixture(scope="module")
def exported(checkpoint: Path) -> Path:
    """micro-<sha>.onnx (relative) and its .absolute.onnx, exported and parity-checked into the cache."""
    return onnx_for_checkpoint(checkpoint, checkpoint.parent / "cache")


def crops(batch: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random(
        (batch, 3, MICRO.image_size, MICRO.image_size), dtype=np.float32
    )


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_export_is_valid_onnx_with_dynamic_batch_and_identity(exported: Path, mode: str) -> None:
    path = companion_path(exported, mode)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    inputs = {i.name: i.type.tensor_type.shape.dim for i in model.graph.input}
    assert list(inputs) == (["anchor", "query"] if mode == "relative" else ["query"])
    for dims in inputs.values():
        assert dims[0].dim_param and not dims[0].dim_value  # symbolic batch
        assert [d.dim_value for d in dims[1:]] == [3, MICRO.image_size, MICRO.image_size]
    assert [o.name for o in model.graph.output] == ["rotation", "translation"]
    identity = read_onnx_identity(path)
    assert identity.mode == mode and identity.input_size == MICRO.image_size
    assert identity.config == MICRO.to_dict()


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_onnxruntime_matches_torch_at_batch_1_and_3(exported: Path, net: HeadPoseNet, mode: str) -> None:
    report = check_parity(companion_path(exported, mode), net, batch_sizes=(1, 3))
    assert report.passed, report
    assert report.tolerance == PARITY_TOLERANCE == 1e-4 and set(report.errors) == {"rotation", "translation"}


def test_external_weights_export_for_models_over_2gb(net: HeadPoseNet, tmp_path: Path) -> None:
    """VGGT-1B (4.5 GB in fp32) must keep its weights beside the graph; forced here on the micro model."""
    path = export_onnx(net, MICRO, tmp_path / "big.onnx", "absolute", external_data=True)
    weight_bytes = 4 * sum(p.numel() for p in net.parameters())
    assert (tmp_path / "big.onnx.data").stat().st_size > 0.9 * weight_bytes  # all but tiny tensors
    assert check_parity(path, net, batch_sizes=(2,)).passed
    assert read_onnx_identity(path).mode == "absolute"


def test_cached_anchor_modes_reproduce_the_pair(tmp_path: Path) -> None:
    """Anchor tokens embedded once, then paired with queries: same pose as the full pair, ORT and torch."""
    config = MICRO.replace(frame_only_depth=1)
    torch.manual_seed(0)
    cache_net = HeadPoseNet(config).eval()
    family = tmp_path / "cache.onnx"
    for mode in ("anchor_tokens", "relative_cached"):
        report = export_validated(cache_net, config, companion_path(family, mode), mode)
        assert report.passed and report.batch_sizes == (1, 3)
    ort_engine = open_engine(companion_path(family, "anchor_tokens"), backend="onnxruntime")
    assert ort_engine.modes == ("anchor_tokens", "relative_cached")
    torch_engine = TorchPoseEngine(cache_net, config.image_size)
    assert (
        ort_engine.token_shape == torch_engine.token_shape == (1 + 4 + 4, 32)
    )  # camera, registers, 2x2 grid
    anchors, queries = crops(3, seed=5), crops(3, seed=6)
    tokens = ort_engine.embed_anchors(anchors)
    expected = torch_engine.infer(anchors, queries)
    for engine in (ort_engine, torch_engine):
        rotation, translation = engine.infer_cached(tokens, queries)
        np.testing.assert_allclose(rotation, expected[0], atol=1e-4)
        np.testing.assert_allclose(translation, expected[1], atol=1e-4)
    with pytest.raises(InputError, match=r"anchor_tokens must be \[B, 9, 32\]"):
        ort_engine.infer_cached(tokens[:, :4], queries)
    with pytest.raises(InputError, match="no relative-mode model"):
        ort_engine.infer(anchors, queries)


def test_export_refuses_old_opset(net: HeadPoseNet, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="opset"):
        export_onnx(net, MICRO, tmp_path / "old.onnx", opset=13)


def test_backends_agree_and_keep_pairs_apart(exported: Path, net: HeadPoseNet) -> None:
    ort_engine = open_engine(exported, backend="onnxruntime", expected_config=MICRO)
    torch_engine = TorchPoseEngine(net, MICRO.image_size)
    assert ort_engine.modes == ("relative", "absolute") and ort_engine.input_size == MICRO.image_size
    anchor, query = crops(3, seed=1), crops(3, seed=2)
    rotation, translation = ort_engine.infer(anchor, query)
    assert rotation.shape == (3, 3, 3) and translation.shape == (3, 3) and rotation.dtype == np.float32
    np.testing.assert_allclose(rotation, torch_engine.infer(anchor, query)[0], atol=1e-4)
    # Batched pairs are independent: pair 1 alone gives the same answer as inside the batch.
    np.testing.assert_allclose(ort_engine.infer(anchor[1:2], query[1:2])[0], rotation[1:2], atol=1e-5)
    np.testing.assert_allclose(
        ort_engine.infer_absolute(query)[1], torch_engine.infer_absolute(query)[1], atol=1e-4
    )
    np.testing.assert_allclose(
        rotation @ rotation.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-4
    )
    description = ort_engine.describe()
    assert description["backend"] == "onnxruntime" and description["precision"] == "fp32"
    assert description["onnxruntime"] and description["device"]


def test_bad_inputs_raise_input_errors(exported: Path) -> None:
    engine = OnnxRuntimePoseEngine([companion_path(exported, "absolute")])
    with pytest.raises(InputError, match="no relative-mode model"):
        engine.infer(crops(1), crops(1))
    with pytest.raises(InputError, match=r"\[B, 3, 28, 28\]"):
        engine.infer_absolute(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(InputError, match="dtype"):
        engine.infer_absolute(np.zeros((1, 3, 28, 28), np.uint8))
    with pytest.raises(ModelFileError, match="two absolute-mode ONNX files"):
        OnnxRuntimePoseEngine([companion_path(exported, "absolute")] * 2)


def test_non_finite_outputs_are_reported() -> None:
    broken = HeadPoseNet(MICRO).eval()
    with torch.no_grad():
        next(broken.camera_head.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteOutputError, match="NaN/Inf") as error:
        TorchPoseEngine(broken, MICRO.image_size).infer(crops(2), crops(2))
    assert error.value.bad_rows == [0, 1] and error.value.outputs[0].shape == (2, 3, 3)


def test_corrupt_and_foreign_onnx_files_are_model_file_errors(exported: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(exported.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="cannot load"):
        open_engine(truncated, backend="onnxruntime")
    with pytest.raises(ModelFileError, match="not a readable ONNX"):
        read_onnx_identity(truncated)
    foreign = onnx.load(str(exported))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    with pytest.raises(ModelFileError, match="not an hpe_ros pose model export"):
        open_engine(tmp_path / "foreign.onnx", backend="onnxruntime")
    with pytest.raises(ModelFileError, match="does not exist"):
        open_engine(tmp_path / "missing.onnx", backend="onnxruntime")


def test_onnx_of_another_config_is_refused(exported: Path) -> None:
    with pytest.raises(ModelFileError, match=r"another model config \(embed_dim: file 32 vs expected 48"):
        open_engine(exported, backend="onnxruntime", expected_config=MICRO.replace(embed_dim=48))


def test_checkpoint_opens_with_torch_and_is_exported_once_for_onnxruntime(
    checkpoint: Path, exported: Path
) -> None:
    torch_engine = open_engine(checkpoint, backend="torch", expected_config=MICRO)
    assert torch_engine.backend_name == "torch" and torch_engine.describe()["device"] == "cpu"
    with pytest.raises(ModelFileError, match="another model config"):
        open_engine(checkpoint, backend="torch", expected_config=MICRO.replace(depth=2))
    stamp = exported.stat().st_mtime_ns
    ort_engine = open_engine(checkpoint, backend="onnxruntime", cache_dir=checkpoint.parent / "cache")
    assert exported.stat().st_mtime_ns == stamp  # the fixture's export is reused, not redone
    assert read_onnx_identity(exported).weights_source.startswith("sha256:")
    anchor, query = crops(2, 3), crops(2, 4)
    expected = torch_engine.infer(anchor, query)[0]
    np.testing.assert_allclose(ort_engine.infer(anchor, query)[0], expected, atol=1e-4)


AVAILABILITY = {
    name: BackendAvailability(*flags)  # tensorrt, torch, torch_cuda, onnxruntime, onnx_export
    for name, flags in {
        "cpu box": (False, True, False, True, True),
        "gpu box": (False, True, True, True, True),
        "trt box": (True, True, True, True, True),
        "ort only": (False, False, False, True, False),
        "torch only": (False, True, False, False, False),
        "no exporter": (False, True, False, True, False),
    }.items()
}


@pytest.mark.parametrize(
    ("machine", "model_is_onnx", "expected"),
    [
        ("cpu box", False, "onnxruntime"),
        ("cpu box", True, "onnxruntime"),
        ("gpu box", False, "torch"),
        ("gpu box", True, "onnxruntime"),
        ("trt box", False, "tensorrt"),
        ("trt box", True, "tensorrt"),
        ("ort only", True, "onnxruntime"),
        ("torch only", False, "torch"),
        ("no exporter", False, "torch"),
        ("no exporter", True, "onnxruntime"),
    ],
)
def test_auto_backend_preference(machine: str, model_is_onnx: bool, expected: str) -> None:
    assert choose_backend("auto", AVAILABILITY[machine], model_is_onnx) == expected


def test_explicit_backend_override_and_errors() -> None:
    assert choose_backend("torch", AVAILABILITY["trt box"], model_is_onnx=False) == "torch"
    with pytest.raises(BackendUnavailableError, match="needs a checkpoint"):
        choose_backend("torch", AVAILABILITY["cpu box"], model_is_onnx=True)
    with pytest.raises(BackendUnavailableError, match=r"hpe_ros\[trt\].*JetPack"):
        choose_backend("tensorrt", AVAILABILITY["cpu box"], model_is_onnx=True)
    with pytest.raises(BackendUnavailableError, match="no inference backend"):
        choose_backend("auto", AVAILABILITY["ort only"], model_is_onnx=False)
    with pytest.raises(BackendUnavailableError, match=r"hpe_ros\[export\]"):
        choose_backend("onnxruntime", AVAILABILITY["no exporter"], model_is_onnx=False)
    with pytest.raises(InputError, match="unknown backend"):
        choose_backend("openvino", AVAILABILITY["cpu box"], model_is_onnx=True)


def test_this_machine_picks_what_it_has(exported: Path) -> None:
    available = detect_availability()
    expected = "tensorrt" if available.tensorrt else "onnxruntime"
    assert open_engine(exported).backend_name == expected
    if not available.tensorrt:
        with pytest.raises(BackendUnavailableError, match=r"pip install 'hpe_ros\[trt\]'"):
            open_engine(exported, backend="tensorrt")


def test_build_engine_cli_without_tensorrt_says_how_to_install(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if detect_availability().tensorrt:
        pytest.skip("TensorRT is installed here: the missing-TensorRT message cannot be shown")
    assert hpe_main(["build-engine", "--onnx", str(exported)]) == 2
    assert "hpe build-engine: error: TensorRT is not installed" in capsys.readouterr().err


def test_export_cli_reports_a_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.safetensors"
    assert hpe_main(["export", "--model", str(missing), "--out", str(tmp_path / "m.onnx")]) == 2
    assert f"hpe export: error: checkpoint {missing} does not exist" in capsys.readouterr().err
