"""``hpe track SOURCE --out DIR``: track head poses in a video file, a camera or an image folder.

Writes ``DIR/annotated.mp4``, ``DIR/poses.csv``, ``DIR/poses/`` (a ROS 2 bag, MCAP storage: ``poses.mcap`` +
``metadata.yaml``) and ``DIR/summary.json``. Every output is flushed/closed even when the run stops on an
error or Ctrl-C; the summary then says how far it got and why it stopped.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpe_ros.cli import DefaultsHelpFormatter

if TYPE_CHECKING:
    from hpe_ros.io.sources import FrameSource
    from hpe_ros.results import FrameResult
    from hpe_ros.tracker import HeadPoseTracker, TrackerConfig

OUTPUT_NAMES = ("annotated.mp4", "poses.csv", "poses", "summary.json")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track",
        help="track head poses in a video, camera or image folder (video, CSV, ROS 2 bag, summary)",
        description="Detect, track and estimate the 6-DoF head pose of every face. SOURCE: a video file, a "
        "camera index (0) or a folder of images. Outputs in --out: annotated.mp4, poses.csv, poses/ (ROS 2 "
        "bag, MCAP: /head_pose, /head_poses, /tf) and summary.json (frames, faces, fps, per-stage ms). "
        "Needs no evaluation data (../shared).",
        epilog="A new face gets a pose from its second detection on (tracking.confirm_hits=2 guards against "
        "one-frame false detections; --param tracking.confirm_hits=1 reports it from the first). "
        "The overlay: "
        "x red = out of the face, y green = the person's left, z blue = up; label 'id: yY pP rR cC' = yaw, "
        "pitch, roll (degrees; yaw > 0: turned toward image-left, pitch > 0: up, roll > 0: head top toward "
        "image-right) and confidence; orange box = propagated through a detector miss. Quiet by default: "
        "hpe --verbose track ... shows the MediaPipe/OpenCV log lines.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("source", help="video file, camera index or image folder")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--model",
        default="default",
        help="'default' (the model embedded in the package), or a FILE: a .safetensors checkpoint or an "
        "exported .onnx. (fsanet[:DIR], mean-pose and MODEL@absolute are evaluation baselines of hpe eval, "
        "not trackers.)",
    )
    parser.add_argument("--backend", default="auto", help="auto, torch, onnxruntime or tensorrt")
    parser.add_argument(
        "--detector",
        default="blazeface",
        help="blazeface (full range), blazeface-short (faces within ~2 m) or the path of an ONNX detector",
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
        "--calibrate-on-frame",
        metavar="N|auto",
        help="each face's head rotation at frame N (0-based), or at its first confident near-frontal frame "
        "(auto), becomes its reference (TF face_ref_<id> in the bag; the poses do not change)",
    )
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
    from hpe_ros.config import parse_assignments, with_overrides
    from hpe_ros.tracker import TrackerConfig

    values = parse_assignments(args.param, flag="--param")
    if args.policy:
        values["anchors.policy"] = args.policy
    if args.calibrate_on_frame == "auto":
        values["reference.auto"] = True
    calibration_frame(args)  # a bad value is refused before any work
    return with_overrides(TrackerConfig(), values)


def calibration_frame(args: argparse.Namespace) -> int | None:
    """The frame index of ``--calibrate-on-frame N`` (None for ``auto`` or without the option)."""
    from hpe_ros.errors import InputError

    value = args.calibrate_on_frame
    if value is None or value == "auto":
        return None
    if not value.isdigit():
        raise InputError(f"--calibrate-on-frame takes a frame number or 'auto', got {value!r}")
    return int(value)


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


@dataclass
class RunStats:
    """What a run counted, for the summary."""

    stage_ms: dict[str, float]
    frames: int = 0
    faces: int = 0
    max_faces: int = 0
    max_detections: int = 0
    dropped: int = 0
    track_ids: set[int] = field(default_factory=set)
    bag_messages: int = 0
    """Messages written into the bag so far."""

    def add(self, result: FrameResult) -> None:
        """Count one frame's result and its per-stage times."""
        for stage, ms in result.timings_ms.items():
            self.stage_ms[stage] += ms
        self.frames += 1
        self.faces += len(result.faces)
        self.max_faces = max(self.max_faces, len(result.faces))
        self.max_detections = max(self.max_detections, result.num_detections)
        self.dropped += result.dropped
        self.track_ids.update(f.track_id for f in result.faces)


class FrameIntrinsics:
    """K for each frame: fixed (``--intrinsics`` / ``--calibration``) or from the field of view and size."""

    def __init__(self, args: argparse.Namespace) -> None:
        from hpe_ros.camera import DEFAULT_HORIZONTAL_FOV_DEG, intrinsics_from_values, load_intrinsics

        self.fov = args.fov_deg or DEFAULT_HORIZONTAL_FOV_DEG
        self.K, self.note = None, f"assumed horizontal field of view {self.fov} deg"
        if args.intrinsics:
            self.K, self.note = intrinsics_from_values(*args.intrinsics), "--intrinsics"
        elif args.calibration:
            self.K = load_intrinsics(Path(args.calibration))
            self.note = f"calibration file {args.calibration}"
        self.fixed = self.K is not None
        self._size: tuple[int, int] | None = None
        """The frame size the field-of-view K was made for."""

    def for_frame(self, width: int, height: int) -> np.ndarray:
        """K for a frame of this size."""
        from hpe_ros.camera import intrinsics_from_fov

        if not self.fixed and self._size != (width, height):
            self.K, self._size = intrinsics_from_fov(width, height, self.fov), (width, height)
        return self.K


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from contextlib import closing

    from hpe_ros.io.sources import open_source
    from hpe_ros.pipeline import RuntimeConfig, build_tracker
    from hpe_ros.tracker import STAGES

    runtime = RuntimeConfig(model_file_path=args.model, backend=args.backend, detector=args.detector)
    runtime.model_path()  # a missing or unusable model is said before any other work
    config = tracker_config(args)
    out = Path(args.out)
    intrinsics = FrameIntrinsics(args)
    with closing(open_source(args.source, args.fps)) as source:
        tracker = build_tracker(runtime, config, args.min_score)
        prepare_output(out, args.overwrite)
        stats = RunStats(dict.fromkeys((*STAGES, "read", "write"), 0.0))
        status, error = "completed", None
        start = time.perf_counter()
        job = TrackJob(args, out, source, tracker, intrinsics, stats)
        try:
            job.track_frames()
        except KeyboardInterrupt:
            status = "interrupted"
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            summary = job.write_summary(status, error, time.perf_counter() - start)
    for warning in summary["warnings"]:
        print(f"hpe track: warning: {warning}", file=sys.stderr)
    print(
        f"{stats.frames} frames, {stats.faces} face poses, {len(stats.track_ids)} tracks, "
        f"{summary['fps']:.1f} fps -> {out} ({status})"
    )
    return 0 if status == "completed" else 130


@dataclass
class TrackJob:
    """One ``hpe track`` run: its arguments, output folder, source, tracker, intrinsics and counts."""

    args: argparse.Namespace
    out: Path
    source: FrameSource
    tracker: HeadPoseTracker
    intrinsics: FrameIntrinsics
    stats: RunStats

    def track_frames(self) -> None:
        """Track every frame of the source into the CSV, the bag and the video; the outputs are closed (and
        so readable) however the loop ends."""
        import time
        from contextlib import ExitStack, closing

        from tqdm import tqdm

        from hpe_ros.io.bag import PoseBagWriter
        from hpe_ros.io.csv_writer import PoseCsvWriter
        from hpe_ros.io.video import AnnotatedVideoWriter

        with ExitStack() as outputs:
            csv_writer = outputs.enter_context(closing(PoseCsvWriter(self.out / "poses.csv")))
            bag = outputs.enter_context(
                closing(PoseBagWriter(self.out / "poses", self.args.camera_frame, self.args.bag_images))
            )
            progress = outputs.enter_context(
                tqdm(total=self.args.max_frames or self.source.length, unit="frame", desc="hpe track")
            )
            video = None
            tick = time.perf_counter()
            for frame in self.source:
                self.stats.stage_ms["read"] += (time.perf_counter() - tick) * 1e3
                height, width = frame.image.shape[:2]
                K = self.intrinsics.for_frame(width, height)
                if calibration_frame(self.args) == frame.index:
                    self.tracker.request_calibration()
                result = self.tracker.process(frame.image, frame.stamp_ns, K)
                tick = time.perf_counter()
                csv_writer.write(frame.index, result)
                bag.write(result, frame.image if self.args.bag_images else None)
                self.stats.bag_messages = bag.messages
                if not self.args.no_video:
                    if video is None:
                        video = outputs.enter_context(
                            closing(
                                AnnotatedVideoWriter(
                                    self.out / "annotated.mp4", self.source.fps, (width, height)
                                )
                            )
                        )
                    video.write(frame.image, result, K)
                self.stats.stage_ms["write"] += (time.perf_counter() - tick) * 1e3
                self.stats.add(result)
                progress.update()
                progress.set_postfix(faces=len(result.faces))
                if self.args.max_frames and self.stats.frames >= self.args.max_frames:
                    break
                tick = time.perf_counter()

    def write_summary(self, status: str, error: str | None, elapsed_s: float) -> dict[str, Any]:
        """Write ``summary.json`` (how far the run got, why it stopped, what it measured) and return it."""
        import json

        video = self.out / "annotated.mp4"
        summary = {
            "status": status,
            "error": error,
            "warnings": self.source.problems(),
            "source": self.args.source,
            "source_frames": self.source.length,
            "frames": self.stats.frames,
            "faces": self.stats.faces,
            "max_faces_in_a_frame": self.stats.max_faces,
            "max_detections_in_a_frame": self.stats.max_detections,
            "tracks": len(self.stats.track_ids),
            "faces_without_estimate": self.stats.dropped,
            "clock_resets": self.tracker.clock_resets,
            "anchors_per_track_at_end": {str(i): n for i, n in self.tracker.anchor_counts().items()},
            "fps": self.stats.frames / elapsed_s if elapsed_s > 0 else 0.0,
            "ms_per_frame": {
                stage: ms / max(self.stats.frames, 1) for stage, ms in self.stats.stage_ms.items()
            },
            "intrinsics": {
                "K": None if self.intrinsics.K is None else np.asarray(self.intrinsics.K).round(3).tolist(),
                "from": self.intrinsics.note,
            },
            "engine": self.tracker.engine.describe(),
            "detector": self.args.detector,
            "estimator": self.tracker.config.estimator,
            "anchor_policy": self.tracker.config.anchors.policy,
            "outputs": {
                "video": str(video) if video.exists() else None,
                "csv": str(self.out / "poses.csv"),
                "bag": str(self.out / "poses"),
                "bag_messages": self.stats.bag_messages,
            },
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        return summary
