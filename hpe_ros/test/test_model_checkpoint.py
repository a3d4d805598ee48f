"""Checkpoints: safetensors round trip with the config inside, fp16 option, clear errors for bad files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hpe_ros.errors import ModelFileError
from hpe_ros.model import CONFIGS, HeadPoseNet, load_checkpoint, save_checkpoint
from hpe_ros.model.checkpoint import read_checkpoint_header

TINY = CONFIGS["tiny"].replace(rotation="6d")


@pytest.fixture(scope="module")
def model() -> HeadPoseNet:
    torch.manual_seed(0)
    return HeadPoseNet(TINY).eval()


def pair() -> torch.Tensor:
    return torch.rand(1, 2, 3, TINY.image_size, TINY.image_size, generator=torch.Generator().manual_seed(2))


def test_round_trip_restores_config_meta_and_outputs(model: HeadPoseNet, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "sub" / "m.safetensors", model, TINY, {"step": 12, "data": "synth-v1"})
    loaded, cfg, meta = load_checkpoint(path)
    assert cfg == TINY and meta == {"step": 12, "data": "synth-v1"}
    assert read_checkpoint_header(path) == (TINY, meta)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pair())[-1], model(pair())[-1], atol=0, rtol=0)


def test_fp16_checkpoint_is_half_the_size_and_close(model: HeadPoseNet, tmp_path: Path) -> None:
    full = save_checkpoint(tmp_path / "f32.safetensors", model, TINY, {})
    half = save_checkpoint(tmp_path / "f16.safetensors", model, TINY, {}, dtype=torch.float16)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded, _, _ = load_checkpoint(half)
    assert next(loaded.parameters()).dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(loaded(pair())[-1], model(pair())[-1], atol=2e-2, rtol=2e-2)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_corrupt_file(model: HeadPoseNet, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load_checkpoint(garbage)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(save_checkpoint(tmp_path / "ok.safetensors", model, TINY, {}).read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load_checkpoint(truncated)


def test_foreign_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="not an hpe_ros checkpoint"):
        load_checkpoint(path)


def test_weights_that_do_not_match_the_stored_config(model: HeadPoseNet, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", model, TINY, {})
    tensors = load_file(str(path))
    metadata = {"format": "hpe_ros.HeadPoseNet/1", "meta": "{}"}
    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata={**metadata, "config": json.dumps(CONFIGS["nano"].to_dict())})
    with pytest.raises(ModelFileError, match="shape mismatches"):
        load_checkpoint(other)
    del tensors["camera_head.embed_pose.weight"]
    save_file(tensors, str(other), metadata={**metadata, "config": json.dumps(TINY.to_dict())})
    with pytest.raises(ModelFileError, match=r"1 missing keys \(e.g. camera_head.embed_pose.weight\)"):
        load_checkpoint(other)
    save_file(
        tensors, str(other), metadata={**metadata, "config": json.dumps({**TINY.to_dict(), "wings": 2})}
    )
    with pytest.raises(ModelFileError, match="unknown fields"):
        load_checkpoint(other)


def test_lora_model_is_saved_merged(model: HeadPoseNet, tmp_path: Path) -> None:
    from hpe_ros.model.lora import add_lora

    torch.manual_seed(1)
    adapted = add_lora(HeadPoseNet(TINY)).eval()
    with torch.no_grad():
        for name, p in adapted.named_parameters():
            if ".lora_B." in name:
                p.normal_(std=0.05)
        expected = adapted(pair())[-1]
    loaded, _, _ = load_checkpoint(save_checkpoint(tmp_path / "lora.safetensors", adapted, TINY, {}))
    with torch.no_grad():
        torch.testing.assert_close(loaded(pair())[-1], expected, atol=1e-5, rtol=1e-5)


def test_saving_with_another_config_is_refused(model: HeadPoseNet, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not the config the model was built with"):
        save_checkpoint(tmp_path / "m.safetensors", model, CONFIGS["nano"], {})


def test_weights_of_parts_a_config_does_not_build_are_ignored_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A refine=false checkpoint saved while the attention and camera head were still built (the layout of
    the first shipped default) loads; anything else that does not fit the built parts still fails."""
    geometric = CONFIGS["mesh"].replace(refine=False)
    torch.manual_seed(0)
    full = HeadPoseNet(CONFIGS["mesh"])
    full.canonical_landmarks.normal_()
    tensors = {k: v.contiguous() for k, v in full.state_dict().items()}
    header = {"format": "hpe_ros.HeadPoseNet/1", "meta": "{}", "config": json.dumps(geometric.to_dict())}
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata=header)
    with caplog.at_level(logging.INFO, logger="hpe_ros.model.checkpoint"):
        loaded, cfg, _ = load_checkpoint(old)
    unused = sum(k.startswith(("aggregator.", "camera_head.")) for k in tensors)
    assert (
        f"ignored {unused} tensors of parts its config does not build (aggregator, camera_head)"
        in caplog.text
    )
    assert cfg == geometric and set(loaded.state_dict()) == {"canonical_landmarks"}
    assert torch.equal(loaded.canonical_landmarks, full.canonical_landmarks)
    broken = tmp_path / "broken.safetensors"
    without = {k: v for k, v in tensors.items() if k != "canonical_landmarks"}
    cases = {
        r"1 missing keys \(e.g. canonical_landmarks\)": without,
        r"canonical_landmarks: \(468, 2\) != \(468, 3\)": {
            **without,
            "canonical_landmarks": torch.zeros(468, 2),
        },
        r"1 unexpected keys \(e.g. depth_head.weight\)": {**tensors, "depth_head.weight": torch.zeros(1)},
    }
    for message, wrong in cases.items():
        save_file(wrong, str(broken), metadata=header)
        with pytest.raises(ModelFileError, match=message):
            load_checkpoint(broken)
    tiny = {k: v.contiguous() for k, v in HeadPoseNet(TINY).state_dict().items()}  # another model entirely
    save_file(tiny, str(broken), metadata=header)
    with pytest.raises(ModelFileError, match="missing keys"):
        load_checkpoint(broken)
