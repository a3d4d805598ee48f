"""``hpe track`` end to end with a real random tiny network: outputs, failures mid-run, clear errors."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import ScriptedCapture

from hpe_ros.cli import main
from hpe_ros.model import CONFIGS, HeadPoseNet, save_checkpoint
from hpe_ros.synth.clip import DEMO_CLIP_DIR, VIDEO_NAME


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    torch.manual_seed(0)
    config = CONFIGS["tiny"]
    path = tmp_path_factory.mktemp("model") / "tiny_random.safetensors"
    save_checkpoint(path, HeadPoseNet(config), config, {"note": "random weights: plumbing tests only"})
    return str(path)


def track(model: str, source: Path, out: Path, *options: str) -> int:
    """``hpe track`` with the random tiny network on the torch backend."""
    return main(["track", str(source), "--out", str(out), "--model", model, "--backend", "torch", *options])


def bag_counts(out: Path) -> dict[str, int]:
    metadata = yaml.safe_load((out / "poses" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return {t["topic_metadata"]["name"]: t["message_count"] for t in metadata["topics_with_message_count"]}


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
    assert bag_counts(out) == {"/head_pose": 10, "/head_poses": 10, "/tf": 10, "/image/compressed": 10}
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
    assert "unknown parameter 'anchors.k'" in capsys.readouterr().err


def test_damaged_video_is_read_past_and_reported(model, tmp_path: Path, monkeypatch, capsys):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"stand-in")
    decodes = [True] * 3 + [False] * 2 + [True] * 3  # the header says 12 frames; the last 4 never decode
    monkeypatch.setattr(cv2, "VideoCapture", lambda spec: ScriptedCapture(decodes, 12))
    assert track(model, clip, tmp_path / "run", "--no-video") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["frames"] == 6 and summary["source_frames"] == 12
    assert len(summary["warnings"]) == 2
    assert "2 undecodable frame(s) skipped" in summary["warnings"][0]
    assert "after 8 of the 12 frames" in summary["warnings"][1]
    err = capsys.readouterr().err
    assert all(f"warning: {warning}" in err for warning in summary["warnings"])


def test_gray_and_16_bit_frames_are_tracked(model, tmp_path: Path):
    """An image folder of the bundled demo head as 8-bit gray, 16-bit colour and 16-bit gray PNGs."""
    frames = tmp_path / "frames"
    frames.mkdir()
    capture = cv2.VideoCapture(str(DEMO_CLIP_DIR / VIDEO_NAME))
    for k in range(6):
        image = cv2.resize(capture.read()[1], (320, 240), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        variant = (gray, image.astype(np.uint16) * 257, gray.astype(np.uint16) * 257)[k % 3]
        cv2.imwrite(str(frames / f"{k:02d}.png"), variant)
    capture.release()
    assert cv2.imread(str(frames / "01.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert track(model, frames, tmp_path / "run", "--param", "tracking.confirm_hits=1") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["warnings"] == []
    assert summary["frames"] == 6 and summary["faces"] == 6 and summary["tracks"] == 1


def test_a_clip_without_faces_writes_every_frame_and_no_pose(model, tmp_path: Path):
    clip = tmp_path / "empty_room.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(60):
        writer.write(np.full((48, 64, 3), 100 + i % 7, np.uint8))
    writer.release()
    assert track(model, clip, tmp_path / "run") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["frames"] == 60
    assert summary["faces"] == summary["tracks"] == summary["max_detections_in_a_frame"] == 0
    assert (tmp_path / "run" / "poses.csv").read_text().count("\n") == 1  # the header only
    counts = bag_counts(tmp_path / "run")
    assert counts["/head_poses"] == 60 and counts.get("/head_pose", 0) == counts.get("/tf", 0) == 0
    assert count_video_frames(tmp_path / "run" / "annotated.mp4") == 60
