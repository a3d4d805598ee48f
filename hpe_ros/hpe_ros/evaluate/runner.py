"""One evaluation end to end: load data and models, run the absolute or relative harness, write the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hpe_ros.errors import InputError
from hpe_ros.evaluate.aflw2000 import load_aflw2000
from hpe_ros.evaluate.estimators import AbsolutePoseEstimator, as_relative, load_estimator
from hpe_ros.evaluate.harness import CROP_PROTOCOLS, PoseResult, evaluate_absolute, summarize
from hpe_ros.evaluate.relative import DEFAULT_TRANSFORMS, evaluate_relative
from hpe_ros.evaluate.report import ensure_output_dir, write_report
from hpe_ros.upright import PoseTransform

TASKS = ("aflw2000", "aflw2000-rel")


def image_transform(rotate_deg: float = 0.0, flip: bool = False) -> PoseTransform | None:
    """The ``--rotate`` / ``--flip`` edit (mirror, then turn clockwise as displayed); None for neither."""
    if not rotate_deg and not flip:
        return None
    parts = (["flip"] if flip else []) + ([f"rot{rotate_deg:+g}"] if rotate_deg else [])
    return PoseTransform("+".join(parts), mirror=flip, angle_deg=float(rotate_deg))


def run_aflw2000_eval(
    task: str,
    data_dir: str | Path,
    model: str | Sequence[str],
    json_path: str | Path,
    split: str | Path | None = None,
    crop: str = "landmarks",
    detector: str = "blazeface-multi",
    limit: int | None = None,
    progress: bool = True,
    rotate_deg: float = 0.0,
    flip: bool = False,
) -> dict:
    """Evaluate one or more models (``--model`` specs) on AFLW2000-3D and write JSON + CSV + PNG.

    ``task`` is ``aflw2000`` (absolute) or ``aflw2000-rel`` (mirror / ±30° pairs); ``limit`` keeps the first
    N images (sorted by name) for quick runs; ``rotate_deg`` / ``flip`` transform every image of ``aflw2000``
    about its centre (labels exactly). Several models are scored on the same located faces; the summary's
    top-level scores are the first model's, ``models`` lists every model's.
    """
    specs = [model] if isinstance(model, str) else list(model)
    if task not in TASKS:
        raise InputError(f"unknown evaluation task {task!r}: use one of {TASKS}")
    if crop not in CROP_PROTOCOLS:
        raise InputError(f"unknown crop protocol {crop!r}: use one of {CROP_PROTOCOLS}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be positive, got {limit}")
    if not specs or len(set(specs)) < len(specs):
        raise InputError(f"give each model once, got {specs}")
    transform = image_transform(rotate_deg, flip)
    if transform is not None and task != "aflw2000":
        raise InputError("--rotate / --flip apply to aflw2000 only (aflw2000-rel makes its own pairs)")
    ensure_output_dir(json_path)
    samples = load_aflw2000(data_dir, split)[:limit]
    if not samples:
        raise InputError(f"no AFLW2000-3D image of {data_dir} is in the standard subset (|angles| ≤ 99°)")
    estimators = [load_estimator(spec) for spec in specs]
    names = [estimator.name for estimator in estimators]
    if len(set(names)) < len(names):  # results are told apart by estimator name
        raise InputError(f"models {specs} are named {names}: give model files distinct names")
    face_detector = None
    if crop == "detector":
        from hpe_ros.detect import load_detector

        face_detector = load_detector(detector)
    if task == "aflw2000":
        for spec, estimator in zip(specs, estimators, strict=True):
            if not isinstance(estimator, AbsolutePoseEstimator):
                raise InputError(f"model {spec!r} has no absolute (single-image) mode")
        results = evaluate_absolute(estimators, samples, crop, face_detector, progress, transform)
    else:
        estimators = [as_relative(estimator) for estimator in estimators]
        results = [
            result
            for estimator in estimators
            for result in evaluate_relative(
                estimator, samples, crop, face_detector, DEFAULT_TRANSFORMS, progress
            )
        ]
    per_model = [
        model_summary(task, spec, estimator.name, results)
        for spec, estimator in zip(specs, estimators, strict=True)
    ]
    summary = {
        "task": task,
        **per_model[0],
        "crop": crop,
        "detector": detector if crop == "detector" else None,
        "data": str(Path(data_dir).resolve()),
        "split": str(Path(split).resolve()) if split is not None else None,
        "transform": transform.name if transform is not None else None,
        "transforms": [t.name for t in DEFAULT_TRANSFORMS] if task == "aflw2000-rel" else None,
        "models": per_model,
    }
    summary["outputs"] = {kind: str(path) for kind, path in write_report(summary, results, json_path).items()}
    return summary


def model_summary(task: str, spec: str, name: str, results: Sequence[PoseResult]) -> dict:
    """One model's scores (the rows of ``results`` its estimator ``name`` made), per rel transform too."""
    rows = [r for r in results if r.model == name]
    summary = {"model": spec, "estimator": name, **summarize(rows)}
    if task == "aflw2000-rel":
        summary["per_transform"] = {
            t.name: summarize((r for r in rows if r.transform == t.name), by_yaw=False)
            for t in DEFAULT_TRANSFORMS
        }
    return summary
