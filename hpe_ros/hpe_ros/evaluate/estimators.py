"""What the harness evaluates: absolute and relative pose estimators, and ``--model`` spec resolution.

An estimator receives the whole RGB image and the face as a tight box (a :class:`~hpe_ros.detect.Detection`,
from a detector or from the annotated landmarks) and applies its own crop protocol, as every published model
was trained with its own margins. Rotations are our R_cam←head (:mod:`hpe_ros.geometry`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from hpe_ros.detect import Detection
from hpe_ros.errors import InputError
from hpe_ros.evaluate.paths import shared_dir
from hpe_ros.geometry import head_rotation_from_aflw2000


@runtime_checkable
class AbsolutePoseEstimator(Protocol):
    """Single-image head pose."""

    name: str

    def estimate(self, image_rgb: np.ndarray, face: Detection) -> np.ndarray:
        """R_cam←head (3, 3) of the face in the image."""
        ...


@runtime_checkable
class RelativePoseEstimator(Protocol):
    """Pose of a query face relative to an anchor face: the transform T_q←a (VGGT: E_q · E_a⁻¹)."""

    name: str

    def estimate_relative(
        self, anchor_rgb: np.ndarray, anchor_face: Detection, query_rgb: np.ndarray, query_face: Detection
    ) -> tuple[np.ndarray, np.ndarray]:
        """(R_rel (3, 3), t_rel (3,)) such that R_q = R_rel · R_a."""
        ...


class RelativeFromAbsolute:
    """A relative estimate from two absolute ones, R_rel = R̂_q · R̂_aᵀ, for models without a relative mode.

    Such models predict no translation, so t_rel is zero (the harness scores rotation only).
    """

    def __init__(self, absolute: AbsolutePoseEstimator) -> None:
        self.absolute = absolute
        self.name = f"{absolute.name} (relative = two absolute estimates)"

    def estimate_relative(
        self, anchor_rgb: np.ndarray, anchor_face: Detection, query_rgb: np.ndarray, query_face: Detection
    ) -> tuple[np.ndarray, np.ndarray]:
        R_a = self.absolute.estimate(anchor_rgb, anchor_face)
        R_q = self.absolute.estimate(query_rgb, query_face)
        return R_q @ R_a.T, np.zeros(3)


class MeanPoseEstimator:
    """Predicts one fixed pose whatever the image: the floor every model must beat.

    Default: the frontal pose (all AFLW2000 angles 0, near the AFLW2000 mean); other angles can be given.
    """

    def __init__(self, pitch_yaw_roll_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        self.pitch_yaw_roll_deg = tuple(float(a) for a in pitch_yaw_roll_deg)
        self.name = "mean-pose" + (
            ":{:g},{:g},{:g}".format(*self.pitch_yaw_roll_deg) if any(pitch_yaw_roll_deg) else ""
        )
        self._rotation = head_rotation_from_aflw2000(*np.radians(self.pitch_yaw_roll_deg))

    def estimate(self, image_rgb: np.ndarray, face: Detection) -> np.ndarray:
        return self._rotation.copy()


class AbsoluteOnly:
    """Hides a network's relative mode: relative protocols then combine two absolute estimates
    (``--model MODEL@absolute``), which measures relative vs absolute mode on the same weights."""

    def __init__(self, estimator: AbsolutePoseEstimator) -> None:
        self.estimator = estimator
        self.name = f"{estimator.name} [absolute mode]"

    def estimate(self, image_rgb: np.ndarray, face: Detection) -> np.ndarray:
        return self.estimator.estimate(image_rgb, face)


def as_relative(estimator: object) -> RelativePoseEstimator:
    """The estimator itself when it has a relative mode, else two absolute estimates combined."""
    if isinstance(estimator, RelativePoseEstimator):
        return estimator
    return RelativeFromAbsolute(estimator)  # type: ignore[arg-type]


def load_estimator(spec: str) -> AbsolutePoseEstimator | RelativePoseEstimator:
    """The estimator a ``--model`` spec names.

    - ``fsanet`` or ``fsanet:DIR``: the FSA-Net ONNX baseline (default DIR: ``$HPE_SHARED/baselines/fsanet``).
    - ``mean-pose`` or ``mean-pose:PITCH,YAW,ROLL`` (degrees): a constant pose.
    - ``default``: the embedded default model (:mod:`hpe_ros.model.default`).
    - a ``*.safetensors`` / ``*.onnx`` file: one of our networks (see :func:`load_network_estimator`).
    - ``default@absolute`` / ``FILE@absolute``: that network in absolute mode only (:class:`AbsoluteOnly`).
    """
    from hpe_ros.model.default import DEFAULT_MODEL, default_model_path

    network_spec, at, task = spec.partition("@")
    if at:
        if task != "absolute":
            raise InputError(f"unknown mode {task!r} in {spec!r}: only MODEL@absolute exists")
        network = load_estimator(network_spec)
        if not hasattr(network, "estimate_relative"):
            raise InputError(f"{network_spec!r} is not one of our networks: @absolute does not apply")
        return AbsoluteOnly(network)
    if spec == DEFAULT_MODEL:
        return load_network_estimator(default_model_path())
    name, _, argument = spec.partition(":")
    if name == "fsanet":
        from hpe_ros.evaluate.fsanet import FsaNetEstimator

        return FsaNetEstimator(Path(argument) if argument else shared_dir() / "baselines" / "fsanet")
    if name == "mean-pose":
        return MeanPoseEstimator(_parse_angles(argument) if argument else (0.0, 0.0, 0.0))
    if Path(spec).suffix in (".safetensors", ".onnx"):
        return load_network_estimator(Path(spec))
    raise InputError(
        f"unknown model {spec!r}: use default, fsanet[:DIR], mean-pose[:PITCH,YAW,ROLL] or a "
        ".safetensors/.onnx file"
    )


def load_network_estimator(
    path: Path, backend: str = "auto"
) -> AbsolutePoseEstimator | RelativePoseEstimator:
    """THE place where our own networks join the harness: a ``*.safetensors`` checkpoint or ``*.onnx`` export.

    Returns a :class:`~hpe_ros.evaluate.network.NetworkEstimator` (both protocols; its crop framing is
    :data:`~hpe_ros.crop.FACE_BOX_MARGIN`) on ``backend`` (:func:`hpe_ros.engine.open_engine`).
    """
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    from hpe_ros.evaluate.network import open_network_estimator
    from hpe_ros.model.default import require_source_camera

    require_source_camera(path)

    return open_network_estimator(path, backend)


def _parse_angles(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise InputError(f"mean-pose expects three angles PITCH,YAW,ROLL in degrees, got {text!r}")
    return values  # type: ignore[return-value]
