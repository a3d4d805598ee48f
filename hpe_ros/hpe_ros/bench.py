"""``hpe bench``: latency and throughput of a model file (by default the embedded model users run) through the
real engines in each mode the tracker calls, of random-weight model configs (a sweep), and of FSA-Net.

- ``model``: the file is opened with :func:`~hpe_ros.engine.loader.open_engine` exactly as ``hpe track`` opens
  it (a checkpoint: torch directly, ONNX Runtime / TensorRT through the cached export), then each mode the
  engine holds is timed per batch: absolute frame, anchor embedding, cached-anchor pair, full pair.
- ``configs``: each config with random weights, full pair only (what a config would cost once trained).
- FSA-Net: the ONNX baseline (two 64x64 models run per image, batch 1 only, so a batch is a loop).

Each measurement times the engine call end to end (numpy in, numpy out: host/device copies included, as the
tracker sees it) on seeded random crops after a warm-up, for a fixed number of iterations cut short by a
per-measurement time budget. Params and GFLOP come from ``torch.utils.flop_counter`` on one pair / one frame.
The machine's load average is recorded, because numbers taken on a shared CPU are only indicative.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hpe_ros.engine.base import BackendAvailability, Mode, PoseEngine, detect_availability
from hpe_ros.errors import InputError

SCHEMA = "hpe_ros.bench/2"
TRACKER_MODES: tuple[Mode, ...] = ("absolute", "anchor_tokens", "relative_cached", "relative")
MODE_LABELS: dict[str, str] = {
    "absolute": "absolute frame",
    "anchor_tokens": "anchor embedding",
    "relative_cached": "cached-anchor pair",
    "relative": "full pair",
}
MODE_UNITS: dict[str, str] = {
    "absolute": "frame",
    "anchor_tokens": "anchor",
    "relative_cached": "pair",
    "relative": "pair",
}
FSANET_MODELS = ("fsanet-1x1-iter-688590.onnx", "fsanet-var-iter-688590.onnx")
FSANET_INPUT = 64


@dataclass(frozen=True)
class Variant:
    """One way of running a model: backend, device and precision."""

    backend: str
    device: str
    precision: str

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.device}/{self.precision}"


@dataclass
class BenchSettings:
    """What to measure and for how long."""

    configs: list[Any]  # random-weight configs to sweep (full pair)
    backends: list[str]
    model: Path | None = None  # a checkpoint or exported ONNX, timed per tracker mode through open_engine
    cache_dir: Path | None = None  # open_engine's export/engine cache (None: the one hpe track uses)
    batches: list[int] = field(default_factory=lambda: [1, 4, 16])
    precisions: list[str] | None = None  # None: every precision each backend supports on its device
    fsanet_dir: Path | None = None
    warmup: int = 3
    iterations: int = 30
    min_iterations: int = 3
    budget_s: float = 10.0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)  # torch and ORT intra-op threads
    anchor_cache: bool = False  # configs: also time K anchors vs one query with the anchors' tokens cached
    seed: int = 0


def variants(
    backends: list[str], available: BackendAvailability, precisions: list[str] | None
) -> list[Variant]:
    """The runnable variants of the requested backends on this machine (fp16 engines for TensorRT)."""
    found = []
    if "torch" in backends and available.torch:
        found.append(Variant("torch", "cpu", "fp32"))
        if available.torch_cuda:
            found += [Variant("torch", "cuda", p) for p in ("fp32", "fp16", "bf16")]
    if "onnxruntime" in backends and available.onnxruntime:
        import onnxruntime as ort

        device = "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
        found.append(Variant("onnxruntime", device, "fp32"))
    if "tensorrt" in backends and available.tensorrt:
        found.append(Variant("tensorrt", "cuda", "fp16"))
    return [v for v in found if precisions is None or v.precision in precisions]


def model_cost(config: Any) -> dict[str, Any]:
    """Parameters and GFLOP of one relative pair (and one absolute frame) of a config."""
    from hpe_ros.model.complexity import complexity_table

    row = complexity_table([config])[0]
    return {
        "image_size": config.image_size,
        "params": row["params"],
        "gflop_per_pair": round(row["gflop_per_pair"], 3),
        "gflop_per_frame_absolute": round(row["gflop_per_frame_absolute"], 3),
    }


def model_file_config(path: Path) -> Any:
    """The ModelConfig a checkpoint or an exported ONNX file was made from (read from its header)."""
    from hpe_ros.model import ModelConfig

    if path.suffix == ".onnx":
        from hpe_ros.engine.metadata import read_onnx_identity

        return ModelConfig.from_dict(read_onnx_identity(path).config)
    from hpe_ros.model.checkpoint import read_checkpoint_header

    return read_checkpoint_header(path)[0]


def mode_call(engine: PoseEngine, mode: Mode, batch: int, rng: np.random.Generator) -> Callable[[], Any]:
    """One engine call of ``mode`` on ``batch`` random crops, as the tracker makes it (the cached-anchor pair
    gets its anchors' embeddings computed once, beforehand)."""
    size = engine.input_size
    anchor, query = (rng.random((batch, 3, size, size), dtype=np.float32) for _ in range(2))
    if mode == "absolute":
        return lambda: engine.infer_absolute(query)
    if mode == "anchor_tokens":
        return lambda: engine.embed_anchors(anchor)
    if mode == "relative_cached":
        embedding = engine.embed_anchors(anchor)
        return lambda: engine.infer_cached(embedding, query)
    return lambda: engine.infer(anchor, query)


def time_call(call: Callable[[], Any], settings: BenchSettings) -> list[float]:
    """Latencies (ms) of ``call`` after the warm-up: ``iterations`` runs unless the time budget runs out
    first."""
    for _ in range(settings.warmup):
        call()
    latencies: list[float] = []
    deadline = time.perf_counter() + settings.budget_s
    while len(latencies) < settings.iterations:
        start = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - start) * 1e3)
        if len(latencies) >= settings.min_iterations and time.perf_counter() > deadline:
            break
    return latencies


def summarize(latencies: list[float], batch: int) -> dict[str, Any]:
    """Median, p90, per-item latency and throughput of one measurement."""
    median = statistics.median(latencies)
    return {
        "batch": batch,
        "iterations": len(latencies),
        "median_ms": round(median, 3),
        "p90_ms": round(float(np.percentile(latencies, 90)), 3),
        "median_ms_per_item": round(median / batch, 3),
        "throughput_per_s": round(batch * 1e3 / median, 2),
    }


def open_variant(variant: Variant, net: Any, config: Any, workdir: Path, threads: int) -> PoseEngine:
    """An engine for ``variant`` over the in-memory network (ONNX backends export it into ``workdir``)."""
    if variant.backend == "torch":
        from hpe_ros.engine.torch_backend import TorchPoseEngine

        return TorchPoseEngine(net, config.image_size, variant.device, variant.precision)
    from hpe_ros.engine.export import export_validated

    onnx_path = workdir / f"{config.name}.onnx"
    if not onnx_path.is_file():
        export_validated(net, config, onnx_path, "relative", weights_source="random-init:bench")
    if variant.backend == "onnxruntime":
        from hpe_ros.engine.onnxruntime_backend import OnnxRuntimePoseEngine

        return OnnxRuntimePoseEngine([onnx_path], intra_op_threads=threads)
    from hpe_ros.engine.tensorrt_backend import TensorRTBuildSettings, TensorRTPoseEngine, ensure_engine

    build = TensorRTBuildSettings(timing_cache_path=workdir / "timing.cache")
    engine_path = ensure_engine(onnx_path, workdir / f"{config.name}.engine", build)
    return TensorRTPoseEngine([engine_path], build)


def open_model_variant(variant: Variant, path: Path, settings: BenchSettings) -> PoseEngine:
    """An engine for ``variant`` over the model file, opened the way ``hpe track`` opens it."""
    from hpe_ros.engine.loader import open_engine

    if variant.backend == "torch":
        return open_engine(path, "torch", device=variant.device, precision=variant.precision)
    return open_engine(path, variant.backend, intra_op_threads=settings.threads, cache_dir=settings.cache_dir)


def measure_modes(
    engine: PoseEngine,
    model: str,
    variant: Variant,
    modes: tuple[Mode, ...],
    settings: BenchSettings,
    advance: Callable[[], None],
) -> Iterator[dict[str, Any]]:
    """Rows for each of ``modes`` (those the engine holds) x batch size."""
    rng = np.random.default_rng(settings.seed)
    for mode in modes:
        for batch in settings.batches:
            if mode in engine.modes:
                latencies = time_call(mode_call(engine, mode, batch, rng), settings)
                yield {"model": model, "mode": mode, **vars(variant), "unit": MODE_UNITS[mode]} | summarize(
                    latencies, batch
                )
            advance()


def anchor_cache_row(engine: PoseEngine, config: Any, batch: int, settings: BenchSettings) -> dict[str, Any]:
    """``batch`` anchors against one query (K anchors per query, as the tracker runs them): per-pair cost of
    :meth:`PoseEngine.infer` vs :meth:`PoseEngine.infer_cached` with the anchors' tokens embedded first."""
    rng = np.random.default_rng(settings.seed)
    size = config.image_size
    anchors = rng.random((batch, 3, size, size), dtype=np.float32)
    queries = np.repeat(rng.random((1, 3, size, size), dtype=np.float32), batch, axis=0)
    tokens = engine.embed_anchors(anchors)
    full_ms = statistics.median(time_call(lambda: engine.infer(anchors, queries), settings)) / batch
    cached_ms = statistics.median(time_call(lambda: engine.infer_cached(tokens, queries), settings)) / batch
    return {
        "model": config.name,
        "backend": engine.backend_name,
        "precision": engine.precision,
        "frame_only_depth": config.frame_only_depth,
        "anchors_per_query": batch,
        "full_ms_per_pair": round(full_ms, 3),
        "cached_anchor_ms_per_pair": round(cached_ms, 3),
        "saving": round(1 - cached_ms / full_ms, 3),
    }


def fsanet_rows(fsanet_dir: Path, settings: BenchSettings) -> Iterator[dict[str, Any]]:
    """FSA-Net baseline: both 64x64 models per image (its static batch is 1, so a batch is a loop)."""
    from hpe_ros.engine.onnxruntime_backend import open_session

    sessions = [
        open_session(fsanet_dir / name, ["CPUExecutionProvider"], settings.threads) for name in FSANET_MODELS
    ]
    rng = np.random.default_rng(settings.seed)
    image = rng.random((1, 3, FSANET_INPUT, FSANET_INPUT), dtype=np.float32)

    def run_batch(batch: int) -> None:
        for _ in range(batch):
            for session in sessions:
                session.run(None, {session.get_inputs()[0].name: image})

    for batch in settings.batches:
        latencies = time_call(lambda b=batch: run_batch(b), settings)
        yield {
            "model": "fsanet",
            "mode": "absolute",
            "backend": "onnxruntime",
            "device": "cpu",
            "precision": "fp32",
            "unit": "image",
        } | (summarize(latencies, batch))


def fsanet_params(fsanet_dir: Path) -> int:
    """Parameter count of the two FSA-Net models (sum of ONNX initializer sizes)."""
    import onnx

    total = 0
    for name in FSANET_MODELS:
        graph = onnx.load(str(fsanet_dir / name)).graph
        total += sum(int(np.prod(init.dims)) for init in graph.initializer)
    return total


def machine_info() -> dict[str, Any]:
    """Host, core count, load average and library versions."""
    import onnxruntime
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def machine_summary(machine: dict[str, Any]) -> str:
    """Cores and the 1-minute load average at the start and end of the run, for titles."""
    load = f"{machine['loadavg_start'][0]:.2f}"
    if "loadavg_end" in machine:
        load += f" -> {machine['loadavg_end'][0]:.2f}"
    return f"{machine['cpu_count']} cores, load {load}"


@contextmanager
def restore_torch_threads(count: int) -> Iterator[None]:
    """Put torch's intra-op thread count back to ``count`` when the block ends."""
    import torch

    try:
        yield
    finally:
        torch.set_num_threads(count)


def run_bench(settings: BenchSettings, progress: bool = True) -> dict[str, Any]:
    """Measure the model file per variant x tracker mode x batch, each config per variant x batch (full
    pair), FSA-Net per batch; return the JSON-able report."""
    import torch
    from rich.progress import Progress

    from hpe_ros.model import HeadPoseNet

    if settings.model is None and not settings.configs:
        raise InputError("bench needs a model file or at least one config")
    if not settings.batches or min(settings.batches) < 1:
        raise InputError("bench needs batch sizes >= 1")
    if settings.model is not None and not settings.model.is_file():
        raise InputError(f"model file {settings.model} does not exist")
    if settings.fsanet_dir is not None and not all(
        (settings.fsanet_dir / n).is_file() for n in FSANET_MODELS
    ):
        raise InputError(f"--fsanet {settings.fsanet_dir} must hold {', '.join(FSANET_MODELS)}")
    chosen = variants(settings.backends, detect_availability(), settings.precisions)
    if not chosen:
        raise InputError(f"none of the backends {settings.backends} can run here")
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            k: getattr(settings, k) for k in ("batches", "warmup", "iterations", "budget_s", "threads")
        },
        "models": {config.name: model_cost(config) for config in settings.configs},
        "results": [],
        "anchor_cache": [],
    }
    model_variants = []
    if settings.model is not None:
        model = settings.model
        report["models"][model.name] = model_cost(model_file_config(model)) | {
            "file": str(model),
            "file_bytes": model.stat().st_size,
        }
        model_variants = [v for v in chosen if v.backend != "torch" or model.suffix != ".onnx"]
    batches = len(settings.batches)
    jobs = len(model_variants) * len(TRACKER_MODES) * batches + len(settings.configs) * len(chosen) * batches
    jobs += batches if settings.fsanet_dir else 0
    jobs += len(settings.configs) * batches if settings.anchor_cache else 0
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    with (
        tempfile.TemporaryDirectory(prefix="hpe-bench-") as tmp,
        Progress(disable=not progress) as bar,
        restore_torch_threads(torch_threads),
    ):
        task = bar.add_task("bench", total=jobs)

        def advance() -> None:
            bar.advance(task)

        for variant in model_variants:
            bar.update(task, description=f"{model.name} {variant.label}")
            engine = open_model_variant(variant, model, settings)
            report["results"] += measure_modes(engine, model.name, variant, TRACKER_MODES, settings, advance)
        for config in settings.configs:
            torch.manual_seed(settings.seed)
            net = HeadPoseNet(config).eval()
            for variant in chosen:
                bar.update(task, description=f"{config.name} {variant.label}")
                engine = open_variant(variant, net, config, Path(tmp), settings.threads)
                report["results"] += measure_modes(
                    engine, config.name, variant, ("relative",), settings, advance
                )
            if settings.anchor_cache:
                bar.update(task, description=f"{config.name} cached anchors torch/cpu/fp32")
                engine = open_variant(
                    Variant("torch", "cpu", "fp32"), net, config, Path(tmp), settings.threads
                )
                for batch in settings.batches:
                    report["anchor_cache"].append(anchor_cache_row(engine, config, batch, settings))
                    advance()
        if settings.fsanet_dir is not None:
            bar.update(task, description="fsanet onnxruntime/cpu/fp32")
            report["models"]["fsanet"] = {
                "image_size": FSANET_INPUT,
                "params": fsanet_params(settings.fsanet_dir),
            }
            for row in fsanet_rows(settings.fsanet_dir, settings):
                report["results"].append(row)
                advance()
    report["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    return report


def results_table(report: dict[str, Any]) -> Any:
    """A rich Table of the report's measurements."""
    from rich.table import Table

    table = Table(title=f"hpe bench ({machine_summary(report['machine'])})")
    for column in (
        "model",
        "mode",
        "params",
        "GFLOP/pair",
        "backend",
        "device",
        "prec",
        "batch",
        "median ms",
        "p90 ms",
    ):
        table.add_column(column)
    table.add_column("ms/item", justify="right")
    table.add_column("items/s", justify="right")
    for row in report["results"]:
        model = report["models"][row["model"]]
        table.add_row(
            row["model"],
            MODE_LABELS[row["mode"]],
            f"{model['params'] / 1e6:.2f} M",
            f"{model['gflop_per_pair']:.2f}" if "gflop_per_pair" in model else "-",
            row["backend"],
            row["device"],
            row["precision"],
            str(row["batch"]),
            f"{row['median_ms']:.2f}",
            f"{row['p90_ms']:.2f}",
            f"{row['median_ms_per_item']:.2f}",
            f"{row['throughput_per_s']:.1f} {row['unit']}s",
        )
    return table


def anchor_cache_table(report: dict[str, Any]) -> Any:
    """A rich Table of the cached-anchor measurements."""
    from rich.table import Table

    table = Table(
        title="K anchors vs one query, torch cpu fp32: per-pair cost, anchors' per-frame tokens cached"
    )
    for column in ("model", "frame-only blocks", "anchors K", "full ms/pair", "cached ms/pair", "saving"):
        table.add_column(column)
    for row in report["anchor_cache"]:
        table.add_row(
            row["model"],
            str(row["frame_only_depth"]),
            str(row["anchors_per_query"]),
            f"{row['full_ms_per_pair']:.2f}",
            f"{row['cached_anchor_ms_per_pair']:.2f}",
            f"{row['saving']:.0%}",
        )
    return table


def plot_report(report: dict[str, Any], path: Path) -> Path:
    """PNG: per-item latency and throughput against batch size, one line per model x mode x variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency_axis, throughput_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    series: dict[str, list[dict[str, Any]]] = {}
    for row in report["results"]:
        variant = f"{row['backend']}/{row['device']}/{row['precision']}"
        series.setdefault(f"{row['model']} {MODE_LABELS[row['mode']]} {variant}", []).append(row)
    for label, rows in series.items():
        style = "--" if rows[0]["unit"] == "image" else "-"
        batches = [r["batch"] for r in rows]
        latency_axis.plot(batches, [r["median_ms_per_item"] for r in rows], style, marker="o", label=label)
        throughput_axis.plot(batches, [r["throughput_per_s"] for r in rows], style, marker="o", label=label)
    latency_axis.set(
        xscale="log", yscale="log", xlabel="batch", ylabel="median ms per item (pair, frame, anchor, image)"
    )
    throughput_axis.set(xscale="log", yscale="log", xlabel="batch", ylabel="items/s")
    batches = report["settings"]["batches"]
    for axis in (latency_axis, throughput_axis):
        axis.set_xticks(batches, [str(b) for b in batches])
    figure.suptitle(f"hpe bench, {machine_summary(report['machine'])}")
    latency_axis.legend(fontsize="x-small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
