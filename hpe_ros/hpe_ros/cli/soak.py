"""``hpe soak SOURCE... --duration-s N --out DIR``: replay clips at a fixed rate through the tracker for a
long time and record memory, latency and drops (``DIR/soak.json``, ``DIR/soak.png``)."""

from __future__ import annotations

import argparse

from hpe_ros.cli import DefaultsHelpFormatter


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "soak",
        help="replay clips in a loop at a fixed rate for a long run: RSS, latency percentiles, drops",
        description="Replay the clips one after the other, looping, with fresh increasing stamps, paced at "
        "--rate through one tracker (the default runtime and tracker parameters, as the node builds them). "
        "A frame arriving while the previous one is still pending replaces it (a drop), as in the node. "
        "Writes DIR/soak.json (RSS start/end/max, latency p50/p90/p99, frames, drops, a per-minute series) "
        "and DIR/soak.png (the per-minute curves). Needs no evaluation data: the bundled demo clip will do.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="video files or image folders")
    parser.add_argument("--duration-s", type=float, default=3600.0, help="how long to run (seconds)")
    parser.add_argument("--rate", type=float, default=30.0, help="frames handed over per second (Hz)")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime CPU threads (0: all cores, as the node)"
    )
    parser.add_argument(
        "--fov-deg", type=float, default=60.0, help="assumed horizontal field of view of every clip"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tqdm import tqdm

    from hpe_ros.pipeline import RuntimeConfig, build_tracker
    from hpe_ros.soak import plot_soak, soak
    from hpe_ros.tracker import TrackerConfig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tracker = build_tracker(RuntimeConfig(intra_op_threads=args.threads), TrackerConfig())
    with tqdm(total=round(args.duration_s), unit="s", desc="hpe soak") as bar:

        def progress(elapsed_s: float, totals: dict[str, int]) -> None:
            bar.update(round(elapsed_s) - bar.n)
            bar.set_postfix(frames=totals["frames"], drops=totals["drops"])

        report = soak(tracker, args.sources, args.duration_s, args.rate, args.fov_deg, progress)
    (out / "soak.json").write_text(json.dumps(report, indent=2, default=str))
    plot_soak(report, out / "soak.png")
    rss, latency = report["rss_mib"], report["latency_ms"]
    print(
        f"{report['frames']} frames of {report['submitted']} handed over, {report['drops']} dropped; "
        f"RSS {rss['start']} -> {rss['end']} MiB (max {rss['max']}); latency p50 {latency['p50']} "
        f"p99 {latency['p99']} ms -> {out}"
    )
    return 0
