"""ONNX Runtime backend: CPU everywhere, the CUDA execution provider where onnxruntime-gpu is installed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpe_ros.engine.base import MODES, Mode, PoseEngine
from hpe_ros.engine.metadata import INPUT_NAMES, OUTPUT_NAMES, OnnxIdentity
from hpe_ros.errors import ModelFileError


def open_session(path: Path, providers: list[str] | None = None, intra_op_threads: int | None = None) -> Any:
    """An ORT session on ``path`` (CUDA EP first when available), threads = core count by default."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise ModelFileError(f"ONNX model {path} does not exist")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads or os.cpu_count() or 1
    if providers is None:
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
        raise ModelFileError(
            f"ONNX Runtime cannot load {path} (corrupt or not an ONNX model?): {error}"
        ) from error


def session_identity(session: Any, path: Path) -> OnnxIdentity:
    """The hpe_ros metadata of a loaded session's model."""
    return OnnxIdentity.from_props(session.get_modelmeta().custom_metadata_map, path)


class OnnxRuntimePoseEngine(PoseEngine):
    """One ORT session per exported file; each file's metadata says its mode."""

    backend_name = "onnxruntime"
    precision = "fp32"

    def __init__(
        self,
        paths: Sequence[str | Path],
        providers: list[str] | None = None,
        intra_op_threads: int | None = None,
    ):
        sessions: dict[Mode, Any] = {}
        identities: dict[Mode, OnnxIdentity] = {}
        for path in map(Path, paths):
            session = open_session(path, providers, intra_op_threads)
            identity = session_identity(session, path)
            identity.require_pose_model(path)
            if identity.mode in sessions:
                raise ModelFileError(f"two {identity.mode}-mode ONNX files given: {[str(p) for p in paths]}")
            sessions[identity.mode], identities[identity.mode] = session, identity
        if len({(i.config_sha256, i.input_size) for i in identities.values()}) != 1:
            raise ModelFileError(f"the ONNX files {[str(p) for p in paths]} come from different models")
        self.identity = next(iter(identities.values()))
        token_shape = None
        if "relative_cached" in sessions:
            tokens_input = sessions["relative_cached"].get_inputs()[0]  # anchor_tokens [batch, P, D]
            token_shape = tuple(tokens_input.shape[1:])
        super().__init__(self.identity.input_size, tuple(m for m in MODES if m in sessions), token_shape)
        self._sessions = sessions

    def _run(self, mode: Mode, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        feeds = dict(zip(INPUT_NAMES[mode], inputs, strict=True))
        return tuple(self._sessions[mode].run(list(OUTPUT_NAMES[mode]), feeds))

    def _describe_runtime(self) -> dict[str, Any]:
        import onnxruntime as ort

        session = next(iter(self._sessions.values()))
        options = session.get_session_options()
        return {
            "onnxruntime": ort.__version__,
            "device": ",".join(session.get_providers()),
            "intra_op_threads": options.intra_op_num_threads,
            "config_sha256": self.identity.config_sha256[:12],
        }
