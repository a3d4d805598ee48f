"""Our networks in the evaluation harness: a :class:`~hpe_ros.engine.PoseEngine` behind both estimator APIs.

Crop framing (the sim-to-real lever this module owns). A synthetic crop (:func:`hpe_ros.synth.sampler.
sample_camera`) spans ``CROP_HEAD_SIZE`` = 0.27 m of head at the head centre's distance, times a jitter
U(0.9, 1.15), centred on the head centre. A real face arrives as a tight box (BlazeFace, or the annotated
landmarks), so the crop must be the box enlarged by the ratio crop side / box side seen in training. Measured
by running BlazeFace (full range) on 58 rendered held-out crops (biwi poses, neutral anchors ≤ 10°, no
degradations, each pasted into a 3× grey canvas so the detector sees the whole face; 2 of 60 missed): median
ratio 1.67 (mean 1.68, std 0.17; 1.58 for heads nearer than 0.8 m, 1.71 beyond 1.5 m: perspective enlarges
near faces), hence margin = (1.67 − 1) / 2 = :data:`FACE_BOX_MARGIN` per side for
:func:`hpe_ros.crop.box_from_detection`. The box centre sat 0.06 box sides below the crop centre (median),
within the crop-centre jitter of the renders (σ = 0.04 crop side), so the square stays centred on the box.
AFLW2000's annotated-landmark box is a little smaller than BlazeFace's (BlazeFace side / landmark side: median
1.08, p10–p90 0.93–1.16 on 80 dev images), so the ``landmarks`` protocol frames faces ~8 % tighter.

Off-centre faces. The network predicts R_cam←head in the crop camera's frame. A crop of a pinhole image is a
pinhole camera with the same orientation and a shifted principal point (:func:`hpe_ros.crop.crop_intrinsics`),
so that frame IS the full camera's frame and no correction is applied. The renders are made the same way: each
crop is an off-axis window of a full pinhole camera (``sample_camera`` shifts cx, cy and keeps R), so the
training labels are in the full camera's frame too and the network learns the perspective of off-axis faces.

Upright inference (:mod:`hpe_ros.upright`). The face-landmark front end was trained on upright faces, so a
face rolled by θ is cut with the square turned by θ and the estimate composed back exactly (R = Rz(θ)·R_up);
θ comes from the detector's eye keypoints, else from a first pass. The reference is the image's own up
(``Detection.up_deg``: 0, or the quarter turn a multi-pass detector found the face in): a face within
:data:`UPRIGHT_TOLERANCE_DEG` of it is cut at its eye line in one pass. Any other face is first cut at the
image's up; unless that pass sees it turned away beyond :data:`PROFILE_YAW_DEG` (a profile, whose eye line is
no reference: the far eye is hidden, and on the AFLW2000 dev split turning profiles to their eye line made
them 4° worse while near-frontal faces gained 0.6°), it is cut again at its eye line (or, without keypoints,
at the in-plane angle the first pass estimated). Faces at any roll, upside-down included, thus reach the
engine as it was trained, and only rolled faces pay a second pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpe_ros.crop import FACE_BOX_MARGIN, CropBox, box_from_detection, network_input
from hpe_ros.detect import Detection
from hpe_ros.engine.base import PoseEngine
from hpe_ros.image import as_rgb_uint8
from hpe_ros.upright import (
    angle_difference_deg,
    camera_roll_yaw_pitch_deg,
    eye_line_angle_deg,
    from_upright,
    in_plane_angle_deg,
    relative_from_upright,
)

UPRIGHT_TOLERANCE_DEG = 10.0
"""In-plane angle (degrees) from the image's up within which a face is cut in one pass, at its eye line."""
PROFILE_YAW_DEG = 45.0
"""|yaw| (degrees, roll-free: :func:`~hpe_ros.upright.camera_roll_yaw_pitch_deg`) beyond which a face keeps
the image's up: half-way to a profile, where the far eye starts to hide."""


def network_crop_box(face: Detection, margin: float = FACE_BOX_MARGIN) -> CropBox:
    """The square a face box is cropped to for our networks (see the module docstring)."""
    return box_from_detection(face.x0, face.y0, face.x1, face.y1, margin)


def implied_face(crop_size: int, margin: float = FACE_BOX_MARGIN) -> Detection:
    """The face box that :func:`network_crop_box` maps onto a whole ``crop_size`` square crop.

    Lets already-cropped images (synthetic protocol pairs) go through any estimator: our networks then see
    the whole crop, and baselines with their own protocols get the face box the crop was framed around.
    """
    side = crop_size / (1 + 2 * margin)
    low = (crop_size - side) / 2 - 0.5
    return Detection(low, low, low + side, low + side, 1.0)


class NetworkEstimator:
    """One of our networks as an absolute and a relative estimator (crops with :func:`network_crop_box`,
    turned upright unless ``upright`` is false: see the module docstring)."""

    def __init__(
        self, engine: PoseEngine, name: str, margin: float = FACE_BOX_MARGIN, upright: bool = True
    ) -> None:
        self.engine = engine
        self.name = name
        self.margin = margin
        self.upright = upright

    def crop(self, image_rgb: np.ndarray, face: Detection, angle_deg: float = 0.0) -> np.ndarray:
        """The face's network input [3, S, S] float32 (S = the engine's input size), the square turned by
        ``angle_deg`` (clockwise as displayed) so that a face rolled by that angle comes out upright."""
        box = network_crop_box(face, self.margin)
        return network_input(as_rgb_uint8(image_rgb), box, self.engine.input_size, angle_deg)

    def _absolute_at(self, image_rgb: np.ndarray, face: Detection, angle_deg: float) -> np.ndarray:
        rotations, _ = self.engine.infer_absolute(self.crop(image_rgb, face, angle_deg)[None])
        return from_upright(rotations[0], angle_deg)

    def estimate_with_angle(self, image_rgb: np.ndarray, face: Detection) -> tuple[np.ndarray, float]:
        """R_cam←head (3, 3) from the absolute mode and the in-plane angle its crop was turned by."""
        if not self.upright:
            return self._absolute_at(image_rgb, face, 0.0), 0.0
        eyes = None if face.keypoints is None else eye_line_angle_deg(face.keypoints)
        if eyes is not None and abs(angle_difference_deg(eyes, face.up_deg)) <= UPRIGHT_TOLERANCE_DEG:
            return self._absolute_at(image_rgb, face, eyes), eyes
        R = self._absolute_at(image_rgb, face, face.up_deg)
        if abs(camera_roll_yaw_pitch_deg(R)[1]) > PROFILE_YAW_DEG:
            return R, face.up_deg
        angle = in_plane_angle_deg(R) if eyes is None else eyes
        if abs(angle_difference_deg(angle, face.up_deg)) <= UPRIGHT_TOLERANCE_DEG:
            return R, face.up_deg
        return self._absolute_at(image_rgb, face, angle), angle

    def estimate(self, image_rgb: np.ndarray, face: Detection) -> np.ndarray:
        """R_cam←head (3, 3) from the absolute (single-frame) mode."""
        return self.estimate_with_angle(image_rgb, face)[0]

    def _angle(self, image_rgb: np.ndarray, face: Detection) -> float:
        """The in-plane angle a face is cut at: as for :meth:`estimate` when the engine has an absolute mode,
        else the eye keypoints' (0 without them or with ``upright`` off)."""
        if not self.upright:
            return 0.0
        if "absolute" in self.engine.modes:
            return self.estimate_with_angle(image_rgb, face)[1]
        return eye_line_angle_deg(face.keypoints) if face.keypoints is not None else 0.0

    def estimate_relative(
        self, anchor_rgb: np.ndarray, anchor_face: Detection, query_rgb: np.ndarray, query_face: Detection
    ) -> tuple[np.ndarray, np.ndarray]:
        """(R_rel, t_rel) = T_q←a from the relative mode (each crop turned upright by its own angle, found as
        for :meth:`estimate`)."""
        anchor_angle, query_angle = self._angle(anchor_rgb, anchor_face), self._angle(query_rgb, query_face)
        rotations, translations = self.engine.infer(
            self.crop(anchor_rgb, anchor_face, anchor_angle)[None],
            self.crop(query_rgb, query_face, query_angle)[None],
        )
        return relative_from_upright(
            rotations[0].astype(np.float64), translations[0].astype(np.float64), anchor_angle, query_angle
        )


def open_network_estimator(path: str | Path, backend: str = "auto") -> NetworkEstimator:
    """A :class:`NetworkEstimator` for a ``.safetensors`` checkpoint or an exported ``.onnx`` file."""
    from hpe_ros.engine import open_engine

    path = Path(path)
    engine = open_engine(path, backend=backend)
    return NetworkEstimator(engine, f"{path.name} ({engine.backend_name})")
