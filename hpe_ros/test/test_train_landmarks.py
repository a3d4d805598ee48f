"""Precomputed face-mesh landmarks: augmentation before the frozen front end keeps the labels exact, the
stream reads files and folders, and the trainer fits the ``mesh`` network on them.

Needs the MakeHuman cache and a headless EGL context (skips with the reason otherwise).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpe_ros.errors import InputError
from hpe_ros.geometry import geodesic_deg
from hpe_ros.train.config import AugmentSection, config_from_dict
from hpe_ros.train.landmarks import LandmarkPairs, precompute_landmarks
from hpe_ros.train.loop import EXPORT_FILE, Trainer

PAIRS = 6
FLIP = np.diag([-1.0, 1.0, 1.0])
NOSE_TIP = 1  # MediaPipe face-mesh landmark index


@pytest.fixture(scope="module")
def shards(tmp_path_factory, renderable):
    """One tar shard of 6 rendered 192 px pairs (the face-mesh input size), no degradations."""
    from hpe_ros.synth.dataset import SynthSettings, write_shard

    folder = tmp_path_factory.mktemp("shards192")
    write_shard(folder / "shard-000000.tar", SynthSettings(size=192, seed=5, degrade=False), range(PAIRS))
    return folder


@pytest.fixture(scope="module")
def plain(shards, tmp_path_factory):
    """Landmarks without augmentation."""
    path = tmp_path_factory.mktemp("lm") / "plain.npz"
    augment = AugmentSection(photometric=False, virtual_camera=False, roll_deg=0.0, flip_prob=0.0)
    precompute_landmarks(shards, path, variants=1, augment=augment)
    return dict(np.load(path))


def test_flipped_crops_give_mirrored_landmarks_and_exactly_mirrored_labels(shards, plain, tmp_path):
    path = tmp_path / "flipped.npz"
    augment = AugmentSection(photometric=False, virtual_camera=False, roll_deg=0.0, flip_prob=1.0)
    counts = precompute_landmarks(shards, path, variants=1, augment=augment)
    assert counts == {"pairs": PAIRS, "samples": PAIRS}
    flipped = np.load(path)
    for i in range(PAIRS):
        np.testing.assert_allclose(flipped["R_q"][i], FLIP @ plain["R_q"][i] @ FLIP, atol=1e-6)
    # the face mesh saw the mirrored images: the nose tip (on the face's midline) lies nearer the mirror
    # of its plain x than the plain x (the network is not exactly mirror-equivariant on turned faces)
    nose_plain = plain["query"][:, NOSE_TIP, 0].astype(np.float64)
    nose_flipped = flipped["query"][:, NOSE_TIP, 0].astype(np.float64)
    assert np.abs(nose_flipped - (191 - nose_plain)).mean() < 0.5 * np.abs(nose_flipped - nose_plain).mean()
    # the relative label follows the transformed views
    R_rel = flipped["R_q"] @ np.transpose(flipped["R_a"], (0, 2, 1))
    np.testing.assert_allclose(flipped["R_rel"], R_rel, atol=1e-5)


def test_rolled_crops_keep_the_pose_gap_and_variants_multiply_samples(shards, plain, tmp_path):
    path = tmp_path / "rolled.npz"
    augment = AugmentSection(photometric=True, virtual_camera=False, roll_deg=30.0, flip_prob=0.0)
    precompute_landmarks(shards, path, variants=2, augment=augment, seed=1)
    rolled = np.load(path)
    assert len(rolled["anchor"]) == 2 * PAIRS and rolled["anchor"].dtype == np.float16
    turned = [geodesic_deg(rolled["R_q"][i], plain["R_q"][i]) for i in range(PAIRS)]
    assert 0 < max(turned) <= 30.0 + 1e-3


def test_the_stream_reads_a_file_or_a_folder_and_refuses_other_things(plain, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    for name in ("a.npz", "b.npz"):
        np.savez(folder / name, **plain)
    stream = LandmarkPairs(folder, seed=0)
    assert len(stream) == 2 * PAIRS
    first = next(iter(stream))
    assert first["anchor"].shape == (468, 3) and first["R_rel"].shape == (3, 3)
    with pytest.raises(InputError, match="no landmark file"):
        LandmarkPairs(tmp_path / "missing.npz", seed=0)
    np.savez(tmp_path / "wrong.npz", anchor=np.zeros((2, 68, 3)))
    with pytest.raises(InputError, match="shape"):
        LandmarkPairs(tmp_path / "wrong.npz", seed=0)


def test_the_mesh_network_trains_on_landmarks_and_exports(plain, tmp_path):
    np.savez(tmp_path / "train.npz", **plain)
    recipe = {
        "mode": "mixed",
        "model": {"name": "mesh", "overrides": {"depth": 1, "head_depth": 1, "head_iterations": 2}},
        "data": {"source": "landmarks", "landmarks": str(tmp_path / "train.npz"), "batch_size": 6},
        "optim": {"steps": 60, "lr": 2e-3, "warmup_steps": 2},
        "eval": {"pairs": 0},
        "log_every": 10,
        "checkpoint_every": 0,
    }
    result = Trainer(config_from_dict(recipe), tmp_path / "run").run()
    losses = result["losses"]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert (tmp_path / "run" / "training_curve.png").stat().st_size > 1000
    from hpe_ros.model import load_checkpoint

    net, cfg, _ = load_checkpoint(tmp_path / "run" / EXPORT_FILE)
    assert cfg.patch_embed == "face_mesh"
    with torch.no_grad():
        assert torch.isfinite(net(torch.from_numpy(plain["anchor"][:2, None]).float())[-1]).all()


def test_landmarks_need_a_face_mesh_model(plain, tmp_path):
    np.savez(tmp_path / "train.npz", **plain)
    recipe = {
        "model": {"name": "tiny"},
        "data": {"source": "landmarks", "landmarks": str(tmp_path / "train.npz")},
    }
    with pytest.raises(InputError, match="face-mesh"):
        Trainer(config_from_dict(recipe), tmp_path / "run")


def test_zero_steps_fits_the_canonical_cloud_and_exports(plain, tmp_path):
    """optim.steps 0 optimises nothing: the geometric model is built, its canonical cloud fitted, exported."""
    np.savez(tmp_path / "train.npz", **plain)
    recipe = {
        "model": {"name": "mesh", "overrides": {"refine": False}},
        "data": {"source": "landmarks", "landmarks": str(tmp_path / "train.npz")},
        "optim": {"steps": 0},
        "eval": {"pairs": 0},
    }
    result = Trainer(config_from_dict(recipe), tmp_path / "run").run()
    assert result["finished"] and result["losses"] == []
    from hpe_ros.model import load_checkpoint

    net, cfg, meta = load_checkpoint(tmp_path / "run" / EXPORT_FILE)
    assert cfg.refine is False and meta["steps"] == 0
    radius = net.canonical_landmarks.float().square().sum(-1).mean().sqrt()
    assert radius.item() == pytest.approx(1.0, abs=1e-2)  # a fitted, normalised cloud, not the zero buffer
    with pytest.raises(InputError, match=">= 0"):
        config_from_dict({**recipe, "optim": {"steps": -1}})
