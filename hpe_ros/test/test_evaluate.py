"""The AFLW2000 harness: known answers on synthetic data, FSA-Net on real dev images, the CLI's errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from scipy.spatial.transform import Rotation

from hpe_ros.cli import main
from hpe_ros.errors import InputError, ModelFileError
from hpe_ros.evaluate.aflw2000 import load_aflw2000
from hpe_ros.evaluate.estimators import MeanPoseEstimator, load_estimator
from hpe_ros.evaluate.harness import PoseResult, summarize
from hpe_ros.evaluate.runner import run_aflw2000_eval

# (pitch, yaw, roll) in degrees; the last one is outside the standard subset (|yaw| > 99°).
SYNTHETIC_POSES = [
    (10.0, 0.0, 0.0),
    (0.0, -20.0, 0.0),
    (0.0, 0.0, 30.0),
    (5.0, 40.0, -5.0),
    (0.0, 120.0, 0.0),
]
KEPT = np.array(SYNTHETIC_POSES[:4])


def write_synthetic_aflw(folder: Path, poses=SYNTHETIC_POSES, size: int = 96) -> Path:
    """A tiny AFLW2000-3D-like folder: flat grey images, .mat annotations with a square of landmarks."""
    folder.mkdir(parents=True, exist_ok=True)
    corners = np.array([[30.0, 30.0, 66.0, 66.0], [30.0, 66.0, 30.0, 66.0]])
    pt2d = np.hstack([corners, [[-1.0], [float(size)]]])  # plus one "invisible" landmark, as in the dataset
    for index, angles in enumerate(poses):
        name = f"image{index:05d}"
        cv2.imwrite(str(folder / f"{name}.jpg"), np.full((size, size, 3), 128, np.uint8))
        pose_para = np.zeros((1, 7))
        pose_para[0, :3] = np.radians(angles)
        pt3d = np.vstack([np.linspace(30, 66, 68), np.linspace(30, 66, 68), np.zeros(68)])
        scipy.io.savemat(str(folder / f"{name}.mat"), {"Pose_Para": pose_para, "pt2d": pt2d, "pt3d_68": pt3d})
    return folder


def test_reader_keeps_the_standard_subset_and_the_split(tmp_path):
    folder = write_synthetic_aflw(tmp_path / "aflw")
    samples = load_aflw2000(folder)
    assert [s.name for s in samples] == [f"image{i:05d}" for i in range(4)]  # |yaw| = 120° left out
    assert len(load_aflw2000(folder, max_abs_deg=None)) == 5
    assert samples[0].landmark_box() == (30.0, 30.0, 66.0, 66.0)  # the invisible (−1, 96) landmark dropped
    split = tmp_path / "split.txt"
    split.write_text("image00003.jpg\n# a comment\n\nimage00001\n")
    assert [s.name for s in load_aflw2000(folder, split)] == ["image00001", "image00003"]
    split.write_text("image00009\n")
    with pytest.raises(InputError, match="not in"):
        load_aflw2000(folder, split)


def test_mean_pose_scores_known_answers(tmp_path):
    folder = write_synthetic_aflw(tmp_path / "aflw")
    summary = run_aflw2000_eval(
        "aflw2000", folder, "mean-pose", tmp_path / "out" / "mean.json", progress=False
    )
    kept = np.array(SYNTHETIC_POSES[:4])
    # The frontal prediction decodes to (0, 0, 0): each angle's error is |true angle|.
    pitch, yaw, roll = np.abs(kept).mean(axis=0)
    assert summary["n"] == 4 and summary["failures"] == 0
    assert summary["mae"]["pitch"] == pytest.approx(pitch)
    assert summary["mae"]["yaw"] == pytest.approx(yaw)
    assert summary["mae"]["roll"] == pytest.approx(roll)
    assert summary["mae"]["mean"] == pytest.approx((pitch + yaw + roll) / 3)
    # Geodesic error from the frontal pose = the rotation angle of the true pose.
    angles = np.degrees(Rotation.from_euler("xyz", kept, degrees=True).magnitude())
    assert summary["geodesic_deg"] == pytest.approx(angles.mean())
    saved = json.loads((tmp_path / "out" / "mean.json").read_text())
    assert saved["mae"] == summary["mae"] and saved["crop"] == "landmarks"
    rows = list(csv.DictReader((tmp_path / "out" / "mean.csv").open()))
    assert [float(r["err_roll"]) for r in rows] == pytest.approx(np.abs(kept[:, 2]))
    assert (tmp_path / "out" / "mean.png").stat().st_size > 1000


def test_mean_pose_relative_pairs_score_the_transform_itself(tmp_path):
    folder = write_synthetic_aflw(tmp_path / "aflw")
    summary = run_aflw2000_eval("aflw2000-rel", folder, "mean-pose", tmp_path / "rel.json", progress=False)
    # A constant estimator predicts R_rel = I, so the query is predicted at the anchor's pose: the error is
    # exactly the transform's rotation, 30° for the in-plane turns.
    assert summary["n"] == 3 * 4
    for name in ("rot+30", "rot-30"):
        assert summary["per_transform"][name]["geodesic_deg"] == pytest.approx(30.0)
    # Mirroring negates yaw and roll and keeps pitch: the frontal-yaw, frontal-roll images err by 0 there.
    mirror_rows = [r for r in csv.DictReader((tmp_path / "rel.csv").open()) if r["transform"] == "mirror"]
    errors = np.array(
        [[float(r["err_pitch"]), float(r["err_yaw"]), float(r["err_roll"])] for r in mirror_rows]
    )
    kept = np.array(SYNTHETIC_POSES[:4])
    assert errors == pytest.approx(np.abs(2 * kept * [0, 1, 1]), abs=1e-6)


def test_detector_misses_are_counted_as_failures(tmp_path):
    folder = write_synthetic_aflw(tmp_path / "aflw")  # flat grey images: no face to find
    summary = run_aflw2000_eval(
        "aflw2000", folder, "mean-pose", tmp_path / "det.json", crop="detector", progress=False
    )
    assert (summary["n"], summary["failures"], summary["mae"]) == (0, 4, None)
    assert summary["mae_with_failures"]["yaw"] == pytest.approx(
        np.abs(np.array(SYNTHETIC_POSES[:4])[:, 1]).mean()
    )
    rows = list(csv.DictReader((tmp_path / "det.csv").open()))
    assert {r["failure"] for r in rows} == {"no face detected"}


def test_yaw_bins_count_images_and_misses_by_the_source_label():
    def result(yaw: float, error: float, failure: str = "", source_yaw: float | None = None) -> PoseResult:
        gt = np.array([0.0, yaw, 0.0])
        return PoseResult("x", gt, gt, np.full(3, error), error, 1.0, failure, source_yaw_deg=source_yaw)

    rows = [
        result(5.0, 1.0),
        result(-29.9, 3.0),
        result(30.0, 2.0),  # a bin's lower edge belongs to it
        result(-45.0, 9.0, "no face detected"),  # a miss: counted, not scored
        result(99.0, 4.0),  # the last bin is closed
        result(10.0, 6.0, source_yaw=70.0),  # a turned image is binned by its untransformed label
    ]
    bins = summarize(rows)["by_yaw"]
    assert [(b["images"], b["misses"]) for b in bins.values()] == [(2, 0), (2, 1), (2, 0)]
    assert list(bins) == ["0-30", "30-60", "60-99"]
    assert [b["mae"]["mean"] for b in bins.values()] == pytest.approx([2.0, 2.0, 5.0])
    assert bins["30-60"]["mae_with_failures"]["mean"] == pytest.approx(5.5)


def test_model_specs():
    assert isinstance(load_estimator("mean-pose"), MeanPoseEstimator)
    tilted = load_estimator("mean-pose:0,30,0")
    assert tilted.name == "mean-pose:0,30,0"
    with pytest.raises(InputError, match="three angles"):
        load_estimator("mean-pose:1,2")
    with pytest.raises(InputError, match="unknown model"):
        load_estimator("resnet")
    with pytest.raises(InputError, match="does not exist"):
        load_estimator("missing.safetensors")
    with pytest.raises(ModelFileError, match="FSA-Net models not found"):
        load_estimator("fsanet:/nonexistent")


def test_models_with_the_same_name_are_refused(tmp_path):
    """Scores are told apart by model name: two files named alike would mix their columns."""
    folder = write_synthetic_aflw(tmp_path / "data")
    with pytest.raises(InputError, match="distinct names"):
        run_aflw2000_eval("aflw2000", folder, ["mean-pose", "mean-pose:0,0,0"], tmp_path / "x.json")


def test_cli_reports_a_missing_data_folder(tmp_path, capsys):
    code = main(
        ["eval", "aflw2000", "--data", str(tmp_path / "nope"), "--model", "mean-pose", "--json", "x.json"]
    )
    assert code == 2
    assert f"AFLW2000-3D folder {tmp_path / 'nope'} does not exist" in capsys.readouterr().err


def test_cli_writes_the_report(tmp_path, capsys):
    folder = write_synthetic_aflw(tmp_path / "aflw")
    out = tmp_path / "r" / "m.json"
    code = main(
        [
            "eval",
            "aflw2000",
            "--data",
            str(folder),
            "--model",
            "mean-pose",
            "--json",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "n=4 failures=0" in capsys.readouterr().out
    assert {p.suffix for p in out.parent.iterdir()} == {".json", ".csv", ".png"}


@pytest.fixture(scope="module")
def dev_data(shared, aflw2000_dev):
    models = shared / "baselines" / "fsanet"
    if not models.is_dir():
        pytest.skip(f"{models} is absent")
    return aflw2000_dev, models


def test_fsanet_on_real_dev_images(dev_data, tmp_path):
    folder, models = dev_data
    summary = run_aflw2000_eval(
        "aflw2000",
        folder,
        f"fsanet:{models}",
        tmp_path / "fsa.json",
        folder / "SPLIT.txt",
        limit=40,
        progress=False,
    )
    # Known answer, measured with the authors' preprocessing on these 40 images (all 396: MAE 5.07; the
    # 1969-image reference: 5.15). Measured slips on them: RGB instead of BGR 2.99, a 0.2 margin 4.69,
    # yaw/pitch swapped 13.8, roll sign flipped 9.1.
    assert summary["n"] == 40
    assert summary["mae"]["mean"] == pytest.approx(2.80, abs=0.1)
    per_angle = [summary["mae"][k] for k in ("yaw", "pitch", "roll")]
    assert per_angle == pytest.approx([3.09, 3.48, 1.82], abs=0.15)


def test_fsanet_with_detector_crop_on_real_dev_images(dev_data, tmp_path, shared):
    folder, models = dev_data
    rfb = shared / "baselines" / "rfb320" / "version-RFB-320.onnx"
    if not rfb.is_file():
        pytest.skip(f"{rfb} is absent")
    summary = run_aflw2000_eval(
        "aflw2000",
        folder,
        f"fsanet:{models}",
        tmp_path / "d.json",
        crop="detector",
        detector=str(rfb),
        limit=20,
        progress=False,
    )
    assert summary["n"] + summary["failures"] == 20 and summary["failures"] <= 3
    assert 2.5 < summary["mae"]["mean"] < 9.0
