"""Run an absolute pose estimator over AFLW2000-3D and score it as the field does (6DRepNet ``test.py``).

Scoring: the predicted R_cam←head is decoded to AFLW2000 (pitch, yaw, roll) and compared with the ground-truth
angles of the ``.mat`` by the wrapped per-angle error; MAE = mean of the three angles' mean errors. The
geodesic error between predicted and true rotations is reported too (no wrap artefacts).

Face location (``crop``): ``landmarks`` = the tight box of the visible annotated 2-D landmarks; ``detector`` =
the face detector's box that contains the landmarks' centre (highest score first). An image where the detector
finds no such face is a FAILURE: it is left out of ``mae``/``geodesic_deg`` and counted in ``failures``; the
summary's ``mae_with_failures`` scores it as if the frontal pose had been predicted (what a miss costs).

Several estimators can be scored in one run on the same located faces (a detector runs once per image), and
the image can be turned and mirrored first (``--rotate`` / ``--flip``, :class:`~hpe_ros.upright.PoseTransform`
about the image centre; labels transformed exactly, the subset chosen on the original labels). Every summary
is also given per |yaw| bin of the ORIGINAL labels (:data:`YAW_BINS`), misses counted per bin.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from hpe_ros.detect import Detection, FaceDetector
from hpe_ros.errors import InputError
from hpe_ros.evaluate.aflw2000 import AflwSample, read_image_rgb
from hpe_ros.evaluate.estimators import AbsolutePoseEstimator, RelativePoseEstimator
from hpe_ros.geometry import (
    aflw2000_from_head_rotation,
    geodesic_deg,
    head_rotation_from_aflw2000,
    wrapped_angle_errors_deg,
)
from hpe_ros.upright import PoseTransform

CROP_PROTOCOLS = ("landmarks", "detector")
FRONTAL = head_rotation_from_aflw2000(0.0, 0.0, 0.0)
YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 99.0))
"""|yaw| bins in degrees of the standard reporting: [0, 30), [30, 60), [60, 99] (the last one closed)."""
BIN_FIELDS = ("mae", "geodesic_deg", "geodesic_median_deg", "mae_with_failures")


@dataclass
class PoseResult:
    """One scored prediction; angles are AFLW2000 (pitch, yaw, roll) in degrees."""

    name: str
    gt_deg: np.ndarray
    pred_deg: np.ndarray
    errors_deg: np.ndarray
    geodesic_deg: float
    ms: float
    failure: str = ""  # why no prediction was made (a stand-in pose was scored); empty when scored
    transform: str = "identity"
    extra: dict[str, float] = field(default_factory=dict)
    model: str = ""
    source_yaw_deg: float | None = None  # yaw of the untransformed label (the bin); None: gt_deg's

    @property
    def failed(self) -> bool:
        return bool(self.failure)

    @property
    def bin_yaw_deg(self) -> float:
        """|yaw| that places this result in a :data:`YAW_BINS` bin."""
        return abs(float(self.gt_deg[1] if self.source_yaw_deg is None else self.source_yaw_deg))


def aflw_angles_deg(R_cam_head: np.ndarray) -> np.ndarray:
    """AFLW2000 (pitch, yaw, roll) in degrees of a head rotation, decoded as 6DRepNet's test does."""
    return np.degrees(np.array(aflw2000_from_head_rotation(R_cam_head)))


def score_rotation(
    R_pred: np.ndarray, R_gt: np.ndarray, gt_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """(pred_deg, wrapped errors_deg, geodesic_deg) of a prediction against R_gt and its angles ``gt_deg``."""
    pred_deg = aflw_angles_deg(R_pred)
    return pred_deg, wrapped_angle_errors_deg(pred_deg, gt_deg), float(geodesic_deg(R_pred, R_gt))


def score_relative_pair(
    estimator: RelativePoseEstimator,
    anchor: tuple[np.ndarray, Detection | None],
    query: tuple[np.ndarray, Detection | None],
    R_a: np.ndarray,
    R_q: np.ndarray,
    name: str,
    **details: Any,
) -> PoseResult:
    """Score one (anchor image + face, query image + face) pair: the predicted relative rotation composed with
    the anchor's TRUE rotation (R̂_q = R̂_rel · R_a) against R_q. A pair without a face or whose estimate fails
    is a failure scored as "no change from the anchor". ``details`` are :class:`PoseResult` fields."""
    (anchor_rgb, anchor_face), (query_rgb, query_face) = anchor, query
    R_pred, ms, failure = R_a, 0.0, ""
    if anchor_face is None or query_face is None:
        failure = "no face detected in the " + ("anchor" if anchor_face is None else "query")
    else:
        start = time.perf_counter()
        try:
            R_rel, _ = estimator.estimate_relative(anchor_rgb, anchor_face, query_rgb, query_face)
            R_pred = R_rel @ R_a
        except InputError as error:
            failure = str(error)
        ms = 1000.0 * (time.perf_counter() - start)
    gt_deg = aflw_angles_deg(R_q)
    pred_deg, errors, geodesic = score_rotation(R_pred, R_q, gt_deg)
    return PoseResult(name, gt_deg, pred_deg, errors, geodesic, ms, failure, **details)


def landmark_face(pt2d: np.ndarray, keypoints: np.ndarray | None = None, up_deg: float = 0.0) -> Detection:
    """The face as the tight box of 2-D landmarks (2, N), score 1, with keypoints (2, 6) when given and the
    image's up (a turned image's quarter turn): what a perfect detector would report."""
    (x0, y0), (x1, y1) = pt2d.min(axis=1), pt2d.max(axis=1)
    points = None if keypoints is None else np.asarray(keypoints, dtype=np.float64).T
    return Detection(float(x0), float(y0), float(x1), float(y1), 1.0, points, up_deg)


def detected_face(detector: FaceDetector, image_rgb: np.ndarray, pt2d: np.ndarray) -> Detection | None:
    """The best-scoring detection whose box contains the centre of the annotated landmarks, else None."""
    cx, cy = pt2d.mean(axis=1)
    for detection in detector.detect(image_rgb):
        if detection.x0 <= cx <= detection.x1 and detection.y0 <= cy <= detection.y1:
            return detection
    return None


def locate_face(
    crop: str,
    image_rgb: np.ndarray,
    pt2d: np.ndarray,
    detector: FaceDetector | None,
    keypoints: np.ndarray | None = None,
    up_deg: float = 0.0,
) -> tuple[Detection | None, float]:
    """The face box by the ``crop`` protocol and the milliseconds spent detecting (0 for landmarks, whose
    face carries the annotated ``keypoints`` (2, 6) when given and the image's ``up_deg``)."""
    if crop == "landmarks":
        return landmark_face(pt2d, keypoints, up_deg), 0.0
    if crop != "detector" or detector is None:
        raise InputError(f"crop protocol must be one of {CROP_PROTOCOLS} (detector needs a face detector)")
    start = time.perf_counter()
    face = detected_face(detector, image_rgb, pt2d)
    return face, 1000.0 * (time.perf_counter() - start)


def image_center(image: np.ndarray) -> tuple[float, float]:
    """The centre (u, v) of an image in pixel coordinates (pixel centres at integers)."""
    height, width = image.shape[:2]
    return 0.5 * (width - 1), 0.5 * (height - 1)


def evaluate_absolute(
    estimators: AbsolutePoseEstimator | Sequence[AbsolutePoseEstimator],
    samples: Sequence[AflwSample],
    crop: str = "landmarks",
    detector: FaceDetector | None = None,
    progress: bool = True,
    transform: PoseTransform | None = None,
) -> list[PoseResult]:
    """Predict and score every sample with every estimator (see the module docstring for the protocol).

    ``transform`` turns / mirrors each image about its centre first; the annotated landmarks and the true
    rotation go with it. Results come per image, then per estimator in the order given.
    """
    if not isinstance(estimators, Sequence):
        estimators = [estimators]
    names = ", ".join(e.name for e in estimators)
    results = []
    for sample in tqdm(samples, desc=f"eval {names} ({crop})", unit="img", disable=not progress):
        image = read_image_rgb(sample.image_path)
        R_gt = head_rotation_from_aflw2000(*sample.pitch_yaw_roll)
        pt2d, keypoints, gt_deg = sample.pt2d, sample.keypoints(), sample.angles_deg
        transform_name, up_deg = "identity", 0.0
        if transform is not None:
            center, width = image_center(image), image.shape[1]
            pt2d = transform.apply_points(pt2d, width, center)
            keypoints = transform.apply_keypoints(keypoints, width, center)
            image = transform.apply_image(image, center)
            R_gt, transform_name = transform.apply_rotation(R_gt), transform.name
            gt_deg = aflw_angles_deg(R_gt)
            up_deg = 90.0 * round(transform.angle_deg / 90.0)
        face, detect_ms = locate_face(crop, image, pt2d, detector, keypoints, up_deg)
        for estimator in estimators:
            R_pred, ms, failure = FRONTAL, 0.0, ""
            if face is None:
                failure = "no face detected"
            else:
                start = time.perf_counter()
                try:
                    R_pred = estimator.estimate(image, face)
                except InputError as error:  # e.g. a box the model cannot crop: count it, keep going
                    failure = str(error)
                ms = 1000.0 * (time.perf_counter() - start)
            pred_deg, errors, geodesic = score_rotation(R_pred, R_gt, gt_deg)
            results.append(
                PoseResult(
                    sample.name,
                    gt_deg,
                    pred_deg,
                    errors,
                    geodesic,
                    ms,
                    failure,
                    transform=transform_name,
                    extra={"detect_ms": detect_ms},
                    model=estimator.name,
                    source_yaw_deg=float(sample.angles_deg[1]),
                )
            )
    return results


def yaw_bin_name(low: float, high: float) -> str:
    """A bin's label, e.g. ``30-60``."""
    return f"{low:g}-{high:g}"


def in_yaw_bin(result: PoseResult, low: float, high: float) -> bool:
    """Whether a result's |yaw| lies in [low, high) (the last bin of :data:`YAW_BINS` is closed)."""
    yaw = result.bin_yaw_deg
    return low <= yaw < high or (high == YAW_BINS[-1][1] and yaw == high)


def summarize(results: Iterable[PoseResult], by_yaw: bool = True) -> dict:
    """The JSON summary: n (scored), failures, mae per angle and mean, geodesic, timing, and (``by_yaw``) the
    same per |yaw| bin of :data:`YAW_BINS` (images, misses, scores) under ``by_yaw``."""
    results = list(results)
    scored = [r for r in results if not r.failed]

    def mae(rows: list[PoseResult]) -> dict[str, float] | None:
        if not rows:
            return None
        pitch, yaw, roll = np.mean([r.errors_deg for r in rows], axis=0)
        return {
            "yaw": float(yaw),
            "pitch": float(pitch),
            "roll": float(roll),
            "mean": float((yaw + pitch + roll) / 3),
        }

    geodesic = [r.geodesic_deg for r in scored]
    summary = {
        "n": len(scored),
        "n_images": len(results),
        "failures": len(results) - len(scored),
        "mae": mae(scored),
        "geodesic_deg": float(np.mean(geodesic)) if geodesic else None,
        "geodesic_median_deg": float(np.median(geodesic)) if geodesic else None,
        "mae_with_failures": mae(results),
        "ms_per_image": float(np.mean([r.ms for r in scored])) if scored else None,
        "detect_ms_per_image": float(np.mean([r.extra.get("detect_ms", 0.0) for r in results]))
        if results
        else None,
    }
    if by_yaw:
        summary["by_yaw"] = summarize_yaw_bins(results)
    return summary


def summarize_yaw_bins(results: Sequence[PoseResult]) -> dict[str, dict]:
    """Per |yaw| bin (:data:`YAW_BINS`, labels like ``30-60``): images, misses and the scores of the bin."""
    bins = {}
    for low, high in YAW_BINS:
        rows = [r for r in results if in_yaw_bin(r, low, high)]
        scores = summarize(rows, by_yaw=False)
        bins[yaw_bin_name(low, high)] = {
            "images": len(rows),
            "misses": scores["failures"],
            **{key: scores[key] for key in BIN_FIELDS},
        }
    return bins
