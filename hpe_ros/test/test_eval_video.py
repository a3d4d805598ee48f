"""``hpe eval video``: the jitter and still-step definitions on sequences with known answers, triplets, and
the whole command on the bundled demo clip with a random tiny network (plumbing: the numbers mean nothing)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros.config import with_overrides
from hpe_ros.evaluate.video import (
    STILL_BOX_TOLERANCE,
    angular_speeds_deg_s,
    high_frequency_speeds_deg_s,
    jitter_statistics,
    pick_triplets,
    run_video_eval,
    still_steps,
)
from hpe_ros.geometry import geodesic_deg
from hpe_ros.synth.clip import read_ground_truth
from hpe_ros.tracker import TrackerConfig

FPS = 15.0


def _stamps(n: int) -> np.ndarray:
    return np.round(np.arange(n) * 1e9 / FPS).astype(np.int64)


def test_jitter_of_a_still_head_shaking_by_a_known_angle():
    """Still box for 10 frames, output alternating ±0.2° about z: every still step turns 0.4° -> 6 deg/s."""
    n = 20
    rotations = [Rotation.from_euler("z", 0.2 * (-1) ** k, degrees=True).as_matrix() for k in range(n)]
    rotations[15] = None  # a frame without a face has no speed
    box = np.array([100.0, 100.0, 200.0, 200.0])
    boxes = [box if k < 10 else box + 5.0 * k for k in range(n)]
    speeds = angular_speeds_deg_s(rotations, _stamps(n))
    assert np.allclose(speeds[np.isfinite(speeds)], 0.4 * FPS, rtol=1e-3)
    assert np.isnan(speeds[14]) and np.isnan(speeds[15])
    still = still_steps(boxes)
    assert still[:9].all() and not still[9:].any()
    stats = jitter_statistics(speeds, still)
    assert stats["steps"] == 9 and stats["median_deg_per_s"] == pytest.approx(6.0, rel=1e-3)
    assert jitter_statistics(speeds, np.zeros_like(still))["median_deg_per_s"] is None


def test_high_frequency_jitter_leaves_smooth_motion_out_and_keeps_noise():
    """A smooth nod (quadratic within each window) has no high-frequency speed; the same nod with ±0.2° of
    alternating noise has about the noise's own speed (0.4° a step), though its plain speed is much higher."""
    n = 40
    angles = 10.0 * np.sin(np.arange(n) / FPS * 2.0)  # 1 Hz-ish nod, up to 20 deg/s
    smooth = [Rotation.from_euler("x", a, degrees=True).as_matrix() for a in angles]
    noisy = [
        Rotation.from_euler("x", a + 0.2 * (-1) ** k, degrees=True).as_matrix() for k, a in enumerate(angles)
    ]
    stamps = _stamps(n)
    assert np.nanmax(high_frequency_speeds_deg_s(smooth, stamps)) < 0.05 * np.nanmax(
        angular_speeds_deg_s(smooth, stamps)
    )
    noise_speeds = high_frequency_speeds_deg_s(noisy, stamps)
    assert np.isnan(noise_speeds[:4]).all() and np.isnan(noise_speeds[-4:]).all()  # windows run off the clip
    assert np.nanmedian(noise_speeds) == pytest.approx(0.4 * FPS, rel=0.3)
    noisy[20] = None
    assert np.isnan(high_frequency_speeds_deg_s(noisy, stamps)[15:25]).all()


def test_still_steps_tolerance_on_centre_shift_and_size_change():
    base = np.array([0.0, 0.0, 100.0, 100.0])
    right, grow = np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0, 1.0])
    small, large = 0.5 * STILL_BOX_TOLERANCE * 100, 2.0 * STILL_BOX_TOLERANCE * 100
    steady = [base, base + small * right, base + small * (right + grow)]
    assert still_steps(steady).tolist() == [True, True]
    assert still_steps([base, base + large * right]).tolist() == [False]
    assert still_steps([base, base + large * grow]).tolist() == [False]
    assert still_steps([base, None, base]).tolist() == [False, False]


def test_triplets_need_a_face_in_all_three_frames_and_are_capped():
    has_face = [True] * 30
    has_face[12] = False
    triplets = pick_triplets(has_face, step=5, limit=100)
    assert (2, 7, 12) not in triplets and (7, 12, 17) not in triplets and (12, 17, 22) not in triplets
    assert (0, 5, 10) in triplets and all(c - b == b - a == 5 for a, b, c in triplets)
    assert len(pick_triplets([True] * 200, step=5, limit=7)) == 7


def test_eval_video_on_the_bundled_clip_reports_both_modes(tiny_checkpoint, tmp_path):
    out = tmp_path / "demo.json"
    config = with_overrides(TrackerConfig(), {"rotation_filter.prediction": 0.0})
    run_video_eval(
        "demo", tiny_checkpoint, out, backend="torch", max_frames=36, progress=False, config=config
    )
    summary = json.loads(out.read_text())
    assert summary["tracker_overrides"] == {"rotation_filter.prediction": 0.0}
    assert summary["frames"] == 36 and summary["ground_truth"].endswith("demo_clip_gt.csv")
    assert summary["intrinsics"]["K"] == [[560.0, 0.0, 319.5], [0.0, 560.0, 239.5], [0.0, 0.0, 1.0]]
    for mode in ("relative", "absolute"):
        entry = summary["modes"][mode]
        assert entry["frames_with_face"] >= 30, "BlazeFace finds the demo head in nearly every frame"
        accuracy = entry["accuracy"]
        assert accuracy["n"] + accuracy["failures"] == 36
        assert set(accuracy["mae"]) == {"yaw", "pitch", "roll", "mean"} and accuracy["geodesic_deg"] >= 0
        assert entry["jitter"]["steps"] >= 15, "the clip starts with 1.5 s (22 steps) of a still head"
        assert entry["jitter_truly_still"]["steps"] >= 15
        assert 0 < entry["jitter_high_frequency"]["steps"] <= entry["jitter"]["steps"]
        # the still head's frames render to the same image: steps with a pose in both frames
        assert 15 <= entry["jitter_repeated_frames"]["steps"] <= summary["repeated_frame_steps"]
    floor = summary["constant_frontal"]  # the frontal pose on every frame: the floor a model must beat
    truth, _ = read_ground_truth(summary["ground_truth"])
    expected = np.mean([geodesic_deg(np.eye(3), frame.R) for frame in truth[:36]])
    assert floor["n"] == 36 and floor["geodesic_deg"] == pytest.approx(expected, abs=1e-6)
    cycle = summary["cycle_consistency"]
    assert cycle["triplets"] > 0 and 0.0 <= cycle["median_deg"] <= 180.0
    rows = (tmp_path / "demo.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 36 and rows[0].startswith("mode,frame,stamp_ns")
