"""ONNX export of the deploy wrappers, with onnx.checker validation and an ONNX Runtime vs PyTorch parity
check.

Export settings: the dynamo exporter, opset 18 by default (>= 17 so LayerNorm maps to TensorRT's normalisation
layer; opset 18 for Split under dynamo), static image size, a dynamic batch axis named ``batch`` on every
input and output. The model config, its hash, the mode and the weights' origin go into ``metadata_props``
(:class:`~hpe_ros.engine.metadata.OnnxIdentity`).
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hpe_ros.engine.base import Mode
from hpe_ros.engine.deploy import deploy_module, token_shape
from hpe_ros.engine.metadata import INPUT_NAMES, OUTPUT_NAMES, OnnxIdentity, config_dict
from hpe_ros.errors import InputError, ModelFileError

DEFAULT_OPSET = 18
MIN_OPSET = 17
# Parity tolerance, ORT fp32 vs torch fp32: max |ΔR| over matrix entries, max |Δt| relative to max(1, |t|).
PARITY_TOLERANCE = 1e-4
EXTERNAL_DATA_BYTES = 1_800_000_000  # protobuf's 2 GB limit: larger models keep their weights in a .data file


# Logs "torchvision is not installed. Skipping torchvision::nms" etc. on every export: irrelevant here.
EXPORTER_REGISTRY_LOGGER = "torch.onnx._internal.exporter._registration"


@contextmanager
def quiet_logger(name: str, level: int = logging.ERROR) -> Iterator[None]:
    """Raise a logger's level for the duration of a block."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def cpu_float32(net: nn.Module) -> nn.Module:
    """``net`` itself when it is float32 on the CPU, else a float32 CPU copy (the caller's model is never
    moved or cast; large models are not copied needlessly)."""
    if all(p.device.type == "cpu" and p.dtype == torch.float32 for p in net.parameters()):
        return net
    return copy.deepcopy(net).float().cpu()


@dataclass(frozen=True)
class ParityReport:
    """Largest ORT-vs-torch difference per output over the checked batch sizes, each divided by
    max(1, max |torch output|) (absolute for rotation entries, relative for large translations/tokens)."""

    mode: Mode
    batch_sizes: tuple[int, ...]
    errors: dict[str, float]
    tolerance: float = PARITY_TOLERANCE

    @property
    def passed(self) -> bool:
        return max(self.errors.values()) <= self.tolerance

    def summary(self) -> str:
        """One line: the error per output and the tolerance."""
        errors = ", ".join(f"{name} {error:.1e}" for name, error in self.errors.items())
        return f"ORT vs torch over batch {list(self.batch_sizes)}: {errors} (tolerance {self.tolerance:.0e})"


def export_onnx(
    net: nn.Module,
    config: Any,
    out: str | Path,
    mode: Mode = "relative",
    opset: int = DEFAULT_OPSET,
    weights_source: str = "unknown",
    external_data: bool | None = None,
) -> Path:
    """Export ``net`` (a HeadPoseNet of ``config``, left in eval mode) in ``mode`` to ``out``, stamp its
    metadata, run onnx.checker. ``external_data`` (default: only over 1.8 GB of weights) keeps the weights
    in ``<out>.data`` beside the model, as protobuf cannot hold more than 2 GB."""
    size = config.image_size
    item_shapes = {"anchor": (3, size, size), "query": (3, size, size), "anchor_tokens": token_shape(config)}
    identity = OnnxIdentity(
        mode=mode, config=config_dict(config), input_size=size, weights_source=weights_source
    )
    module = deploy_module(cpu_float32(net), mode)
    inputs = {name: item_shapes[name] for name in INPUT_NAMES[mode]}
    return export_module(module, inputs, OUTPUT_NAMES[mode], identity, out, opset, external_data)


def export_module(
    module: nn.Module,
    inputs: dict[str, tuple[int, ...]],
    output_names: tuple[str, ...],
    identity: OnnxIdentity,
    out: str | Path,
    opset: int = DEFAULT_OPSET,
    external_data: bool | None = None,
) -> Path:
    """Export an eval-mode ``module`` taking float32 ``inputs`` (name -> per-item shape; a dynamic batch
    axis in front) to ``out`` atomically, with ``identity`` as its metadata; run onnx.checker."""
    import onnx

    if opset < MIN_OPSET:
        raise InputError(f"opset {opset} is too old: use >= {MIN_OPSET} (LayerNorm as one op for TensorRT)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if external_data is None:
        external_data = sum(p.numel() * 4 for p in module.parameters()) > EXTERNAL_DATA_BYTES
    examples = tuple(torch.rand(2, *shape) for shape in inputs.values())
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings(), torch.no_grad(), quiet_logger(EXPORTER_REGISTRY_LOGGER):
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter, not about our model
        program = torch.onnx.export(
            module,
            examples,
            input_names=list(inputs),
            output_names=list(output_names),
            opset_version=opset,
            dynamo=True,
            verbose=False,
            dynamic_shapes=tuple({0: batch} for _ in inputs),  # positional: works for *args too
        )
    model = program.model_proto
    for item in (*model.graph.node, *model.graph.value_info):  # the exporter's stack traces and notes
        del item.metadata_props[:]
    del model.metadata_props[:]
    for key, value in identity.to_props().items():
        model.metadata_props.add(key=key, value=value)
    data = out.with_name(out.name + ".data")
    data.unlink(missing_ok=True)  # onnx appends external weights to an existing file
    partial = out.with_name(f".{out.name}.partial")  # renamed at the end: no half-written model is ever used
    onnx.save_model(model, str(partial), save_as_external_data=external_data, location=data.name)
    os.replace(partial, out)
    onnx.checker.check_model(str(out))  # from disk: works for external weights too
    return out


def check_parity(
    onnx_path: str | Path, net: nn.Module, batch_sizes: tuple[int, ...] = (1, 3)
) -> ParityReport:
    """Compare ONNX Runtime (CPU) with the torch deploy module on seeded random crops at each batch size."""
    from hpe_ros.engine.onnxruntime_backend import open_session, session_identity

    onnx_path = Path(onnx_path)
    session = open_session(onnx_path, providers=["CPUExecutionProvider"])
    identity = session_identity(session, onnx_path)
    module = deploy_module(cpu_float32(net), identity.mode)
    generator = np.random.default_rng(0)
    names = OUTPUT_NAMES[identity.mode]
    errors = dict.fromkeys(names, 0.0)
    for batch in batch_sizes:
        inputs = {
            i.name: generator.random((batch, *i.shape[1:]), dtype=np.float32) for i in session.get_inputs()
        }
        with torch.inference_mode():
            expected = module(*(torch.from_numpy(inputs[name]) for name in INPUT_NAMES[identity.mode]))
        expected = [t.numpy() for t in (expected if isinstance(expected, tuple) else (expected,))]
        for name, got, want in zip(names, session.run(list(names), inputs), expected, strict=True):
            scale = max(1.0, float(np.abs(want).max()))
            errors[name] = max(errors[name], float(np.abs(got - want).max()) / scale)
    return ParityReport(identity.mode, tuple(batch_sizes), errors)


def export_validated(
    net: nn.Module,
    config: Any,
    out: str | Path,
    mode: Mode = "relative",
    opset: int = DEFAULT_OPSET,
    weights_source: str = "unknown",
) -> ParityReport:
    """:func:`export_onnx` then :func:`check_parity`; a failed parity check deletes the file and raises."""
    path = export_onnx(net, config, out, mode, opset, weights_source)
    report = check_parity(path, net)
    if not report.passed:
        path.unlink()
        raise ModelFileError(f"exported {mode} ONNX disagrees with PyTorch: {report.summary()}; file removed")
    return report
