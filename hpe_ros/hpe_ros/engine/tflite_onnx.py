"""MediaPipe's face-landmark network as ONNX, emitted from the ``face_landmark.tflite`` flatbuffer in the
``mediapipe==0.10.14`` wheel with the ``onnx`` helper API: no torch, no TensorFlow.

Hand-written on purpose: no maintained converter on the package registries turns a ``.tflite`` into ONNX
without TensorFlow (tf2onnx reads TFLite through a TensorFlow install), and this graph needs only seven
operator types, which :mod:`hpe_ros.model.tflite_graph` reads and :mod:`hpe_ros.model.face_mesh` replays in
PyTorch with the same semantics (NCHW, TensorFlow SAME padding). Tested against that replay and against
TensorFlow Lite's own output (``test/data/face_mesh_golden.npz``).

Input ``[N, 3, 192, 192]`` RGB in [0, 1] (or a pair ``anchor``, ``query`` run as one batch of 2N);
output landmarks ``[N, 468, 3]`` in crop pixels, optionally the face-presence logit ``[N]``. The
third-party weights go into the graph at run time; they are never stored in our files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hpe_ros.model.config import FACE_MESH_INPUT_SIZE, FACE_MESH_LANDMARKS
from hpe_ros.model.tflite_graph import (
    SAME,
    TfliteOp,
    face_mesh_tflite_path,
    read_graph,
    same_padding,
    to_nchw,
)

PREFIX = "face_mesh/"  # every internal name, so a merge with another graph never collides
BATCH = "batch"


def _needed(ops: list[TfliteOp], outputs: list[int]) -> list[TfliteOp]:
    """The ops the given output tensors depend on, in graph order."""
    producers = {op.output: op for op in ops}
    wanted, stack = set(), list(outputs)
    while stack:
        op = producers.get(stack.pop())
        if op is not None and op.output not in wanted:
            wanted.add(op.output)
            stack.extend(op.inputs)
    return [op for op in ops if op.output in wanted]


def _same_pads(height: int, width: int, kernel: int, op: TfliteOp) -> list[int]:
    """ONNX pads [top, left, bottom, right] of TensorFlow SAME (or none for VALID)."""
    if op.padding != SAME:
        return [0, 0, 0, 0]
    top, bottom = same_padding(height, kernel, op.stride)
    left, right = same_padding(width, kernel, op.stride)
    return [top, left, bottom, right]


def face_mesh_graph(
    tflite_path: str | Path | None = None,
    inputs: tuple[str, ...] = ("images",),
    landmark_outputs: tuple[str, ...] = ("landmarks",),
    presence_output: str | None = None,
) -> onnx.GraphProto:
    """The face mesh as an ONNX graph. One input: ``landmark_outputs`` has one name. Two inputs (a pair):
    they are concatenated along the batch, run once, and the landmarks split back into two outputs."""
    if len(inputs) != len(landmark_outputs) or len(inputs) not in (1, 2):
        raise ValueError("give one input and one landmark output, or two of each (a pair)")
    ops, constants, input_index, (landmark_index, presence_index) = read_graph(
        str(tflite_path or face_mesh_tflite_path())
    )
    wanted = [landmark_index] + ([presence_index] if presence_output else [])
    ops = _needed(ops, wanted)
    used = {i for op in ops for i in op.inputs}

    def name(index: int) -> str:
        return f"{PREFIX}t{index}"

    nodes: list[onnx.NodeProto] = []
    initializers = []
    for index, value in constants.items():
        if index not in used:
            continue
        value = to_nchw(index, value, ops)
        if any(op.kind == "PRELU" and op.inputs[1] == index for op in ops):
            value = value.reshape(-1, 1, 1)  # PRelu slope broadcast over [N, C, H, W]
        initializers.append(numpy_helper.from_array(value.astype(np.float32), name(index)))

    size = FACE_MESH_INPUT_SIZE
    if len(inputs) == 2:
        nodes.append(helper.make_node("Concat", list(inputs), [name(input_index)], axis=0))
    else:
        nodes.append(helper.make_node("Identity", [inputs[0]], [name(input_index)]))
    shapes: dict[int, tuple[int, int, int]] = {input_index: (3, size, size)}  # (C, H, W) per tensor
    for op in ops:
        x, out = op.inputs[0], op.output
        channels, height, width = shapes[x]
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D"):
            if op.kind == "MAX_POOL_2D":
                kernel, out_channels = op.pool, channels
                attrs = {"kernel_shape": [kernel, kernel]}
                onnx_op, args = "MaxPool", [name(x)]
            else:
                weight = constants[op.inputs[1]]  # NHWC-style OHWI / 1HWC: kernel on axes 1, 2
                kernel = weight.shape[2]
                out_channels = weight.shape[0] if op.kind == "CONV_2D" else channels
                group = channels if op.kind == "DEPTHWISE_CONV_2D" else 1
                attrs = {"kernel_shape": [kernel, kernel], "group": group}
                onnx_op, args = "Conv", [name(i) for i in op.inputs[:3]]
            pads = _same_pads(height, width, kernel, op)
            attrs.update(strides=[op.stride, op.stride], pads=pads)
            nodes.append(helper.make_node(onnx_op, args, [name(out)], **attrs))
            height = (height + pads[0] + pads[2] - kernel) // op.stride + 1
            width = (width + pads[1] + pads[3] - kernel) // op.stride + 1
            shapes[out] = (out_channels, height, width)
        elif op.kind == "PAD":  # NHWC pairs (n0, n1, h0, h1, w0, w1, c0, c1) -> ONNX NCHW begins, ends
            n0, n1, h0, h1, w0, w1, c0, c1 = op.pads
            pads_name = f"{name(out)}/pads"
            initializers.append(
                numpy_helper.from_array(np.array([n0, c0, h0, w0, n1, c1, h1, w1]), pads_name)
            )
            nodes.append(helper.make_node("Pad", [name(x), pads_name], [name(out)]))
            shapes[out] = (channels + c0 + c1, height + h0 + h1, width + w0 + w1)
        else:  # PRELU, ADD
            onnx_op = "PRelu" if op.kind == "PRELU" else "Add"
            nodes.append(helper.make_node(onnx_op, [name(i) for i in op.inputs], [name(out)]))
            shapes[out] = shapes[x]

    landmark_shape = f"{PREFIX}landmark_shape"
    initializers.append(numpy_helper.from_array(np.array([-1, FACE_MESH_LANDMARKS, 3]), landmark_shape))
    landmarks = landmark_outputs[0] if len(inputs) == 1 else f"{PREFIX}landmarks"
    nodes.append(helper.make_node("Reshape", [name(landmark_index), landmark_shape], [landmarks]))
    if len(inputs) == 2:
        nodes.append(helper.make_node("Split", [landmarks], list(landmark_outputs), axis=0, num_outputs=2))
    graph_outputs = [
        helper.make_tensor_value_info(out, TensorProto.FLOAT, [BATCH, FACE_MESH_LANDMARKS, 3])
        for out in landmark_outputs
    ]
    if presence_output:
        flat = f"{PREFIX}flat"
        initializers.append(numpy_helper.from_array(np.array([-1]), flat))
        nodes.append(helper.make_node("Reshape", [name(presence_index), flat], [presence_output]))
        graph_outputs.append(helper.make_tensor_value_info(presence_output, TensorProto.FLOAT, [BATCH]))
    graph_inputs = [
        helper.make_tensor_value_info(i, TensorProto.FLOAT, [BATCH, 3, size, size]) for i in inputs
    ]
    return helper.make_graph(nodes, "face_mesh", graph_inputs, graph_outputs, initializers)


def face_mesh_model(
    tflite_path: str | Path | None = None,
    inputs: tuple[str, ...] = ("images",),
    landmark_outputs: tuple[str, ...] = ("landmarks",),
    presence_output: str | None = None,
    opset: int = 18,
    ir_version: int = 8,
) -> onnx.ModelProto:
    """:func:`face_mesh_graph` as a checked model (``opset`` and ``ir_version`` to match a graph it is
    merged with)."""
    graph = face_mesh_graph(tflite_path, inputs, landmark_outputs, presence_output)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)
    onnx.checker.check_model(model)
    return model
