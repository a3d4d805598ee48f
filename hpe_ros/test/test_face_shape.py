"""The person-specific shape: merging keyframe clouds, robustness to expressions, the 2-D fit against it."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.face_shape import PersonShape, ShapeConfig, normalised, surface_neighbours, surface_normals
from hpe_ros.geometry import geodesic_deg
from hpe_ros.model.default import default_model_path


@pytest.fixture(scope="module")
def generic() -> np.ndarray:
    """The default model's canonical face-mesh cloud (head frame, unit RMS radius)."""
    return normalised(load_file(str(default_model_path()))["canonical_landmarks"].astype(np.float64))


def person(generic: np.ndarray, seed: int) -> np.ndarray:
    """A different face: the generic cloud under a smooth random deformation."""
    rng = np.random.default_rng(seed)
    A = np.eye(3) + rng.normal(0, 0.08, (3, 3))
    bend = 0.08 * np.sin(2.0 * generic[:, [1, 2, 0]] + rng.uniform(0, 6, 3))
    return normalised(generic @ A.T + bend)


def observe(shape: np.ndarray, R: np.ndarray, rng: np.random.Generator, noise: float = 0.003) -> np.ndarray:
    """Landmarks as a face mesh reports them: camera frame, pixel scale and offset, a little noise."""
    return 80.0 * (shape @ R.T + rng.normal(0, noise, shape.shape)) + np.array([96.0, 96.0, 0.0])


def rot(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    return Rotation.from_euler("yxz", [yaw, pitch, roll], degrees=True).as_matrix()


@pytest.mark.parametrize("projection", ["rigid", "orthographic"])
def test_fit_recovers_the_rotation_from_a_rough_start(generic, projection):
    rng = np.random.default_rng(0)
    shape = PersonShape(ShapeConfig(projection=projection))
    shape.add(1, observe(generic, np.eye(3), rng, noise=0.0), np.eye(3))
    for yaw, pitch, roll in [(0, 0, 0), (35, -10, 5), (60, 15, -20), (-70, 5, 30)]:
        R = rot(yaw, pitch, roll)
        start = Rotation.from_rotvec(np.radians([8.0, -8.0, 5.0])).as_matrix() @ R
        fit = shape.fit(observe(generic, R, rng), start)
        assert geodesic_deg(fit.rotation, R) < 1.0
        assert np.degrees(np.sqrt(np.trace(fit.covariance) / 3)) < 3.0


def test_merged_shape_is_the_persons_and_fits_better_than_the_generic_cloud(generic):
    rng = np.random.default_rng(1)
    own = person(generic, 7)
    shape = PersonShape()
    for k, (yaw, pitch) in enumerate([(0, 0), (20, 5), (-20, -5), (40, 0), (-40, 10)]):
        shape.add(k, observe(own, rot(yaw, pitch), rng), rot(yaw, pitch))
    assert np.sqrt(((shape.shape - own) ** 2).sum(1).mean()) < 0.02
    generic_shape = PersonShape()
    generic_shape.add(0, observe(generic, np.eye(3), rng, noise=0.0), np.eye(3))
    R = rot(55, 10, -10)
    landmarks = observe(own, R, rng)
    mine = geodesic_deg(shape.fit(landmarks, np.eye(3)).rotation, R)
    theirs = geodesic_deg(generic_shape.fit(landmarks, np.eye(3)).rotation, R)
    assert mine < 1.0 and mine < theirs


def test_an_expression_in_one_keyframe_does_not_bend_the_shape(generic):
    rng = np.random.default_rng(2)
    own = person(generic, 3)
    poses = [rot(y) for y in (0, 15, -15, 30, -30)]
    merged, clouds = PersonShape(), []
    mouth = own[:, 1] > np.quantile(own[:, 1], 0.8)  # the lowest fifth of the face: mouth and chin
    for k, R in enumerate(poses):
        shown = own.copy()
        if k == 2:
            shown[mouth] += np.array([0.0, 0.25, -0.1])  # the mouth wide open in one keyframe
        landmarks = observe(shown, R, rng)
        merged.add(k, landmarks, R)
        clouds.append(normalised(landmarks) @ R)
    plain_mean = normalised(np.mean(clouds, axis=0))
    error_merged = np.linalg.norm(merged.shape[mouth] - own[mouth], axis=1).mean()
    error_plain = np.linalg.norm(plain_mean[mouth] - own[mouth], axis=1).mean()
    assert error_merged < 0.6 * error_plain, "the open mouth of one keyframe is mostly rejected"


def test_evicted_keyframes_leave_the_shape_and_bad_clouds_are_refused(generic):
    rng = np.random.default_rng(3)
    shape = PersonShape()
    shape.add(1, observe(generic, np.eye(3), rng), np.eye(3))
    shape.add(2, observe(generic, rot(30), rng), rot(30))
    shape.remove(1)
    assert len(shape) == 1 and shape.ready
    shape.remove(2)
    assert not shape.ready
    with pytest.raises(InputError):
        shape.add(3, np.zeros((468, 3)), np.eye(3))
    with pytest.raises(InputError):
        shape.fit(observe(generic, np.eye(3), rng), np.eye(3))


def test_surface_normals_point_out_of_the_face_along_the_local_plane(generic):
    """A tilted plane's normals are its normal, turned toward the camera side (−z); patches found on one cloud
    serve the same landmarks on a turned copy (normals turn with it, up to the sign each gets toward −z)."""
    rng = np.random.default_rng(5)
    xy = rng.uniform(-1, 1, (200, 2))
    normal = np.array([0.3, -0.2, 1.0]) / np.linalg.norm([0.3, -0.2, 1.0])
    plane = np.c_[xy, -(normal[0] * xy[:, 0] + normal[1] * xy[:, 1]) / normal[2]]
    np.testing.assert_allclose(surface_normals(plane), np.broadcast_to(-normal, plane.shape), atol=1e-9)
    neighbours = surface_neighbours(generic)
    turned = rot(20.0, 10.0)
    alignment = np.sum(
        surface_normals(generic @ turned.T, neighbours) * (surface_normals(generic) @ turned.T), 1
    )
    np.testing.assert_allclose(np.abs(alignment), 1.0, atol=1e-9)
