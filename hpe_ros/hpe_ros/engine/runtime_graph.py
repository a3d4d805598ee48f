"""The ONNX graphs of a face-mesh checkpoint, assembled without torch: the face mesh emitted from the
mediapipe wheel (:mod:`hpe_ros.engine.tflite_onnx`) joined with ``onnx.compose`` to the landmark heads
shipped beside the checkpoint (``x.landmark_head.onnx`` relative, ``x.landmark_head.absolute.onnx``; our
fitted weights only, written by :mod:`hpe_ros.engine.landmark_head`).

Modes: relative (the face mesh runs anchor and query as one batch, then the relative head), absolute (face
mesh, absolute head), anchor_tokens (the face mesh alone: a face-mesh config's tokens are its landmarks),
relative_cached (face mesh on the query, relative head with the cached anchor landmarks).
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import compose

from hpe_ros.engine.base import Mode
from hpe_ros.engine.cache import sha256_file
from hpe_ros.engine.metadata import (
    INPUT_NAMES,
    LANDMARK_HEAD,
    LANDMARK_HEAD_INPUTS,
    OnnxIdentity,
    companion_path,
)
from hpe_ros.engine.tflite_onnx import face_mesh_model
from hpe_ros.errors import ModelFileError

HEAD_SUFFIX = ".landmark_head.onnx"
ASSEMBLY_VERSION = "3"  # bump when the assembly changes, so cached graphs are rebuilt


def landmark_head_path(checkpoint: str | Path) -> Path:
    """The relative-mode landmark head beside ``checkpoint`` (its absolute twin: ``companion_path``)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name.removesuffix(checkpoint.suffix) + HEAD_SUFFIX)


def read_landmark_heads(checkpoint: str | Path, checkpoint_sha256: str) -> dict[Mode, onnx.ModelProto] | None:
    """The landmark heads beside ``checkpoint`` when both exist and were written from exactly its weights;
    ``None`` when there are none; ModelFileError when they are unreadable or belong to other weights."""
    heads: dict[Mode, onnx.ModelProto] = {}
    for mode in LANDMARK_HEAD_INPUTS:
        path = companion_path(landmark_head_path(checkpoint), mode)
        if not path.is_file():
            return None
        try:
            model = onnx.load(str(path))
        except Exception as error:  # protobuf DecodeError and friends
            raise ModelFileError(f"{path} is not a readable ONNX file: {error}") from error
        identity = OnnxIdentity.from_props({p.key: p.value for p in model.metadata_props}, path)
        if identity.part != LANDMARK_HEAD or identity.mode != mode:
            raise ModelFileError(f"{path} is not the {mode} landmark head of a face-mesh model")
        if identity.weights_source != f"sha256:{checkpoint_sha256}":
            raise ModelFileError(
                f"{path} was written from other weights than {checkpoint} ({identity.weights_source}); "
                f"regenerate it: python -m hpe_ros.engine.landmark_head {checkpoint}"
            )
        heads[mode] = model
    return heads


def assembly_digest(checkpoint_sha256: str, tflite: Path) -> str:
    """What an assembled family depends on: the checkpoint, the face-mesh file, the assembly code."""
    return f"{checkpoint_sha256[:16]}-{sha256_file(tflite)[:8]}-a{ASSEMBLY_VERSION}"


def assemble(mode: Mode, heads: dict[Mode, onnx.ModelProto], tflite: Path) -> onnx.ModelProto:
    """The whole pose model of ``mode``: images in, the engine's outputs out, hpe_ros metadata stamped."""
    head = heads["relative" if mode in ("relative", "relative_cached") else "absolute"]
    versions = {"opset": head.opset_import[0].version, "ir_version": head.ir_version}
    if mode == "anchor_tokens":
        model = face_mesh_model(tflite, ("anchor",), ("tokens",), **versions)
    elif mode == "relative":
        mesh = face_mesh_model(
            tflite, ("anchor", "query"), ("face_mesh/anchor", "face_mesh/query"), **versions
        )
        io_map = [("face_mesh/anchor", "anchor_tokens"), ("face_mesh/query", "query_tokens")]
        model = compose.merge_models(mesh, head, io_map=io_map)
    else:  # absolute, relative_cached: the face mesh turns the query into the head's query tokens
        mesh = face_mesh_model(tflite, ("query",), ("face_mesh/query",), **versions)
        model = compose.merge_models(mesh, head, io_map=[("face_mesh/query", "query_tokens")])
    by_name = {value.name: value for value in model.graph.input}
    ordered = [by_name[name] for name in INPUT_NAMES[mode]]  # the engines' input order (anchor first)
    del model.graph.input[:]
    model.graph.input.extend(ordered)
    identity = OnnxIdentity.from_props({p.key: p.value for p in head.metadata_props}, "landmark head")
    stamped = OnnxIdentity(
        mode=mode,
        config=identity.config,
        input_size=identity.input_size,
        weights_source=f"{identity.weights_source} + {tflite.name} sha256:{sha256_file(tflite)[:16]}",
    )
    del model.metadata_props[:]
    for key, value in stamped.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model
