"""``hpe eval video``: the tracker on a clip, relative (anchor keyframes) vs absolute (no anchors), scored.

Both modes run :class:`~hpe_ros.tracker.HeadPoseTracker` on the same frames with the same detections (the
tracker's detector, with its search for missing faces, runs in the first pass), crop margin
:data:`~hpe_ros.crop.FACE_BOX_MARGIN`. The face scored in a frame is the tracker's primary (largest) face.

- Accuracy (clips with ground truth, e.g. the bundled demo clip): AFLW2000 per-angle MAE and geodesic error of
  the tracker's output R_cam←head against the truth, per mode; a frame without a face is a failure. The floor
  ``constant_frontal`` scores the frontal pose on every frame.
- Jitter (any clip): the angular speed of the output, geodesic(R_k, R_k−1) / (t_k − t_k−1) in deg/s, over
  STILL steps, i.e. consecutive frames whose face boxes barely move: box centre shift and side change both at
  most :data:`STILL_BOX_TOLERANCE` × the box side. Reported: median (the headline), p90, step count. With
  ground truth, the same over the steps where the true head is still (true angular speed < 0.01°/frame).
  A still face box does not mean a still head (a talking head nods and turns in place), so two stricter
  measures are reported beside it:

  - ``jitter_high_frequency``: over the same still steps, the angular speed of the output's deviation from its
    own centred local-quadratic fit (Savitzky–Golay, :data:`SMOOTH_WINDOW` frames): smooth motion, real or a
    filter's lag, is left out; what remains is frame-to-frame noise.
  - ``jitter_repeated_frames``: the output's angular speed over steps whose two images are the same (mean
    absolute pixel difference < :data:`REPEATED_FRAME_LEVELS` grey levels; generated clips repeat frames):
    the only steps of a real clip known to be still; a filter still catching up with earlier motion shows
    here too.
- Cycle consistency (any clip, the network's relative mode on the primary face's crops): frame triplets
  (A, B, C) = (k, k + s, k + 2s); error = geodesic(R_B←A composed with R_C←B, R_C←A) in degrees; mean,
  median, p90 over up to :data:`MAX_TRIPLETS` triplets spread over the clip (s = :data:`TRIPLET_STEP`).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.signal import savgol_coeffs
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from hpe_ros.config import parameter_specs
from hpe_ros.detect import Detection, ExternalDetections, FaceDetector
from hpe_ros.engine.base import PoseEngine
from hpe_ros.errors import InputError
from hpe_ros.evaluate.harness import FRONTAL, PoseResult, aflw_angles_deg, score_rotation, summarize
from hpe_ros.evaluate.network import NetworkEstimator
from hpe_ros.evaluate.report import ensure_output_dir
from hpe_ros.geometry import geodesic_deg
from hpe_ros.tracker import ESTIMATORS, HeadPoseTracker, TrackerConfig

STILL_BOX_TOLERANCE = 0.01
TRUE_STILL_DEG_PER_FRAME = 0.01
TRIPLET_STEP = 5
MAX_TRIPLETS = 40
SMOOTH_WINDOW = 9
REPEATED_FRAME_LEVELS = 0.35
CSV_FIELDS = ("mode", "frame", "stamp_ns", "face", "pred_pitch", "pred_yaw", "pred_roll", "speed_deg_s")


@dataclass
class ModeRun:
    """One tracker pass: per frame the primary face's box and rotation (None without a face), timings."""

    mode: str
    stamps_ns: np.ndarray
    boxes: list[np.ndarray | None]
    rotations: list[np.ndarray | None]
    ms: list[float]
    crops: list[np.ndarray | None] = field(default_factory=list)  # uint8 [3, S, S] network inputs
    track_ids: list[int | None] = field(default_factory=list)
    frame_change: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Per step k−1 → k: mean absolute difference of the two images (grey levels)."""


def angular_speeds_deg_s(rotations: list[np.ndarray | None], stamps_ns: np.ndarray) -> np.ndarray:
    """Per step k (frames k−1 → k) geodesic(R_k, R_k−1) / Δt in deg/s; NaN where a frame has no rotation."""
    speeds = np.full(max(len(rotations) - 1, 0), np.nan)
    for k in range(1, len(rotations)):
        if rotations[k] is not None and rotations[k - 1] is not None:
            dt = (int(stamps_ns[k]) - int(stamps_ns[k - 1])) * 1e-9
            if dt > 0:
                speeds[k - 1] = float(geodesic_deg(rotations[k], rotations[k - 1])) / dt
    return speeds


def high_frequency_speeds_deg_s(
    rotations: list[np.ndarray | None], stamps_ns: np.ndarray, window: int = SMOOTH_WINDOW
) -> np.ndarray:
    """Per step k−1 → k: the angular speed (deg/s) of D_k = R_k · S_kᵀ, S_k the centred local-quadratic fit
    (``window`` frames, rotation vectors about R_k) of the rotations; NaN where a window lacks a rotation."""
    half, weights = window // 2, savgol_coeffs(window, 2)
    deviations: list[Rotation | None] = [None] * len(rotations)
    for k in range(half, len(rotations) - half):
        around = rotations[k - half : k + half + 1]
        if any(R is None for R in around):
            continue
        centre = Rotation.from_matrix(rotations[k])
        offsets = (Rotation.from_matrix(np.stack(around)) * centre.inv()).as_rotvec()
        deviations[k] = centre * (Rotation.from_rotvec(weights @ offsets) * centre).inv()
    speeds = np.full(max(len(rotations) - 1, 0), np.nan)
    for k in range(1, len(rotations)):
        now, before = deviations[k], deviations[k - 1]
        dt = (int(stamps_ns[k]) - int(stamps_ns[k - 1])) * 1e-9
        if now is not None and before is not None and dt > 0:
            speeds[k - 1] = float(np.degrees((now * before.inv()).magnitude())) / dt
    return speeds


def still_steps(boxes: list[np.ndarray | None], tolerance: float = STILL_BOX_TOLERANCE) -> np.ndarray:
    """Per step k−1 → k: both boxes present, centre shift and side change ≤ ``tolerance`` × the box side."""
    still = np.zeros(max(len(boxes) - 1, 0), bool)
    for k in range(1, len(boxes)):
        a, b = boxes[k - 1], boxes[k]
        if a is None or b is None:
            continue
        side_a, side_b = max(a[2] - a[0], a[3] - a[1]), max(b[2] - b[0], b[3] - b[1])
        shift = np.hypot(*((b[:2] + b[2:]) / 2 - (a[:2] + a[2:]) / 2))
        still[k - 1] = max(shift, abs(side_b - side_a)) <= tolerance * side_a
    return still


def jitter_statistics(speeds_deg_s: np.ndarray, still: np.ndarray) -> dict[str, float | int | None]:
    """Median and p90 angular speed (deg/s) over the still steps that have a speed (None: no such step)."""
    values = speeds_deg_s[still & np.isfinite(speeds_deg_s)]
    if not len(values):
        return {"steps": 0, "median_deg_per_s": None, "p90_deg_per_s": None}
    return {
        "steps": len(values),
        "median_deg_per_s": float(np.median(values)),
        "p90_deg_per_s": float(np.percentile(values, 90)),
    }


def cycle_errors_deg(engine: PoseEngine, crops: list[np.ndarray], batch: int = 16) -> np.ndarray:
    """Cycle error per triplet: ``crops`` is a list of (A, B, C) float32 [3, S, S] network inputs."""
    errors = []
    for start in range(0, len(crops), batch):
        chunk = crops[start : start + batch]
        a, b, c = (np.stack([triplet[i] for triplet in chunk]) for i in range(3))
        R_ab, _ = engine.infer(a, b)
        R_bc, _ = engine.infer(b, c)
        R_ac, _ = engine.infer(a, c)
        errors.extend(geodesic_deg(R_bc @ R_ab, R_ac).reshape(-1).tolist())
    return np.asarray(errors, float)


def pick_triplets(has_face: list[bool], step: int = TRIPLET_STEP, limit: int = MAX_TRIPLETS) -> list[tuple]:
    """Up to ``limit`` triplets (k, k + step, k + 2·step) of frames with a face, spread over the clip."""
    starts = [k for k in range(len(has_face) - 2 * step) if has_face[k] and has_face[k + step]]
    starts = [k for k in starts if has_face[k + 2 * step]]
    if len(starts) > limit:
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, limit).round().astype(int)]
    return [(k, k + step, k + 2 * step) for k in starts]


def run_tracker(
    frames,
    engine: PoseEngine,
    detector: FaceDetector,
    K: np.ndarray,
    mode: str,
    detections: list[list[Detection]] | None = None,
    keep_crops: bool = False,
    progress: bool = True,
    config: TrackerConfig | None = None,
) -> tuple[ModeRun, list[list[Detection]]]:
    """One pass of the tracker in ``mode`` (with ``config``, default the defaults); returns the run and the
    detections used (reuse them next pass)."""
    config = replace(config or TrackerConfig(), estimator=mode)
    given = ExternalDetections()
    tracker = HeadPoseTracker(engine, detector if detections is None else given, config)
    estimator = NetworkEstimator(engine, "crops")
    run = ModeRun(mode, np.zeros(0, np.int64), [], [], [])
    used, stamps, change, previous = [], [], [], None
    for k, frame in enumerate(tqdm(frames, desc=f"eval-video {mode}", unit="frame", disable=not progress)):
        image = np.asarray(frame.image, np.int16)
        if previous is not None:
            same_size = previous.shape == image.shape
            change.append(float(np.abs(image - previous).mean()) if same_size else np.inf)
        previous = image
        if detections is not None:
            given.set(detections[k])
        start = time.perf_counter()
        result = tracker.process(frame.image, frame.stamp_ns, K)
        run.ms.append(1000.0 * (time.perf_counter() - start) - result.timings_ms["detect"])
        used.append(tracker.last_detections)
        stamps.append(frame.stamp_ns)
        face = result.faces[result.primary_index] if result.faces else None
        run.boxes.append(None if face is None else face.box.copy())
        run.rotations.append(None if face is None else face.rotation.copy())
        run.track_ids.append(None if face is None else face.track_id)
        if keep_crops:
            crop = None
            if face is not None:
                box = Detection(*face.box, 1.0)
                crop = np.round(estimator.crop(frame.image, box) * 255).astype(np.uint8)
            run.crops.append(crop)
    run.stamps_ns = np.asarray(stamps, np.int64)
    run.frame_change = np.asarray(change, float)
    return run, used


def accuracy(rotations: list[np.ndarray | None], truth: list[np.ndarray], ms: list[float]) -> dict:
    """The AFLW2000-style summary of per-frame rotations against the truth (frames without one: failures)."""
    results = []
    for k, (R_pred, R_gt) in enumerate(zip(rotations, truth, strict=False)):
        gt_deg = aflw_angles_deg(R_gt)
        pred_deg, errors, geodesic = score_rotation(FRONTAL if R_pred is None else R_pred, R_gt, gt_deg)
        failure = "no face tracked" if R_pred is None else ""
        results.append(PoseResult(f"frame-{k:05d}", gt_deg, pred_deg, errors, geodesic, ms[k], failure))
    return summarize(results)


def write_frames_csv(path: Path, runs: list[ModeRun]) -> None:
    """Per mode and frame: the primary face's AFLW2000 angles and its angular speed."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_FIELDS)
        for run in runs:
            speeds = np.concatenate([[np.nan], angular_speeds_deg_s(run.rotations, run.stamps_ns)])
            for k, R in enumerate(run.rotations):
                angles = [""] * 3 if R is None else [f"{v:.4f}" for v in aflw_angles_deg(R)]
                speed = "" if not np.isfinite(speeds[k]) else f"{speeds[k]:.4f}"
                writer.writerow([run.mode, k, int(run.stamps_ns[k]), int(R is not None), *angles, speed])


def evaluate_video(
    open_frames,
    engine: PoseEngine,
    detector: FaceDetector,
    K: np.ndarray,
    truth: list[np.ndarray] | None = None,
    progress: bool = True,
    config: TrackerConfig | None = None,
) -> tuple[dict, list[ModeRun]]:
    """Run both modes (``config``, default the defaults) over the frames of ``open_frames()`` (a fresh
    iterable per call) and score them."""
    runs, detections = [], None
    for mode in ESTIMATORS:
        run, detections = run_tracker(
            open_frames(), engine, detector, K, mode, detections, mode == "relative", progress, config
        )
        runs.append(run)
    if not len(runs[0].stamps_ns):
        raise InputError("the clip has no frames")
    if truth is not None:
        if len(truth) < len(runs[0].stamps_ns):
            raise InputError(f"the ground truth has {len(truth)} rows for {len(runs[0].stamps_ns)} frames")
        truth = truth[: len(runs[0].stamps_ns)]
    still = still_steps(runs[0].boxes)
    repeated = runs[0].frame_change < REPEATED_FRAME_LEVELS
    summary: dict = {"frames": len(runs[0].stamps_ns), "modes": {}}
    for run in runs:
        speeds = angular_speeds_deg_s(run.rotations, run.stamps_ns)
        entry = {
            "frames_with_face": sum(R is not None for R in run.rotations),
            "ms_per_frame": float(np.mean(run.ms)),
            "jitter": jitter_statistics(speeds, still),
            "jitter_high_frequency": jitter_statistics(
                high_frequency_speeds_deg_s(run.rotations, run.stamps_ns), still
            ),
            "jitter_repeated_frames": jitter_statistics(speeds, repeated),
        }
        if truth is not None:
            true_step_deg = angular_speeds_deg_s(list(truth), run.stamps_ns) * np.diff(run.stamps_ns) * 1e-9
            true_still = true_step_deg < TRUE_STILL_DEG_PER_FRAME
            entry["jitter_truly_still"] = jitter_statistics(speeds, true_still)
            entry["accuracy"] = accuracy(run.rotations, truth, run.ms)
        summary["modes"][run.mode] = entry
    if truth is not None:
        frames = len(runs[0].stamps_ns)
        summary["constant_frontal"] = accuracy([FRONTAL] * frames, truth, [0.0] * frames)
    relative = next(run for run in runs if run.mode == "relative")
    triplets = pick_triplets([c is not None for c in relative.crops])
    errors = cycle_errors_deg(
        engine, [tuple(relative.crops[i].astype(np.float32) / 255.0 for i in t) for t in triplets]
    )
    summary["cycle_consistency"] = {
        "triplets": len(errors),
        "step_frames": TRIPLET_STEP,
        "mean_deg": float(errors.mean()) if len(errors) else None,
        "median_deg": float(np.median(errors)) if len(errors) else None,
        "p90_deg": float(np.percentile(errors, 90)) if len(errors) else None,
    }
    summary["still_steps"] = int(still.sum())
    summary["repeated_frame_steps"] = int(repeated.sum())
    return summary, runs


def run_video_eval(
    clip: str | Path,
    model: str | Path,
    json_path: str | Path,
    gt: str | Path | None = None,
    calibration: str | Path | None = None,
    detector: str = "blazeface",
    backend: str = "auto",
    max_frames: int | None = None,
    progress: bool = True,
    config: TrackerConfig | None = None,
) -> dict:
    """``hpe eval video``: evaluate on ``clip`` (``demo`` = the bundled clip) and write JSON + per-frame CSV.

    Without ``gt``/``calibration``, ``<clip stem>_gt.csv`` / ``<clip stem>_camera.yaml`` beside the clip are
    used when present (the bundled clip has both); intrinsics otherwise come from the ground truth, else an
    assumed 60° horizontal field of view.
    """
    from itertools import islice

    from hpe_ros.camera import intrinsics_from_fov, load_intrinsics
    from hpe_ros.io.sources import VideoSource
    from hpe_ros.pipeline import RuntimeConfig, open_runtime
    from hpe_ros.synth.clip import DEMO_CLIP_DIR, VIDEO_NAME, read_ground_truth

    clip = DEMO_CLIP_DIR / VIDEO_NAME if str(clip) == "demo" else Path(clip)
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--max-frames must be positive, got {max_frames}")
    gt = Path(gt) if gt else _beside(clip, "_gt.csv")
    calibration = Path(calibration) if calibration else _beside(clip, "_camera.yaml")
    ensure_output_dir(json_path)
    truth_frames, K = read_ground_truth(gt) if gt else (None, None)
    if calibration:
        K = load_intrinsics(calibration)
    source = VideoSource(str(clip))
    try:
        height, width = next(iter(source)).image.shape[:2]
    finally:
        source.close()
    K = intrinsics_from_fov(width, height) if K is None else K
    runtime = RuntimeConfig(model_file_path=str(model), backend=backend, detector=detector)
    engine, face_detector = open_runtime(runtime)

    def open_frames():
        frames = VideoSource(str(clip))
        return islice(frames, max_frames) if max_frames else frames

    truth = None if truth_frames is None else [f.R for f in truth_frames]
    summary, runs = evaluate_video(open_frames, engine, face_detector, K, truth, progress, config)
    paths = {"json": Path(json_path), "csv": Path(json_path).with_suffix(".csv")}
    summary = {
        "task": "video",
        "clip": str(clip),
        "model": str(model),
        "engine": engine.describe(),
        "detector": detector,
        "tracker_overrides": _overrides(config),
        "ground_truth": str(gt) if gt else None,
        "intrinsics": {"K": np.asarray(K).round(3).tolist(), "from": str(calibration or gt or "60 deg fov")},
        **summary,
        "definitions": {
            "jitter": f"angular speed of the output (deg/s) over steps whose face box moves <= "
            f"{STILL_BOX_TOLERANCE:g} x its side (centre shift and side change)",
            "jitter_high_frequency": "the same steps, angular speed of the output's deviation from its "
            f"centred {SMOOTH_WINDOW}-frame local-quadratic fit (noise; smooth motion left out)",
            "jitter_repeated_frames": "angular speed of the output over steps whose two images are the same "
            f"(mean absolute difference < {REPEATED_FRAME_LEVELS:g} grey levels)",
            "cycle": "geodesic(R_C<-B * R_B<-A, R_C<-A) on frames "
            f"(k, k+{TRIPLET_STEP}, k+{2 * TRIPLET_STEP})",
        },
        "outputs": {kind: str(path) for kind, path in paths.items()},
    }
    try:
        paths["json"].write_text(json.dumps(summary, indent=2) + "\n")
        write_frames_csv(paths["csv"], runs)
    except OSError as error:
        raise InputError(f"cannot write the report {paths['json']}: {error}") from error
    return summary


def _overrides(config: TrackerConfig | None) -> dict:
    """The parameters of ``config`` that differ from the defaults (dotted names)."""
    if config is None:
        return {}
    defaults = {spec.name: spec.default for spec in parameter_specs(TrackerConfig())}
    return {
        spec.name: spec.default for spec in parameter_specs(config) if defaults[spec.name] != spec.default
    }


def _beside(clip: Path, suffix: str) -> Path | None:
    candidate = clip.with_name(clip.stem + suffix)
    return candidate if candidate.is_file() else None
