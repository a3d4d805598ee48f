"""Writes the landmark heads shipped beside a face-mesh checkpoint (development time, needs torch): the part
of the network after the face mesh, our fitted weights only, as small ONNX files that
:mod:`hpe_ros.engine.runtime_graph` joins to the face mesh at run time without torch.

Weights are stored as they are in the checkpoint, fp16 (each with a Cast to float32, which ONNX Runtime and
TensorRT fold when they load the graph): the float32 exporter's files were twice the size for the same values.

Regenerate after changing the checkpoint (a test checks the shipped files are in sync):
``python -m hpe_ros.engine.landmark_head hpe_ros/hpe_ros/models/default.safetensors``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hpe_ros.engine.cache import sha256_file
from hpe_ros.engine.deploy import deploy_module
from hpe_ros.engine.export import cpu_float32, export_module
from hpe_ros.engine.metadata import (
    LANDMARK_HEAD,
    LANDMARK_HEAD_INPUTS,
    OUTPUT_NAMES,
    OnnxIdentity,
    companion_path,
    config_dict,
)
from hpe_ros.engine.runtime_graph import landmark_head_path
from hpe_ros.errors import InputError
from hpe_ros.model.config import FACE_MESH_LANDMARKS


def write_landmark_heads(checkpoint: str | Path, out: str | Path | None = None) -> list[Path]:
    """Export the relative and absolute landmark heads of a face-mesh ``checkpoint`` (default: beside it)."""
    from hpe_ros.model import load_checkpoint

    checkpoint = Path(checkpoint)
    net, config, _meta = load_checkpoint(checkpoint)
    if not config.uses_landmarks:
        raise InputError(
            f"{checkpoint} is a {config.name} model without a face mesh: it has no landmark head"
        )
    relative = Path(out) if out is not None else landmark_head_path(checkpoint)
    net = cpu_float32(net)
    written = []
    for mode, inputs in LANDMARK_HEAD_INPUTS.items():
        identity = OnnxIdentity(
            mode=mode,
            config=config_dict(config),
            input_size=config.image_size,
            weights_source=f"sha256:{sha256_file(checkpoint)}",
            part=LANDMARK_HEAD,
        )
        shapes = dict.fromkeys(inputs, (FACE_MESH_LANDMARKS, 3))
        path = companion_path(relative, mode)
        export_module(deploy_module(net, mode), shapes, OUTPUT_NAMES[mode], identity, path)
        partial = path.with_name(f".{path.name}.partial")
        onnx.save_model(half_weights(onnx.load(str(path))), str(partial))
        os.replace(partial, path)
        onnx.checker.check_model(str(path))
        written.append(path)
    return written


def half_weights(model: onnx.ModelProto, min_elements: int = 64) -> onnx.ModelProto:
    """``model`` with every float32 initializer of at least ``min_elements`` values that fp16 holds exactly
    (weights loaded from an fp16 checkpoint) stored as fp16 and cast back to float32 at the graph's start:
    the same values in half the bytes. Others (constants the exporter computed) stay float32."""
    graph = model.graph
    casts = []
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(initializer)
        halves = values.astype(np.float16)
        if values.size < min_elements or not np.array_equal(halves.astype(np.float32), values):
            continue
        name = initializer.name
        initializer.CopyFrom(numpy_helper.from_array(halves, f"{name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=TensorProto.FLOAT))
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a face-mesh .safetensors checkpoint")
    for path in write_landmark_heads(parser.parse_args(argv).checkpoint):
        print(path)


if __name__ == "__main__":
    main()
