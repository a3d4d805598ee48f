"""One-Euro filters: jitter is smoothed, steps are followed, time jumps restart, rotations stay rotations."""

import itertools
from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.filters import (
    OneEuroConfig,
    RotationKalmanConfig,
    RotationKalmanFilter,
    RotationOneEuroFilter,
    VectorOneEuroFilter,
    smoothing_factor,
)
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


def _kalman_run(truth: list[np.ndarray], sigma_deg: float, seed: int, config=None) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    kalman = RotationKalmanFilter(config or RotationKalmanConfig(measurement_sigma_floor_deg=0.0))
    covariance = np.eye(3) * np.radians(sigma_deg) ** 2
    out = []
    for k, R in enumerate(truth):
        measured = Rotation.from_rotvec(rng.normal(0, np.radians(sigma_deg), 3)).as_matrix() @ R
        out.append(kalman(measured, covariance, k / 30.0))
    return out


def test_kalman_filter_stills_a_noisy_still_head():
    truth = [np.eye(3)] * 90
    out = _kalman_run(truth, sigma_deg=1.0, seed=0, config=RotationKalmanConfig())
    rng = np.random.default_rng(0)
    raw = [Rotation.from_rotvec(rng.normal(0, np.radians(1.0), 3)).as_matrix() for _ in truth]
    speed = [float(geodesic_deg(a, b)) * 30.0 for a, b in itertools.pairwise(out[30:])]
    raw_speed = [float(geodesic_deg(a, b)) * 30.0 for a, b in itertools.pairwise(raw[30:])]
    assert np.median(speed) < 0.2 * np.median(raw_speed)
    assert float(geodesic_deg(out[-1], np.eye(3))) < 1.0


def test_kalman_filter_follows_a_turn_with_little_lag():
    truth = [Rotation.from_euler("y", 2.0 * k, degrees=True).as_matrix() for k in range(60)]  # 60 deg/s
    out = _kalman_run(truth, sigma_deg=1.0, seed=1)
    lagged = [float(geodesic_deg(out[k], truth[k])) for k in range(30, 60)]
    assert np.mean(lagged) < 2.0, "a constant turn is tracked without a steady lag (< one frame of 2 deg)"


def test_kalman_filter_trusts_confident_measurements_more():
    kalman = RotationKalmanFilter(RotationKalmanConfig(measurement_sigma_floor_deg=0.0))
    turned = Rotation.from_euler("y", 5.0, degrees=True).as_matrix()
    small, large = np.eye(3) * np.radians(0.5) ** 2, np.eye(3) * np.radians(10.0) ** 2
    for k in range(30):
        kalman(np.eye(3), small, k / 30.0)
    confident = RotationKalmanFilter(RotationKalmanConfig(measurement_sigma_floor_deg=0.0))
    for k in range(30):
        confident(np.eye(3), small, k / 30.0)
    moved_uncertain = geodesic_deg(kalman(turned, large, 1.0), np.eye(3))
    moved_confident = geodesic_deg(confident(turned, small, 1.0), np.eye(3))
    assert moved_uncertain < 0.5 * moved_confident
    kalman.reset()
    assert np.allclose(kalman(turned, large, 2.0), turned), "after a reset the next measurement passes"


def _turn_then_hold(config: OneEuroConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Still 1 s, a 60 deg/s yaw turn for 2 s, still 2 s, 0.5 deg of noise per axis: (truth, raw, out)."""
    yaw = np.concatenate([np.zeros(30), np.arange(1, 61) * 2.0, np.full(60, 120.0)])
    truth = np.array([Rotation.from_euler("y", a, degrees=True).as_matrix() for a in yaw])
    rng = np.random.default_rng(3)
    raw = np.array([Rotation.from_rotvec(rng.normal(0, np.radians(0.5), 3)).as_matrix() @ R for R in truth])
    filt = RotationOneEuroFilter(config)
    return truth, raw, np.array([filt(R, k / FPS) for k, R in enumerate(raw)])


def _median_speed(rotations: np.ndarray) -> float:
    return float(np.median([geodesic_deg(a, b) * FPS for a, b in itertools.pairwise(rotations)]))


def test_tracker_rotation_filter_stills_noise_and_follows_a_turn_within_two_frames():
    """The tracker's default rotation filter (prediction on): a still head's noise is cut twenty-fold, a
    steady turn is followed within two frames of motion (less than without prediction), and a stop is held
    with a small, brief overshoot."""
    from hpe_ros.tracker import TrackerConfig

    config = TrackerConfig().rotation_filter
    assert config.prediction > 0
    truth, raw, out = _turn_then_hold(config)
    assert _median_speed(out[120:]) < 0.1 * _median_speed(raw[120:])
    turning_error = geodesic_deg(out[60:90], truth[60:90]).mean()
    assert turning_error < 2 * 2.0, "within two frames of a 2 deg/frame turn"
    _, _, plain = _turn_then_hold(replace(config, prediction=0.0))
    assert turning_error < 0.8 * geodesic_deg(plain[60:90], truth[60:90]).mean()
    yaw = Rotation.from_matrix(out[90:]).as_euler("yxz", degrees=True)[:, 0]
    assert yaw.max() - 120.0 < 3.0, "overshoot after the stop"
    assert geodesic_deg(out[110:], truth[110:]).max() < 1.0, "settled 20 frames after the stop"


def test_vector_filter_prediction_follows_a_ramp_closer():
    ramp = np.stack([np.arange(90) * 0.01, np.zeros(90), np.ones(90)], axis=1)  # 0.3 m/s sideways
    lags = []
    for prediction in (0.0, 0.5):
        filt = VectorOneEuroFilter(OneEuroConfig(min_cutoff_hz=0.2, beta=0.5, prediction=prediction))
        out = np.array([filt(x, k / FPS) for k, x in enumerate(ramp)])
        lags.append(np.abs(out[60:, 0] - ramp[60:, 0]).mean())
    assert lags[1] < 0.7 * lags[0]
    filt.reset()
    np.testing.assert_array_equal(filt(ramp[5], 0.0), ramp[5])


def _motion_run(measured: list[np.ndarray], steps: list[np.ndarray], config: RotationKalmanConfig):
    kalman = RotationKalmanFilter(config)
    covariance, step_covariance = np.eye(3) * np.radians(3.0) ** 2, np.eye(3) * np.radians(0.3) ** 2
    return [
        kalman(R, covariance, k / 30.0, None if k == 0 else (steps[k], step_covariance))
        for k, R in enumerate(measured)
    ]


def test_kalman_filter_with_motion_skips_a_sudden_glitch_but_catches_up_with_drift():
    yaw = Rotation.from_euler("y", 70.0, degrees=True).as_matrix()
    mirrored = Rotation.from_euler("y", -40.0, degrees=True).as_matrix()
    still = [np.eye(3)] * 90
    glitch = [yaw] * 30 + [mirrored] * 20 + [yaw] * 40  # a profile read as the mirrored one for 0.7 s
    out = _motion_run(glitch, still, RotationKalmanConfig())
    assert max(float(geodesic_deg(R, yaw)) for R in out) < 1.0, "the glitch is skipped while motion holds"

    no_motion = RotationKalmanFilter(RotationKalmanConfig())
    followed = [no_motion(R, np.eye(3) * np.radians(3.0) ** 2, k / 30.0) for k, R in enumerate(glitch)]
    assert float(geodesic_deg(followed[49], mirrored)) < 5.0, "without motion the jump is a manoeuvre"

    lasting = [yaw] * 30 + [mirrored] * 60
    out = _motion_run(lasting, still, RotationKalmanConfig(max_glitch_s=1.0))
    assert float(geodesic_deg(out[-1], mirrored)) < 5.0, "a glitch outlasting max_glitch_s is caught up"

    drifting = [Rotation.from_euler("y", 0.5, degrees=True).as_matrix()] * 90  # motion drifts 15 deg/s
    out = _motion_run([np.eye(3)] * 90, drifting, RotationKalmanConfig())
    assert float(geodesic_deg(out[-1], np.eye(3))) < 10.0, "measurements hold a drifting motion back"
