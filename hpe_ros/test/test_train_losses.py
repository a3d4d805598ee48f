"""Training losses, recipes, schedule and Circle loss on known answers (no rendering)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.model.pose_encoding import intrinsics_to_fov, pose_to_encoding
from hpe_ros.train.augment import roll_matrix
from hpe_ros.train.config import LossSection, config_from_dict, load_config
from hpe_ros.train.contrastive import circle_loss
from hpe_ros.train.losses import PoseLoss, iteration_weights, mode_terms, pose_targets, task_weights
from hpe_ros.train.schedule import warmup_cosine_factor

SIZE = 112
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _batch(n: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random pair labels with R_rel, t_rel consistent with the views."""
    g = torch.Generator().manual_seed(seed)
    R_a = torch.tensor(Rotation.random(n, random_state=seed).as_matrix(), dtype=torch.float32)
    R_q = torch.tensor(Rotation.random(n, random_state=seed + 1).as_matrix(), dtype=torch.float32)
    t_a, t_q = torch.randn(n, 3, generator=g) * 0.1, torch.randn(n, 3, generator=g) * 0.1
    t_a[:, 2] += 1.0
    t_q[:, 2] += 1.2
    K_a, K_q = torch.eye(3).repeat(n, 1, 1), torch.eye(3).repeat(n, 1, 1)
    K_a[:, 0, 0] = K_a[:, 1, 1] = 150.0
    K_q[:, 0, 0] = K_q[:, 1, 1] = 90.0
    R_rel = R_q @ R_a.transpose(1, 2)
    t_rel = t_q - (R_rel @ t_a[..., None])[..., 0]
    return {
        "R_a": R_a,
        "t_a": t_a,
        "K_a": K_a,
        "R_q": R_q,
        "t_q": t_q,
        "K_q": K_q,
        "R_rel": R_rel,
        "t_rel": t_rel,
    }


def _perfect(batch: dict[str, torch.Tensor], mode: str, kind: str) -> torch.Tensor:
    """Encodings [B, S, E] a perfect network would output."""
    fov_a = intrinsics_to_fov(batch["K_a"], SIZE, SIZE)
    fov_q = intrinsics_to_fov(batch["K_q"], SIZE, SIZE)
    if mode == "absolute":
        return pose_to_encoding(batch["R_q"], batch["t_q"], fov_q, kind)[:, None]
    identity = torch.eye(3).expand_as(batch["R_a"])
    anchor = pose_to_encoding(identity, torch.zeros_like(batch["t_a"]), fov_a, kind)
    return torch.stack([anchor, pose_to_encoding(batch["R_rel"], batch["t_rel"], fov_q, kind)], dim=1)


@pytest.mark.parametrize("kind", ["quat", "6d"])
@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_perfect_predictions_cost_nothing(kind, mode):
    batch = _batch()
    loss = PoseLoss(LossSection(), kind, mode)
    terms = loss([_perfect(batch, mode, kind)] * 3, pose_targets(batch, mode, SIZE))
    for name, value in terms.items():
        assert float(value) == pytest.approx(0.0, abs=2e-3), name


@pytest.mark.parametrize("kind", ["quat", "6d"])
def test_geodesic_term_is_the_rotation_error_angle(kind):
    batch = _batch()
    angle = 0.7
    predicted = _perfect(batch, "relative", kind)
    wrong = roll_matrix(torch.full((5,), angle)) @ batch["R_rel"]
    predicted[:, 1, 3:-2] = pose_to_encoding(wrong, batch["t_rel"], torch.zeros(5, 2), kind)[:, 3:-2]
    terms = PoseLoss(LossSection(), kind, "relative")([predicted], pose_targets(batch, "relative", SIZE))
    assert float(terms["geodesic"]) == pytest.approx(angle, abs=1e-4)
    assert float(terms["rotation"]) > 0.01
    assert float(terms["translation"]) == pytest.approx(0.0, abs=1e-6)


def test_quaternion_l1_ignores_the_sign_and_relative_mode_supervises_the_query_only():
    batch = _batch()
    targets = pose_targets(batch, "relative", SIZE)
    loss = PoseLoss(LossSection(fov=0.0), "quat", "relative")
    predicted = _perfect(batch, "relative", "quat")
    predicted[:, 1, 3:7] *= -1  # -q is the same rotation
    predicted[:, 0, :7] = torch.randn(5, 7)  # the anchor frame is not supervised
    assert float(loss([predicted], targets)["loss"]) == pytest.approx(0.0, abs=2e-3)


def test_fov_term_is_the_log_tan_ratio_query_over_anchor():
    batch = _batch()
    predicted = _perfect(batch, "relative", "6d")
    predicted[:, :, -2:] = predicted[:, :, -2:].clone()
    # Same ratio, both FoVs changed: no FoV loss; only the query changed: the log-tan difference.
    scale = 1.3
    both = predicted.clone()
    both[:, :, -2:] = 2 * torch.atan(torch.tan(predicted[:, :, -2:] / 2) * scale)
    loss = PoseLoss(LossSection(), "6d", "relative")
    targets = pose_targets(batch, "relative", SIZE)
    assert float(loss([both], targets)["fov"]) == pytest.approx(0.0, abs=1e-5)
    query_only = predicted.clone()
    query_only[:, 1, -2:] = both[:, 1, -2:]
    assert float(loss([query_only], targets)["fov"]) == pytest.approx(math.log(scale), abs=1e-5)


def test_later_refinement_iterations_weigh_more():
    weights = iteration_weights(4, 0.6)
    assert sum(weights) == pytest.approx(1.0)
    assert weights == sorted(weights) and weights[-1] / weights[-2] == pytest.approx(1 / 0.6)
    batch = _batch()
    good, bad = _perfect(batch, "absolute", "quat"), _perfect(_batch(seed=9), "absolute", "quat")
    loss = PoseLoss(LossSection(), "quat", "absolute")
    targets = pose_targets(batch, "absolute", SIZE)
    assert float(loss([bad, good], targets)["loss"]) < float(loss([good, bad], targets)["loss"])


def test_mixed_mode_adds_the_absolute_loss_on_the_query_with_its_weight():
    batch = _batch()
    weights = task_weights("mixed", 0.25)
    assert weights == {"relative": 1.0, "absolute": 0.25}
    assert task_weights("relative", 0.25) == {"relative": 1.0}
    # A perfect relative prediction and an absolute one of another pose (its rotation, translation, FoV):
    # the total is exactly 0.25 × the absolute loss, and each task's terms are reported under its name.
    wrong_absolute = _perfect(_batch(seed=9), "absolute", "6d")
    task_terms = {
        "relative": PoseLoss(LossSection(), "6d", "relative")(
            [_perfect(batch, "relative", "6d")], pose_targets(batch, "relative", SIZE)
        ),
        "absolute": PoseLoss(LossSection(), "6d", "absolute")(
            [wrong_absolute], pose_targets(batch, "absolute", SIZE)
        ),
    }
    terms = mode_terms(task_terms, weights)
    assert float(terms["relative/loss"]) == pytest.approx(0.0, abs=2e-3)
    assert float(terms["absolute/geodesic"]) > 0.3
    assert float(terms["loss"]) == pytest.approx(0.25 * float(terms["absolute/loss"]), abs=2e-3)
    # The absolute target is the query's own pose, not the relative transform.
    assert torch.equal(pose_targets(batch, "absolute", SIZE).rotation, batch["R_q"])
    single = mode_terms({"relative": task_terms["relative"]}, task_weights("relative", 1.0))
    assert set(single) == {"loss", "translation", "rotation", "geodesic", "fov"}


def test_circle_loss_known_answer_and_ordering():
    rotations = torch.tensor(
        Rotation.from_euler("y", [[0], [0], [90]], degrees=True).as_matrix(), dtype=torch.float32
    )
    embeddings = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # Anchors 0 and 1: s_p = 1, s_n = 0: log(1 + exp(γ·m·(0 − m)) · exp(−γ·m·(1 − 1 + m))) = softplus(−2γm²).
    expected = math.log1p(math.exp(-2 * 32 * 0.25**2))
    assert float(circle_loss(embeddings, rotations, 0.25, 32.0)) == pytest.approx(expected, rel=1e-5)
    swapped = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert float(circle_loss(swapped, rotations, 0.25, 32.0)) > 10 * expected


def test_warmup_then_cosine_to_the_floor():
    assert warmup_cosine_factor(0, 100, 10, 0.1) == pytest.approx(0.1)
    assert warmup_cosine_factor(9, 100, 10, 0.1) == pytest.approx(1.0)
    assert warmup_cosine_factor(55, 100, 10, 0.1) == pytest.approx(0.55)
    assert warmup_cosine_factor(100, 100, 10, 0.1) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "name", ["tiny_cpu", "default_cpu", "nano_gpu", "vggt1b_lora", "mesh_cpu", "mesh_gpu"]
)
def test_shipped_recipes_load(name):
    cfg = load_config(CONFIGS / f"{name}.yaml", ["optim.lr=1e-3", "augment.flip_prob=0.25"])
    assert cfg.optim.lr == pytest.approx(1e-3) and cfg.augment.flip_prob == 0.25


@pytest.mark.parametrize(
    "data",
    [{"optim": {"lrr": 1}}, {"mode": "both"}, {"optim": {"steps": "many"}}, {"data": {"source": "shards"}}],
)
def test_bad_recipes_are_input_errors(data):
    with pytest.raises(InputError):
        config_from_dict(data)


def test_vggt_recipe_without_weights_is_an_input_error():
    from hpe_ros.train.loop import build_model

    with pytest.raises(InputError, match="is unset"):
        build_model(load_config(CONFIGS / "vggt1b_lora.yaml"))
