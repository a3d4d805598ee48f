"""Writes the landmark heads shipped beside a face-mesh checkpoint (development time, needs torch): the part
of the network after the face mesh, our fitted weights only, as small ONNX files that
:mod:`hpe_ros.engine.runtime_graph` joins to the face mesh at run time without torch.

Regenerate after changing the checkpoint (a test checks the shipped files are in sync):
``python -m hpe_ros.engine.landmark_head hpe_ros/hpe_ros/models/default.safetensors``
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
        written.append(
            export_module(
                deploy_module(net, mode), shapes, OUTPUT_NAMES[mode], identity, companion_path(relative, mode)
            )
        )
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a face-mesh .safetensors checkpoint")
    for path in write_landmark_heads(parser.parse_args(argv).checkpoint):
        print(path)


if __name__ == "__main__":
    main()
