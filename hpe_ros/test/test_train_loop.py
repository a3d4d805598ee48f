"""The training loop on a few cached synthetic pairs: the loss falls, resume is exact, the CLI exports a
loadable fp16 checkpoint, the CLERF stage and the LoRA path run.

Needs the MakeHuman cache and a headless EGL context (skips with the reason otherwise).
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from hpe_ros.cli import main
from hpe_ros.errors import InputError
from hpe_ros.model import load_checkpoint
from hpe_ros.train.config import config_from_dict
from hpe_ros.train.loop import EXPORT_FILE, Trainer, train

PAIRS = 8
FAST_MODEL = {"name": "tiny", "overrides": {"depth": 2, "head_depth": 1, "head_iterations": 2}}


@pytest.fixture(scope="module")
def shards(tmp_path_factory, renderable):
    """One tar shard of 8 rendered 112 px pairs (the tiny network's input size)."""
    from hpe_ros.synth.dataset import SynthSettings, write_shard

    folder = tmp_path_factory.mktemp("shards")
    write_shard(folder / "shard-000000.tar", SynthSettings(size=112, seed=3), range(PAIRS))
    return folder


def _recipe(shards, **sections) -> dict:
    recipe = {
        "model": dict(FAST_MODEL),
        "data": {"source": "shards", "shards": str(shards), "batch_size": 4, "workers": 0},
        "optim": {"steps": 20, "lr": 1e-3, "warmup_steps": 2},
        "eval": {"pairs": 0},
        "log_every": 5,
        "checkpoint_every": 0,
    }
    for name, values in sections.items():
        recipe[name] = {**recipe.get(name, {}), **values} if isinstance(values, dict) else values
    return recipe


@pytest.mark.parametrize("mode", ["relative", "mixed"])
def test_twenty_steps_on_cached_pairs_reduce_the_loss(shards, tmp_path, mode):
    evaluation = {"pairs": 2, "protocols": ["easy"]} if mode == "mixed" else {}
    recipe = _recipe(shards, mode=mode, augment={"photometric": False}, eval=evaluation)
    trainer = Trainer(config_from_dict(recipe), tmp_path)
    result = trainer.run()
    losses = result["losses"]
    assert len(losses) == 20
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.8 * first, f"loss {first:.3f} -> {last:.3f}"
    if mode == "mixed":  # both tasks are trained and logged; the total weighs them 1 : absolute_weight
        logged = [record for record in trainer.history if "loss" in record][-1]
        assert logged["loss"] == pytest.approx(logged["relative/loss"] + logged["absolute/loss"], rel=1e-5)
        _, _, meta = load_checkpoint(tmp_path / EXPORT_FILE)
        assert meta["mode"] == "mixed" and meta["virtual_camera"] is True
        for task in ("relative", "absolute"):
            assert 0 <= result["metrics"][f"{task}/easy/mean_deg"] <= 180


def test_resume_reproduces_the_next_step_loss(shards, tmp_path):
    recipe = _recipe(shards, optim={"steps": 4}, augment={"roll_deg": 30.0, "flip_prob": 0.5})
    straight = train(config_from_dict(recipe), tmp_path / "straight")["losses"]
    first = train(config_from_dict(recipe), tmp_path / "split", stop_at=2)
    assert not first["finished"] and len(first["losses"]) == 2
    resumed = Trainer(config_from_dict(recipe), tmp_path / "split", resume=True).run()
    assert resumed["finished"]
    assert resumed["losses"] == pytest.approx(straight[2:], rel=1e-5, abs=1e-6)
    with pytest.raises(InputError, match="already holds a run"):
        Trainer(config_from_dict(recipe), tmp_path / "split")
    with pytest.raises(InputError, match="does not exist"):
        Trainer(config_from_dict(recipe), tmp_path / "nothing", resume=True)


def test_hpe_train_cli_writes_a_loadable_fp16_checkpoint(shards, tmp_path, capsys):
    config = tmp_path / "smoke.yaml"
    config.write_text(json.dumps(_recipe(shards, optim={"steps": 2}, eval={"pairs": 2})))  # JSON is YAML
    out = tmp_path / "run"
    assert (
        main(
            ["train", str(config), "--out", str(out), "--set", "mode=absolute", "model.overrides.rotation=6d"]
        )
        == 0
    )
    assert "easy/mean_deg" in capsys.readouterr().out
    _, cfg, meta = load_checkpoint(out / EXPORT_FILE)
    assert cfg.rotation == "6d" and cfg.depth == 2 and meta["mode"] == "absolute"
    assert 0 <= meta["metrics"]["hard/mean_deg"] <= 180
    with safe_open(str(out / EXPORT_FILE), "pt") as f:
        assert f.get_tensor("camera_head.embed_pose.weight").dtype == torch.float16
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["config"]["mode"] == "absolute" and recipe["metrics"] == meta["metrics"]
    assert (out / "tb").is_dir()
    assert main(["train", str(config), "--out", str(out), "--set", "optim.stepz=3"]) == 2


def test_contrastive_stage_then_lora_pose_stage_export_a_plain_network(shards, tmp_path):
    recipe = _recipe(
        shards,
        model={"freeze": "lora", "lora_rank": 2},
        optim={"steps": 2},
        contrastive={"enabled": True, "steps": 2, "batch_size": 2},
    )
    cfg = config_from_dict(recipe)
    trainer = Trainer(cfg, tmp_path)
    frozen = trainer.model.aggregator.frame_blocks[0].attn.qkv.base_layer.weight.detach().clone()
    result = trainer.run()
    assert result["finished"]
    stages = [(r["stage"], r["step"]) for r in trainer.history if "circle_loss" in r or "loss" in r]
    assert ("contrastive", 2) in stages and ("pose", 2) in stages
    assert torch.equal(trainer.model.aggregator.frame_blocks[0].attn.qkv.base_layer.weight, frozen)
    model, _, _ = load_checkpoint(tmp_path / EXPORT_FILE)
    assert not any("lora" in name for name in model.state_dict())
    merged = model.aggregator.frame_blocks[0].attn.qkv.weight
    assert not torch.allclose(merged, frozen.to(merged.dtype)), "the trained adapters are merged on export"
