"""MediaPipe's face-landmark network (FaceMesh, Apache-2.0) as a frozen PyTorch module, built from the
``face_landmark.tflite`` file inside the ``mediapipe==0.10.14`` wheel.

This is the sim-to-real lever of the ``mesh`` config (DESIGN.md §4): a network trained on real faces turns a
crop into 468 3-D landmarks, and our VGGT-style aggregator attends over tokens pooled from those landmarks
instead of image patches. The weights are never stored in our checkpoints: they are read from the installed
wheel each time a model is built, so an exported ONNX (and a TensorRT engine built from it) holds the whole
pipeline.

The graph (read by :mod:`hpe_ros.model.tflite_graph`) holds only CONV_2D, DEPTHWISE_CONV_2D, PRELU, ADD,
MAX_POOL_2D, PAD and DEQUANTIZE (fp16 weights); each is replayed here in NCHW with TensorFlow's SAME
padding. Input: RGB in [0, 1], 192 × 192 (the crop is the face box enlarged by ~1.5–1.7, as MediaPipe frames
it). Output: landmarks [N, 468, 3] in input pixels
(x right, y down; z depth relative to the face centre, in the same pixel scale, smaller = nearer) and the
face-presence logit [N].
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpe_ros.errors import InputError
from hpe_ros.model.config import FACE_MESH_INPUT_SIZE, FACE_MESH_LANDMARKS
from hpe_ros.model.tflite_graph import (
    VALID,
    TfliteOp,
    face_mesh_tflite_path,
    read_graph,
    same_padding,
    to_nchw,
)


class FaceMesh(nn.Module):
    """Frozen FaceMesh: images [N, 3, 192, 192] RGB in [0, 1] -> (landmarks [N, 468, 3] px, presence [N])."""

    def __init__(self, tflite_path: str | Path | None = None) -> None:
        super().__init__()
        ops, constants, self._input, outputs = read_graph(str(tflite_path or face_mesh_tflite_path()))
        self._ops = ops
        self._landmark_output, self._presence_output = outputs
        self._weights: dict[int, str] = {}
        for index, value in constants.items():
            name = f"c{index}"
            weight = torch.tensor(to_nchw(index, value, ops))  # a factory: follows torch.device(...)
            self.register_buffer(name, weight, persistent=False)
            self._weights[index] = name
        self.requires_grad_(False)

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
    def _pad_same(x: Tensor, kernel: int, op: TfliteOp) -> Tensor:
        if op.padding == VALID:
            return x
        top, bottom = same_padding(x.shape[2], kernel, op.stride)
        left, right = same_padding(x.shape[3], kernel, op.stride)
        return F.pad(x, (left, right, top, bottom)) if top or bottom or left or right else x
