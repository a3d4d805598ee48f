"""One evaluation end to end: load data and model, run the absolute or relative harness, write the report."""

from __future__ import annotations

from pathlib import Path

from hpe_ros.errors import InputError
from hpe_ros.evaluate.aflw2000 import load_aflw2000
from hpe_ros.evaluate.estimators import AbsolutePoseEstimator, as_relative, load_estimator
from hpe_ros.evaluate.harness import CROP_PROTOCOLS, evaluate_absolute, summarize
from hpe_ros.evaluate.relative import DEFAULT_TRANSFORMS, evaluate_relative
from hpe_ros.evaluate.report import ensure_output_dir, write_report

TASKS = ("aflw2000", "aflw2000-rel")


def run_aflw2000_eval(
    task: str,
    data_dir: str | Path,
    model: str,
    json_path: str | Path,
    split: str | Path | None = None,
    crop: str = "landmarks",
    detector: str = "blazeface",
    limit: int | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate ``model`` (a ``--model`` spec) on AFLW2000-3D and write JSON + CSV + PNG; returns the summary.

    ``task`` is ``aflw2000`` (absolute) or ``aflw2000-rel`` (mirror / ±30° pairs); ``limit`` keeps the first
    N images (sorted by name) for quick runs.
    """
    if task not in TASKS:
        raise InputError(f"unknown evaluation task {task!r}: use one of {TASKS}")
    if crop not in CROP_PROTOCOLS:
        raise InputError(f"unknown crop protocol {crop!r}: use one of {CROP_PROTOCOLS}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be positive, got {limit}")
    ensure_output_dir(json_path)
    samples = load_aflw2000(data_dir, split)[:limit]
    if not samples:
        raise InputError(f"no AFLW2000-3D image of {data_dir} is in the standard subset (|angles| ≤ 99°)")
    estimator = load_estimator(model)
    face_detector = None
    if crop == "detector":
        from hpe_ros.detect import load_detector

        face_detector = load_detector(detector)
    if task == "aflw2000":
        if not isinstance(estimator, AbsolutePoseEstimator):
            raise InputError(f"model {model!r} has no absolute (single-image) mode")
        results = evaluate_absolute(estimator, samples, crop, face_detector, progress)
    else:
        results = evaluate_relative(
            as_relative(estimator), samples, crop, face_detector, DEFAULT_TRANSFORMS, progress
        )
    summary = {
        "task": task,
        "model": model,
        "estimator": getattr(estimator, "name", model),
        "crop": crop,
        "detector": detector if crop == "detector" else None,
        "data": str(Path(data_dir).resolve()),
        "split": str(Path(split).resolve()) if split is not None else None,
        "transforms": [t.name for t in DEFAULT_TRANSFORMS] if task == "aflw2000-rel" else None,
        **summarize(results),
    }
    if task == "aflw2000-rel":
        summary["per_transform"] = {
            t.name: summarize(r for r in results if r.transform == t.name) for t in DEFAULT_TRANSFORMS
        }
    summary["outputs"] = {kind: str(path) for kind, path in write_report(summary, results, json_path).items()}
    return summary
