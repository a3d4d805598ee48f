"""One-Euro temporal filters (Casiez et al., CHI 2012) for positions and for rotations on SO(3).

The One-Euro filter is a low-pass filter whose cutoff rises with the signal's speed: slow motion (jitter of a
still head) is smoothed hard, fast motion (a head turn) is followed with little lag. The rotation filter runs
the same law on the tangent space of SO(3): the step from the filtered rotation to the new measurement is a
rotation vector, and the filter moves a fraction ``alpha`` of the way along it, so it stays a rotation.

With ``prediction`` > 0 the filter first extrapolates its state by that fraction of its own filtered velocity
(the output's motion low-passed at ``derivative_cutoff_hz``) and blends the measurement into the prediction:
a turn at constant speed is then followed with less lag at the same smoothing of a still signal, at the price
of a small overshoot when a turn stops (a damped constant-velocity model; 1 would be an undamped one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.config import Checked, param


@dataclass
class OneEuroConfig(Checked):
    """Tunables of one One-Euro filter."""

    min_cutoff_hz: float = param(
        1.0,
        "Cutoff frequency (Hz) for a still signal: lower smooths jitter more.",
        minimum=0.001,
        maximum=1000.0,
    )
    beta: float = param(
        0.5,
        "Speed coefficient: cutoff += beta * speed; higher follows fast motion better.",
        minimum=0.0,
        maximum=1000.0,
    )
    derivative_cutoff_hz: float = param(
        1.0, "Cutoff frequency (Hz) of the speed estimate itself.", minimum=0.001, maximum=1000.0
    )
    prediction: float = param(
        0.0,
        "Fraction of the filtered velocity extrapolated over each step before the measurement is blended "
        "in: 0 is the plain One-Euro filter; higher lags less on turns and overshoots more when they stop.",
        minimum=0.0,
        maximum=1.0,
    )
    enabled: bool = param(True, "False passes measurements through unchanged.")


def smoothing_factor(cutoff_hz: float, dt: float) -> float:
    """Weight of a new sample in a first-order low-pass at ``cutoff_hz``, ``dt`` seconds after the last."""
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class _OneEuroCore:
    """The adaptive-cutoff law shared by the vector and rotation filters (state: time and filtered speed)."""

    def __init__(self, config: OneEuroConfig) -> None:
        self.config = config
        self.last_time: float | None = None
        self.speed = 0.0

    def advance(self, time_s: float) -> float | None:
        """Seconds since the last sample, or None when the filter restarts from this one (first sample, or
        time not moving forward)."""
        if self.last_time is None or time_s <= self.last_time:
            self.last_time = time_s
            self.speed = 0.0
            return None
        dt = time_s - self.last_time
        self.last_time = time_s
        return dt

    def alpha(self, dt: float, step_size: float) -> float:
        """Weight of a new sample ``step_size`` from the filtered value, ``dt`` seconds after the last."""
        self.speed += smoothing_factor(self.config.derivative_cutoff_hz, dt) * (step_size / dt - self.speed)
        return smoothing_factor(self.config.min_cutoff_hz + self.config.beta * self.speed, dt)

    def velocity(self, velocity: np.ndarray, moved: np.ndarray, dt: float) -> np.ndarray:
        """The filtered velocity after the output ``moved`` (a displacement) in ``dt`` seconds."""
        return velocity + smoothing_factor(self.config.derivative_cutoff_hz, dt) * (moved / dt - velocity)

    def reset(self) -> None:
        self.last_time = None
        self.speed = 0.0


class VectorOneEuroFilter:
    """One-Euro filter of a vector (e.g. a head position in metres); speed is the norm of the velocity."""

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.core = _OneEuroCore(config or OneEuroConfig())
        self.value: np.ndarray | None = None
        self.velocity: np.ndarray | None = None

    def __call__(self, value: np.ndarray, time_s: float) -> np.ndarray:
        """Filtered value of a measurement taken at ``time_s`` (s); a time that does not advance restarts."""
        value = np.asarray(value, dtype=np.float64)
        config = self.core.config
        if not config.enabled:
            return value.copy()
        dt = self.core.advance(time_s)
        if dt is None or self.value is None:
            self.value, self.velocity = value.copy(), np.zeros_like(value)
            return self.value.copy()
        alpha = self.core.alpha(dt, float(np.linalg.norm(value - self.value)))
        predicted = self.value + config.prediction * self.velocity * dt
        updated = predicted + alpha * (value - predicted)
        self.velocity = self.core.velocity(self.velocity, updated - self.value, dt)
        self.value = updated
        return self.value.copy()

    def reset(self) -> None:
        """Forget the state: the next measurement is passed through."""
        self.core.reset()
        self.value = self.velocity = None


class RotationOneEuroFilter:
    """One-Euro filter of a rotation matrix; speed is the angular rate (rad/s) of the raw measurements."""

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.core = _OneEuroCore(config or OneEuroConfig())
        self.value: Rotation | None = None
        self.velocity = np.zeros(3)
        """Filtered angular velocity (rad/s) of the output about the camera axes."""

    def __call__(self, rotation: np.ndarray, time_s: float) -> np.ndarray:
        """Filtered 3x3 rotation for a measured 3x3 rotation at ``time_s`` (seconds)."""
        measured = Rotation.from_matrix(rotation)
        config = self.core.config
        if not config.enabled:
            return measured.as_matrix()
        dt = self.core.advance(time_s)
        if dt is None or self.value is None:
            self.value, self.velocity = measured, np.zeros(3)
            return self.value.as_matrix()
        alpha = self.core.alpha(dt, float((measured * self.value.inv()).magnitude()))
        predicted = Rotation.from_rotvec(config.prediction * self.velocity * dt) * self.value
        updated = Rotation.from_rotvec(alpha * (measured * predicted.inv()).as_rotvec()) * predicted
        self.velocity = self.core.velocity(self.velocity, (updated * self.value.inv()).as_rotvec(), dt)
        self.value = updated
        return self.value.as_matrix()

    def reset(self) -> None:
        """Forget the state: the next measurement is passed through."""
        self.core.reset()
        self.value = None
        self.velocity = np.zeros(3)


@dataclass
class RotationKalmanConfig(Checked):
    """Tunables of the uncertainty-driven rotation filter."""

    enabled: bool = param(
        False,
        "Filter rotations by their covariance (constant angular velocity); False: the One-Euro filter (the "
        "default: measured steadier on the real clips at the same lag). With motion (motion.enabled, "
        "relative estimator) this filter is always used, the measured motion as its prediction, and "
        "rotation_filter smooths its output.",
    )
    acceleration_sigma_deg_s2: float = param(
        5.0,
        "Process noise: angular acceleration density (deg/s^2 per sqrt Hz) of a head; higher lags less.",
        minimum=0.001,
        maximum=1e5,
    )
    measurement_sigma_floor_deg: float = param(
        1.5,
        "Least rotation uncertainty (deg) assumed of one frame's estimate, whatever its covariance says.",
        minimum=0.0,
        maximum=90.0,
    )
    gate: float = param(
        16.0,
        "Normalised innovation above this (chi-square, 3 dof) means a manoeuvre: the state uncertainty is "
        "inflated so the filter catches up instead of lagging.",
        minimum=1.0,
        maximum=1e6,
    )
    glitch_jump_deg: float = param(
        20.0,
        "With measured motion: a measurement beyond the gate whose innovation jumped this far (deg) since "
        "the last frame is a glitch (e.g. a profile read as the mirrored profile) and is skipped while the "
        "motion carries the pose; a gap that grows step by step is drift and is caught up with.",
        minimum=0.0,
        maximum=180.0,
    )
    max_glitch_s: float = param(
        2.0,
        "Longest time (s) measurements are skipped as one glitch before the filter catches up with them.",
        minimum=0.0,
        maximum=3600.0,
    )


class RotationKalmanFilter:
    """Kalman filter of a rotation with a constant-angular-velocity model, driven by each measurement's
    covariance: the state is R̂ and ω (rad/s) with a 6 × 6 covariance over (left perturbation of R̂, ω);
    a confident estimate moves the output more than an uncertain one. A normalised innovation beyond
    ``gate`` inflates the state covariance by the excess (a head that starts to turn is followed at once),
    except, when the motion is measured, a sudden one (:attr:`RotationKalmanConfig.glitch_jump_deg`): that
    measurement is skipped for up to ``max_glitch_s``."""

    def __init__(self, config: RotationKalmanConfig | None = None) -> None:
        self.config = config or RotationKalmanConfig()
        self.rotation: np.ndarray | None = None
        self.velocity = np.zeros(3)
        self.covariance = np.eye(6)
        self.last_time: float | None = None
        self._last_innovation = np.zeros(3)
        self._glitch: tuple[np.ndarray, float] | None = None
        """While skipping a glitch: its innovation (rad) and the time it started."""

    def __call__(
        self,
        rotation: np.ndarray,
        covariance: np.ndarray,
        time_s: float,
        motion: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Filtered 3x3 rotation for a measured rotation with its 3x3 covariance (rad²) at ``time_s`` (s).

        ``motion``: the rotation since the last call measured otherwise (R_now = step · R_last, about the
        camera axes) with its 3x3 covariance; it replaces the constant-velocity prediction."""
        measured = np.asarray(rotation, np.float64)
        floor = np.radians(self.config.measurement_sigma_floor_deg) ** 2
        noise = np.asarray(covariance, np.float64) + floor * np.eye(3)
        if self.rotation is None or self.last_time is None or time_s <= self.last_time:
            self.rotation, self.velocity = measured.copy(), np.zeros(3)
            self.covariance = np.zeros((6, 6))
            self.covariance[:3, :3] = noise
            self.covariance[3:, 3:] = np.eye(3) * np.radians(90.0) ** 2
            self.last_time = time_s
            self._last_innovation, self._glitch = np.zeros(3), None
            return self.rotation.copy()
        dt = time_s - self.last_time
        self.last_time = time_s
        if motion is None:
            self._predict(dt)
        else:
            self._apply_motion(*motion, dt)
        innovation = Rotation.from_matrix(measured @ self.rotation.T).as_rotvec()
        S = self.covariance[:3, :3] + noise
        nis = float(innovation @ np.linalg.solve(S, innovation))
        if nis > self.config.gate and motion is not None and self._is_glitch(innovation, time_s):
            return self.rotation.copy()
        self._glitch = None
        self._last_innovation = innovation
        if nis > self.config.gate:
            self.covariance *= nis / self.config.gate
            S = self.covariance[:3, :3] + noise
        gain = self.covariance[:, :3] @ np.linalg.inv(S)
        correction = gain @ innovation
        self.rotation = Rotation.from_rotvec(correction[:3]).as_matrix() @ self.rotation
        self.velocity = self.velocity + correction[3:]
        self.covariance = (np.eye(6) - gain @ np.eye(3, 6)) @ self.covariance
        return self.rotation.copy()

    def _predict(self, dt: float) -> None:
        """Constant angular velocity over ``dt`` seconds, with white-noise acceleration."""
        self.rotation = Rotation.from_rotvec(self.velocity * dt).as_matrix() @ self.rotation
        F = np.eye(6)
        F[:3, 3:] = dt * np.eye(3)
        q = np.radians(self.config.acceleration_sigma_deg_s2) ** 2
        Q = q * np.block(
            [[dt**3 / 3 * np.eye(3), dt**2 / 2 * np.eye(3)], [dt**2 / 2 * np.eye(3), dt * np.eye(3)]]
        )
        self.covariance = F @ self.covariance @ F.T + Q

    def _apply_motion(self, step: np.ndarray, step_covariance: np.ndarray, dt: float) -> None:
        """A measured step: the rotation moves by it, the velocity becomes its rate."""
        step_rotation = Rotation.from_matrix(step)
        self.rotation = step_rotation.as_matrix() @ self.rotation
        self.velocity = step_rotation.as_rotvec() / dt
        covariance = np.zeros((6, 6))
        covariance[:3, :3] = self.covariance[:3, :3] + step_covariance
        covariance[3:, 3:] = step_covariance / dt**2
        self.covariance = covariance

    def _is_glitch(self, innovation: np.ndarray, time_s: float) -> bool:
        """An innovation beyond the gate is a glitch to skip: a sudden jump, or the same offset as the
        glitch being skipped, for at most ``max_glitch_s``."""
        jump = np.radians(self.config.glitch_jump_deg)
        if self._glitch is not None:
            offset, start_s = self._glitch
            if np.linalg.norm(innovation - offset) < jump and time_s - start_s <= self.config.max_glitch_s:
                self._glitch = (innovation, start_s)
                return True
            return False
        if np.linalg.norm(innovation - self._last_innovation) > jump:
            self._glitch = (innovation, time_s)
            return True
        return False

    @property
    def rotation_covariance(self) -> np.ndarray:
        """3x3 covariance (rad²) of the filtered rotation."""
        return self.covariance[:3, :3].copy()

    def reset(self) -> None:
        """Forget the state: the next measurement is passed through."""
        self.rotation = None
        self.last_time = None
