"""``hpe train CONFIG.yaml [--out DIR] [--resume] [--set section.key=value ...]``: train a network."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers) -> None:
    """Add ``hpe train``."""
    parser = subparsers.add_parser(
        "train",
        help="train a network on synthetic pairs from a YAML recipe",
        description="Train a head-pose network from a YAML recipe (see hpe_ros/configs/). Multi-GPU: "
        "torchrun --nproc-per-node N $(which hpe) train CONFIG.yaml",
    )
    parser.add_argument("config", help="training recipe (YAML)")
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="recipe changes, e.g. --set optim.steps=500 model.freeze=lora",
    )
    parser.add_argument("--out", help="output folder (default runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument(
        "--stop-at",
        type=int,
        help="stop (with a resumable checkpoint) when the current stage reaches this step",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, then print where the model and the final held-out errors are."""
    from hpe_ros.train.config import load_config
    from hpe_ros.train.loop import EXPORT_FILE, train

    cfg = load_config(args.config, args.overrides)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    result = train(cfg, out, resume=args.resume, stop_at=args.stop_at)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # torchrun: rank 0 reports
    if not result["finished"]:
        print(f"stopped; resume with: hpe train {args.config} --out {out} --resume")
        return 0
    for key, value in sorted(result["metrics"].items()):
        print(f"{key}: {value:.2f}")
    print(f"model: {out / EXPORT_FILE}")
    return 0
