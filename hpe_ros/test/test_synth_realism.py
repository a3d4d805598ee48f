"""The realism meter and its semantic face points: vertex ids, face-box framing, the face mesh on a clean
render, and one tiny end-to-end meter run against the AFLW2000 dev split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpe_ros.geometry import head_rotation_from_biwi
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.synth.assets import load_cache
from hpe_ros.synth.facepoints import LANDMARK_NAMES, POINT_NAMES, SEMANTIC_POINTS, FacePoints, face_box
from hpe_ros.synth.mesh import HeadModel
from hpe_ros.synth.preview import project
from hpe_ros.synth.sampler import PairSampler


@pytest.fixture(scope="session")
def model(makehuman_cache) -> HeadModel:
    return HeadModel(load_cache())


def test_semantic_points_are_mirror_pairs_on_the_face(model):
    """Left/right points mirror each other (x → −x), midline points sit on x = 0, the nose tip is in front."""
    points, _ = FacePoints(model).posed({}, {})
    named = dict(zip(POINT_NAMES, points, strict=True))
    for name, left in named.items():
        if "_l_" in name or name.endswith("_l"):
            right = named[name.replace("_l_", "_r_") if "_l_" in name else name[:-1] + "r"]
            assert np.allclose(left * [-1, 1, 1], right, atol=1e-3), name
            assert left[0] > 0.01, f"{name} must lie on the subject's left (+x)"
    for name in ("nose_tip", "chin", "lip_lower"):
        assert abs(named[name][0]) < 1e-3
    assert named["nose_tip"][2] == points[:, 2].min(), "the nose tip is the most forward point"
    assert named["brow_l_mid"][1] < named["eye_l_outer"][1] < named["mouth_l"][1] < named["chin"][1]


def test_training_crops_are_centred_on_the_face_box(model):
    """Every crop centre lies within its jitter (σ = 4 % of the crop) of the visible face box's centre."""
    sampler = PairSampler(model, size=192, poses="biwi", seed=5)
    offsets = []
    for index in range(20):
        pair = sampler.sample(index)
        for view in (pair.anchor, pair.query):
            x0, y0, x1, y1 = face_box(
                *sampler.face_points.posed(pair.identity, view.expression), view.R, view.t, view.K
            )
            offsets.append(np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - 95.5)
    assert np.percentile(np.abs(offsets), 99) < 4.5 * 0.04 * 192


def test_face_mesh_finds_the_semantic_points_on_a_clean_frontal_render(model, renderable):
    """On a bare, evenly lit, frontal head the face mesh is confident and its eight points land within 10 %
    of the eye distance of the projected vertices: the vertex ids mean what their names say."""
    import torch

    from hpe_ros.model.face_mesh import FaceMesh
    from hpe_ros.synth.mesh import Appearance
    from hpe_ros.synth.renderer import Lighting, Renderer

    size = 192
    appearance = Appearance(model.skins[0], {"eyes": model.proxies["eyes"][0]}, {})
    renderer = Renderer(model.cache, size)
    R = head_rotation_from_biwi(0.0, 0.0, 0.0)
    t = np.array([0.0, 0.0, 0.7]) - HEAD_CENTRE_M
    focal = size * 0.7 / 0.27
    K = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1.0]])
    light = Lighting(ambient=(0.5, 0.5, 0.5), directions=((0.0, 0.0, 1.0),), colours=((0.6,) * 3,))
    try:
        rgba = renderer.render(model.build({}, {}, appearance), K, R, t, light)
    finally:
        renderer.release()
    image = rgba[:, :, :3] * (rgba[:, :, 3:] / 255.0) + 128 * (1 - rgba[:, :, 3:] / 255.0)
    with torch.no_grad():
        landmarks, presence = FaceMesh().eval()(torch.tensor(image / 255.0).permute(2, 0, 1)[None].float())
    points, _ = FacePoints(model).posed({}, {})
    truth = project(points, R, t, K)[[POINT_NAMES.index(n) for n in LANDMARK_NAMES]]
    found = landmarks[0, [SEMANTIC_POINTS[n].face_mesh for n in LANDMARK_NAMES], :2].numpy()
    eye = np.linalg.norm(truth[0] - truth[3])
    assert presence.item() > 0
    assert np.linalg.norm(found - truth, axis=1).max() < 0.1 * eye


def test_realism_meter_writes_its_figures(tmp_path, renderable, aflw2000_dev, shared):
    """A tiny meter run writes the JSON keys and the contact sheet; figures lie in their ranges."""
    from hpe_ros.cli import main

    out = tmp_path / "realism.json"
    args = ["synth", "realism", "--json", str(out), "--count", "3", "--real-limit", "12"]
    assert main([*args, "--data", str(aflw2000_dev), "--fsanet", str(shared / "baselines" / "fsanet")]) == 0
    summary = json.loads(out.read_text())
    assert 0.0 <= summary["presence_rate"] <= 1.0 and 0.0 <= summary["presence_rate_real"] <= 1.0
    assert summary["fsanet_geodesic_synth"] > 0 and summary["fsanet_geodesic_real"] > 0
    ratio = summary["fsanet_geodesic_synth"] / summary["fsanet_geodesic_real"]
    assert summary["fsanet_ratio"] == pytest.approx(ratio)
    assert summary["synthetic"]["n"] == 3 and summary["real"]["n"] == 12
    assert sum(b["n"] for b in summary["synthetic"]["by_yaw_bin"].values()) == 3
    assert (tmp_path / "realism.png").stat().st_size > 10_000


def test_meter_views_are_reproducible_and_framed_on_the_face(model):
    """The meter's view set is a pure function of the seed (comparable runs); the face box is centred and
    the face-mesh square is the one the real crops get from such a box (same margin, same side)."""
    from hpe_ros.crop import FACE_BOX_MARGIN
    from hpe_ros.evaluate.realism import CANVAS_PX, FACE_MESH_PX, meter_view

    sampler = PairSampler(model, size=192, seed=0)
    pair = sampler.sample(0)
    face = sampler.face_points.posed(pair.identity, pair.query.expression)
    a, b = (meter_view(pair.query, face, np.random.default_rng([1, 0])) for _ in range(2))
    assert np.array_equal(a.R, b.R) and np.array_equal(a.K, b.K)
    x0, y0, x1, y1 = face_box(*face, a.R, a.t, a.K)
    assert (x0 + x1) / 2 == pytest.approx((CANVAS_PX - 1) / 2) and (y0 + y1) / 2 == pytest.approx(
        (CANVAS_PX - 1) / 2
    )
    assert (1 + 2 * FACE_BOX_MARGIN) * max(x1 - x0, y1 - y0) == pytest.approx(FACE_MESH_PX, rel=1e-3)
