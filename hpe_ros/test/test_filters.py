"""One-Euro filters: jitter is smoothed, steps are followed, time jumps restart, rotations stay rotations."""

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.filters import OneEuroConfig, RotationOneEuroFilter, VectorOneEuroFilter, smoothing_factor
from hpe_ros.geometry import geodesic_deg

FPS = 30.0


def test_smoothing_factor_known_value():
    # tau = 1 / (2 pi), dt = tau -> alpha = 1 / 2
    assert np.isclose(smoothing_factor(1.0, 1.0 / (2 * np.pi)), 0.5)


def test_vector_filter_smooths_jitter_and_follows_a_step():
    rng = np.random.default_rng(1)
    still = np.array([0.1, -0.05, 0.8]) + rng.normal(0.0, 0.005, (60, 3))
    step = np.array([0.4, -0.05, 0.8]) + rng.normal(0.0, 0.005, (30, 3))
    config = OneEuroConfig(min_cutoff_hz=0.5, beta=4.0)
    filt = VectorOneEuroFilter(config)
    out = np.array([filt(x, i / FPS) for i, x in enumerate(np.concatenate([still, step]))])
    raw_jitter = np.std(np.diff(still[20:], axis=0))
    assert np.std(np.diff(out[20:60], axis=0)) < 0.4 * raw_jitter
    # Half a second after a 30 cm step the output is within 2 cm of the new position.
    assert np.linalg.norm(out[75] - [0.4, -0.05, 0.8]) < 0.02
    # Without the speed term the same step lags far behind.
    slow = VectorOneEuroFilter(OneEuroConfig(min_cutoff_hz=1.0, beta=0.0))
    lagging = [slow(x, i / FPS) for i, x in enumerate(np.concatenate([still, step]))]
    assert np.linalg.norm(lagging[65] - [0.4, -0.05, 0.8]) > 0.05


def test_vector_filter_restarts_when_time_goes_back_and_can_be_disabled():
    filt = VectorOneEuroFilter()
    filt(np.zeros(3), 1.0)
    filt(np.zeros(3), 1.1)
    np.testing.assert_array_equal(filt(np.ones(3), 0.5), np.ones(3))  # clock jumped back: no smoothing
    passthrough = VectorOneEuroFilter(OneEuroConfig(enabled=False))
    passthrough(np.zeros(3), 0.0)
    np.testing.assert_array_equal(passthrough(np.ones(3), 0.1), np.ones(3))


def test_rotation_filter_smooths_jitter_and_follows_a_turn():
    rng = np.random.default_rng(2)
    base = Rotation.from_euler("y", 10.0, degrees=True)
    noisy = [Rotation.from_rotvec(rng.normal(0, np.radians(1.0), 3)) * base for _ in range(60)]
    turned = Rotation.from_euler("y", 60.0, degrees=True)
    sequence = [r.as_matrix() for r in noisy] + [turned.as_matrix()] * 30
    filt = RotationOneEuroFilter(OneEuroConfig(min_cutoff_hz=0.5, beta=2.0))
    out = np.array([filt(R, i / FPS) for i, R in enumerate(sequence)])
    np.testing.assert_allclose(out @ np.swapaxes(out, 1, 2), np.broadcast_to(np.eye(3), out.shape), atol=1e-9)
    raw_error = geodesic_deg(np.array(sequence[20:60]), base.as_matrix()).mean()
    filtered_error = geodesic_deg(out[20:60], base.as_matrix()).mean()
    assert filtered_error < 0.5 * raw_error
    assert geodesic_deg(out[75], turned.as_matrix()) < 2.0
    filt.reset()
    np.testing.assert_allclose(filt(sequence[0], 100.0), sequence[0])
