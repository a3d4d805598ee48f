"""``hpe track SOURCE --out DIR``: track head poses in a video file, a camera or an image folder.

Writes ``DIR/annotated.mp4``, ``DIR/poses.csv``, ``DIR/poses/`` (a ROS 2 bag, MCAP storage: ``poses.mcap`` +
``metadata.yaml``) and ``DIR/summary.json``. Every output is flushed/closed even when the run stops on an
error or Ctrl-C; the summary then says how far it got and why it stopped.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpe_ros.tracker import TrackerConfig

OUTPUT_NAMES = ("annotated.mp4", "poses.csv", "poses", "summary.json")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track",
        help="track head poses in a video, camera or image folder (video, CSV, ROS 2 bag, summary)",
        description="Detect, track and estimate the 6-DoF head pose of every face. SOURCE: a video file, a "
        "camera index (0) or a folder of images. Outputs in --out: annotated.mp4, poses.csv, poses/ (ROS 2 "
        "bag, MCAP: /head_pose, /head_poses, /tf) and summary.json (frames, faces, fps, per-stage ms).",
    )
    parser.add_argument("source", help="video file, camera index or image folder")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--model",
        default="default",
        help="default (the embedded model; the default), a .safetensors checkpoint or an exported .onnx",
    )
    parser.add_argument("--backend", default="auto", help="auto, torch, onnxruntime or tensorrt")
    parser.add_argument(
        "--detector", default="blazeface", help="'blazeface' or the path of an ONNX face detector"
    )
    parser.add_argument(
        "--min-score", type=float, help="detector score threshold (detector default if unset)"
    )
    intrinsics = parser.add_mutually_exclusive_group()
    intrinsics.add_argument(
        "--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"), help="pixels"
    )
    intrinsics.add_argument("--calibration", help="ROS camera_info YAML or OpenCV calibration file")
    intrinsics.add_argument(
        "--fov-deg",
        type=float,
        help="assumed horizontal field of view when no intrinsics are given (default 60)",
    )
    parser.add_argument(
        "--fps", type=float, help="frame rate for image folders (default 30) or to override a video's"
    )
    parser.add_argument(
        "--max-frames", type=int, help="stop after this many frames (a camera runs until Ctrl-C)"
    )
    parser.add_argument(
        "--camera-frame", default="camera_optical_frame", help="frame_id of the bag's messages"
    )
    parser.add_argument("--bag-images", action="store_true", help="also write the frames (JPEG) into the bag")
    parser.add_argument("--no-video", action="store_true", help="skip annotated.mp4")
    parser.add_argument("--policy", help="anchor selection: nearest, recent, neutral or best")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any tracker parameter, e.g. anchors.max_anchors=8 or tracking.max_faces=4 (repeatable)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the outputs of an earlier run in --out"
    )
    parser.set_defaults(func=run)


def tracker_config(args: argparse.Namespace) -> TrackerConfig:
    """The TrackerConfig from ``--policy`` and ``--param NAME=VALUE`` (values parsed as YAML scalars)."""
    import yaml

    from hpe_ros.errors import InputError
    from hpe_ros.tracker import config_from_parameters

    values = {}
    for item in args.param:
        name, sep, text = item.partition("=")
        if not sep:
            raise InputError(f"--param needs NAME=VALUE, got {item!r}")
        values[name.strip()] = yaml.safe_load(text)
    if args.policy:
        values["anchors.policy"] = args.policy
    return config_from_parameters(values)


def prepare_output(out: Path, overwrite: bool) -> None:
    """Create ``out``; refuse to mix with an earlier run's outputs unless ``overwrite``."""
    import shutil

    from hpe_ros.errors import InputError

    out.mkdir(parents=True, exist_ok=True)
    existing = [out / name for name in OUTPUT_NAMES if (out / name).exists()]
    if existing and not overwrite:
        raise InputError(
            f"{out} already holds {', '.join(p.name for p in existing)}: use --overwrite or another --out"
        )
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time

    import numpy as np
    from tqdm import tqdm

    from hpe_ros.camera import (
        DEFAULT_HORIZONTAL_FOV_DEG,
        intrinsics_from_fov,
        intrinsics_from_values,
        load_intrinsics,
    )
    from hpe_ros.detect import load_detector
    from hpe_ros.engine import open_engine
    from hpe_ros.io.bag import PoseBagWriter
    from hpe_ros.io.csv_writer import PoseCsvWriter
    from hpe_ros.io.sources import open_source
    from hpe_ros.io.video import AnnotatedVideoWriter
    from hpe_ros.model.default import require_source_camera, resolve_model
    from hpe_ros.tracker import STAGES, HeadPoseTracker

    model = resolve_model(args.model)
    require_source_camera(model)
    config = tracker_config(args)
    out = Path(args.out)
    source = open_source(args.source, args.fps)
    engine = open_engine(model, backend=args.backend)
    detector = load_detector(args.detector, args.min_score)
    prepare_output(out, args.overwrite)

    fixed_K, intrinsics_note = None, None
    if args.intrinsics:
        fixed_K, intrinsics_note = intrinsics_from_values(*args.intrinsics), "--intrinsics"
    elif args.calibration:
        fixed_K, intrinsics_note = (
            load_intrinsics(Path(args.calibration)),
            f"calibration file {args.calibration}",
        )
    fov = args.fov_deg or DEFAULT_HORIZONTAL_FOV_DEG

    tracker = HeadPoseTracker(engine, detector, config)
    csv_writer = PoseCsvWriter(out / "poses.csv")
    bag = PoseBagWriter(out / "poses", args.camera_frame, args.bag_images)
    video = None
    stage_ms = dict.fromkeys((*STAGES, "read", "write"), 0.0)
    frames = faces = max_faces = max_detections = dropped = 0
    track_ids: set[int] = set()
    K, K_size = fixed_K, None
    status, error = "completed", None
    start = time.perf_counter()
    progress = tqdm(total=args.max_frames or source.length, unit="frame", desc="hpe track")
    try:
        tick = time.perf_counter()
        for frame in source:
            stage_ms["read"] += (time.perf_counter() - tick) * 1e3
            height, width = frame.image.shape[:2]
            if fixed_K is None and (width, height) != K_size:
                K, K_size = intrinsics_from_fov(width, height, fov), (width, height)
            result = tracker.process(frame.image, frame.stamp_ns, K)
            tick = time.perf_counter()
            csv_writer.write(frame.index, result)
            bag.write(result, frame.image if args.bag_images else None)
            if not args.no_video:
                video = video or AnnotatedVideoWriter(out / "annotated.mp4", source.fps, (width, height))
                video.write(frame.image, result, K)
            stage_ms["write"] += (time.perf_counter() - tick) * 1e3
            for stage, ms in result.timings_ms.items():
                stage_ms[stage] += ms
            frames += 1
            faces += len(result.faces)
            max_faces = max(max_faces, len(result.faces))
            max_detections = max(max_detections, result.num_detections)
            dropped += result.dropped
            track_ids.update(f.track_id for f in result.faces)
            progress.update()
            progress.set_postfix(faces=len(result.faces))
            if args.max_frames and frames >= args.max_frames:
                break
            tick = time.perf_counter()
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        progress.close()
        source.close()
        csv_writer.close()
        bag.close()
        if video is not None:
            video.close()
        elapsed = time.perf_counter() - start
        warnings = source.problems()
        summary = {
            "status": status,
            "error": error,
            "warnings": warnings,
            "source": args.source,
            "source_frames": source.length,
            "frames": frames,
            "faces": faces,
            "max_faces_in_a_frame": max_faces,
            "max_detections_in_a_frame": max_detections,
            "tracks": len(track_ids),
            "faces_without_estimate": dropped,
            "clock_resets": tracker.clock_resets,
            "anchors_per_track_at_end": {str(i): n for i, n in tracker.anchor_counts().items()},
            "fps": frames / elapsed if elapsed > 0 else 0.0,
            "ms_per_frame": {stage: ms / max(frames, 1) for stage, ms in stage_ms.items()},
            "intrinsics": {
                "K": None if K is None else np.asarray(K).round(3).tolist(),
                "from": intrinsics_note or f"assumed horizontal field of view {fov} deg",
            },
            "engine": engine.describe(),
            "detector": args.detector,
            "estimator": config.estimator,
            "anchor_policy": config.anchors.policy,
            "outputs": {
                "video": None if video is None else str(out / "annotated.mp4"),
                "csv": str(out / "poses.csv"),
                "bag": str(out / "poses"),
                "bag_messages": bag.messages,
            },
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    for warning in warnings:
        print(f"hpe track: warning: {warning}", file=sys.stderr)
    print(
        f"{frames} frames, {faces} face poses, {len(track_ids)} tracks, {summary['fps']:.1f} fps "
        f"-> {out} ({status})"
    )
    return 0 if status == "completed" else 130
