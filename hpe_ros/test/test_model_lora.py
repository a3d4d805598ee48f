"""LoRA: where adapters go, which parameters each policy trains, merged model equals the adapter model."""

from __future__ import annotations

import pytest
import torch

from hpe_ros.model import CONFIGS, HeadPoseNet
from hpe_ros.model.lora import add_lora, has_lora, merge_lora, set_trainable

TINY = CONFIGS["tiny"]


def lora_model(seed: int = 0) -> HeadPoseNet:
    torch.manual_seed(seed)
    return add_lora(HeadPoseNet(TINY))


def pair() -> torch.Tensor:
    return torch.rand(2, 2, 3, TINY.image_size, TINY.image_size, generator=torch.Generator().manual_seed(5))


def test_adapters_on_qkv_proj_fc1_fc2_of_every_aggregator_block() -> None:
    model = lora_model()
    adapted = {name.rsplit(".lora_A", 1)[0] for name, _ in model.named_parameters() if ".lora_A." in name}
    expected = {
        f"aggregator.{kind}_blocks.{i}.{layer}"
        for kind in ("frame", "global")
        for i in range(TINY.depth)
        for layer in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
    }
    assert adapted == expected
    ranks = {p.shape[0] for name, p in model.named_parameters() if ".lora_A." in name}
    assert ranks == {8}


@pytest.mark.parametrize(
    ("policy", "trained_prefixes"),
    [("lora", ("camera_head.", "lora")), ("head", ("camera_head.",)), ("full", ("",))],
)
def test_gradient_reaches_only_what_the_policy_trains(policy: str, trained_prefixes: tuple[str, ...]) -> None:
    model = lora_model()
    for name, p in model.named_parameters():  # non-zero adapters so gradients reach both lora_A and lora_B
        if ".lora_B." in name:
            torch.nn.init.normal_(p, std=0.02)
    set_trainable(model, policy)
    sum(encoding.square().sum() for encoding in model(pair())).backward()  # every iteration, as in training
    for name, p in model.named_parameters():
        trained = any(name.startswith(x) or (x == "lora" and ".lora_" in name) for x in trained_prefixes)
        has_grad = p.grad is not None and p.grad.abs().sum() > 0
        assert has_grad == trained, f"{policy}: {name} grad={has_grad}"


def test_lora_policy_needs_adapters_and_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="add_lora"):
        set_trainable(HeadPoseNet(TINY), "lora")
    with pytest.raises(ValueError, match="unknown training policy"):
        set_trainable(lora_model(), "everything")


def test_merged_model_equals_adapter_model() -> None:
    model = lora_model().eval()
    x = pair()
    with torch.no_grad():
        base = model(x)[-1]
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.normal_(std=0.05)
        adapted = model(x)[-1]
        merged = merge_lora(model).eval()
        out = merged(x)[-1]
    assert (adapted - base).abs().max() > 1e-3  # the perturbed adapters change the output
    assert not has_lora(merged) and type(merged) is HeadPoseNet
    assert set(merged.state_dict()) == set(HeadPoseNet(TINY).state_dict())
    torch.testing.assert_close(out, adapted, atol=1e-5, rtol=1e-5)
    assert has_lora(model)  # the adapter model is left as it was
