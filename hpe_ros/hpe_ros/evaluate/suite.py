"""``hpe eval suite``: every tracker variant on every clip of the ground-truth video suite, scored.

Variants (:data:`VARIANTS`): ``relative`` (the anchor keyframes: for a landmark engine the person shape and
the keyframe pose graph; and the previous frame, through the measured head motion), ``absolute`` (the
single-frame estimate on every frame, no anchors), ``constant`` (the frontal pose on every frame: the floor)
and, on request, ``relative_one_euro`` / ``absolute_one_euro`` (the fixed One-Euro rotation filter instead of
the uncertainty-driven one). Each clip's detections are computed once and shared by the variants. The face
scored is the tracker's primary (largest) face, which in the suite is the person the ground truth describes
(the crossing person walks behind, smaller).

Per variant, pooled over all frames of all clips (JSON keys as issue #14 names them):

- ``geodesic_mean`` (deg): geodesic error of R_cam←head against the truth; a frame without a pose is scored
  as the frontal pose (a miss is a failure, not a skipped frame);
- ``geodesic_by_yaw``: the same per true |yaw| bin (BIWI yaw) ``0-30``, ``30-60``, ``60-90`` (≥ 60);
- ``continuity``: frames with a pose / frames with a visible face (every suite frame shows the face);
- ``jitter_still_deg_s``: median angular speed of the output over steps where the true head is still
  (true rotation step < :data:`~hpe_ros.evaluate.video.TRUE_STILL_DEG_PER_FRAME`);
- ``lag_frames``: on clips tagged ``sweep``, the shift s (0..:data:`MAX_LAG_FRAMES`) that minimises the mean
  geodesic between the output at frame k and the truth at k − s over moving frames; the median over clips;
- ``id_switches``: changes of the primary face's track id between consecutive frames, summed over clips;
- ``ms_per_frame``: mean tracker time per frame (detections excluded).
"""

from __future__ import annotations

import json
from itertools import islice, pairwise
from pathlib import Path

import numpy as np

from hpe_ros.config import with_overrides
from hpe_ros.errors import InputError
from hpe_ros.evaluate.harness import FRONTAL
from hpe_ros.evaluate.report import ensure_output_dir
from hpe_ros.evaluate.video import TRUE_STILL_DEG_PER_FRAME, ModeRun, angular_speeds_deg_s, run_tracker
from hpe_ros.geometry import biwi_from_head_rotation, geodesic_deg
from hpe_ros.synth.suite import SuiteEntry, read_manifest
from hpe_ros.tracker import TrackerConfig

VARIANT_SETTINGS: dict[str, tuple[str, dict]] = {
    "relative": ("relative", {}),
    "absolute": ("absolute", {}),
    "relative_one_euro": ("relative", {"rotation_kalman.enabled": False}),
    "absolute_one_euro": ("absolute", {"rotation_kalman.enabled": False}),
}
"""Tracker variants: (estimator, parameter overrides). The *_one_euro variants filter with the fixed One-Euro
settings instead of the uncertainty-driven filter (the filter's before/after)."""
VARIANTS = (*VARIANT_SETTINGS, "constant")
DEFAULT_VARIANTS = ("relative", "absolute", "constant")
YAW_BINS = {"0-30": (0.0, 30.0), "30-60": (30.0, 60.0), "60-90": (60.0, 1e9)}
MAX_LAG_FRAMES = 8
MOVING_DEG_PER_FRAME = 0.5


def best_lag(rotations: list[np.ndarray], truth: np.ndarray, moving: np.ndarray) -> int | None:
    """Shift s minimising mean geodesic(output_k, truth_{k−s}) over moving frames k (None: none move)."""
    frames = np.flatnonzero(moving)
    frames = frames[frames >= MAX_LAG_FRAMES]
    if not len(frames):
        return None
    predicted = np.stack([rotations[k] for k in frames])
    errors = [float(geodesic_deg(predicted, truth[frames - s]).mean()) for s in range(MAX_LAG_FRAMES + 1)]
    return int(np.argmin(errors))


def score_clip(run: ModeRun, truth: np.ndarray, tags: tuple[str, ...]) -> dict:
    """Per-frame errors and the clip-level figures of one variant's run against the truth [N, 3, 3]."""
    filled = [FRONTAL if R is None else R for R in run.rotations]
    errors = geodesic_deg(np.stack(filled), truth)
    true_steps = geodesic_deg(truth[1:], truth[:-1])
    speeds = angular_speeds_deg_s(run.rotations, run.stamps_ns)
    still = (true_steps < TRUE_STILL_DEG_PER_FRAME) & np.isfinite(speeds)
    ids = [i for i in run.track_ids]
    switches = sum(1 for a, b in pairwise(ids) if a is not None and b is not None and a != b)
    moving = np.r_[False, true_steps > MOVING_DEG_PER_FRAME]
    lag = best_lag(filled, truth, moving) if "sweep" in tags and run.mode != "constant" else None
    return {
        "errors": errors,
        "still_speeds": speeds[still],
        "with_pose": sum(R is not None for R in run.rotations),
        "lag": lag,
        "id_switches": switches,
        "ms": list(run.ms),
    }


def summarize_variant(scores: list[dict], yaw_abs: np.ndarray) -> dict:
    """The issue's JSON figures pooled over the clips' scores (``yaw_abs``: true |yaw| of every frame)."""
    errors = np.concatenate([s["errors"] for s in scores])
    still = np.concatenate([s["still_speeds"] for s in scores])
    lags = [s["lag"] for s in scores if s["lag"] is not None]
    by_yaw = {}
    for name, (low, high) in YAW_BINS.items():
        in_bin = (yaw_abs >= low) & (yaw_abs < high)
        by_yaw[name] = float(errors[in_bin].mean()) if in_bin.any() else None
    return {
        "geodesic_mean": float(errors.mean()),
        "geodesic_by_yaw": by_yaw,
        "frames_by_yaw": {
            name: int(((yaw_abs >= lo) & (yaw_abs < hi)).sum()) for name, (lo, hi) in YAW_BINS.items()
        },
        "continuity": sum(s["with_pose"] for s in scores) / len(errors),
        "jitter_still_deg_s": float(np.median(still)) if len(still) else None,
        "jitter_still_p90_deg_s": float(np.percentile(still, 90)) if len(still) else None,
        "lag_frames": float(np.median(lags)) if lags else None,
        "id_switches": int(sum(s["id_switches"] for s in scores)),
        "ms_per_frame": float(np.mean(np.concatenate([s["ms"] for s in scores]))),
    }


def constant_run(stamps_ns: np.ndarray) -> ModeRun:
    """The floor: the frontal pose on every frame."""
    n = len(stamps_ns)
    return ModeRun("constant", stamps_ns, [None] * n, [FRONTAL] * n, [0.0] * n, track_ids=[None] * n)


def evaluate_suite(
    entries: list[SuiteEntry],
    engine,
    detector,
    variants: tuple[str, ...] = DEFAULT_VARIANTS,
    config: TrackerConfig | None = None,
    max_frames: int | None = None,
    progress: bool = True,
) -> dict:
    """Run ``variants`` on every clip of ``entries``; per-variant pooled figures and per-clip figures."""
    from hpe_ros.camera import load_intrinsics
    from hpe_ros.io.sources import VideoSource
    from hpe_ros.synth.clip import read_ground_truth

    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise InputError(f"unknown variants {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    scores: dict[str, list[dict]] = {v: [] for v in variants}
    yaws, clips = [], {}
    for entry in entries:
        frames, _ = read_ground_truth(entry.ground_truth)
        K = load_intrinsics(entry.camera)

        def open_frames(video: Path = entry.video):
            source = VideoSource(str(video))
            return islice(source, max_frames) if max_frames else source

        detections, runs = None, {}
        for variant in variants:
            if variant == "constant":
                continue
            estimator, overrides = VARIANT_SETTINGS[variant]
            runs[variant], detections = run_tracker(
                open_frames(),
                engine,
                detector,
                K,
                estimator,
                detections,
                progress=progress,
                config=with_overrides(config or TrackerConfig(), overrides),
            )
            runs[variant].mode = variant
        count = len(next(iter(runs.values())).stamps_ns) if runs else len(frames)
        if len(frames) < count:
            raise InputError(f"{entry.ground_truth} has {len(frames)} rows for {count} frames")
        truth = np.stack([f.R for f in frames[:count]])
        if "constant" in variants:
            runs["constant"] = constant_run(np.array([f.stamp_ns for f in frames[:count]], np.int64))
        yaw_abs = np.abs(np.array([biwi_from_head_rotation(R)[0] for R in truth]))
        yaws.append(yaw_abs)
        clips[entry.name] = {"frames": count, "tags": list(entry.tags), "variants": {}}
        for variant in variants:
            clip_score = score_clip(runs[variant], truth, entry.tags)
            scores[variant].append(clip_score)
            clips[entry.name]["variants"][variant] = summarize_variant([clip_score], yaw_abs)
    yaw_all = np.concatenate(yaws)
    summary = {v: summarize_variant(scores[v], yaw_all) for v in variants}
    return {"frames": len(yaw_all), "variants": summary, "clips": clips}


def run_suite_eval(
    suite_dir: str | Path,
    model: str | Path,
    json_path: str | Path,
    clips: list[str] | None = None,
    variants: tuple[str, ...] = DEFAULT_VARIANTS,
    config: TrackerConfig | None = None,
    detector: str = "blazeface",
    backend: str = "auto",
    max_frames: int | None = None,
    progress: bool = True,
) -> dict:
    """``hpe eval suite``: evaluate the suite in ``suite_dir`` (``suite.json``) and write the JSON report."""
    from hpe_ros.detect import load_detector
    from hpe_ros.engine import open_engine

    entries = read_manifest(suite_dir)
    if clips:
        missing = sorted(set(clips) - {e.name for e in entries})
        if missing:
            raise InputError(f"the suite has no clips {', '.join(missing)}")
        entries = [e for e in entries if e.name in clips]
    ensure_output_dir(json_path)
    engine = open_engine(model, backend=backend)
    result = evaluate_suite(entries, engine, load_detector(detector), variants, config, max_frames, progress)
    summary = {
        "task": "suite",
        "suite": str(suite_dir),
        "model": str(model),
        "engine": engine.describe(),
        "detector": detector,
        **result,
        "definitions": {
            "geodesic_by_yaw": "mean geodesic error (deg) per true |yaw| bin (BIWI yaw); 60-90 holds >= 60",
            "continuity": "frames with a pose / frames with a visible face (every suite frame)",
            "jitter_still_deg_s": f"median output angular speed over steps whose true rotation step is < "
            f"{TRUE_STILL_DEG_PER_FRAME} deg",
            "lag_frames": f"median over sweep clips of the shift (0..{MAX_LAG_FRAMES} frames) minimising the "
            f"error of the output against the delayed truth over frames moving > {MOVING_DEG_PER_FRAME} deg",
            "id_switches": "changes of the primary face's track id between consecutive frames",
        },
    }
    try:
        Path(json_path).write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as error:
        raise InputError(f"cannot write the report {json_path}: {error}") from error
    return summary
