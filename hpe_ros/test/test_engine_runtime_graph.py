"""The torch-free runtime: the face mesh emitted as ONNX from the mediapipe wheel, the landmark heads shipped
beside the embedded model, their assembly, and the model cache that heals itself."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hpe_ros.engine import open_engine
from hpe_ros.engine.cache import sha256_file, sidecar_path
from hpe_ros.engine.deploy import deploy_module
from hpe_ros.engine.loader import onnx_for_checkpoint
from hpe_ros.engine.metadata import companion_path, read_onnx_identity
from hpe_ros.engine.runtime_graph import assemble, landmark_head_path, read_landmark_heads
from hpe_ros.engine.tflite_onnx import face_mesh_model
from hpe_ros.errors import ModelFileError
from hpe_ros.model import HeadPoseNet, get_config, load_checkpoint, save_checkpoint
from hpe_ros.model.default import default_model_path
from hpe_ros.model.tflite_graph import face_mesh_tflite_path

# Two 192-px crops of the demo clip and what TensorFlow Lite computed for them (see test_model_face_mesh).
GOLDEN = Path(__file__).parent / "data" / "face_mesh_golden.npz"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        return dict(data)


@pytest.fixture(scope="module")
def crops(golden: dict[str, np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(golden["crops"].transpose(0, 3, 1, 2), dtype=np.float32) / 255


def session(model) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_emitted_face_mesh_reproduces_tensorflow_lite(golden, crops) -> None:
    landmarks, presence = session(face_mesh_model(presence_output="presence")).run(None, {"images": crops})
    np.testing.assert_allclose(landmarks, golden["landmarks"], atol=2e-3)
    np.testing.assert_allclose(presence, golden["presence"], atol=2e-3)
    pair = session(face_mesh_model(inputs=("anchor", "query"), landmark_outputs=("a", "q")))
    anchor, query = pair.run(None, {"anchor": crops[:1], "query": crops[1:]})
    np.testing.assert_allclose(np.concatenate([anchor, query]), landmarks, atol=1e-3)


def test_shipped_landmark_heads_are_in_sync_with_the_embedded_model(golden) -> None:
    """Fails when default.safetensors changed without `python -m hpe_ros.engine.landmark_head` rerun."""
    checkpoint = default_model_path()
    heads = read_landmark_heads(checkpoint, sha256_file(checkpoint))
    assert heads is not None, f"no landmark heads beside {checkpoint}"
    net = load_checkpoint(checkpoint)[0]
    landmarks = golden["landmarks"]
    feeds = {
        "relative": {"anchor_tokens": landmarks[[0, 1]], "query_tokens": landmarks[[1, 0]]},
        "absolute": {"query_tokens": landmarks},
    }
    for mode, model in heads.items():
        matrices = [i for i in model.graph.initializer if len(i.dims) == 2 and np.prod(i.dims) >= 64]
        stored = {i.data_type for i in matrices}  # the weight matrices
        assert stored == {onnx.TensorProto.FLOAT16}, f"{mode} head: weights not stored in fp16"
        got = session(model).run(None, feeds[mode])
        with torch.no_grad():
            expected = deploy_module(net, mode)(*map(torch.from_numpy, feeds[mode].values()))
        for array, tensor in zip(got, expected, strict=True):
            np.testing.assert_allclose(array, tensor.numpy(), atol=1e-5)


@pytest.mark.parametrize("mode", ["relative", "absolute", "anchor_tokens", "relative_cached"])
def test_assembled_graph_matches_the_torch_path_on_demo_crops(crops, mode: str) -> None:
    checkpoint = default_model_path()
    heads = read_landmark_heads(checkpoint, sha256_file(checkpoint))
    net = load_checkpoint(checkpoint)[0]
    anchor, query = crops[[0, 1]], crops[[1, 0]]
    with torch.no_grad():
        tokens = deploy_module(net, "anchor_tokens")(torch.from_numpy(anchor)).numpy()
    inputs = {
        "relative": (anchor, query),
        "absolute": (query,),
        "anchor_tokens": (anchor,),
        "relative_cached": (tokens, query),
    }[mode]
    graph = session(assemble(mode, heads, face_mesh_tflite_path()))
    got = graph.run(None, {i.name: x for i, x in zip(graph.get_inputs(), inputs, strict=True)})
    with torch.no_grad():
        expected = deploy_module(net, mode)(*map(torch.from_numpy, inputs))
    expected = expected if isinstance(expected, tuple) else (expected,)
    tolerance = 2e-3 if mode == "anchor_tokens" else 1e-4  # landmarks in pixels, rotations unitless
    for array, tensor in zip(got, expected, strict=True):
        np.testing.assert_allclose(array, tensor.numpy(), atol=tolerance)


BLOCK_TORCH = """
import importlib.abc, importlib.machinery, sys

class Blocked(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(f"{spec.name} is blocked: the runtime must not need it")

class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnxscript"):
            return importlib.machinery.ModuleSpec(name, Blocked())
        return None

sys.meta_path.insert(0, Finder())
import numpy as np
from hpe_ros.engine import open_engine
engine = open_engine("default", backend="auto", cache_dir=sys.argv[1])
query = np.load(sys.argv[2])
rotation, _ = engine.infer_absolute(query)
np.save(sys.argv[3], rotation)
print(engine.backend_name, "torch" in sys.modules)
"""


def test_embedded_model_runs_on_onnxruntime_without_torch(crops, tmp_path: Path) -> None:
    np.save(tmp_path / "query.npy", crops)
    script = BLOCK_TORCH.replace('"default"', repr(str(default_model_path())))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(tmp_path / "cache"),
            str(tmp_path / "query.npy"),
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["onnxruntime", "False"]
    assert "one time" in result.stderr  # the first-run notice
    net = load_checkpoint(default_model_path())[0]
    with torch.no_grad():
        expected = deploy_module(net, "absolute")(torch.from_numpy(crops))[0].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "r.npy"), expected, atol=1e-4)


def test_truncated_cached_graph_is_rebuilt_with_a_warning(crops, tmp_path: Path, caplog) -> None:
    checkpoint = default_model_path()
    relative = onnx_for_checkpoint(checkpoint, tmp_path)
    assert "+ face_landmark.tflite" in read_onnx_identity(relative).weights_source
    absolute = companion_path(relative, "absolute")
    intact = absolute.read_bytes()
    absolute.write_bytes(intact[: len(intact) // 2])  # an assembly cut short
    with caplog.at_level(logging.WARNING, logger="hpe_ros.engine.cache"):
        engine = open_engine(checkpoint, backend="onnxruntime", cache_dir=tmp_path)
    assert "does not match its recorded sha256" in caplog.text and "rebuilding" in caplog.text
    assert absolute.read_bytes() == intact
    assert engine.infer_absolute(crops)[0].shape == (2, 3, 3)
    sidecar_path(relative).unlink()  # a lost record is distrusted too
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hpe_ros.engine.cache"):
        onnx_for_checkpoint(checkpoint, tmp_path)
    assert "hash record" in caplog.text and sidecar_path(relative).is_file()


def test_landmark_heads_of_other_weights_are_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    other = save_checkpoint(
        tmp_path / "other.safetensors", HeadPoseNet(get_config("mesh")), get_config("mesh"), {}
    )
    for mode in ("relative", "absolute"):
        shipped = companion_path(landmark_head_path(default_model_path()), mode)
        shutil.copy(shipped, companion_path(landmark_head_path(other), mode))
    with pytest.raises(ModelFileError, match=r"other weights.*python -m hpe_ros\.engine\.landmark_head"):
        open_engine(other, backend="onnxruntime", cache_dir=tmp_path / "cache")


def test_a_landmark_head_is_not_a_pose_model() -> None:
    with pytest.raises(ModelFileError, match="landmark head"):
        open_engine(landmark_head_path(default_model_path()), backend="onnxruntime")
