"""The bundled demo clip: its files match the code that made them; its truth reprojects onto the renders."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from hpe_ros.camera import load_intrinsics
from hpe_ros.geometry import biwi_from_head_rotation
from hpe_ros.synth.clip import (
    CAMERA_NAME,
    DEMO_CLIP_DIR,
    GT_NAME,
    VIDEO_NAME,
    ClipSpec,
    clip_camera,
    clip_trajectory,
    read_ground_truth,
)


def test_bundled_truth_and_camera_are_what_the_code_generates():
    spec = ClipSpec()
    frames, K = read_ground_truth(DEMO_CLIP_DIR / GT_NAME)
    expected = clip_trajectory(spec)
    assert len(frames) == spec.frames == 120
    for got, want in zip(frames, expected, strict=True):
        assert got.stamp_ns == want.stamp_ns
        assert np.allclose(got.R, want.R, atol=1e-8) and np.allclose(got.t, want.t, atol=1e-8)
    assert np.allclose(K, clip_camera(spec)) and np.allclose(load_intrinsics(DEMO_CLIP_DIR / CAMERA_NAME), K)
    sizes = sum((DEMO_CLIP_DIR / name).stat().st_size for name in (VIDEO_NAME, GT_NAME, CAMERA_NAME))
    assert sizes < 1.5e6


def test_trajectory_holds_still_then_turns_through_yaw_60():
    spec = ClipSpec()
    frames = clip_trajectory(spec)
    still = [f for f in frames if f.stamp_ns * 1e-9 <= spec.still_s]
    assert len(still) >= 20 and all(
        np.array_equal(f.R, still[0].R) and np.array_equal(f.t, still[0].t) for f in still
    )
    yaw, pitch, roll = np.array([biwi_from_head_rotation(f.R) for f in frames]).T
    assert yaw.max() == pytest.approx(60.0, abs=1.5) and yaw.min() == pytest.approx(-60.0, abs=1.5)
    assert np.ptp(pitch) > 20.0 and np.ptp(roll) > 15.0
    assert np.all(np.diff([f.stamp_ns for f in frames]) == pytest.approx(1e9 / spec.fps, abs=1))


def test_bundled_video_decodes_to_the_frames_the_renderer_draws(renderable):
    from hpe_ros.synth.clip import ClipRenderer

    capture = cv2.VideoCapture(str(DEMO_CLIP_DIR / VIDEO_NAME))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 120
    decoded = []
    for _ in range(61):
        ok, frame = capture.read()
        assert ok, "the bundled clip ends early"
        decoded.append(frame)
    capture.release()
    spec = ClipSpec()
    renderer = ClipRenderer(spec)
    try:
        frames = clip_trajectory(spec)
        for index in (0, 60):
            rendered = renderer.render(frames[index])
            assert decoded[index].shape == (480, 640, 3)
            error = np.abs(decoded[index][:, :, ::-1].astype(float) - rendered).mean()
            assert error < 4.0, f"frame {index}: mean |decoded - rendered| = {error:.1f} grey levels"

        # Ground truth: the head origin (sellion) projects with the clip K onto the pixel showing the sellion.
        bare = dataclasses.replace(renderer.appearance, proxies={}, textures={})
        renderer.appearance = bare
        K = clip_camera(spec)
        rows, cols = renderer.offset
        for index in (0, 30, 45, 75):
            frame = frames[index]
            seen = renderer.renderer.render_positions(
                renderer.parts(frame), renderer.square_intrinsics(), frame.R, frame.t
            )
            u, v, w = K @ frame.t  # the head origin X = 0 lands at K · t
            u, v = u / w, v / w
            assert 0 <= u < spec.width and 0 <= v < spec.height
            point = seen[int(np.rint(v)) + rows, int(np.rint(u)) + cols]
            metres_per_pixel = frame.t[2] / K[0, 0]
            assert point[3] > 0 and np.linalg.norm(point[:3]) < 3 * metres_per_pixel, (
                f"frame {index}: the pixel of K·t shows head point {point[:3]}, not the origin"
            )
    finally:
        renderer.close()
