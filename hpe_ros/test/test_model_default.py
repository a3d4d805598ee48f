"""The embedded default model: it ships, loads (fp16, mixed mode, source-camera labels), its absolute and
relative modes give proper rotations on the bundled demo clip, ``default`` is every command's model, and a
virtual-camera checkpoint is refused before it can give silently wrong poses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from hpe_ros.errors import ModelFileError
from hpe_ros.model import HeadPoseNet, get_config, load_checkpoint, save_checkpoint
from hpe_ros.model.checkpoint import read_checkpoint_header
from hpe_ros.model.default import default_model_path, require_source_camera, resolve_model
from hpe_ros.synth.clip import DEMO_CLIP_DIR

FACE_MESH_GOLDEN = Path(__file__).parent / "data" / "face_mesh_golden.npz"  # two demo-clip crops


def _assert_proper_rotation(R: np.ndarray) -> None:
    assert R.shape == (3, 3)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-4)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-4)


def _angle_deg(R: np.ndarray, G: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R @ G.T) - 1) / 2, -1.0, 1.0))))


def test_default_model_ships_as_a_small_fp16_mixed_checkpoint_in_the_source_camera():
    path = default_model_path()
    assert path.stat().st_size < 4 * 2**20
    config, meta = read_checkpoint_header(path)
    assert config == get_config("mesh").replace(refine_gate_deg=60.0)  # the refinement acts on turned faces
    assert meta["mode"] == "mixed" and meta["virtual_camera"] is False
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())  # safe_open is not iterable
        assert {f.get_tensor(key).dtype for key in keys} == {torch.float16}
        assert any(key.startswith("camera_head.") for key in keys)
    assert resolve_model(None) == path and resolve_model("default") == path
    assert resolve_model("x.onnx") == Path("x.onnx")
    require_source_camera(path)


def test_both_modes_give_proper_rotations_on_the_demo_clip():
    import cv2

    from hpe_ros.detect import load_detector
    from hpe_ros.evaluate.estimators import load_network_estimator
    from hpe_ros.synth.clip import read_ground_truth

    truth, _ = read_ground_truth(DEMO_CLIP_DIR / "demo_clip_gt.csv")
    video = cv2.VideoCapture(str(DEMO_CLIP_DIR / "demo_clip.mp4"))
    ok, bgr = video.read()
    video.release()
    assert ok, "cannot decode the bundled demo clip"
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    faces = load_detector("blazeface").detect(image)
    assert faces, "BlazeFace finds no face in the first demo frame"
    estimator = load_network_estimator(resolve_model("default"), backend="torch")  # no ONNX export in CI
    R_abs = estimator.estimate(image, faces[0])
    _assert_proper_rotation(R_abs)
    assert _angle_deg(R_abs, truth[0].R) < 45.0  # the clip starts near frontal; the floor is ~0-10 deg
    R_rel, t_rel = estimator.estimate_relative(image, faces[0], image, faces[0])
    _assert_proper_rotation(R_rel)
    assert np.isfinite(t_rel).all()
    assert _angle_deg(R_rel, np.eye(3)) < 1.0  # the same crop twice: identical landmarks, no motion


def test_default_model_leaves_near_frontal_faces_to_the_geometric_seed():
    """With the near-frontal demo-clip crop of face_mesh_golden.npz as the query the refinement's gate is
    shut: every deploy mode gives what the same file gives with the refinement off (the seed alone)."""
    from hpe_ros.engine.deploy import deploy_module

    with np.load(FACE_MESH_GOLDEN) as data:
        crops = torch.from_numpy(data["crops"]).permute(0, 3, 1, 2).float() / 255
    net, config, _ = load_checkpoint(default_model_path())
    seed = HeadPoseNet(config.replace(refine=False, refine_gate_deg=0.0)).eval()
    seed.canonical_landmarks.copy_(net.canonical_landmarks)
    anchor, query = crops[[1]], crops[[0]]  # crop 0 is near frontal, crop 1 turned ~45°

    def outputs(model: HeadPoseNet) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        with torch.no_grad():
            embedding = deploy_module(model, "anchor_tokens")(anchor)
            return {
                "relative": deploy_module(model, "relative")(anchor, query),
                "absolute": deploy_module(model, "absolute")(query),
                "cached": deploy_module(model, "relative_cached")(embedding, query),
            }

    with torch.no_grad():
        assert net.refine_gate(net.embed_frames(query[:, None])).item() < 1e-3
    gated, seeded = outputs(net), outputs(seed)
    for mode, (rotation, translation) in gated.items():
        np.testing.assert_allclose(rotation.numpy(), seeded[mode][0].numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(translation.numpy(), seeded[mode][1].numpy(), rtol=0, atol=1e-4)


def test_missing_default_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr("hpe_ros.model.default.MODELS_DIR", tmp_path)
    with pytest.raises(ModelFileError, match="missing from this installation"):
        resolve_model("default")


def test_virtual_camera_checkpoints_are_refused_by_the_estimators_and_the_tracker(tmp_path):
    from hpe_ros.cli import main
    from hpe_ros.evaluate.estimators import load_estimator

    config = get_config("tiny").replace(depth=1, head_depth=1, head_iterations=1)
    meta = {"mode": "mixed", "virtual_camera": True}
    path = save_checkpoint(tmp_path / "virtual.safetensors", HeadPoseNet(config), config, meta)
    with pytest.raises(ModelFileError, match="virtual_camera=true"):
        load_estimator(str(path))
    demo = str(DEMO_CLIP_DIR / "demo_clip.mp4")
    assert main(["track", demo, "--out", str(tmp_path / "out"), "--model", str(path)]) != 0
    assert not (tmp_path / "out").exists()
