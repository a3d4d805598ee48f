"""``hpe eval aflw2000`` / ``hpe eval aflw2000-rel``: score a model on real AFLW2000-3D images."""

from __future__ import annotations

import argparse

CROPS = ("landmarks", "detector")
TASK_HELP = {
    "aflw2000": "single-image pose on AFLW2000-3D (standard subset: all |angles| <= 99 degrees)",
    "aflw2000-rel": "relative pose on AFLW2000-3D pairs: each image and it mirrored or rotated +-30 deg",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` and its tasks."""
    parser = subparsers.add_parser("eval", help="evaluate a model on real images with ground truth")
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for task, description in TASK_HELP.items():
        sub = tasks.add_parser(task, help=description, description=description)
        sub.add_argument("--data", required=True, help="AFLW2000-3D folder (NAME.jpg + NAME.mat)")
        sub.add_argument("--split", help="file listing the image names to use (default: every image)")
        sub.add_argument(
            "--crop", choices=CROPS, default="landmarks", help="face box: annotated landmarks or detector"
        )
        sub.add_argument(
            "--model",
            required=True,
            help="fsanet[:DIR] (default DIR: $HPE_SHARED/baselines/fsanet), mean-pose[:P,Y,R], a model file",
        )
        sub.add_argument(
            "--json", required=True, help="summary JSON path; the CSV and PNG are written beside it"
        )
        sub.add_argument(
            "--detector",
            default="blazeface",
            help="for --crop detector: blazeface (full range), blazeface-short, or an RFB-320-style .onnx",
        )
        sub.add_argument("--limit", type=int, help="only the first N images (sorted by name), for quick runs")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation and print its headline numbers."""
    from hpe_ros.evaluate.runner import run_aflw2000_eval

    summary = run_aflw2000_eval(
        args.task,
        args.data,
        args.model,
        args.json,
        split=args.split,
        crop=args.crop,
        detector=args.detector,
        limit=args.limit,
        progress=not args.no_progress,
    )
    mae = summary["mae"]
    print(
        f"{args.task} {summary['estimator']} [{args.crop}]: n={summary['n']} failures={summary['failures']}"
    )
    if mae is not None:
        print(
            f"MAE {mae['mean']:.2f} (yaw {mae['yaw']:.2f}, pitch {mae['pitch']:.2f}, roll {mae['roll']:.2f}),"
            f" geodesic {summary['geodesic_deg']:.2f} deg, {summary['ms_per_image']:.1f} ms/image"
        )
    print(f"wrote {', '.join(summary['outputs'].values())}")
    return 0
