"""``hpe eval aflw2000|aflw2000-rel|synth|video|suite``: score a model on real images, synthetic pairs,
a clip or the video suite."""

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
            action="append",
            help="default (the embedded model; the default), fsanet[:DIR] (default DIR: "
            "$HPE_SHARED/baselines/fsanet), mean-pose[:P,Y,R], a model file; repeat it to score several "
            "models on the same faces (e.g. --model default --model fsanet)",
        )
        sub.add_argument(
            "--json", required=True, help="summary JSON path; the CSV and PNG are written beside it"
        )
        if task == "aflw2000":
            sub.add_argument(
                "--rotate",
                type=float,
                default=0.0,
                metavar="DEG",
                help="turn every image about its centre by DEG degrees, clockwise as displayed (labels "
                "exactly; the standard subset is chosen on the original labels)",
            )
            sub.add_argument("--flip", action="store_true", help="mirror every image left-right first")
        sub.add_argument(
            "--detector",
            default="blazeface-multi",
            help="for --crop detector: blazeface-multi (the default: BlazeFace full range, then more "
            "passes while none is found), blazeface (full range, one pass), blazeface-short, or an "
            "RFB-320-style .onnx",
        )
        sub.add_argument("--limit", type=int, help="only the first N images (sorted by name), for quick runs")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.set_defaults(func=run)
    register_synth(tasks)
    register_video(tasks)
    register_suite(tasks)


def register_synth(tasks: argparse._SubParsersAction) -> None:
    """``hpe eval synth --protocol easy|hard``."""
    description = "relative pose on the fixed synthetic protocols (held-out identities)"
    sub = tasks.add_parser("synth", help=description, description=description)
    sub.add_argument("--protocol", choices=("easy", "hard"), required=True)
    sub.add_argument(
        "--model",
        default="default",
        help="default (the embedded model; the default), fsanet[:DIR], mean-pose[:P,Y,R] or a model file",
    )
    sub.add_argument("--json", required=True, help="summary JSON path; the CSV and PNG are written beside it")
    sub.add_argument("--limit", type=int, help="only the first N pairs, for quick runs")
    sub.add_argument(
        "--cache", help="synthetic asset cache folder (default $HPE_CACHE_DIR or ~/.cache/hpe_ros)"
    )
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.set_defaults(func=run_synth)


def register_video(tasks: argparse._SubParsersAction) -> None:
    """``hpe eval video CLIP``."""
    description = (
        "the tracker on a clip, relative vs absolute: accuracy with ground truth, jitter, cycle consistency"
    )
    sub = tasks.add_parser("video", help=description, description=description)
    sub.add_argument("clip", help="video file, or 'demo' for the bundled synthetic clip")
    sub.add_argument(
        "--model",
        default="default",
        help="default (the embedded model; the default), a .safetensors checkpoint or an exported .onnx",
    )
    sub.add_argument("--json", required=True, help="summary JSON path; a per-frame CSV is written beside it")
    sub.add_argument("--gt", help="ground-truth CSV (default: <clip stem>_gt.csv beside the clip, if any)")
    sub.add_argument(
        "--calibration", help="camera_info YAML (default: <clip stem>_camera.yaml beside the clip, if any)"
    )
    add_tracker_run_options(sub, "only the first N frames")
    sub.set_defaults(func=run_video)


def add_tracker_run_options(sub: argparse.ArgumentParser, max_frames_help: str) -> None:
    """The options of the commands that run the tracker on clips (``video``, ``suite``)."""
    sub.add_argument("--detector", default="blazeface", help="blazeface, blazeface-short or an ONNX file")
    sub.add_argument("--backend", default="auto", help="auto, torch, onnxruntime or tensorrt")
    sub.add_argument("--max-frames", type=int, help=max_frames_help)
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_argument(
        "--param", action="append", default=[], metavar="GROUP.NAME=VALUE", help="tracker parameter override"
    )


def tracker_config(args: argparse.Namespace):
    """The tracker configuration of ``--param`` overrides on the defaults."""
    from hpe_ros.config import parse_assignments, with_overrides
    from hpe_ros.tracker import TrackerConfig

    return with_overrides(TrackerConfig(), parse_assignments(args.param, "--param"))


def register_suite(tasks: argparse._SubParsersAction) -> None:
    """``hpe eval suite --suite DIR``."""
    description = "every tracker variant on every clip of the ground-truth video suite (hpe synth suite)"
    sub = tasks.add_parser("suite", help=description, description=description)
    sub.add_argument("--suite", required=True, help="folder written by `hpe synth suite --out DIR`")
    sub.add_argument("--json", required=True, help="report JSON path")
    sub.add_argument("--model", default="default", help="default (the embedded model) or a model file")
    sub.add_argument("--clips", nargs="+", help="only these clips (default: all in suite.json)")
    sub.add_argument(
        "--variants",
        nargs="+",
        default=["relative", "absolute", "constant"],
        help="tracker variants: relative, absolute, constant, relative_one_euro, absolute_one_euro",
    )
    add_tracker_run_options(sub, "only the first N frames of each clip")
    sub.set_defaults(func=run_suite)


def run_suite(args: argparse.Namespace) -> int:
    """Run ``hpe eval suite`` and print one line per variant."""
    from hpe_ros.evaluate.suite import run_suite_eval
    from hpe_ros.model.default import require_source_camera, resolve_model

    model = resolve_model(args.model)
    require_source_camera(model)
    config = tracker_config(args)
    summary = run_suite_eval(
        args.suite,
        model,
        args.json,
        clips=args.clips,
        variants=tuple(args.variants),
        config=config,
        detector=args.detector,
        backend=args.backend,
        max_frames=args.max_frames,
        progress=not args.no_progress,
    )
    for name, v in summary["variants"].items():
        bins = ", ".join(f"{k} {'n/a' if e is None else f'{e:.2f}'}" for k, e in v["geodesic_by_yaw"].items())
        jitter = v["jitter_still_deg_s"]
        print(
            f"{name}: geodesic {v['geodesic_mean']:.2f} deg ({bins}), continuity {v['continuity']:.3f}, "
            f"still jitter {'n/a' if jitter is None else f'{jitter:.2f}'} deg/s, lag {v['lag_frames']}, "
            f"id switches {v['id_switches']}"
        )
    print(f"wrote {args.json}")
    return 0


def print_scores(summary: dict, detail: str) -> None:
    """The MAE / geodesic line of a summary, when anything was scored."""
    mae = summary["mae"]
    if mae is not None:
        print(
            f"MAE {mae['mean']:.2f} (yaw {mae['yaw']:.2f}, pitch {mae['pitch']:.2f}, roll {mae['roll']:.2f}),"
            f" geodesic {summary['geodesic_deg']:.2f} deg, {detail}"
        )


def yaw_table(models: list[dict]) -> str:
    """The per-|yaw|-bin table of one or more model summaries: images, misses, then MAE / geodesic per model.

    Misses depend on the face locator alone, which every model of a run shares."""
    labels = [f"{m['model']} MAE/geo" for m in models]
    widths = [max(len(label), 11) for label in labels]
    lines = [
        f"{'|yaw|':>6} {'images':>6} {'misses':>6}"
        + "".join(f"  {t:>{w}}" for t, w in zip(labels, widths, strict=True))
    ]
    rows = {name: [m["by_yaw"][name] for m in models] for name in models[0]["by_yaw"]}
    rows["all"] = [{"images": m["n_images"], "misses": m["failures"], **m} for m in models]
    for name, entries in rows.items():
        line = f"{name:>6} {entries[0]['images']:>6} {entries[0]['misses']:>6}"
        for entry, width in zip(entries, widths, strict=True):
            mae, geodesic = entry["mae"], entry["geodesic_deg"]
            cell = f"{mae['mean']:.2f} / {geodesic:.2f}" if mae else "n/a"
            line += f"  {cell:>{width}}"
        lines.append(line)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation and print its headline numbers and the per-|yaw| table."""
    from hpe_ros.evaluate.runner import run_aflw2000_eval

    summary = run_aflw2000_eval(
        args.task,
        args.data,
        args.model or ["default"],
        args.json,
        split=args.split,
        crop=args.crop,
        detector=args.detector,
        limit=args.limit,
        progress=not args.no_progress,
        rotate_deg=getattr(args, "rotate", 0.0),
        flip=getattr(args, "flip", False),
    )
    transform = f" {summary['transform']}" if summary["transform"] else ""
    for entry in summary["models"]:
        print(
            f"{args.task}{transform} {entry['estimator']} [{args.crop}]: n={entry['n']} "
            f"failures={entry['failures']}"
        )
        ms = entry["ms_per_image"]
        print_scores(entry, "n/a ms/image" if ms is None else f"{ms:.1f} ms/image")
    print(yaw_table(summary["models"]))
    print(f"wrote {', '.join(summary['outputs'].values())}")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """Run ``hpe eval synth`` and print its headline numbers."""
    from hpe_ros.evaluate.synth_eval import run_synth_eval

    summary = run_synth_eval(
        args.protocol, args.model, args.json, args.limit, args.cache, progress=not args.no_progress
    )
    print(f"synth {args.protocol} {summary['estimator']}: n={summary['n']} failures={summary['failures']}")
    print_scores(summary, f"gap mean {summary['gap']['mean']:.1f} deg")
    print(f"wrote {', '.join(summary['outputs'].values())}")
    return 0


def run_video(args: argparse.Namespace) -> int:
    """Run ``hpe eval video`` and print accuracy, jitter and cycle consistency."""
    from hpe_ros.evaluate.video import run_video_eval
    from hpe_ros.model.default import require_source_camera, resolve_model

    model = resolve_model(args.model)
    require_source_camera(model)
    summary = run_video_eval(
        args.clip,
        model,
        args.json,
        gt=args.gt,
        calibration=args.calibration,
        detector=args.detector,
        backend=args.backend,
        max_frames=args.max_frames,
        progress=not args.no_progress,
        config=tracker_config(args),
    )
    for mode, entry in summary["modes"].items():
        line = f"{mode}: {entry['frames_with_face']}/{summary['frames']} frames with a face"
        for key, label in (("jitter", "jitter"), ("jitter_high_frequency", "high-frequency jitter")):
            jitter = entry[key]["median_deg_per_s"]
            line += f", {label} n/a" if jitter is None else f", {label} {jitter:.2f} deg/s"
        repeated = entry["jitter_repeated_frames"]
        if repeated["steps"]:
            line += f", on {repeated['steps']} repeated frames {repeated['median_deg_per_s']:.2f} deg/s"
        if entry.get("accuracy") and entry["accuracy"]["mae"] is not None:
            accuracy = entry["accuracy"]
            line += f", MAE {accuracy['mae']['mean']:.2f}, geodesic {accuracy['geodesic_deg']:.2f} deg"
        print(line)
    cycle = summary["cycle_consistency"]
    if cycle["median_deg"] is not None:
        print(f"cycle consistency: median {cycle['median_deg']:.2f} deg over {cycle['triplets']} triplets")
    print(f"wrote {', '.join(summary['outputs'].values())}")
    return 0
