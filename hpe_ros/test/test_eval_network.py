"""Our networks in the harness: crop framing (pinned to renders and BlazeFace), both modes, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hpe_ros.crop import FACE_BOX_MARGIN, crop_and_resize
from hpe_ros.detect import Detection
from hpe_ros.errors import ModelFileError
from hpe_ros.evaluate.estimators import (
    AbsolutePoseEstimator,
    RelativePoseEstimator,
    load_estimator,
    load_network_estimator,
)
from hpe_ros.evaluate.network import NetworkEstimator, implied_face, network_crop_box


@pytest.fixture(scope="module")
def estimator(tiny_checkpoint) -> NetworkEstimator:
    return load_network_estimator(tiny_checkpoint, backend="torch")


def test_crop_square_is_the_box_plus_the_margin_centred_on_it():
    box = network_crop_box(Detection(250.0, 150.0, 350.0, 270.0, 0.9))
    assert box.side == pytest.approx((1 + 2 * FACE_BOX_MARGIN) * 120.0)
    assert box.center == pytest.approx((300.0, 210.0))


def test_implied_face_maps_a_whole_crop_onto_itself(estimator):
    for size in (112, 224, 97):
        box = network_crop_box(implied_face(size))
        assert (box.x0, box.y0, box.side) == pytest.approx((-0.5, -0.5, size), abs=1e-9)
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    fed = estimator.crop(image, implied_face(224))
    assert fed.shape == (3, 112, 112) and fed.dtype == np.float32
    resized = cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA).transpose(2, 0, 1) / 255.0
    assert np.abs(fed - resized).max() < 1.5 / 255


def test_both_modes_run_on_an_off_centre_face(estimator):
    assert isinstance(estimator, AbsolutePoseEstimator) and isinstance(estimator, RelativePoseEstimator)
    image = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    face = Detection(480.0, 40.0, 600.0, 170.0, 1.0)  # near the top-right corner: part of the crop is outside
    expected = crop_and_resize(image, network_crop_box(face), 112).transpose(2, 0, 1) / 255.0
    assert np.allclose(estimator.crop(image, face), expected, atol=1e-6)
    R = estimator.estimate(image, face)
    assert R.shape == (3, 3) and np.allclose(R @ R.T, np.eye(3), atol=1e-4)
    R_rel, t_rel = estimator.estimate_relative(image, face, image[:, ::-1].copy(), face)
    assert R_rel.shape == (3, 3) and t_rel.shape == (3,)
    plain = NetworkEstimator(estimator.engine, "plain", upright=False)  # unturned crops: the engine's answer
    R_rel, _ = plain.estimate_relative(image, face, image[:, ::-1].copy(), face)
    R_engine, _ = estimator.engine.infer(
        estimator.crop(image, face)[None], estimator.crop(image[:, ::-1].copy(), face)[None]
    )
    assert np.allclose(R_rel, R_engine[0], atol=1e-6)


def test_corrupt_model_files_are_clear_errors(tmp_path):
    for name in ("net.onnx", "net.safetensors"):
        path = tmp_path / name
        path.write_bytes(b"\0")
        with pytest.raises(ModelFileError, match=name):
            load_estimator(str(path))


def test_margin_frames_a_blazeface_box_like_the_synthetic_crops(renderable):
    """BlazeFace on held-out renders: the network crop of its box matches the rendered crop (side, centre)."""
    from hpe_ros.detect import load_detector
    from hpe_ros.synth.generator import PairRenderer
    from hpe_ros.synth.sampler import EVAL_IDENTITY_BASE, PairSampler

    renderer = PairRenderer(size=224)
    ids = (EVAL_IDENTITY_BASE, EVAL_IDENTITY_BASE + 40)
    sampler = PairSampler(renderer.model, 224, "biwi", "neutral", seed=11, identities=ids, degrade=False)
    detector = load_detector("blazeface")
    sides, shifts = [], []
    try:
        for index in range(8):
            pair = sampler.sample(index)
            canvas = np.full((672, 672, 3), 128, np.uint8)
            canvas[224:448, 224:448] = renderer.render_view(pair, pair.anchor)
            found = detector.detect(canvas)
            if found:
                box = network_crop_box(found[0])
                sides.append(box.side / 224)
                shifts.append(np.hypot(box.center[0] - 335.5, box.center[1] - 335.5) / 224)
    finally:
        renderer.close()
    assert len(sides) >= 6, "BlazeFace should find most near-frontal rendered faces"
    assert 0.85 < np.median(sides) < 1.15, f"crop side / rendered crop side: {np.round(sides, 2)}"
    # The renders jitter the crop centre (σ = 0.04 side per axis) and centre it on the head, not the face.
    assert np.median(shifts) < 0.2, f"crop centre offset / crop side: {np.round(shifts, 2)}"


def test_at_absolute_hides_the_relative_mode(tiny_checkpoint):
    from hpe_ros.errors import InputError
    from hpe_ros.evaluate.estimators import AbsoluteOnly, RelativeFromAbsolute, as_relative

    both = load_estimator(str(tiny_checkpoint))
    absolute = load_estimator(f"{tiny_checkpoint}@absolute")
    assert isinstance(absolute, AbsoluteOnly) and not isinstance(absolute, RelativePoseEstimator)
    assert isinstance(as_relative(absolute), RelativeFromAbsolute)
    image = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    face = Detection(50.0, 50.0, 150.0, 150.0, 1.0)
    np.testing.assert_allclose(absolute.estimate(image, face), both.estimate(image, face), atol=1e-5)
    with pytest.raises(InputError, match="only MODEL@absolute"):
        load_estimator(f"{tiny_checkpoint}@relative")
    with pytest.raises(InputError, match="does not apply"):
        load_estimator("mean-pose@absolute")
