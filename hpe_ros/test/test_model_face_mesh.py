"""The face-mesh front end (MediaPipe's face_landmark.tflite replayed in PyTorch) and the ``mesh`` config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hpe_ros.errors import InputError, ModelFileError
from hpe_ros.model import HeadPoseNet, get_config
from hpe_ros.model.face_mesh import FaceMesh
from hpe_ros.model.tflite_graph import same_padding

# Two 192-px crops of our demo clip and what TensorFlow Lite 2.14 (tflite-runtime, XNNPACK) computed for them
# from the same face_landmark.tflite: the port must reproduce the reference interpreter, not itself.
GOLDEN = Path(__file__).parent / "data" / "face_mesh_golden.npz"


@pytest.fixture(scope="module")
def face_mesh() -> FaceMesh:
    return FaceMesh().eval()


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        return dict(data)


def as_input(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255


def test_port_reproduces_tensorflow_lite(face_mesh, golden):
    with torch.no_grad():
        landmarks, presence = face_mesh(as_input(golden["crops"]))
    assert landmarks.shape == (2, 468, 3)
    np.testing.assert_allclose(landmarks.numpy(), golden["landmarks"], atol=2e-3)
    np.testing.assert_allclose(presence.numpy(), golden["presence"], atol=2e-3)


def test_landmarks_follow_the_face(face_mesh, golden):
    """A mirrored crop gives mirrored landmarks (x -> 191 - x), within a pixel on average."""
    crops = golden["crops"][:1]
    with torch.no_grad():
        plain, _ = face_mesh(as_input(crops))
        mirrored, _ = face_mesh(as_input(crops[:, :, ::-1].copy()))
    plain_x = np.sort(plain[0, :, 0].numpy())
    mirrored_x = np.sort(191 - mirrored[0, :, 0].numpy())
    assert np.abs(plain_x - mirrored_x).mean() < 1.0


def test_tensorflowsame_padding():
    assert same_padding(192, 3, 2) == (0, 1)
    assert same_padding(96, 3, 1) == (1, 1)
    assert same_padding(12, 2, 2) == (0, 0)


def test_a_file_that_is_not_the_face_mesh_is_a_model_file_error(tmp_path):
    bad = tmp_path / "face_landmark.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="TensorFlow Lite"):
        FaceMesh(bad)


def test_mesh_network_takes_images_or_their_landmarks(face_mesh, golden):
    torch.manual_seed(0)
    net = HeadPoseNet(get_config("mesh")).eval()
    images = as_input(golden["crops"])[None]  # [1, 2, 3, 192, 192]: anchor, query
    with torch.no_grad():
        from_images = net(images)[-1]
        landmarks, _ = face_mesh(images[0])
        from_landmarks = net(landmarks[None])[-1]
    torch.testing.assert_close(from_images, from_landmarks, atol=1e-4, rtol=1e-4)
    assert from_images.shape == (1, 2, get_config("mesh").encoding_dim)


def test_checkpoints_never_hold_the_face_mesh_weights():
    net = HeadPoseNet(get_config("mesh"))
    assert not [key for key in net.state_dict() if "face_mesh" in key]
    frozen = sum(b.numel() for b in net.face_mesh.buffers())
    assert frozen > 500_000 and all(not p.requires_grad for p in net.face_mesh.parameters())


def test_wrong_inputs_are_input_errors():
    net = HeadPoseNet(get_config("mesh"))
    with pytest.raises(InputError, match="landmarks"):
        net(torch.zeros(1, 2, 100, 3))
    with pytest.raises(InputError):
        net(torch.zeros(1, 2, 3, 112, 112))


def test_mesh_configs_need_the_face_mesh_input_size():
    with pytest.raises(ValueError, match="192"):
        get_config("mesh").replace(image_size=224, patch_size=14)


def test_missing_mediapipe_is_a_clear_error(monkeypatch):
    import importlib.util

    from hpe_ros.model import tflite_graph as module

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelFileError, match="mediapipe"):
        module.face_mesh_tflite_path()


def test_the_geometric_seed_is_the_rigid_alignment(golden):
    """An untrained network returns the seed (its refinement starts as the identity): the anchor -> query
    alignment for a pair, the canonical -> frame alignment for a lone frame."""
    from hpe_ros.model.pose_encoding import geodesic_angle, quat_to_matrix
    from hpe_ros.model.procrustes import rigid_quaternion

    torch.manual_seed(0)
    net = HeadPoseNet(get_config("mesh")).eval()
    landmarks = torch.from_numpy(golden["landmarks"])[None]  # [1, 2, 468, 3]
    net.canonical_landmarks.copy_(landmarks[0, 0] - landmarks[0, 0].mean(0))
    seed = net.geometric_seed(landmarks)
    expected = quat_to_matrix(rigid_quaternion(landmarks[:, 0], landmarks[:, 1]))
    torch.testing.assert_close(quat_to_matrix(seed[:, 1, 3:7]), expected)
    lone = net.geometric_seed(landmarks[:, :1])
    assert torch.rad2deg(geodesic_angle(quat_to_matrix(lone[:, 0, 3:7]), torch.eye(3)[None])).item() < 0.1
    with torch.no_grad():
        rotation, _ = net.predict_pose(landmarks)
    assert torch.rad2deg(geodesic_angle(rotation[:, 1], expected)).item() < 0.1


def test_mesh_export_matches_torch(tmp_path):
    from hpe_ros.engine.export import export_validated

    torch.manual_seed(0)
    net = HeadPoseNet(get_config("mesh")).eval()
    for mode in ("relative", "absolute"):
        report = export_validated(net, get_config("mesh"), tmp_path / f"mesh.{mode}.onnx", mode)
        assert report.passed, report.summary()


def test_complexity_counts_the_front_end_on_the_meta_device():
    from hpe_ros.model.complexity import complexity_table

    (row,) = complexity_table([get_config("mesh")])
    assert row["params"] < 2_000_000  # the face mesh's weights are buffers, not parameters
    assert 0.1 < row["gflop_per_frame_absolute"] < row["gflop_per_pair"] < 1.0


def test_without_refinement_the_seed_is_the_output_and_exports(golden, tmp_path):
    from hpe_ros.engine.export import export_validated
    from hpe_ros.model.camera_head import activate_pose

    config = get_config("mesh").replace(refine=False)
    torch.manual_seed(0)
    net = HeadPoseNet(config).eval()
    assert not hasattr(net, "aggregator") and not hasattr(net, "camera_head")  # never run, so never built
    assert set(net.state_dict()) == {"canonical_landmarks"} and not list(net.parameters())
    landmarks = torch.from_numpy(golden["landmarks"])[None]
    with torch.no_grad():
        (encoding,) = net(landmarks)
    torch.testing.assert_close(encoding, activate_pose(net.geometric_seed(landmarks)))
    report = export_validated(net, config, tmp_path / "geometric.onnx", "relative")
    assert report.passed, report.summary()
    with pytest.raises(ValueError, match="geometric_seed"):
        get_config("tiny").replace(refine=False)


def test_refine_gate_leaves_frontal_faces_to_the_seed_and_exports(golden, tmp_path):
    """With ``refine_gate_deg`` the learned refinement (here made non-zero) acts on a face turned beyond the
    threshold and leaves a frontal one exactly at the seed; the gated graph exports and matches torch."""
    from scipy.spatial.transform import Rotation

    from hpe_ros.engine.export import export_validated
    from hpe_ros.model.camera_head import activate_pose

    config = get_config("mesh").replace(refine_gate_deg=45.0)
    torch.manual_seed(0)
    net = HeadPoseNet(config).eval()
    torch.nn.init.normal_(net.camera_head.pose_branch.fc2.weight, std=0.05)  # a refinement that moves poses
    cloud = torch.from_numpy(golden["landmarks"][0])
    net.canonical_landmarks.copy_(cloud - cloud.mean(0))
    for yaw_deg, refined in ((10.0, False), (75.0, True)):
        turn = torch.from_numpy(Rotation.from_euler("y", yaw_deg, degrees=True).as_matrix()).float()
        landmarks = (net.canonical_landmarks @ turn.T)[None, None]
        assert net.refine_gate(landmarks).item() == pytest.approx(float(refined), abs=0.01)
        with torch.no_grad():
            encoding = net(landmarks)[-1]
        seed = activate_pose(net.geometric_seed(landmarks))
        assert torch.allclose(encoding, seed, atol=1e-4) != refined
    report = export_validated(net, config, tmp_path / "gated.onnx", "absolute")
    assert report.passed, report.summary()
    with pytest.raises(ValueError, match="refine_gate_deg"):
        get_config("mesh").replace(refine=False, refine_gate_deg=45.0)
