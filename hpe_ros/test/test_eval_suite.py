"""The ground-truth video suite: scripts, a tiny rendered member, and `hpe eval suite`'s figures."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.evaluate.suite import best_lag, run_suite_eval, score_clip
from hpe_ros.evaluate.video import ModeRun
from hpe_ros.geometry import biwi_from_head_rotation, geodesic_deg
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.model.default import default_model_path
from hpe_ros.synth.clip import read_ground_truth
from hpe_ros.synth.suite import SUITE, clip_angles, read_manifest, suite_trajectory, write_suite


def test_the_suite_covers_what_the_issue_asks():
    assert len(SUITE) + 1 >= 13 and len({c.name for c in SUITE}) == len(SUITE)  # + the bundled demo clip
    spans = {c.name: np.array([clip_angles(c, k[0]) for k in c.keyframes]) for c in SUITE}
    assert max(np.abs(a[:, 0]).max() for a in spans.values()) >= 90.0
    assert np.abs(spans["pitch"][:, 1]).max() >= 40.0 and np.abs(spans["roll"][:, 2]).max() >= 45.0
    assert spans["upside_down"][:, 2].max() >= 180.0
    for clip in SUITE:
        frames = suite_trajectory(clip)
        assert 150 <= len(frames) <= 300, clip.name
        steps = [float(geodesic_deg(a.R, b.R)) for a, b in itertools.pairwise(frames)]
        assert steps[0] < 1e-4, f"{clip.name} starts with a still segment"
    tags = {t for c in SUITE for t in c.tags}
    assert {
        "still",
        "talking",
        "occluder",
        "crossing",
        "lighting",
        "upside_down",
        "sweep",
        "off_axis",
    } <= tags
    (off_axis,) = [c for c in SUITE if "off_axis" in c.tags]
    centre = suite_trajectory(off_axis)[0]
    head = centre.t + centre.R @ HEAD_CENTRE_M
    assert np.degrees(np.arctan2(head[0], head[2])) > 15.0  # the head sits well off the optical axis


def test_lag_is_the_shift_that_best_explains_the_output():
    truth = np.stack([Rotation.from_euler("y", 3.0 * k, degrees=True).as_matrix() for k in range(40)])
    delayed = [truth[max(k - 2, 0)] for k in range(40)]
    assert best_lag(delayed, truth, np.ones(40, bool)) == 2
    assert best_lag(list(truth), truth, np.ones(40, bool)) == 0
    assert best_lag(list(truth), truth, np.zeros(40, bool)) is None


def test_clip_scores_count_misses_and_id_switches():
    truth = np.stack([np.eye(3)] * 6)
    rotations = [np.eye(3), None, np.eye(3), np.eye(3), np.eye(3), np.eye(3)]
    run = ModeRun("relative", np.arange(6) * 66_666_667, [None] * 6, rotations, [1.0] * 6)
    run.track_ids = [1, None, 1, 2, 2, 3]
    score = score_clip(run, truth, ("still",))
    assert score["with_pose"] == 5 and score["id_switches"] == 2 and score["lag"] is None
    assert np.all(score["errors"] == 0.0) and len(score["still_speeds"]) == 3


def test_a_tiny_suite_renders_and_every_variant_is_scored(renderable, tmp_path):
    entries = write_suite(tmp_path, ["talking"], progress=False, seconds=0.4)
    assert [e.name for e in entries] == ["demo", "talking"]
    assert [e.name for e in read_manifest(tmp_path)] == ["demo", "talking"]
    frames, _ = read_ground_truth(tmp_path / "talking_gt.csv")
    assert len(frames) == 6 and abs(biwi_from_head_rotation(frames[0].R)[0]) < 1e-6
    out = tmp_path / "report.json"
    run_suite_eval(tmp_path, default_model_path(), out, backend="torch", max_frames=6, progress=False)
    report = json.loads(out.read_text())
    assert report["frames"] == 12 and set(report["clips"]) == {"demo", "talking"}
    for name in ("relative", "absolute", "constant"):
        variant = report["variants"][name]
        assert set(variant["geodesic_by_yaw"]) == {"0-30", "30-60", "60-90"}
        for key in ("geodesic_mean", "continuity", "jitter_still_deg_s", "lag_frames", "id_switches"):
            assert key in variant
        assert 0.0 <= variant["continuity"] <= 1.0
    with pytest.raises(InputError, match="no clips"):
        run_suite_eval(tmp_path, default_model_path(), out, clips=["nope"], progress=False)
    with pytest.raises(InputError, match=r"suite\.json"):
        read_manifest(tmp_path / "missing")
