"""``hpe bench``: latency/throughput table, JSON and PNG for the engines (and the FSA-Net baseline)."""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark backends x model configs x pair batch sizes (+ FSA-Net baseline)",
        description="Latency (median, p90) and throughput of each available backend, model config (random "
        "weights), pair batch size and precision, plus params/GFLOP per config. Writes JSON and a PNG plot.",
    )
    parser.add_argument("--json", required=True, help="output JSON path (the plot goes beside it as .png)")
    parser.add_argument("--configs", nargs="+", default=["mesh", "tiny", "nano"], help="model config names")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["torch", "onnxruntime", "tensorrt"],
        help="unavailable: skipped",
    )
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 4, 16], help="pair batch sizes")
    parser.add_argument("--precisions", nargs="+", help="keep only these precisions (fp32, fp16, bf16)")
    parser.add_argument("--fsanet", help="folder with the FSA-Net ONNX models (baseline)")
    parser.add_argument("--iterations", type=int, default=30, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--budget-s", type=float, default=10.0, help="time budget per measurement")
    parser.add_argument(
        "--anchor-cache", action="store_true", help="also time K anchors per query with cached anchor tokens"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch/ORT intra-op threads")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rich.console import Console

    from hpe_ros.bench import BenchSettings, anchor_cache_table, plot_report, results_table, run_bench
    from hpe_ros.model import get_config

    settings = BenchSettings(
        configs=[get_config(name) for name in args.configs],
        backends=args.backends,
        batches=args.batch,
        precisions=args.precisions,
        fsanet_dir=Path(args.fsanet) if args.fsanet else None,
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
