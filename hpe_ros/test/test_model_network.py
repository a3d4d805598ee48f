"""HeadPoseNet: shapes per mode, proper rotations from both heads, anchor/query slot sensitivity, RoPE."""

from __future__ import annotations

import math

import pytest
import torch

from hpe_ros.errors import InputError
from hpe_ros.model import CONFIGS, HeadPoseNet
from hpe_ros.model.rope import RotaryEmbedding2D, apply_rope

TINY = CONFIGS["tiny"]


@pytest.fixture(scope="module", params=["quat", "6d"])
def model(request: pytest.FixtureRequest) -> HeadPoseNet:
    torch.manual_seed(0)
    return HeadPoseNet(TINY.replace(rotation=request.param)).eval()


def images(batch: int, frames: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, frames, 3, TINY.image_size, TINY.image_size, generator=gen)


@pytest.mark.parametrize("frames", [1, 2])
def test_output_shapes_per_mode(model: HeadPoseNet, frames: int) -> None:
    with torch.no_grad():
        encodings = model(images(3, frames))
        rotation, translation = model.predict_pose(images(3, frames))
    width = 9 if model.cfg.rotation == "quat" else 11
    assert len(encodings) == TINY.head_iterations
    assert all(e.shape == (3, frames, width) for e in encodings)
    assert rotation.shape == (3, frames, 3, 3) and translation.shape == (3, frames, 3)
    assert (encodings[-1][..., -2:] >= 0).all()  # FoV goes through a ReLU


def test_predicted_rotations_are_proper(model: HeadPoseNet) -> None:
    with torch.no_grad():
        rotation, _ = model.predict_pose(images(4, 2))
    eye = torch.eye(3).expand_as(rotation)
    torch.testing.assert_close(rotation @ rotation.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(4, 2), atol=1e-5, rtol=0)


def test_anchor_and_query_slots_matter() -> None:
    torch.manual_seed(0)
    model = HeadPoseNet(TINY).eval()
    pair = images(2, 2)
    swapped = pair[:, [1, 0]]

    def swap_consistency_error() -> float:
        with torch.no_grad():
            return (model(swapped)[-1] - model(pair)[-1][:, [1, 0]]).abs().max().item()

    with torch.no_grad():  # equal slots: the network is permutation-equivariant over frames
        model.aggregator.camera_token[:, 1] = model.aggregator.camera_token[:, 0]
        model.aggregator.register_token[:, 1] = model.aggregator.register_token[:, 0]
    assert swap_consistency_error() < 1e-4
    with torch.no_grad():  # distinct (trained-like) slots: which frame is the anchor changes the prediction
        model.aggregator.camera_token.normal_()
        model.aggregator.register_token.normal_()
    assert swap_consistency_error() > 1e-2


def test_single_frame_uses_the_other_slot() -> None:
    torch.manual_seed(0)
    model = HeadPoseNet(TINY).eval()
    frame = images(1, 1)
    with torch.no_grad():
        before = model(frame)[-1]
        model.aggregator.camera_token[:, 0].normal_()  # the anchor slot plays no part in absolute mode
        torch.testing.assert_close(model(frame)[-1], before)
        model.aggregator.camera_token[:, 1].normal_()
        assert (model(frame)[-1] - before).abs().max() > 1e-3


@pytest.mark.parametrize("shape", [(1, 2, 3, 64, 64), (1, 3, 3, 112, 112), (2, 3, 112, 112)])
def test_bad_input_shape_is_a_clear_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(InputError, match=r"expects images|S must be"):
        HeadPoseNet(TINY)(torch.zeros(shape))


def test_rope_static_tables_equal_direct_computation() -> None:
    head_dim, grid, special, base = 8, 3, 2, 100.0
    rope = RotaryEmbedding2D(head_dim, grid, special, base)
    x = torch.randn(1, 1, 2 * (special + grid * grid), head_dim, dtype=torch.float64)
    cos, sin = rope.tables(2)
    rotated = apply_rope(x, (cos.double(), sin.double()))[0, 0]
    quarter = head_dim // 4
    for token in range(x.shape[2]):
        index = token % (special + grid * grid)  # two frames laid end to end share positions
        row, col = (0, 0) if index < special else divmod(index - special, grid)
        position = (0, 0) if index < special else (row + 1, col + 1)
        for half, pos in enumerate(position):  # first half of the head dim: row; second half: column
            for i in range(quarter):
                angle = pos * base ** (-2 * i / (head_dim // 2))
                a = x[0, 0, token, half * 2 * quarter + i].item()
                b = x[0, 0, token, half * 2 * quarter + quarter + i].item()
                expected = (
                    a * math.cos(angle) - b * math.sin(angle),
                    b * math.cos(angle) + a * math.sin(angle),
                )
                got = rotated[token, half * 2 * quarter + i], rotated[token, half * 2 * quarter + quarter + i]
                assert got[0].item() == pytest.approx(expected[0], abs=1e-6)
                assert got[1].item() == pytest.approx(expected[1], abs=1e-6)


def test_cached_anchor_tokens_give_the_same_pose() -> None:
    torch.manual_seed(0)
    model = HeadPoseNet(TINY.replace(frame_only_depth=2)).eval()
    with torch.no_grad():
        model.aggregator.camera_token.normal_()  # distinct slots, so a wrong slot would show
        pair = images(2, 2)
        anchor = model.embed_frames(pair[:, :1], anchor_first=True)  # computed once, reused for many queries
        query = model.embed_frames(pair[:, 1:], anchor_first=False)
        torch.testing.assert_close(torch.cat([anchor, query], dim=1), model.embed_frames(pair))
        expected = model(pair)[-1]
        torch.testing.assert_close(model.pose_from_tokens(torch.cat([anchor, query], dim=1))[-1], expected)
        wrong_slot = model.embed_frames(pair[:, :1], anchor_first=False)
        assert (
            model.pose_from_tokens(torch.cat([wrong_slot, query], dim=1))[-1] - expected
        ).abs().max() > 1e-3


def test_dinov2_pos_embed_resampling_equals_antialiased_bicubic() -> None:
    cfg = CONFIGS["vggt1b"].replace(
        name="dino-mini", image_size=224, embed_dim=64, depth=1, num_heads=2, dino_depth=1, head_depth=1,
        head_num_heads=2, head_iterations=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = HeadPoseNet(cfg).eval()
    embed = model.aggregator.patch_embed
    grid = embed.pos_embed[:, 1:].reshape(1, 37, 37, 64).permute(0, 3, 1, 2)
    direct = torch.nn.functional.interpolate(grid, size=(16, 16), mode="bicubic", antialias=True)
    torch.testing.assert_close(embed.patch_pos_embed(), direct.permute(0, 2, 3, 1).reshape(1, 256, 64))
    with torch.no_grad():
        assert model(torch.rand(1, 2, 3, 224, 224))[-1].shape == (1, 2, 9)


def test_low_precision_model_still_returns_float32_proper_rotations() -> None:
    torch.manual_seed(0)
    model = HeadPoseNet(TINY).to(torch.bfloat16).eval()
    with torch.no_grad():
        rotation, translation = model.predict_pose(images(2, 2).to(torch.bfloat16))
    assert rotation.dtype == translation.dtype == torch.float32
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(2, 2), atol=1e-5, rtol=0)
