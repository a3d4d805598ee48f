"""The one inference interface every backend implements, its input checks and the automatic backend choice.

Conventions shared by all backends: images are float32 RGB in [0, 1], shape ``[B, 3, H, W]`` with ``H == W ==
input_size``; outputs are numpy float32 ``R[B, 3, 3]`` and ``t[B, 3]``. In relative mode the pose is the
transform query←anchor (T_q←a); in absolute mode it is the query frame's own pose. Cached anchors: an anchor's
per-frame tokens ``[B, P, D]`` (:meth:`PoseEngine.embed_anchors`) can be kept and paired with new queries
(:meth:`PoseEngine.infer_cached`), which skips the anchor's per-frame blocks (``frame_only_depth``). A
non-finite output (an fp16 overflow, a broken engine) raises :class:`NonFiniteOutputError` naming the bad
rows, never returns silently.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hpe_ros.errors import HpeError, InputError

Mode = Literal["relative", "absolute", "anchor_tokens", "relative_cached"]
MODES: tuple[Mode, ...] = ("relative", "absolute", "anchor_tokens", "relative_cached")
BACKENDS = ("torch", "onnxruntime", "tensorrt")
TENSORRT_INSTALL_HINT = (
    "TensorRT is not installed or has no CUDA GPU here: on x86 + NVIDIA GPU `pip install 'hpe_ros[trt]'`; "
    "on Jetson use the TensorRT Python bindings that come with JetPack (python3-libnvinfer); "
    "or pick backend='onnxruntime' or backend='torch'"
)


class BackendUnavailableError(HpeError):
    """The requested backend (or the device it needs) is not available on this machine."""


class NonFiniteOutputError(HpeError):
    """The engine returned NaN or Inf: ``bad_rows`` lists the batch rows affected; ``outputs`` holds the
    whole result (``(R, t)``, or ``(tokens,)``), so a caller may keep the finite rows."""

    def __init__(self, message: str, bad_rows: list[int], outputs: tuple[np.ndarray, ...]):
        super().__init__(message)
        self.bad_rows = bad_rows
        self.outputs = outputs


class PoseEngine(ABC):
    """Batched pose inference behind one API; subclasses implement :meth:`_run` for the modes they hold."""

    backend_name: str
    precision: str

    def __init__(self, input_size: int, modes: tuple[Mode, ...], token_shape: tuple[int, int] | None = None):
        self.input_size = int(input_size)
        self.modes = tuple(modes)
        self.token_shape = token_shape  # (P, D) of anchor tokens, None without the cached-anchor modes

    def infer(self, anchor: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Relative pose query←anchor of each pair: ``(R[B,3,3], t[B,3])`` float32."""
        anchor = self._checked_images(anchor, "anchor")
        query = self._checked_images(query, "query")
        self._check_batches(anchor, query)
        return self._checked_outputs(self._run_mode("relative", anchor, query))

    def infer_absolute(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Absolute pose of each single frame: ``(R[B,3,3], t[B,3])`` float32."""
        return self._checked_outputs(self._run_mode("absolute", self._checked_images(query, "query")))

    def embed_anchors(self, anchor: np.ndarray) -> np.ndarray:
        """Per-frame tokens ``[B, P, D]`` float32 of anchor crops, to keep for :meth:`infer_cached`."""
        (tokens,) = self._checked_outputs(
            self._run_mode("anchor_tokens", self._checked_images(anchor, "anchor"))
        )
        return tokens

    def infer_cached(self, anchor_tokens: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`infer` with the anchors given by their :meth:`embed_anchors` tokens (same result)."""
        tokens = np.ascontiguousarray(anchor_tokens, dtype=np.float32)
        if tokens.ndim != 3 or tokens.shape[1:] != self.token_shape:
            expected = ", ".join(map(str, self.token_shape or ("P", "D")))
            raise InputError(f"anchor_tokens must be [B, {expected}], got shape {list(tokens.shape)}")
        query = self._checked_images(query, "query")
        self._check_batches(tokens, query)
        return self._checked_outputs(self._run_mode("relative_cached", tokens, query))

    def describe(self) -> dict[str, Any]:
        """Backend, precision, modes, input size, library versions and device, for logs and /diagnostics."""
        return {
            "backend": self.backend_name,
            "precision": self.precision,
            "modes": list(self.modes),
            "input_size": self.input_size,
            **self._describe_runtime(),
        }

    @abstractmethod
    def _run(self, mode: Mode, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run ``mode`` on checked float32 inputs; return its outputs (``R, t`` or ``tokens``) in order."""

    @abstractmethod
    def _describe_runtime(self) -> dict[str, Any]:
        """Versions and device of the runtime behind this engine."""

    @staticmethod
    def _check_batches(first: np.ndarray, second: np.ndarray) -> None:
        if first.shape[0] != second.shape[0]:
            raise InputError(f"anchor batch {first.shape[0]} != query batch {second.shape[0]}")

    def _run_mode(self, mode: Mode, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        if mode not in self.modes:
            raise InputError(
                f"this {self.backend_name} engine has no {mode}-mode model "
                f"(it holds: {', '.join(self.modes)}); "
                f"export one with `hpe export --mode {mode}`"
            )
        return self._run(mode, *inputs)

    def _checked_images(self, images: Any, name: str) -> np.ndarray:
        array = np.asarray(images)
        size = self.input_size
        if array.ndim != 4 or array.shape[1] != 3 or array.shape[2:] != (size, size) or array.shape[0] < 1:
            raise InputError(
                f"{name} must be [B, 3, {size}, {size}] with B >= 1, got shape {list(array.shape)}"
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise InputError(f"{name} must be float RGB in [0, 1], got dtype {array.dtype}")
        return np.ascontiguousarray(array, dtype=np.float32)

    def _checked_outputs(self, outputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        outputs = tuple(np.asarray(out, dtype=np.float32) for out in outputs)
        finite = np.logical_and.reduce(
            [np.isfinite(out.reshape(len(out), -1)).all(axis=1) for out in outputs]
        )
        if not finite.all():
            bad_rows = np.flatnonzero(~finite).tolist()
            raise NonFiniteOutputError(
                f"{self.backend_name} ({self.precision}) returned NaN/Inf for batch rows {bad_rows}",
                bad_rows,
                outputs,
            )
        return outputs


@dataclass(frozen=True)
class BackendAvailability:
    """What this machine can run; :func:`detect_availability` fills it, tests may build it by hand."""

    tensorrt: bool
    torch: bool
    torch_cuda: bool
    onnxruntime: bool
    onnx_export: bool  # torch + onnx + onnxscript: a checkpoint can become ONNX (for ORT/TensorRT)


def detect_availability() -> BackendAvailability:
    """Probe the installed runtimes (imports TensorRT/torch only when their packages exist)."""
    has_torch = importlib.util.find_spec("torch") is not None
    torch_cuda = False
    if has_torch:
        try:
            import torch
        except ImportError:  # a broken or blocked install counts as none
            has_torch = False
        else:
            torch_cuda = torch.cuda.is_available()
    return BackendAvailability(
        tensorrt=torch_cuda and _tensorrt_importable(),
        torch=has_torch,
        torch_cuda=torch_cuda,
        onnxruntime=importlib.util.find_spec("onnxruntime") is not None,
        onnx_export=has_torch and all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript")),
    )


def _tensorrt_importable() -> bool:
    try:
        import tensorrt  # noqa: F401
    except Exception:  # the PyPI stub raises at import time when the real wheel is missing
        return False
    return True


def choose_backend(
    requested: str, available: BackendAvailability, model_is_onnx: bool, torch_free_graph: bool = False
) -> str:
    """Pick the backend: an explicit request is checked, ``auto`` prefers TensorRT > torch CUDA > ORT > torch
    CPU.

    An ONNX model file cannot feed the torch backend; a checkpoint feeds ONNX backends through a graph
    assembled without torch (``torch_free_graph``: a face-mesh checkpoint with its landmark heads beside it)
    or an export (which needs torch, onnx and onnxscript: ``pip install 'hpe_ros[export]'``).
    """
    if requested not in ("auto", *BACKENDS):
        raise InputError(f"unknown backend {requested!r}; choose auto, {', '.join(BACKENDS)}")
    has_graph = model_is_onnx or torch_free_graph or available.onnx_export
    usable = {
        "tensorrt": available.tensorrt and has_graph,
        "torch": available.torch and not model_is_onnx,
        "onnxruntime": available.onnxruntime and has_graph,
    }
    if requested != "auto":
        if usable[requested]:
            return requested
        if requested == "tensorrt":
            raise BackendUnavailableError(TENSORRT_INSTALL_HINT)
        if requested == "torch" and model_is_onnx:
            raise BackendUnavailableError(
                "the torch backend needs a checkpoint (.safetensors), not an ONNX file"
            )
        raise BackendUnavailableError(
            f"backend {requested!r} is not installed, or cannot read this model file (a checkpoint needs "
            "the ONNX exporter for it: pip install 'hpe_ros[export]')"
        )
    if usable["tensorrt"]:
        return "tensorrt"
    if usable["torch"] and available.torch_cuda:
        return "torch"
    if usable["onnxruntime"]:
        return "onnxruntime"
    if usable["torch"]:
        return "torch"
    raise BackendUnavailableError("no inference backend is installed: pip install onnxruntime (or torch)")
