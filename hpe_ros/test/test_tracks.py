"""Face tracks on synthetic box sequences: stable ids through crossings, occlusions and returns."""

from dataclasses import dataclass

import numpy as np
import pytest

from hpe_ros.errors import InputError
from hpe_ros.tracks import FaceTracks, FaceTracksConfig, TrackedFace, box_containment, box_iou

FPS = 30.0
SIZE = 80.0


def box_at(x: float, y: float) -> np.ndarray:
    return np.array([x, y, x + SIZE, y + SIZE])


@dataclass
class Step:
    faces: list[TrackedFace]
    known_ids: set[int]


def run(tracker: FaceTracks, frames: list[list[np.ndarray]], start: int = 0) -> list[Step]:
    """Feed frames (lists of boxes) at FPS; returns the per-frame faces and the ids still known after it."""
    results = []
    for i, boxes in enumerate(frames, start=start):
        arr = np.array(boxes).reshape(-1, 4)
        results.append(Step(tracker.update(arr, np.full(len(arr), 0.9), i / FPS), tracker.known_ids()))
    return results


def id_at(result, x_centre: float, tolerance: float = 25.0) -> int | None:
    for face in result.faces:
        if abs((face.box[0] + face.box[2]) / 2 - x_centre) < tolerance:
            return face.track_id
    return None


def test_box_iou_known_values():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0]])
    inner = np.array([[2.0, 2.0, 6.0, 6.0]])  # a small box inside the first, half inside the second
    np.testing.assert_allclose(box_containment(inner, b), [[1.0, 0.25, 0.0]])


def test_ids_survive_a_crossing_with_occlusion():
    tracker = FaceTracks(FaceTracksConfig(confirm_hits=2))
    frames, truth = [], []
    for i in range(40):
        xa, xb = 100 + 15 * i, 490 - 15 * i  # they cross at i = 13
        boxes = [box_at(xa, 100)]
        if not 11 <= i <= 17:  # B is hidden behind A around the crossing
            boxes.append(box_at(xb, 120))
        frames.append(boxes)
        truth.append((xa + SIZE / 2, xb + SIZE / 2))
    results = run(tracker, frames)
    id_a, id_b = id_at(results[2], truth[2][0]), id_at(results[2], truth[2][1])
    assert id_a is not None and id_b is not None and id_a != id_b
    for result, (ca, cb) in zip(results[25:], truth[25:], strict=True):
        assert id_at(result, ca) == id_a
        assert id_at(result, cb) == id_b
    # During the occlusion B is still reported, its box propagated by the motion model.
    during = [f for f in results[16].faces if f.track_id == id_b]
    assert during and during[0].propagated and during[0].score == 0.0
    assert abs((during[0].box[0] + during[0].box[2]) / 2 - truth[16][1]) < 30.0


def test_short_detector_gap_keeps_id_and_propagates_motion():
    tracker = FaceTracks()
    frames = [[box_at(50 + 6 * i, 200)] if not 10 <= i < 18 else [] for i in range(30)]
    results = run(tracker, frames)
    ids = {f.track_id for r in results[1:] for f in r.faces}
    assert ids == {1}
    gap = results[15].faces[0]
    assert gap.propagated and gap.detection_index is None
    # Velocity decays while unseen: the propagated box trails the face but moved well past the last detection.
    last_seen_x = 50 + 6 * 9
    assert last_seen_x + 10 < gap.box[0] <= 50 + 6 * 15 + 1
    assert not results[20].faces[0].propagated


def test_returning_face_is_reidentified_within_window_only():
    config = FaceTracksConfig(max_missed_s=0.3, reid_window_s=1.0)
    tracker = FaceTracks(config)
    face = box_at(300, 200)
    results = run(tracker, [[face]] * 5 + [[]] * 20 + [[face + 5]] * 3)  # away 0.67 s
    assert results[-1].faces[0].track_id == 1
    assert results[-3].faces[0].reidentified
    assert all(1 in r.known_ids for r in results[:-3])  # never ended while away

    tracker = FaceTracks(config)
    results = run(tracker, [[face]] * 5 + [[]] * 60 + [[face]] * 3)  # away 2 s
    assert any(1 not in r.known_ids for r in results[:-3])  # ended after the re-identification window
    assert results[-1].faces[0].track_id == 2


def test_single_frame_false_positive_is_never_reported():
    tracker = FaceTracks(FaceTracksConfig(confirm_hits=3))
    frames = [[box_at(100, 100)] + ([box_at(400, 300)] if i == 5 else []) for i in range(10)]
    results = run(tracker, frames)
    assert all(len(r.faces) <= 1 for r in results)
    assert not results[1].faces and results[2].faces[0].track_id == 1


def test_cap_keeps_the_highest_scoring_faces():
    tracker = FaceTracks(FaceTracksConfig(max_faces=8, confirm_hits=1))
    boxes = np.array([box_at(100 * (i % 5), 100 * (i // 5)) for i in range(20)])
    scores = np.linspace(0.55, 0.99, 20)
    for i in range(3):
        faces = tracker.update(boxes, scores, i / FPS)
    assert len(faces) == 8
    assert sorted(f.detection_index for f in faces) == list(range(12, 20))


def test_reset_forgets_tracks_but_never_reuses_ids():
    tracker = FaceTracks(FaceTracksConfig(confirm_hits=1))
    run(tracker, [[box_at(0, 0)]] * 3)
    tracker.reset()
    assert not tracker.known_ids()
    faces = tracker.update(box_at(0, 0)[None], np.array([0.9]), 10.0)
    assert faces[0].track_id == 2


def test_bad_detections_raise_input_error():
    tracker = FaceTracks()
    with pytest.raises(InputError, match="scores"):
        tracker.update(np.zeros((2, 4)), np.ones(3), 0.0)
    with pytest.raises(InputError, match="x1 > x0"):
        tracker.update(np.array([[10.0, 10.0, 5.0, 20.0]]), np.ones(1), 0.0)
    assert tracker.update(np.zeros((0, 4)), np.zeros(0), 0.0) == []


def test_propagated_box_of_a_shrinking_face_never_inverts():
    tracker = FaceTracks(FaceTracksConfig(confirm_hits=1, max_missed_s=2.0, velocity_decay_per_s=0.0))
    frames = [[np.array([100.0 + 2 * i, 100.0 + 2 * i, 180.0 - 2 * i, 180.0 - 2 * i])] for i in range(5)]
    results = run(tracker, frames + [[]] * 40)
    for result in results:
        box = result.faces[0].box
        assert box[2] > box[0] and box[3] > box[1]
    width = results[-1].faces[0].box[2] - results[-1].faces[0].box[0]
    assert width == pytest.approx((180.0 - 8 - 108) / 2)  # clamped at half the last seen size
