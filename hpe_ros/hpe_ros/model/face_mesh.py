"""MediaPipe's face-landmark network (FaceMesh, Apache-2.0) as a frozen PyTorch module, built from the
``face_landmark.tflite`` file inside the ``mediapipe==0.10.14`` wheel.

This is the sim-to-real lever of the ``mesh`` config (DESIGN.md §4): a network trained on real faces turns a
crop into 468 3-D landmarks, and our VGGT-style aggregator attends over tokens pooled from those landmarks
instead of image patches. The weights are never stored in our checkpoints: they are read from the installed
wheel each time a model is built, so an exported ONNX (and a TensorRT engine built from it) holds the whole
pipeline.

The graph holds only CONV_2D, DEPTHWISE_CONV_2D, PRELU, ADD, MAX_POOL_2D, PAD and DEQUANTIZE (fp16 weights);
each is replayed here in NCHW with TensorFlow's SAME padding. Input: RGB in [0, 1], 192 × 192 (the crop is
the face box enlarged by ~1.5–1.7, as MediaPipe frames it). Output: landmarks [N, 468, 3] in input pixels
(x right, y down; z depth relative to the face centre, in the same pixel scale, smaller = nearer) and the
face-presence logit [N].
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpe_ros.errors import InputError, ModelFileError
from hpe_ros.model.config import FACE_MESH_INPUT_SIZE, FACE_MESH_LANDMARKS

_SAME, _VALID = 0, 1  # tflite.Padding


def face_mesh_tflite_path() -> Path:
    """The ``face_landmark.tflite`` of the installed mediapipe wheel (ModelFileError when absent)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise ModelFileError("the face-mesh configs need mediapipe==0.10.14 (pip install 'hpe_ros[torch]')")
    path = Path(spec.origin).parent / "modules" / "face_landmark" / "face_landmark.tflite"
    if not path.is_file():
        raise ModelFileError(
            f"{path} is missing: this mediapipe wheel does not carry the face-landmark model"
        )
    return path


@dataclass(frozen=True)
class _Op:
    kind: str
    inputs: tuple[int, ...]
    output: int
    stride: int = 1
    padding: int = _SAME
    pool: int = 0
    pads: tuple[int, ...] = ()  # PAD: NHWC (before, after) pairs, as Python ints (static for export)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) of one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@lru_cache(maxsize=1)
def _read_graph(path: str) -> tuple[list[_Op], dict[int, np.ndarray], int, list[int]]:
    """Operators, constant tensors (dequantised to float32), the input tensor and the output tensors."""
    import tflite

    try:
        model = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
        graph = model.Subgraphs(0)
        outputs = [int(j) for j in graph.OutputsAsNumpy()]
        landmark_shape = graph.Tensors(outputs[0]).ShapeAsNumpy().tolist()
    except Exception as exc:  # flatbuffers raises many types on foreign bytes
        raise ModelFileError(f"{path} is not a readable TensorFlow Lite model: {exc!r}") from exc
    if len(outputs) != 2 or landmark_shape[-1] != 3 * FACE_MESH_LANDMARKS:
        raise ModelFileError(f"{path} is not MediaPipe's face-landmark model (outputs {landmark_shape})")
    names = {code: name for name, code in vars(tflite.BuiltinOperator).items() if not name.startswith("_")}

    def constant(index: int) -> np.ndarray:
        tensor = graph.Tensors(index)
        raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
        dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}.get(
            tensor.Type(), np.int32
        )
        return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(tensor.ShapeAsNumpy())

    ops: list[_Op] = []
    constants: dict[int, np.ndarray] = {}
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        inputs, output = tuple(int(j) for j in op.InputsAsNumpy()), int(op.Outputs(0))
        options = op.BuiltinOptions()
        if kind == "DEQUANTIZE":
            constants[output] = constant(inputs[0]).astype(np.float32)
            continue
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D"):
            parsed = {
                "CONV_2D": tflite.Conv2DOptions,
                "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
                "MAX_POOL_2D": tflite.Pool2DOptions,
            }[kind]()
            parsed.Init(options.Bytes, options.Pos)
            if parsed.FusedActivationFunction() != 0:
                raise ModelFileError(f"{path}: fused activations are not supported ({kind})")
            pool = parsed.FilterHeight() if kind == "MAX_POOL_2D" else 0
            ops.append(_Op(kind, inputs, output, parsed.StrideH(), parsed.Padding(), pool))
        elif kind == "PAD":
            ops.append(_Op(kind, inputs, output, pads=tuple(int(v) for v in constant(inputs[1]).reshape(-1))))
        elif kind in ("PRELU", "ADD"):
            ops.append(_Op(kind, inputs, output))
        else:
            raise ModelFileError(f"{path}: operator {kind} is not supported by the face-mesh port")
    return ops, constants, int(graph.Inputs(0)), outputs


class FaceMesh(nn.Module):
    """Frozen FaceMesh: images [N, 3, 192, 192] RGB in [0, 1] -> (landmarks [N, 468, 3] px, presence [N])."""

    def __init__(self, tflite_path: str | Path | None = None) -> None:
        super().__init__()
        ops, constants, self._input, outputs = _read_graph(str(tflite_path or face_mesh_tflite_path()))
        self._ops = ops
        self._landmark_output, self._presence_output = outputs
        self._weights: dict[int, str] = {}
        for index, value in constants.items():
            name = f"c{index}"
            weight = torch.tensor(self._to_nchw(index, value, ops))  # a factory: follows torch.device(...)
            self.register_buffer(name, weight, persistent=False)
            self._weights[index] = name
        self.requires_grad_(False)

    @staticmethod
    def _to_nchw(index: int, value: np.ndarray, ops: list[_Op]) -> np.ndarray:
        """Conv kernels OHWI -> OIHW, depthwise 1HWC -> C1HW, PReLU alpha [1,1,C] -> [C]."""
        for op in ops:
            if op.kind == "CONV_2D" and op.inputs[1] == index:
                return np.ascontiguousarray(value.transpose(0, 3, 1, 2))
            if op.kind == "DEPTHWISE_CONV_2D" and op.inputs[1] == index:
                return np.ascontiguousarray(value.transpose(3, 0, 1, 2))
            if op.kind == "PRELU" and op.inputs[1] == index:
                return value.reshape(-1).copy()
        return np.ascontiguousarray(value)

    def _const(self, index: int) -> Tensor:
        return getattr(self, self._weights[index])

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        if images.dim() != 4 or images.shape[1:] != (3, FACE_MESH_INPUT_SIZE, FACE_MESH_INPUT_SIZE):
            size = FACE_MESH_INPUT_SIZE
            raise InputError(f"the face mesh takes images [N, 3, {size}, {size}], got {list(images.shape)}")
        values: dict[int, Tensor] = {self._input: images.float()}
        for op in self._ops:
            x = values[op.inputs[0]]
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                weight, bias = self._const(op.inputs[1]), self._const(op.inputs[2])
                x = self._pad_same(x, weight.shape[-1], op)
                groups = x.shape[1] if op.kind == "DEPTHWISE_CONV_2D" else 1
                x = F.conv2d(x, weight, bias, stride=op.stride, groups=groups)
            elif op.kind == "PRELU":
                x = F.prelu(x, self._const(op.inputs[1]))
            elif op.kind == "ADD":
                x = x + values[op.inputs[1]]
            elif op.kind == "MAX_POOL_2D":
                x = F.max_pool2d(self._pad_same(x, op.pool, op), op.pool, op.stride)
            else:  # PAD: NHWC paddings (n0, n1, h0, h1, w0, w1, c0, c1)
                _, _, h0, h1, w0, w1, c0, c1 = op.pads
                x = F.pad(x, (w0, w1, h0, h1, c0, c1))
            values[op.output] = x
        landmarks = values[self._landmark_output].reshape(-1, FACE_MESH_LANDMARKS, 3)
        return landmarks, values[self._presence_output].reshape(-1)

    @staticmethod
    def _pad_same(x: Tensor, kernel: int, op: _Op) -> Tensor:
        if op.padding == _VALID:
            return x
        top, bottom = _same_padding(x.shape[2], kernel, op.stride)
        left, right = _same_padding(x.shape[3], kernel, op.stride)
        return F.pad(x, (left, right, top, bottom)) if top or bottom or left or right else x
