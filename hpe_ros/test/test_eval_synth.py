"""``hpe eval synth``: composition with the anchor's true pose, known answers for mean-pose, report fields."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros.evaluate.estimators import MeanPoseEstimator, RelativeFromAbsolute
from hpe_ros.evaluate.synth_eval import as_relative, evaluate_pairs, run_synth_eval, view_rotation
from hpe_ros.geometry import geodesic_deg
from hpe_ros.geometry.rotations import rotation_onto_ray


class FixedRelative:
    """A known-answer relative estimator: always the same R_rel (the harness must compose R_rel · R_a)."""

    name = "fixed"

    def __init__(self, R_rel: np.ndarray) -> None:
        self.R_rel = R_rel

    def estimate_relative(self, anchor_rgb, anchor_face, query_rgb, query_face):
        return self.R_rel, np.zeros(3)


def _labels(index: int, R_a: np.ndarray, R_q: np.ndarray) -> dict:
    return {
        "index": index,
        "anchor": {"R": R_a.tolist()},
        "query": {"R": R_q.tolist()},
        "gap_deg": float(geodesic_deg(R_q, R_a)),
    }


def test_prediction_is_the_relative_rotation_composed_with_the_true_anchor():
    R_a = Rotation.from_euler("xyz", [10, -25, 5], degrees=True).as_matrix()
    R_rel = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    crop = np.zeros((64, 64, 3), np.uint8)
    exact = evaluate_pairs(FixedRelative(R_rel), [(crop, crop, _labels(0, R_a, R_rel @ R_a))])
    assert exact[0].geodesic_deg == pytest.approx(0.0, abs=1e-4) and np.allclose(
        exact[0].errors_deg, 0, atol=1e-4
    )
    swapped = evaluate_pairs(FixedRelative(R_rel), [(crop, crop, _labels(1, R_a, R_a @ R_rel))])
    assert swapped[0].geodesic_deg > 5.0, "R_a · R_rel is another rotation: the order is pinned"


def test_models_without_a_relative_mode_use_two_absolute_estimates():
    wrapped = as_relative(MeanPoseEstimator())
    assert isinstance(wrapped, RelativeFromAbsolute)
    fixed = FixedRelative(np.eye(3))
    assert as_relative(fixed) is fixed


def test_mean_pose_on_three_easy_pairs_errs_by_exactly_the_gap(renderable, tmp_path):
    """Mean-pose predicts R_rel = I, so its query error is the anchor-query gap, pair by pair."""
    summary = run_synth_eval("easy", "mean-pose", tmp_path / "easy.json", limit=3, progress=False)
    stored = json.loads((tmp_path / "easy.json").read_text())
    for key in ("n", "failures", "mae", "geodesic_deg", "ms_per_image", "gap"):
        assert key in stored
    assert (
        stored["n"] == 3
        and stored["failures"] == 0
        and set(stored["mae"]) == {"yaw", "pitch", "roll", "mean"}
    )
    assert stored["protocol"] == "easy" and stored["gap"]["n"] == 3
    assert summary["geodesic_deg"] == pytest.approx(summary["gap"]["mean"], abs=1e-6)
    # easy pairs turn the head by 5-30 degrees; the view cameras of the two crops add their rays' difference
    assert summary["gap"]["min"] >= 1.0 and summary["gap"]["max"] <= 60.0
    with (tmp_path / "easy.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [r["name"] for r in rows] == ["easy-0000", "easy-0001", "easy-0002"]
    assert (tmp_path / "easy.png").stat().st_size > 0


def test_fsanet_runs_on_hard_pairs_through_two_absolute_estimates(renderable, shared, tmp_path):
    summary = run_synth_eval(
        "hard", f"fsanet:{shared / 'baselines' / 'fsanet'}", tmp_path / "hard.json", limit=3, progress=False
    )
    assert summary["n"] == 3 and summary["estimator"].startswith("fsanet (relative")
    assert 0.0 < summary["geodesic_deg"] < 180.0 and summary["gap"]["min"] >= 45.0


def test_true_poses_are_scored_as_the_crop_shows_them():
    face = np.array([-0.5, 0.1, 1.0])  # a head left of the axis, facing the camera: frontal in its crop
    R = rotation_onto_ray(face)
    assert geodesic_deg(view_rotation({"R": R.tolist(), "t": face.tolist()}), np.eye(3)) < 1.5
    assert geodesic_deg(R, np.eye(3)) > 25.0
    np.testing.assert_allclose(view_rotation({"R": R.tolist()}), R)  # no position: taken as on the axis
