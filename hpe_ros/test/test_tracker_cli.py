"""``hpe track`` end to end with a real random tiny network: outputs, failures mid-run, clear errors."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from hpe_ros.cli import main
from hpe_ros.model import CONFIGS, HeadPoseNet, save_checkpoint


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    torch.manual_seed(0)
    config = CONFIGS["tiny"]
    path = tmp_path_factory.mktemp("model") / "tiny_random.safetensors"
    save_checkpoint(path, HeadPoseNet(config), config, {"note": "random weights: plumbing tests only"})
    return str(path)


def count_video_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def test_track_a_real_clip_writes_every_output(model, shared: Path, tmp_path: Path):
    clip = shared / "data" / "videos" / "liveportrait_d12.mp4"
    if not clip.is_file():
        pytest.skip(f"real clip {clip} is absent")
    out = tmp_path / "run"
    args = [
        "track",
        str(clip),
        "--out",
        str(out),
        "--model",
        model,
        "--backend",
        "torch",
        "--max-frames",
        "10",
    ]
    assert main([*args, "--param", "tracking.confirm_hits=1", "--bag-images"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["frames"] == 10
    assert summary["faces"] == 10 and summary["tracks"] == 1  # one person in every frame
    assert set(summary["ms_per_frame"]) >= {"detect", "track", "crop", "infer", "fuse", "filter"}
    rows = (out / "poses.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + summary["faces"]
    assert count_video_frames(out / "annotated.mp4") == 10
    metadata = yaml.safe_load((out / "poses" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in metadata["topics_with_message_count"]}
    assert counts == {"/head_pose": 10, "/head_poses": 10, "/tf": 10, "/image/compressed": 10}
    # A second run into the same folder must not mix outputs.
    assert main(args) == 2


def test_failure_mid_run_keeps_what_was_written(model, tmp_path: Path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    (frames / "3.png").write_bytes(b"truncated")
    out = tmp_path / "run"
    assert main(["track", str(frames), "--out", str(out), "--model", model, "--backend", "torch"]) == 2
    assert "3.png" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "3.png" in summary["error"] and summary["frames"] == 3
    assert (out / "poses.csv").read_text().startswith("frame,stamp_ns,track_id")
    assert (out / "poses" / "metadata.yaml").is_file()  # the bag was closed properly
    assert count_video_frames(out / "annotated.mp4") == 3


def test_clear_errors_before_any_work(model, tmp_path: Path, capsys, monkeypatch):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    assert main(["track", str(corrupt), "--out", str(tmp_path / "a"), "--model", model]) == 2
    assert "corrupt.mp4" in capsys.readouterr().err
    monkeypatch.setattr("hpe_ros.model.default.MODELS_DIR", tmp_path)  # an installation without the model
    assert main(["track", str(corrupt), "--out", str(tmp_path / "b")]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["track", "0", "--out", str(tmp_path / "c"), "--model", model, "--param", "anchors.k=3"]) == 2
    assert "unknown tracker parameter" in capsys.readouterr().err
