"""Upright crops in the tracker and the single-image estimator, with the default (face-mesh) engine on the
bundled clip: a turned frame gives the turned pose (equivariance), upside-down included, and the face-mesh
check keeps non-faces out."""

from __future__ import annotations

from itertools import islice

import cv2
import numpy as np
import pytest

from hpe_ros.crop import FACE_BOX_MARGIN, box_from_detection, crop_view_rotation
from hpe_ros.detect import Detection, ExternalDetections, load_detector
from hpe_ros.engine import open_engine
from hpe_ros.engine.face_probe import FaceMeshProbe
from hpe_ros.evaluate.network import NetworkEstimator
from hpe_ros.geometry import geodesic_deg
from hpe_ros.io.sources import VideoSource
from hpe_ros.model.default import default_model_path
from hpe_ros.orientation import CONFIDENT_PRESENCE, HalfTurnJudge, find_upright, unturned_landmarks
from hpe_ros.synth.clip import DEMO_CLIP_DIR, VIDEO_NAME
from hpe_ros.tracker import HeadPoseTracker, TrackerConfig
from hpe_ros.tracks import FaceTracks, FaceTracksConfig
from hpe_ros.upright import PoseTransform, angle_difference_deg

FRAMES = 8
FRAME_NS = 33_333_333


@pytest.fixture(scope="module")
def clip():
    """The first frames of the demo clip, their BlazeFace detections, an engine and K centred on the image
    (a turn about the image centre is then exactly a camera roll)."""
    engine = open_engine(default_model_path(), backend="onnxruntime")
    detector = load_detector("blazeface")
    frames = [f.image for f in islice(VideoSource(str(DEMO_CLIP_DIR / VIDEO_NAME)), FRAMES)]
    detections = [detector.detect(image)[:1] for image in frames]
    height, width = frames[0].shape[:2]
    K = np.array([[500.0, 0.0, (width - 1) / 2], [0.0, 500.0, (height - 1) / 2], [0.0, 0.0, 1.0]])
    return engine, frames, detections, K


def turned(detection: Detection, transform: PoseTransform, width: int, centre) -> Detection:
    """What a detector reports for the face in the turned frame: a square box of the same size about the
    turned box centre (no keypoints)."""
    (cx,), (cy,) = transform.apply_points(
        np.array([[detection.center[0]], [detection.center[1]]]), width, centre
    )
    half = 0.5 * max(detection.width, detection.height)
    return Detection(float(cx - half), float(cy - half), float(cx + half), float(cy + half), detection.score)


def track(clip, transform: PoseTransform) -> list[np.ndarray]:
    engine, frames, detections, K = clip
    height, width = frames[0].shape[:2]
    centre = ((width - 1) / 2, (height - 1) / 2)
    given = ExternalDetections()
    tracker = HeadPoseTracker(engine, given, TrackerConfig(tracking=FaceTracksConfig(confirm_hits=1)))
    rotations = []
    for k, (image, found) in enumerate(zip(frames, detections, strict=True)):
        given.set([turned(d, transform, width, centre) for d in found])
        result = tracker.process(transform.apply_image(image, centre), k * FRAME_NS, K)
        assert len(result.faces) == 1
        rotations.append(result.faces[0].rotation)
    return rotations


@pytest.mark.parametrize("angle_deg", [90.0, 180.0, -135.0])
def test_a_turned_video_gives_the_turned_poses(clip, angle_deg):
    upright = track(clip, PoseTransform("identity"))
    transform = PoseTransform("turn", angle_deg=angle_deg)
    errors = [
        float(geodesic_deg(R, transform.apply_rotation(R_up)))
        for R, R_up in zip(track(clip, transform), upright, strict=True)
    ]
    # Without upright crops a half-turned face is off by more than 100 degrees; the residue is resampling
    # and the face mesh seeing a slightly different crop.
    assert np.median(errors) < 3.0 and max(errors) < 6.0


def test_the_single_image_estimator_is_equivariant_to_turns(clip):
    engine, frames, detections, _ = clip
    estimator = NetworkEstimator(engine, "default")
    image, face = frames[0], detections[0][0]
    height, width = image.shape[:2]
    centre = ((width - 1) / 2, (height - 1) / 2)
    R_up = estimator.estimate(image, face)
    for angle in (90.0, 180.0, 270.0):
        transform = PoseTransform("turn", angle_deg=angle)
        R = estimator.estimate(transform.apply_image(image, centre), turned(face, transform, width, centre))
        assert float(geodesic_deg(R, transform.apply_rotation(R_up))) < 4.0


def test_find_upright_finds_the_way_up_and_calls_noise_no_face(clip):
    _, frames, detections, _ = clip
    image, face = frames[0], detections[0][0]
    height, width = image.shape[:2]
    centre = ((width - 1) / 2, (height - 1) / 2)
    probe = FaceMeshProbe()
    upright = find_upright(image, face, probe, 0.34, prior_deg=0.0)
    assert upright.presence > 0.0
    transform = PoseTransform("turn", angle_deg=180.0)
    upside_down = find_upright(
        transform.apply_image(image, centre), turned(face, transform, width, centre), probe, 0.34, 0.0
    )
    assert abs(angle_difference_deg(upside_down.angle_deg, upright.angle_deg + 180.0)) < 5.0
    noise = np.random.default_rng(0).integers(0, 255, image.shape, dtype=np.uint8)
    assert find_upright(noise, face, probe, 0.34, 0.0).presence < 0.0


class FixedPresenceProbe(FaceMeshProbe):
    """The face mesh's landmarks with the same presence at every turn: below 0, a mesh that calls no turn a
    face (as on a hard profile); above :data:`CONFIDENT_PRESENCE`, one sure of every turn."""

    def __init__(self, presence: float) -> None:
        super().__init__()
        self.presence = presence

    def probe(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        landmarks, presence = super().probe(crops)
        return landmarks, np.full_like(presence, self.presence)


def test_the_judge_settles_the_half_turn_where_the_face_mesh_sees_no_face(clip):
    _, frames, detections, _ = clip
    image, face = frames[0], detections[0][0]
    height, width = image.shape[:2]
    centre = ((width - 1) / 2, (height - 1) / 2)
    transform = PoseTransform("turn", angle_deg=180.0)
    upside_down, box = transform.apply_image(image, centre), turned(face, transform, width, centre)
    probe, judge = FixedPresenceProbe(-5.0), HalfTurnJudge()
    # The prior (the image's up) is the wrong half turn; with every presence equal it keeps its bonus.
    guessed = find_upright(upside_down, box, probe, FACE_BOX_MARGIN, prior_deg=0.0)
    assert abs(angle_difference_deg(guessed.angle_deg, 0.0)) < 20.0
    judged = find_upright(upside_down, box, probe, FACE_BOX_MARGIN, prior_deg=0.0, judge=judge)
    assert abs(angle_difference_deg(judged.angle_deg, 180.0)) < 20.0
    # On the upright frame the judge keeps the prior's (right) half turn.
    kept = find_upright(image, face, probe, FACE_BOX_MARGIN, prior_deg=0.0, judge=judge)
    assert abs(angle_difference_deg(kept.angle_deg, 0.0)) < 20.0
    # A face mesh sure of its pick is not overturned: the judge is asked only below CONFIDENT_PRESENCE.
    sure = FixedPresenceProbe(CONFIDENT_PRESENCE + 5.0)
    unasked = find_upright(upside_down, box, sure, FACE_BOX_MARGIN, prior_deg=0.0, judge=judge)
    assert abs(angle_difference_deg(unasked.angle_deg, 0.0)) < 20.0
    judge.close()


def test_a_detection_the_face_mesh_rejects_is_not_reported(clip):
    engine, frames, _, K = clip
    noise = np.random.default_rng(1).integers(0, 255, frames[0].shape, dtype=np.uint8)
    given = ExternalDetections()
    given.set([Detection(100.0, 100.0, 220.0, 220.0, 0.9)])
    tracker = HeadPoseTracker(engine, given, TrackerConfig(tracking=FaceTracksConfig(confirm_hits=1)))
    assert all(not tracker.process(noise, k * FRAME_NS, K).faces for k in range(3))
    off = HeadPoseTracker(
        engine, given, TrackerConfig(tracking=FaceTracksConfig(confirm_hits=1), upright=False)
    )
    assert any(off.process(noise, k * FRAME_NS, K).faces for k in range(3))


def test_unturned_landmarks_turn_about_the_crop_centre():
    cloud = np.array([[[95.5, 10.0, 3.0], [150.0, 95.5, -2.0]]], dtype=np.float32)
    back = unturned_landmarks(cloud, 90.0, 192)  # crop x runs along the source's y: (x, y) -> (c - y', x')
    assert back[0, 0] == pytest.approx([181.0, 95.5, 3.0], abs=1e-4)
    assert back[0, 1] == pytest.approx([95.5, 150.0, -2.0], abs=1e-4)
    assert unturned_landmarks(unturned_landmarks(cloud, 37.0, 192), -37.0, 192) == pytest.approx(
        cloud, abs=1e-4
    )


def test_a_tracked_face_turned_upside_down_is_searched_for_and_keeps_its_id(clip):
    """The full-range pass finds no face in the frame turned by 180° about the face; the further passes
    (search_missing) find it where the track went missing, so the track keeps its id and is not propagated."""
    engine, frames, detections, K = clip
    image = frames[0]
    face = detections[0][0]
    turn = cv2.getRotationMatrix2D(face.center, 180.0, 1.0)
    upside_down = cv2.warpAffine(image, turn, (image.shape[1], image.shape[0]))
    detector = load_detector("blazeface")
    assert detector.detect(upside_down) == []
    for search in (True, False):
        tracker = HeadPoseTracker(engine, detector, TrackerConfig(search_missing=search))
        for k in range(3):  # a track is reported from its second detection on
            faces = tracker.process(image, k * FRAME_NS, K).faces
        (first,) = faces
        (after,) = tracker.process(upside_down, 3 * FRAME_NS, K).faces
        assert after.track_id == first.track_id
        assert bool(tracker.last_detections) is search  # without the search: a propagated box only


def test_missing_regions_are_the_tracks_no_detection_covers():
    tracks = FaceTracks(FaceTracksConfig(confirm_hits=1))
    boxes = np.array([[0.0, 0.0, 50.0, 50.0], [200.0, 0.0, 250.0, 50.0]])
    tracks.update(boxes, np.ones(2), 0.0)
    missing = tracks.missing_regions(boxes[:1], 0.0)
    np.testing.assert_allclose(missing, boxes[1:])
    assert tracks.missing_regions(boxes, 0.0).shape == (0, 4)


def test_an_off_axis_face_is_posed_in_the_camera_frame(clip):
    """A landmark engine sees only the crop: the same crop cut 200 px right of the axis is a face seen along
    a ray 22 degrees off it, and the tracker turns its pose by the ray to the head (head_view_rotation),
    within a degree of the crop centre's here."""
    engine, frames, detections, K = clip
    shift = 200.0
    poses = {}
    for dx in (0.0, shift):
        given = ExternalDetections()
        tracker = HeadPoseTracker(engine, given, TrackerConfig(tracking=FaceTracksConfig(confirm_hits=1)))
        moved = np.float32([[1.0, 0.0, dx], [0.0, 1.0, 0.0]])
        for k, (image, found) in enumerate(zip(frames[:3], detections, strict=False)):
            given.set([Detection(d.x0 + dx, d.y0, d.x1 + dx, d.y1, d.score) for d in found])
            width, height = image.shape[1], image.shape[0]
            result = tracker.process(cv2.warpAffine(image, moved, (width, height)), k * FRAME_NS, K)
        (face,) = result.faces
        poses[dx] = (face.rotation, crop_view_rotation(K, box_from_detection(*face.box, FACE_BOX_MARGIN)))
    (R_centre, V_centre), (R_right, V_right) = poses[0.0], poses[shift]
    ray_deg = np.degrees(np.arctan(shift / K[0, 0]))
    assert geodesic_deg(R_right, R_centre) > ray_deg - 5.0
    assert geodesic_deg(R_right, V_right @ V_centre.T @ R_centre) < 1.0
