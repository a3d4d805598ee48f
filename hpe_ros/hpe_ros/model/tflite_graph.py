"""MediaPipe's face-landmark network (``face_landmark.tflite`` in the ``mediapipe==0.10.14`` wheel) read as
a list of operators and constant tensors, without torch: the one reader behind both the PyTorch replay
(:mod:`hpe_ros.model.face_mesh`) and the ONNX emitter (:mod:`hpe_ros.engine.tflite_onnx`).

The graph holds only CONV_2D, DEPTHWISE_CONV_2D, PRELU, ADD, MAX_POOL_2D, PAD and DEQUANTIZE (fp16 weights);
tensors are NHWC in the file. Anything else is refused as a ModelFileError.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from hpe_ros.errors import ModelFileError
from hpe_ros.model.config import FACE_MESH_LANDMARKS

SAME, VALID = 0, 1  # tflite.Padding


def face_mesh_tflite_path() -> Path:
    """The ``face_landmark.tflite`` of the installed mediapipe wheel (ModelFileError when absent)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise ModelFileError("the face-mesh configs need mediapipe==0.10.14 (pip install mediapipe==0.10.14)")
    path = Path(spec.origin).parent / "modules" / "face_landmark" / "face_landmark.tflite"
    if not path.is_file():
        raise ModelFileError(
            f"{path} is missing: this mediapipe wheel does not carry the face-landmark model"
        )
    return path


@dataclass(frozen=True)
class TfliteOp:
    kind: str
    inputs: tuple[int, ...]
    output: int
    stride: int = 1
    padding: int = SAME
    pool: int = 0
    pads: tuple[int, ...] = ()  # PAD: NHWC (before, after) pairs, as Python ints (static for export)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) of one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@lru_cache(maxsize=1)
def read_graph(path: str) -> tuple[list[TfliteOp], dict[int, np.ndarray], int, list[int]]:
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

    ops: list[TfliteOp] = []
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
            ops.append(TfliteOp(kind, inputs, output, parsed.StrideH(), parsed.Padding(), pool))
        elif kind == "PAD":
            ops.append(
                TfliteOp(kind, inputs, output, pads=tuple(int(v) for v in constant(inputs[1]).reshape(-1)))
            )
        elif kind in ("PRELU", "ADD"):
            ops.append(TfliteOp(kind, inputs, output))
        else:
            raise ModelFileError(f"{path}: operator {kind} is not supported by the face-mesh port")
    return ops, constants, int(graph.Inputs(0)), outputs


def to_nchw(index: int, value: np.ndarray, ops: list[TfliteOp]) -> np.ndarray:
    """A constant in the NCHW layout of the op that reads it: conv kernels OHWI -> OIHW, depthwise 1HWC ->
    C1HW, PReLU alpha [1,1,C] -> [C]; any other constant as it is."""
    for op in ops:
        if op.kind == "CONV_2D" and op.inputs[1] == index:
            return np.ascontiguousarray(value.transpose(0, 3, 1, 2))
        if op.kind == "DEPTHWISE_CONV_2D" and op.inputs[1] == index:
            return np.ascontiguousarray(value.transpose(3, 0, 1, 2))
        if op.kind == "PRELU" and op.inputs[1] == index:
            return value.reshape(-1).copy()
    return np.ascontiguousarray(value)
