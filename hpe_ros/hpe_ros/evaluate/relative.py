"""``aflw2000-rel``: relative pairs from real images with exact ground truth (CLERF pose-preserving edits).

The anchor is an AFLW2000-3D image with its true pose R_a; the query is the same image mirrored horizontally
or rotated in the image plane about the face centre. Their exact ground truth, in the optical camera frame:

- mirror (u → W − 1 − u): conjugation by M = diag(−1, 1, 1), R_q = M · R_a · M (a mirrored head is a head
  whose lateral axis, our head x, is flipped too; AFLW2000 angles: pitch kept, yaw and roll negated);
- in-plane rotation by θ, positive CLOCKWISE as displayed (x right, y down): a rotation about the camera z
  axis, R_q = Rz(θ) · R_a (roll grows by θ for a frontal face). Exact for the weak-perspective camera of the
  AFLW2000 fits; with a real pinhole it ignores the face's small off-axis angle.

The predicted query pose is the predicted relative transform composed with the anchor's TRUE pose,
R̂_q = R̂_rel · R_a, scored against R_q like an absolute prediction (:mod:`hpe_ros.evaluate.harness`). Models
without a relative mode are wrapped by :class:`~hpe_ros.evaluate.estimators.RelativeFromAbsolute`
(R̂_rel = R̂_q · R̂_aᵀ from two absolute estimates). Translation is not scored (AFLW2000 has no metric depth).
Failures (no face found in the anchor or the query) count as in the absolute harness; in
``mae_with_failures`` a failed pair is scored as "no change from the anchor" (R̂_q = R_a).
"""

from __future__ import annotations

from collections.abc import Sequence

from tqdm import tqdm

from hpe_ros.detect import FaceDetector
from hpe_ros.evaluate.aflw2000 import AflwSample, read_image_rgb
from hpe_ros.evaluate.estimators import RelativePoseEstimator
from hpe_ros.evaluate.harness import PoseResult, locate_face, score_relative_pair
from hpe_ros.geometry import head_rotation_from_aflw2000
from hpe_ros.upright import PoseTransform

DEFAULT_TRANSFORMS = (
    PoseTransform("mirror", mirror=True),
    PoseTransform("rot+30", angle_deg=30.0),
    PoseTransform("rot-30", angle_deg=-30.0),
)


def face_center(sample: AflwSample) -> tuple[float, float]:
    """Centre of the visible 2-D landmarks' box: the pivot of the in-plane rotations."""
    x0, y0, x1, y1 = sample.landmark_box()
    return 0.5 * (x0 + x1), 0.5 * (y0 + y1)


def evaluate_relative(
    estimator: RelativePoseEstimator,
    samples: Sequence[AflwSample],
    crop: str = "landmarks",
    detector: FaceDetector | None = None,
    transforms: Sequence[PoseTransform] = DEFAULT_TRANSFORMS,
    progress: bool = True,
) -> list[PoseResult]:
    """Score every (anchor, transformed query) pair; failures count as in ``harness.evaluate_absolute``."""
    results = []
    for sample in tqdm(samples, desc=f"eval-rel {estimator.name} ({crop})", unit="img", disable=not progress):
        anchor = read_image_rgb(sample.image_path)
        width, center = anchor.shape[1], face_center(sample)
        R_a = head_rotation_from_aflw2000(*sample.pitch_yaw_roll)
        keypoints = sample.keypoints()
        anchor_face, anchor_ms = locate_face(crop, anchor, sample.pt2d, detector, keypoints)
        for transform in transforms:
            query = transform.apply_image(anchor, center)
            query_face, query_ms = locate_face(
                crop,
                query,
                transform.apply_points(sample.pt2d, width, center),
                detector,
                transform.apply_keypoints(keypoints, width, center),
            )
            results.append(
                score_relative_pair(
                    estimator,
                    (anchor, anchor_face),
                    (query, query_face),
                    R_a,
                    transform.apply_rotation(R_a),
                    sample.name,
                    transform=transform.name,
                    extra={"detect_ms": anchor_ms + query_ms},
                    model=estimator.name,
                    source_yaw_deg=float(sample.angles_deg[1]),  # binned by the anchor's yaw
                )
            )
    return results
