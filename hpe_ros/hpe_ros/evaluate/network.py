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

Off-centre faces. A crop of a pinhole image is a pinhole camera with the same orientation and a shifted
principal point (:func:`hpe_ros.crop.crop_intrinsics`), but an estimator that sees only the crop cannot know
that shift: a head on a ray θ off the axis looks turned by θ. The face-mesh models therefore predict the pose
in the head's view camera (their training labels are turned into it:
:func:`hpe_ros.train.augment.view_camera_labels`), and the tracker maps it to the camera
(:func:`hpe_ros.geometry.frames.head_view_rotation`). This estimator returns the view-camera pose:
AFLW2000-3D's labels are weak-perspective fits of each face's appearance, which is what it scores.

Upright inference (:mod:`hpe_ros.upright`). The face-landmark front end was trained on upright faces, so a
face rolled by θ is cut with the square turned by θ and the estimate composed back exactly (R = Rz(θ)·R_up).
θ and a box centred on the face come from :func:`hpe_ros.orientation.find_upright`: the four quarter turns
of the detector's eye line (or of the image's up, ``Detection.up_deg``) scored by the face mesh's presence
logit (a face detector settles the half turn where that logit is weak), the best refined from the mesh's own
eye corners and landmark extent. Faces at any roll, upside-down included, thus reach the engine as it was
trained; the search costs four face-mesh runs per face.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpe_ros.crop import FACE_BOX_MARGIN, CropBox, box_from_detection, network_input
from hpe_ros.detect import Detection
from hpe_ros.engine.base import PoseEngine
from hpe_ros.image import as_rgb_uint8
from hpe_ros.orientation import Upright, UprightFinder
from hpe_ros.upright import eye_line_angle_deg, from_upright, relative_from_upright


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
        self.turn_upright = upright
        self._finder = UprightFinder()

    def crop(self, image_rgb: np.ndarray, face: Detection, angle_deg: float = 0.0) -> np.ndarray:
        """The face's network input [3, S, S] float32 (S = the engine's input size), the square turned by
        ``angle_deg`` (clockwise as displayed) so that a face rolled by that angle comes out upright."""
        box = network_crop_box(face, self.margin)
        return network_input(as_rgb_uint8(image_rgb), box, self.engine.input_size, angle_deg)

    def _absolute_at(self, image_rgb: np.ndarray, face: Detection, angle_deg: float) -> np.ndarray:
        rotations, _ = self.engine.infer_absolute(self.crop(image_rgb, face, angle_deg)[None])
        return from_upright(rotations[0], angle_deg)

    def upright(self, image_rgb: np.ndarray, face: Detection) -> Upright:
        """The angle and box the face is cut at (the detector's box at 0° with ``upright`` off)."""
        if not self.turn_upright:
            return Upright(0.0, face, float("nan"))
        prior = face.up_deg if face.keypoints is None else eye_line_angle_deg(face.keypoints)
        return self._finder.find(as_rgb_uint8(image_rgb), face, self.margin, prior)

    def estimate(self, image_rgb: np.ndarray, face: Detection) -> np.ndarray:
        """R_cam←head (3, 3) from the absolute (single-frame) mode."""
        cut = self.upright(image_rgb, face)
        return self._absolute_at(image_rgb, cut.face, cut.angle_deg)

    def estimate_relative(
        self, anchor_rgb: np.ndarray, anchor_face: Detection, query_rgb: np.ndarray, query_face: Detection
    ) -> tuple[np.ndarray, np.ndarray]:
        """(R_rel, t_rel) = T_q←a from the relative mode (each crop cut upright as for :meth:`estimate`)."""
        anchor, query = self.upright(anchor_rgb, anchor_face), self.upright(query_rgb, query_face)
        rotations, translations = self.engine.infer(
            self.crop(anchor_rgb, anchor.face, anchor.angle_deg)[None],
            self.crop(query_rgb, query.face, query.angle_deg)[None],
        )
        return relative_from_upright(
            rotations[0].astype(np.float64),
            translations[0].astype(np.float64),
            anchor.angle_deg,
            query.angle_deg,
        )


def open_network_estimator(path: str | Path, backend: str = "auto") -> NetworkEstimator:
    """A :class:`NetworkEstimator` for a ``.safetensors`` checkpoint or an exported ``.onnx`` file."""
    from hpe_ros.engine import open_engine

    path = Path(path)
    engine = open_engine(path, backend=backend)
    return NetworkEstimator(engine, f"{path.name} ({engine.backend_name})")
