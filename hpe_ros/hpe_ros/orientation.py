"""Which way is up: the in-plane angle and box a face is cut at, found with the face mesh at first sight.

The face-landmark network works on upright faces (:mod:`hpe_ros.upright`), so a face must be cut turned by
its in-plane angle. The detector's keypoints give that angle only near the detector's own up: BlazeFace lays
its keypoints out as if the face were upright, so on a face turned by a half turn the eye line points the
wrong way (dev split turned by 180°: eye line off by a median 173° at |yaw| < 30°). So the face is cut at the
prior angle (the eye line, or the image's up) and at the three other quarter turns, the face mesh scores
each crop (presence logit, :mod:`hpe_ros.engine.face_probe`) and the best quarter wins (the prior's gets
:data:`PRIOR_BONUS`). That crop is then refined as MediaPipe refines its crops while tracking: the mesh's own
eye corners give the angle, the landmarks' extent the box (re-centred: a detector box around a turned face
is not centred as on an upright one). Cost: four face-mesh runs in one batch, paid at a face's first sight
only; a tracked face is cut at its tracked roll.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from hpe_ros.crop import CropBox, box_from_detection, network_input
from hpe_ros.detect import Detection
from hpe_ros.engine.face_probe import FaceMeshProbe

PRIOR_BONUS = 2.0
"""Presence logit added to the prior's quarter: on the dev split it keeps upright profiles (weak presence
in every direction) at the detector's up more often, and costs the turned images little."""
CONFIDENT_PRESENCE = 5.0
"""Below this best quarter's logit the prior may sit near a diagonal (BlazeFace's keypoints on a face turned
beyond a quarter), so the four diagonals are scored too."""
BOX_PER_LANDMARK_EXTENT = 0.95
"""BlazeFace box side / the longer side of the face mesh's landmark extent, measured on upright dev faces
(|yaw| < 30°: median 0.948, std 0.046; the box centre sat on the landmarks' centre, offsets < 0.004)."""
REFINEMENTS = 2
"""Refinements of the winning quarter's crop (one face-mesh run each), as MediaPipe re-crops when tracking."""
EYE_CORNERS = (33, 263)
"""Face-mesh landmarks MediaPipe turns its crops by: the subject's right and left outer eye corners."""


@dataclass(frozen=True)
class Upright:
    """How to cut a face: ``angle_deg`` (clockwise as displayed) and a box centred on the face (``face``);
    ``presence`` is the face mesh's logit for the winning quarter (above 0: a face)."""

    angle_deg: float
    face: Detection
    presence: float


def landmark_eye_angle_deg(landmarks: np.ndarray) -> float:
    """The in-plane angle (degrees, clockwise as displayed) of the eye line of face-mesh landmarks
    [468, ≥2] in crop pixels: 0 for a face upright in the crop."""
    dx, dy = landmarks[EYE_CORNERS[1], :2] - landmarks[EYE_CORNERS[0], :2]
    return float(np.degrees(np.arctan2(dy, dx)))


def face_from_landmarks(
    landmarks: np.ndarray, box: CropBox, angle_deg: float, size: int, face: Detection
) -> Detection:
    """The detector-like square box (:data:`BOX_PER_LANDMARK_EXTENT`) around face-mesh landmarks found in
    the crop of ``box`` turned by ``angle_deg`` (crop pixels -> source pixels as in
    :func:`hpe_ros.crop.crop_and_resize`); ``face``'s score and keypoints are kept."""
    low, high = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    scale = box.scale(size)
    offset = ((low + high) / 2 + 0.5 - size / 2) * scale
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    cx, cy = np.array(box.center) + np.array([[cos, -sin], [sin, cos]]) @ offset
    half = 0.5 * BOX_PER_LANDMARK_EXTENT * float((high - low).max()) * scale
    return dataclasses.replace(face, x0=cx - half, y0=cy - half, x1=cx + half, y1=cy + half)


def find_upright(
    image_rgb: np.ndarray, face: Detection, probe: FaceMeshProbe, margin: float, prior_deg: float
) -> Upright:
    """The angle and box to cut ``face`` at (see the module docstring); ``margin`` frames the crops as
    :func:`hpe_ros.crop.box_from_detection` does for the pose network."""
    box = box_from_detection(face.x0, face.y0, face.x1, face.y1, margin)
    angles = [prior_deg + 90.0 * quarter for quarter in range(4)]
    landmarks, presence = _probe_turns(image_rgb, box, angles, probe)
    presence[0] += PRIOR_BONUS
    if presence.max() < CONFIDENT_PRESENCE:  # the prior is far off: try the diagonals too
        diagonals = [angle + 45.0 for angle in angles]
        more_landmarks, more_presence = _probe_turns(image_rgb, box, diagonals, probe)
        angles += diagonals  # a diagonal must beat the quarters by the prior's bonus too
        landmarks = np.concatenate([landmarks, more_landmarks])
        presence = np.r_[presence, more_presence - PRIOR_BONUS]
    best = int(np.argmax(presence))
    angle, cloud = angles[best], landmarks[best]
    for _ in range(REFINEMENTS):
        face = face_from_landmarks(cloud, box, angle, probe.input_size, face)
        angle += landmark_eye_angle_deg(cloud)
        box = box_from_detection(face.x0, face.y0, face.x1, face.y1, margin)
        (cloud,), (score,) = probe.probe(network_input(image_rgb, box, probe.input_size, angle)[None])
    return Upright((angle + 180.0) % 360.0 - 180.0, face, float(score))


def _probe_turns(
    image_rgb: np.ndarray, box: CropBox, angles: list[float], probe: FaceMeshProbe
) -> tuple[np.ndarray, np.ndarray]:
    """The face mesh's (landmarks, presence) on the crops of ``box`` turned by each angle (one batch)."""
    crops = np.stack([network_input(image_rgb, box, probe.input_size, angle) for angle in angles])
    return probe.probe(crops)


def unturned_landmarks(landmarks: np.ndarray, angle_deg: float, size: int) -> np.ndarray:
    """Face-mesh landmarks [N, 468, 3] (or [468, 3]) found in a ``size`` crop turned by ``angle_deg``, in
    the axes of the same crop unturned (x, y turned about the crop centre; depth kept): what an engine that
    saw the face at its roll would have answered (pixel geometry of :func:`hpe_ros.crop.crop_and_resize`)."""
    if angle_deg == 0.0:
        return landmarks
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    centre = 0.5 * size - 0.5
    out = np.array(landmarks, dtype=np.float32, copy=True)
    x, y = out[..., 0] - centre, out[..., 1] - centre
    out[..., 0], out[..., 1] = centre + cos * x - sin * y, centre + sin * x + cos * y
    return out
