"""Augmentations: the virtual crop camera and CLERF's roll and flip keep labels exact (checked against
re-rendered ground truth),
relative labels are recomputed, photometric randomisation stays in range and is seeded.

Re-rendering needs the MakeHuman cache and a headless EGL context; those tests skip with the reason otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hpe_ros.geometry.frames import head_view_rotation
from hpe_ros.train.augment import (
    flip_labels,
    geometric_augment,
    photometric_augment,
    roll_labels,
    transform_view,
    view_camera_labels,
)
from hpe_ros.train.config import AugmentSection

SIZE = 112


@pytest.fixture(scope="module")
def scene(renderable):
    """(head model, renderer, sampler) at the tiny network's input size."""
    from hpe_ros.synth.assets import load_cache
    from hpe_ros.synth.mesh import HeadModel
    from hpe_ros.synth.renderer import Renderer
    from hpe_ros.synth.sampler import PairSampler

    model = HeadModel(load_cache())
    renderer = Renderer(model.cache, SIZE)
    yield model, renderer, PairSampler(model, SIZE, "biwi", "any", seed=5, degrade=False)
    renderer.release()


def _positions(scene, index: int, skin_only: bool = False, labels=None):
    """Head-frame point per pixel [H, W, 4] of pair ``index``'s query view, with (R, t, K) as tensors."""
    model, renderer, sampler = scene
    pair = sampler.sample(index)
    view = pair.query
    parts = model.build(
        pair.identity, {} if skin_only else view.expression, pair.appearance, view.torso_rotation
    )
    parts = parts[:1] if skin_only else parts
    R, t, K = labels or (
        torch.from_numpy(view.R)[None],
        torch.from_numpy(view.t)[None],
        torch.from_numpy(view.K)[None],
    )
    seen = renderer.render_positions(parts, K[0].numpy(), R[0].numpy(), t[0].numpy())
    return seen, (R, t, K)


def _median_mm(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(a[..., :3] - b[..., :3], axis=-1)[mask]) * 1000)


def _warp(seen: np.ndarray, labels, theta: float, flip: bool, virtual: bool):
    """:func:`transform_view` applied to a position map [H, W, 4] (float64): (map, (R, t, K))."""
    R, t, K = labels
    image = torch.from_numpy(seen).permute(2, 0, 1)[None].double()
    angle, mirror = torch.tensor([theta], dtype=torch.float64), torch.tensor([flip])
    image, *moved = transform_view(image, R, t, K, angle, mirror, virtual)
    return image[0].permute(1, 2, 0).numpy(), tuple(moved)


@pytest.mark.parametrize("index", [0, 1])
def test_rolled_image_matches_the_render_with_rolled_labels(scene, index):
    """Rotating the image by θ about the crop centre = rendering with R' = Rz(θ)R, t' = Rz(θ)t, rolled K."""
    seen, labels = _positions(scene, index)
    for theta in (0.5, -0.5):
        warped, moved = _warp(seen, labels, theta, flip=False, virtual=False)
        rendered, _ = _positions(scene, index, labels=moved)
        wrong, _ = _positions(
            scene, index, labels=roll_labels(*labels, torch.tensor([-theta]).double(), SIZE)
        )
        inside = (warped[..., 3] > 0.999) & (rendered[..., 3] > 0)
        assert inside.sum() > 1000
        assert _median_mm(warped, rendered, inside) < 0.5, "the rolled labels must re-render the rolled image"
        inside_wrong = (warped[..., 3] > 0.999) & (wrong[..., 3] > 0)
        assert _median_mm(warped, wrong, inside_wrong) > 20, "the opposite roll sign must not match"


def test_virtual_crop_camera_matches_the_render_in_the_turned_camera(scene):
    """An off-axis crop, resampled into the camera looking at the crop centre, is that camera's render."""
    for index in range(20):
        seen, (R, t, K) = _positions(scene, index)
        ray = np.linalg.solve(K[0].numpy(), [(SIZE - 1) / 2, (SIZE - 1) / 2, 1.0])
        if np.degrees(np.arccos(ray[2] / np.linalg.norm(ray))) > 15:
            break
    else:
        pytest.fail("no crop 15° off-axis among 20 samples")
    warped, (R_v, t_v, K_v) = _warp(seen, (R, t, K), 0.0, flip=False, virtual=True)
    assert torch.allclose(K_v[0, :2, 2], torch.full((2,), (SIZE - 1) / 2, dtype=K_v.dtype))
    rendered, _ = _positions(scene, index, labels=(R_v, t_v, K_v))
    inside = (warped[..., 3] > 0.999) & (rendered[..., 3] > 0)
    assert inside.sum() > 1000
    assert _median_mm(warped, rendered, inside) < 0.5
    unturned, _ = _positions(scene, index, labels=(R, t_v, K_v))  # the head moved but not turned
    overlap = (warped[..., 3] > 0.999) & (unturned[..., 3] > 0)
    assert _median_mm(warped, unturned, overlap) > 3, "the turn of the camera must show in the image"


@pytest.mark.parametrize("index", [0, 2])
def test_flipped_image_matches_the_mirrored_head_rendered_with_flipped_labels(scene, index):
    """Virtual camera, flip and roll composed: the flip shows the mirrored head, R' = F R F, t' = F t with
    F = diag(-1, 1, 1). The skin mesh near the face is left-right symmetric, so the re-render shows F·X."""
    seen, labels = _positions(scene, index, skin_only=True)
    warped, moved = _warp(seen, labels, 0.3, flip=True, virtual=True)
    warped[..., 0] *= -1
    rendered, _ = _positions(scene, index, skin_only=True, labels=moved)
    face = np.linalg.norm(warped[..., :3], axis=-1) < 0.1
    inside = (warped[..., 3] > 0.999) & (rendered[..., 3] > 0) & face
    assert inside.sum() > 1000
    assert _median_mm(warped, rendered, inside) < 0.5
    mirrored, _ = _warp(seen, labels, 0.0, flip=True, virtual=False)
    mirrored[..., 0] *= -1
    R_f, _, K_f = flip_labels(*labels, SIZE)
    wrong, _ = _positions(scene, index, skin_only=True, labels=(R_f, labels[1], K_f))  # t not mirrored
    overlap = (mirrored[..., 3] > 0.999) & (wrong[..., 3] > 0) & face
    assert overlap.sum() < 100 or _median_mm(mirrored, wrong, overlap) > 20


def test_pair_augmentation_transforms_each_view_and_recomputes_the_relative_label():
    n = 6
    R_a = torch.tensor(Rotation.random(n, random_state=1).as_matrix(), dtype=torch.float32)
    R_q = torch.tensor(Rotation.random(n, random_state=2).as_matrix(), dtype=torch.float32)
    t_a, t_q = torch.randn(n, 3) + torch.tensor([0, 0, 2.0]), torch.randn(n, 3) + torch.tensor([0, 0, 2.0])
    K = torch.tensor([[100.0, 0, 40], [0, 100, 70], [0, 0, 1]]).repeat(n, 1, 1)
    images = torch.rand(n, 3, SIZE, SIZE)
    batch = {"anchor": images.clone(), "query": images.clone(), "R_a": R_a, "t_a": t_a, "K_a": K, "R_q": R_q}
    batch.update({"t_q": t_q, "K_q": K.clone(), "R_rel": torch.zeros(n, 3, 3), "t_rel": torch.zeros(n, 3)})
    geometric_augment(batch, AugmentSection(roll_deg=45, flip_prob=0.5), torch.Generator().manual_seed(0))
    assert not torch.allclose(batch["R_a"], R_a) and not torch.allclose(batch["anchor"], images)
    eye = torch.eye(3).expand(n, 3, 3)
    assert torch.allclose(batch["R_a"] @ batch["R_a"].transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(batch["R_q"]), torch.ones(n), atol=1e-5)
    assert torch.allclose(batch["R_rel"] @ batch["R_a"], batch["R_q"], atol=1e-5)
    assert torch.allclose(
        (batch["R_rel"] @ batch["t_a"][..., None])[..., 0] + batch["t_rel"], batch["t_q"], atol=1e-5
    )
    # The head origin keeps projecting through the (rolled, flipped) intrinsics onto the same image content:
    # it lies at distance |t| from the camera, which no roll or flip changes.
    assert torch.allclose(batch["t_a"].norm(dim=-1), t_a.norm(dim=-1), atol=1e-5)


def test_view_camera_labels_are_what_the_tracker_maps_back():
    """Training labels in the head's view camera and the run-time map back (numpy) are one rotation: the
    tracker's output for a crop equals the training label."""
    n = 4
    R = torch.tensor(Rotation.random(n, random_state=3).as_matrix(), dtype=torch.float64)
    t = torch.randn(n, 3, dtype=torch.float64) + torch.tensor([0, 0, 2.0], dtype=torch.float64)
    batch = {"R_a": R, "t_a": t, "R_q": R.clone(), "t_q": t.clone()}  # the map reads the poses only
    view_camera_labels(batch)
    for k in range(n):
        view = head_view_rotation(t[k].numpy(), R[k].numpy())
        np.testing.assert_allclose(view @ batch["R_q"][k].numpy(), R[k].numpy(), atol=1e-9)
        np.testing.assert_allclose(view @ batch["t_q"][k].numpy(), t[k].numpy(), atol=1e-9)
    assert not torch.allclose(batch["R_q"], R)
    assert torch.allclose(batch["R_rel"], torch.eye(3, dtype=torch.float64).expand(n, 3, 3), atol=1e-9)


def test_photometric_augmentation_is_seeded_in_range_and_changes_images():
    images = torch.rand(8, 3, 32, 32)
    cfg = AugmentSection(grey_prob=0.5, blur_prob=0.5, noise_prob=0.5)
    out = photometric_augment(images, cfg, torch.Generator().manual_seed(3))
    again = photometric_augment(images, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(out, again) and out.shape == images.shape
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert float((out - images).abs().mean()) > 0.01
    assert photometric_augment(images, AugmentSection(photometric=False), torch.Generator()) is images
