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

Half turns. Where the face mesh's presence is weak in every direction (hard profiles, blur, odd light),
the quarters are close to a guess, and on an upside-down face the prior's half turn is the wrong one. A
second, independent judge settles the half turn: a face detector (:class:`HalfTurnJudge`, BlazeFace short
range) scores the winning crop and the same crop turned by 180°, both zoomed out by :data:`JUDGE_ZOOM_OUT`
for context, and the half-turned crop wins when it scores clearly higher (:data:`JUDGE_MARGIN`). Asked on
every dev face (detector boxes, crops zoomed out 1.56× in that measurement), it scored the upright crop
higher for 99.6 / 97.6 / 95.1 % of faces at |yaw| 0–30 / 30–60 / 60–99 (upright images; 99.6 / 98.8 /
91.5 % on images turned by 180°). That is less sure than a strong presence, so it is asked only where the
winning turn's own presence (the prior's bonus left out) is below :data:`CONFIDENT_PRESENCE`, as for the
diagonals: two small detector runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from hpe_ros.crop import CropBox, box_from_detection, crop_and_resize, network_input
from hpe_ros.detect import SHORT_RANGE, BlazeFaceDetector, Detection, FaceDetector
from hpe_ros.engine.face_probe import FaceMeshProbe

PRIOR_BONUS = 2.0
"""Presence logit added to the prior's quarter: on the dev split it keeps upright profiles (weak presence
in every direction) at the detector's up more often, and costs the turned images little."""
CONFIDENT_PRESENCE = 5.0
"""Below this best quarter's logit the prior may sit near a diagonal (BlazeFace's keypoints on a face turned
beyond a quarter), so the four diagonals are scored too; below it the winning turn's own logit also calls in
the half-turn judge."""
BOX_PER_LANDMARK_EXTENT = 0.95
"""BlazeFace box side / the longer side of the face mesh's landmark extent, measured on upright dev faces
(|yaw| < 30°: median 0.948, std 0.046; the box centre sat on the landmarks' centre, offsets < 0.004)."""
REFINEMENTS = 2
"""Refinements of the winning quarter's crop (one face-mesh run each), as MediaPipe re-crops when tracking."""
JUDGE_MIN_SCORE = 0.1
"""The judge's detector threshold: low, so that a half-turned face still gets a score to compare."""
JUDGE_MARGIN = 0.05
"""How much higher the half-turned crop's detector score must be to overturn the face mesh's pick: near
ties (gaps of 0.00–0.03 on the dev split's weak profiles) went either way."""
JUDGE_CROP_SIZE = 128
"""Side of the crops the judge scores (BlazeFace short range's input)."""
JUDGE_ZOOM_OUT = 1.5
"""The judge's square / the pose crop's square: the face then fills ~40 % of the judge's crop, as a near
face fills a short-range detector's frame (with the pose crop's own framing the judge was right on 91.8 % of
upright dev faces at 60–99°, against 95.1 % zoomed out 1.56×)."""
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


class HalfTurnJudge:
    """The detector that settles half turns in :func:`find_upright` (see the module docstring): BlazeFace
    short range, its graph built at the first question (building it takes about half a second, and faces
    the face mesh is sure of never ask)."""

    def __init__(self) -> None:
        self._detector: BlazeFaceDetector | None = None

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 crop, best score first (:data:`JUDGE_MIN_SCORE` and above)."""
        if self._detector is None:
            self._detector = BlazeFaceDetector(min_score=JUDGE_MIN_SCORE, model_selection=SHORT_RANGE)
        return self._detector.detect(image_rgb)

    def close(self) -> None:
        """Release the detector's graph, if it was built."""
        if self._detector is not None:
            self._detector.close()
            self._detector = None


def find_upright(
    image_rgb: np.ndarray,
    face: Detection,
    probe: FaceMeshProbe,
    margin: float,
    prior_deg: float,
    judge: FaceDetector | None = None,
) -> Upright:
    """The angle and box to cut ``face`` at (see the module docstring); ``margin`` frames the crops as
    :func:`hpe_ros.crop.box_from_detection` does for the pose network; ``judge`` (:class:`HalfTurnJudge`)
    settles the half turn where the face mesh's presence is weak."""
    box = box_from_detection(face.x0, face.y0, face.x1, face.y1, margin)
    angles = [prior_deg + 90.0 * quarter for quarter in range(4)]
    landmarks, own_presence = _probe_turns(image_rgb, box, angles, probe)
    presence = own_presence.copy()
    presence[0] += PRIOR_BONUS
    if presence.max() < CONFIDENT_PRESENCE:  # the prior is far off: try the diagonals too
        diagonals = [angle + 45.0 for angle in angles]
        more_landmarks, more_presence = _probe_turns(image_rgb, box, diagonals, probe)
        angles += diagonals  # a diagonal must beat the quarters by the prior's bonus too
        landmarks = np.concatenate([landmarks, more_landmarks])
        presence = np.r_[presence, more_presence - PRIOR_BONUS]
        own_presence = np.r_[own_presence, more_presence]
    best = int(np.argmax(presence))
    if judge is not None and own_presence[best] < CONFIDENT_PRESENCE:
        half_turned = best - best % 4 + (best + 2) % 4  # the same quarter or diagonal set, 180° on
        gain = _judge_score(image_rgb, box, angles[half_turned], judge) - _judge_score(
            image_rgb, box, angles[best], judge
        )
        if gain > JUDGE_MARGIN:
            best = half_turned
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


class UprightFinder:
    """:func:`find_upright` with its face-mesh probe (built at the first face) and half-turn judge."""

    def __init__(self) -> None:
        self._probe: FaceMeshProbe | None = None
        self._judge = HalfTurnJudge()

    def find(self, image_rgb: np.ndarray, face: Detection, margin: float, prior_deg: float) -> Upright:
        """:func:`find_upright` of ``face`` in an RGB uint8 image."""
        if self._probe is None:
            self._probe = FaceMeshProbe()
        return find_upright(image_rgb, face, self._probe, margin, prior_deg, self._judge)


def _judge_score(image_rgb: np.ndarray, box: CropBox, angle_deg: float, judge: FaceDetector) -> float:
    """The judge's best face score on the crop of ``box`` turned by ``angle_deg`` (0 when it finds none)."""
    wider = CropBox.around(*box.center, JUDGE_ZOOM_OUT * box.side)
    crop = crop_and_resize(image_rgb, wider, JUDGE_CROP_SIZE, angle_deg)
    return max((detection.score for detection in judge.detect(crop)), default=0.0)


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
