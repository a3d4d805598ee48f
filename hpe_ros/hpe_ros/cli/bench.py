"""``hpe bench``: latency/throughput table, JSON and PNG for a model file through the engines in each tracker
mode, a sweep of random-weight configs, and the FSA-Net baseline."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

NO_MODEL = "none"


def default_fsanet_dir() -> Path:
    """Where the team keeps the FSA-Net baseline: ``$HPE_SHARED/baselines/fsanet``."""
    from hpe_ros.evaluate.paths import shared_dir

    return shared_dir() / "baselines" / "fsanet"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark a model through the engines per tracker mode (+ config sweep, FSA-Net baseline)",
        description="Latency (median, p90) and throughput per batch size of: --model opened as `hpe track` "
        "opens it, per available backend and each mode the tracker calls (absolute frame, anchor embedding, "
        "cached-anchor pair, full pair); each of --configs with random weights (full pair); FSA-Net. Writes "
        "JSON and a PNG plot beside it, records the load average (figures on a shared CPU are indicative).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--json",
        required=True,
        default=argparse.SUPPRESS,
        help="output JSON path (the plot goes beside it as .png)",
    )
    parser.add_argument(
        "--model",
        default="default",
        help=f"default (the embedded model), a .safetensors checkpoint or an exported .onnx; {NO_MODEL}: "
        "configs only",
    )
    parser.add_argument(
        "--configs", nargs="*", default=[], help="random-weight model configs to sweep (e.g. mesh tiny nano)"
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["torch", "onnxruntime", "tensorrt"],
        help="unavailable ones are skipped",
    )
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 4, 16], help="batch sizes")
    parser.add_argument(
        "--precisions",
        nargs="+",
        help="keep only these precisions (fp32, fp16, bf16); %(default)s: every one a backend supports",
    )
    parser.add_argument(
        "--fsanet",
        default=str(default_fsanet_dir()),
        help="folder with the FSA-Net ONNX models (from $HPE_SHARED; skipped when the default is absent)",
    )
    parser.add_argument("--iterations", type=int, default=30, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--budget-s", type=float, default=10.0, help="time budget per measurement")
    parser.add_argument(
        "--anchor-cache",
        action="store_true",
        help="configs: also time K anchors per query with cached tokens",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch/ORT intra-op threads")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from hpe_ros.bench import (
        FSANET_MODELS,
        BenchSettings,
        anchor_cache_table,
        plot_report,
        results_table,
        run_bench,
    )
    from hpe_ros.model import get_config
    from hpe_ros.model.default import resolve_model

    fsanet: Path | None = Path(args.fsanet)
    if fsanet == default_fsanet_dir() and not all((fsanet / name).is_file() for name in FSANET_MODELS):
        fsanet = None  # the baseline is optional unless asked for by path
    settings = BenchSettings(
        configs=[get_config(name) for name in args.configs],
        backends=args.backends,
        model=None if args.model == NO_MODEL else resolve_model(args.model),
        batches=args.batch,
        precisions=args.precisions,
        fsanet_dir=fsanet,
        warmup=args.warmup,
        iterations=args.iterations,
        budget_s=args.budget_s,
        threads=args.threads,
        anchor_cache=args.anchor_cache,
    )
    report = run_bench(settings)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    plot = plot_report(report, out.with_suffix(".png"))
    console = Console()
    if not console.is_terminal:  # a log file: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(results_table(report))
    if report["anchor_cache"]:
        console.print(anchor_cache_table(report))
    console.print(f"wrote {out} and {plot}")
    return 0
