"""The per-frame pipeline with a real randomly initialised network of the smallest config: mechanics only."""

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hpe_ros.anchors import AnchorConfig
from hpe_ros.config import parameter_specs, with_overrides
from hpe_ros.detect import BlazeFaceDetector, Detection, ExternalDetections
from hpe_ros.engine.base import PoseEngine
from hpe_ros.engine.torch_backend import TorchPoseEngine
from hpe_ros.errors import InputError
from hpe_ros.geometry import geodesic_deg
from hpe_ros.io.sources import VideoSource
from hpe_ros.model import CONFIGS, HeadPoseNet
from hpe_ros.synth.clip import DEMO_CLIP_DIR, VIDEO_NAME
from hpe_ros.tracker import HeadPoseTracker, TrackerConfig
from hpe_ros.tracks import FaceTracksConfig

K = np.array([[250.0, 0.0, 160.0], [0.0, 250.0, 120.0], [0.0, 0.0, 1.0]])
FRAME_NS = 33_333_333


class CountingEngine(TorchPoseEngine):
    """The real torch engine, recording the batch size of every call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int]] = []

    def infer(self, anchor, query):
        self.calls.append(("relative", len(query)))
        return super().infer(anchor, query)

    def infer_absolute(self, query):
        self.calls.append(("absolute", len(query)))
        return super().infer_absolute(query)

    def infer_cached(self, anchor_tokens, query):
        self.calls.append(("relative", len(query)))
        return super().infer_cached(anchor_tokens, query)

    def embed_anchors(self, anchor):
        self.calls.append(("anchor_tokens", len(anchor)))
        return super().embed_anchors(anchor)


class TurningEngine(PoseEngine):
    """Absolute mode: frontal; relative mode: the query is turned ``step_deg`` of yaw from every anchor."""

    backend_name, precision = "stub", "fp32"

    def __init__(self, step_deg: float) -> None:
        super().__init__(16, ("relative", "absolute"))
        self.turn = Rotation.from_euler("y", step_deg, degrees=True).as_matrix()

    def _run(self, mode, *inputs):
        batch = len(inputs[0])
        rotation = np.eye(3) if mode == "absolute" else self.turn
        return np.repeat(rotation[None], batch, axis=0), np.zeros((batch, 3))

    def _describe_runtime(self):
        return {}


@pytest.fixture(scope="module")
def engine() -> CountingEngine:
    torch.manual_seed(0)
    config = CONFIGS["tiny"]
    return CountingEngine(HeadPoseNet(config), config.image_size)


def make_tracker(engine, **anchor_options) -> tuple[HeadPoseTracker, ExternalDetections]:
    anchors = {"anchors_per_query": 3, "bootstrap_frames": 2, "insert_min_confidence": 0.0, **anchor_options}
    config = TrackerConfig(  # noise frames: no face-mesh check (upright crops: test_tracker_upright.py)
        tracking=FaceTracksConfig(confirm_hits=1, max_faces=4), anchors=AnchorConfig(**anchors), upright=False
    )
    detector = ExternalDetections()
    return HeadPoseTracker(engine, detector, config), detector


def frame(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)


def faces_at(i: int, count: int = 2) -> list[Detection]:
    return [Detection(40.0 + 100 * k + i, 60.0, 100.0 + 100 * k + i, 130.0, 0.9) for k in range(count)]


def test_two_faces_bootstrap_then_one_batched_relative_call_per_frame(engine):
    tracker, detector = make_tracker(engine)
    results = []
    for i in range(8):
        detector.set(faces_at(i))
        engine.calls.clear()
        results.append(tracker.process(frame(i), 5 * 10**9 + i * FRAME_NS, K))
        if i >= 2:  # both faces bootstrapped after two absolute frames: ONE relative call for both
            relative = [(kind, n) for kind, n in engine.calls if kind != "anchor_tokens"]
            assert [kind for kind, _ in relative] == ["relative"]
            assert 2 <= relative[0][1] <= 2 * 3
        else:
            assert engine.calls == [("absolute", 2)]
    for i, result in enumerate(results):
        assert result.stamp_ns == 5 * 10**9 + i * FRAME_NS
        assert [f.track_id for f in result.faces] == [1, 2]
        assert all(f.stamp_ns == result.stamp_ns for f in result.faces)
        for f in result.faces:
            np.testing.assert_allclose(f.rotation @ f.rotation.T, np.eye(3), atol=1e-6)
            assert 0.0 <= f.confidence <= 1.0 and f.covariance.shape == (6, 6)
            assert np.all(np.linalg.eigvalsh(f.covariance) >= 0)
    assert all(f.num_anchors == 0 for f in results[0].faces)  # absolute bootstrap
    assert all(f.num_anchors >= 1 and f.anchor_id >= 1 for f in results[-1].faces)
    assert set(results[-1].timings_ms) == {"detect", "track", "crop", "infer", "fuse", "filter"}
    # Anchors stay within their bound (the random network's estimates are far apart: many insertions).
    assert all(len(s.anchors.anchors) <= s.anchors.config.max_anchors for s in tracker.states.values())
    # Position from the box: a 60 px wide face with fx = 250 and a 15 cm face is 0.625 m away.
    assert results[0].faces[0].position[2] == pytest.approx(0.625, rel=1e-6)


def test_each_anchor_is_embedded_once_and_cached_pairs_match_full_pairs(engine):
    """With a cached-anchor engine an anchor's per-frame part is computed once, when first used, and the
    relative estimate equals the full-pair one."""
    tracker, detector = make_tracker(engine)
    engine.calls.clear()
    for i in range(8):
        detector.set(faces_at(i))
        tracker.process(frame(i), 7 * 10**9 + i * FRAME_NS, K)
    anchors = [
        a for state in tracker.states.values() for a in state.anchors.anchors if a.embedding is not None
    ]
    embedded = sum(n for kind, n in engine.calls if kind == "anchor_tokens")
    assert anchors and embedded == len(anchors)
    crops = np.stack([a.crop for a in anchors])
    queries = crops[::-1].copy()
    cached = engine.infer_cached(np.stack([a.embedding for a in anchors]), queries)[0]
    np.testing.assert_allclose(cached, engine.infer(crops, queries)[0], atol=1e-5)


def test_time_jump_resets_tracks_and_anchors(engine):
    tracker, detector = make_tracker(engine)
    detector.set(faces_at(0, 1))
    for i in range(4):
        tracker.process(frame(i), 10**9 + i * FRAME_NS, K)
    assert tracker.states[1].anchors.bootstrapped
    back = tracker.process(frame(0), 10**9, K)  # a looping bag starts again
    assert back.reset and [f.track_id for f in back.faces] == [2]
    assert back.faces[0].num_anchors == 0 and not tracker.states[2].anchors.bootstrapped
    assert 1 not in tracker.states
    ahead = tracker.process(frame(1), 10**9 + 5 * 10**9, K)  # a 5 s gap
    assert ahead.reset and ahead.faces[0].track_id == 3
    steady = tracker.process(frame(2), 10**9 + 5 * 10**9 + FRAME_NS, K)
    assert not steady.reset and steady.faces[0].track_id == 3


def test_lost_track_drops_its_state_and_calibration_sets_a_reference_not_a_root(engine):
    tracker, detector = make_tracker(engine)
    tracker.config.tracking.reid_window_s = 0.1
    tracker.config.tracking.max_missed_s = 0.05
    detector.set(faces_at(0, 1))
    stamp = 0
    for _ in range(3):
        tracker.process(frame(0), stamp, K)
        stamp += FRAME_NS
    root_before = tracker.states[1].anchors.anchors[0]
    tracker.request_calibration()
    calibrated = tracker.process(frame(1), stamp, K)
    assert tracker.states[1].anchors.anchors[0] is root_before, "calibration does not touch the anchors"
    face = calibrated.faces[0]
    np.testing.assert_array_equal(face.reference_rotation, face.rotation)
    detector.set([])
    for _ in range(10):
        stamp += FRAME_NS
        empty = tracker.process(frame(2), stamp, K)
    assert empty.faces == [] and tracker.states == {}


def test_relative_only_engine_bootstraps_by_assuming_a_frontal_first_view(engine):
    relative_only = CountingEngine(HeadPoseNet(CONFIGS["tiny"]), engine.input_size)
    relative_only.modes = ("relative",)
    tracker, detector = make_tracker(relative_only)
    detector.set(faces_at(0, 1))
    result = tracker.process(frame(0), 0, K)
    assert [kind for kind, _ in relative_only.calls] == ["relative"]
    assert result.faces[0].num_anchors == 1


def test_absolute_estimator_is_the_anchor_free_baseline(engine):
    tracker, detector = make_tracker(engine)
    tracker.config.estimator = "absolute"
    detector.set(faces_at(0))
    engine.calls.clear()
    results = [tracker.process(frame(i), i * FRAME_NS, K) for i in range(4)]
    assert engine.calls == [("absolute", 2)] * 4
    assert all(f.num_anchors == 0 for r in results for f in r.faces)
    assert all(not state.anchors.bootstrapped for state in tracker.states.values())


def test_non_finite_engine_output_drops_the_faces_not_the_run():
    torch.manual_seed(0)
    broken = HeadPoseNet(CONFIGS["tiny"])
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))  # e.g. an fp16 overflow or a corrupt engine
    tracker, detector = make_tracker(CountingEngine(broken, CONFIGS["tiny"].image_size))
    detector.set(faces_at(0))
    result = tracker.process(frame(0), 0, K)
    assert result.faces == [] and result.dropped == 2 and result.num_detections == 2


def test_twenty_faces_are_capped_and_no_faces_is_fine(engine):
    tracker, detector = make_tracker(engine)
    crowd = [
        Detection(10.0 + 15 * k, 10.0 + 40 * (k % 5), 24.0 + 15 * k, 24.0 + 40 * (k % 5), 0.9)
        for k in range(20)
    ]
    detector.set(crowd)
    result = tracker.process(frame(0), 0, K)
    assert result.num_detections == 20 and len(result.faces) == 4
    detector.set([])
    propagated = tracker.process(frame(1), FRAME_NS, K)
    assert len(propagated.faces) == 4 and all(f.detection_score == 0.0 for f in propagated.faces)
    gone = tracker.process(frame(2), 10 * FRAME_NS + 10**9 // 2, K)
    assert gone.faces == [] and gone.primary_index == -1


def test_bad_inputs_are_clear_errors_and_gray_frames_work(engine):
    tracker, detector = make_tracker(engine)
    tracker.config.position_filter.enabled = False
    detector.set(faces_at(0, 1))
    with pytest.raises(InputError, match="intrinsics"):
        tracker.process(frame(0), 0, np.eye(2))
    with pytest.raises(InputError, match="depth"):
        tracker.process(frame(0), 0, K, depth=np.zeros((10, 10), np.uint16))
    with pytest.raises(InputError, match="empty"):
        tracker.process(np.zeros((0, 0, 3), np.uint8), 0, K)
    gray = tracker.process(frame(0)[..., 0], 0, K)
    assert len(gray.faces) == 1
    depth = np.full((240, 320), 1200, np.uint16)
    with_depth = tracker.process(frame(1), FRAME_NS, K, depth=depth)
    assert with_depth.faces[0].position_from_depth
    assert with_depth.faces[0].position[2] == pytest.approx(1.2)


def test_every_parameter_is_described_and_round_trips():
    described = parameter_specs(TrackerConfig())
    assert len(described) > 30
    missing = [spec.name for spec in described if not spec.description]
    assert not missing
    config = with_overrides(
        TrackerConfig(), {"anchors.policy": "recent", "tracking.max_faces": 3, "crop_margin": 0.3}
    )
    assert config.anchors.policy == "recent" and config.tracking.max_faces == 3 and config.crop_margin == 0.3
    with pytest.raises(InputError, match="unknown"):
        with_overrides(TrackerConfig(), {"anchors.nope": 1})
    with pytest.raises(InputError, match="policy"):
        with_overrides(TrackerConfig(), {"anchors.policy": "closest"})
    with pytest.raises(InputError, match="estimator"):
        with_overrides(TrackerConfig(), {"estimator": "both"})


def test_default_settings_insert_keyframes_beyond_the_root():
    """With the default gates, a face detected at a typical BlazeFace score (0.75) that turns away from its
    root gets a second keyframe from the root's estimate alone (it used to need a score above 0.85)."""
    detector = ExternalDetections()
    tracker = HeadPoseTracker(TurningEngine(step_deg=20.0), detector, TrackerConfig(upright=False))  # noise
    detector.set([Detection(100.0, 60.0, 180.0, 150.0, 0.75)])
    results = [tracker.process(frame(i), i * FRAME_NS, K) for i in range(4)]
    assert [len(r.faces) for r in results] == [0, 1, 1, 1]  # confirmed on the second detection
    assert results[1].faces[0].num_anchors == 0  # frontal absolute estimate: the root, at once
    anchors = tracker.states[1].anchors.anchors
    assert len(anchors) >= 2
    assert geodesic_deg(anchors[1].rotation, np.eye(3)) == pytest.approx(20.0, abs=1e-6)
    with pytest.raises(InputError, match="would ever be inserted"):
        AnchorConfig(insert_min_confidence=0.6)  # above exp(-8 / 15) = 0.587: unreachable from the root


def crowd_of_demo_heads() -> np.ndarray:
    """5 x 4 tiles (128 px) of the bundled demo clip's head, from its first (near-frontal) frames."""
    source = VideoSource(str(DEMO_CLIP_DIR / VIDEO_NAME))
    heads = [f.image[115:355, 200:440] for f in source if f.index < 20]
    source.close()
    tiles = [cv2.resize(head, (128, 128), interpolation=cv2.INTER_AREA) for head in heads]
    return np.vstack([np.hstack(tiles[row * 5 : row * 5 + 5]) for row in range(4)])


def test_a_crowd_of_twenty_heads_is_capped_with_distinct_ids(engine):
    detector = BlazeFaceDetector()
    crowd = crowd_of_demo_heads()
    for cap in (8, 20):
        tracker = HeadPoseTracker(engine, detector, TrackerConfig(tracking=FaceTracksConfig(max_faces=cap)))
        result = [tracker.process(crowd, k * FRAME_NS, K) for k in range(2)][-1]  # confirmed on the second
        # BlazeFace full range sees the frame at 192 px (a face ~38 px): it finds about half of the heads.
        assert 8 < result.num_detections < 20
        assert len(result.faces) == min(cap, result.num_detections)
        assert len({f.track_id for f in result.faces}) == len(result.faces)
    detector.close()


def test_a_reset_after_a_pause_is_no_clock_jump(engine):
    """The node resets its tracker when re-activated: a frame 10 s later then starts afresh, uncounted."""
    tracker, detector = make_tracker(engine)
    detector.set(faces_at(0))
    tracker.process(frame(0), 10**9, K)
    tracker.reset()
    later = tracker.process(frame(1), 11 * 10**9, K)
    assert not later.reset and tracker.clock_resets == 0
    jumped = tracker.process(frame(2), 30 * 10**9, K)  # an unannounced 19 s gap is a jump
    assert jumped.reset and tracker.clock_resets == 1
