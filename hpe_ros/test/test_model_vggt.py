"""The "vggt1b" config is the VGGT-1B camera branch key for key (meta device); the weight loader is strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hpe_ros.errors import ModelFileError
from hpe_ros.model import CONFIGS, HeadPoseNet
from hpe_ros.model.vggt_weights import CAMERA_BRANCH_PREFIXES, check_vggt_shapes, load_vggt_weights

CAMERA_BRANCH_PARAMS = 1_125_286_930


@pytest.fixture(scope="module")
def manifest(shared: Path) -> dict:
    path = shared / "reference" / "vggt1b_state_dict.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def vggt1b() -> HeadPoseNet:
    with torch.device("meta"):
        return HeadPoseNet(CONFIGS["vggt1b"])


def test_vggt1b_config_matches_official_camera_branch(manifest: dict, vggt1b: HeadPoseNet) -> None:
    expected = {k: tuple(v) for k, v in manifest["keys"].items() if k.startswith(CAMERA_BRANCH_PREFIXES)}
    ours = {k: tuple(v.shape) for k, v in vggt1b.state_dict().items()}
    assert sorted(set(expected) - set(ours)) == []
    assert sorted(set(ours) - set(expected)) == []
    assert {k: v for k, v in ours.items() if v != expected[k]} == {}
    assert (
        sum(p.numel() for p in vggt1b.parameters())
        == CAMERA_BRANCH_PARAMS
        == manifest["camera_branch_params"]
    )
    check_vggt_shapes(vggt1b, manifest["keys"], "manifest")  # the depth/point/track heads are ignored


def test_shape_check_names_missing_and_mismatched_keys(manifest: dict, vggt1b: HeadPoseNet) -> None:
    partial = {k: tuple(v) for k, v in manifest["keys"].items() if not k.startswith("camera_head.trunk.3.")}
    with pytest.raises(ModelFileError, match=r"14 missing keys \(e.g. camera_head.trunk.3.attn.proj.bias"):
        check_vggt_shapes(vggt1b, partial, "model.pt")
    wrong = {**manifest["keys"], "aggregator.camera_token": (1, 2, 1, 768)}
    with pytest.raises(
        ModelFileError, match=r"aggregator.camera_token: \(1, 2, 1, 768\) != \(1, 2, 1, 1024\)"
    ):
        check_vggt_shapes(vggt1b, wrong, "model.pt")


def test_loader_takes_camera_branch_of_a_model_pt(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = HeadPoseNet(CONFIGS["tiny"])
    state = {**source.state_dict(), "depth_head.norm.weight": torch.ones(4)}  # other heads are dropped
    torch.save(state, tmp_path / "model.pt")
    target = load_vggt_weights(HeadPoseNet(CONFIGS["tiny"]), tmp_path / "model.pt")
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value, atol=0, rtol=0)


def test_loader_errors(tmp_path: Path, vggt1b: HeadPoseNet) -> None:
    with pytest.raises(ModelFileError, match="do not exist"):
        load_vggt_weights(vggt1b, tmp_path / "model.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x04 not a zip archive")
    with pytest.raises(ModelFileError, match="cannot read VGGT weights"):
        load_vggt_weights(vggt1b, tmp_path / "corrupt.pt")
    torch.save({"aggregator.camera_token": torch.zeros(1, 2, 1, 1024)}, tmp_path / "partial.pt")
    with pytest.raises(ModelFileError, match="missing keys"):
        load_vggt_weights(vggt1b, tmp_path / "partial.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ModelFileError, match="not a state dict"):
        load_vggt_weights(vggt1b, tmp_path / "list.pt")
