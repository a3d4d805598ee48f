"""The keyframe pose graph: recovers known rotations from noisy priors and edges; bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.geometry import geodesic_deg
from hpe_ros.pose_graph import KeyframeGraph


def noisy(R: np.ndarray, sigma_deg: float, rng: np.random.Generator) -> np.ndarray:
    return Rotation.from_rotvec(rng.normal(0, np.radians(sigma_deg), 3)).as_matrix() @ R


def yaw_sweep(count: int) -> list[np.ndarray]:
    return [
        Rotation.from_euler("yx", [a, 0.3 * a], degrees=True).as_matrix() for a in np.linspace(0, 85, count)
    ]


def test_graph_recovers_known_poses_from_noisy_priors_and_edges():
    rng = np.random.default_rng(0)
    truth = yaw_sweep(24)
    graph = KeyframeGraph(max_edges_per_node=8)
    raw_errors = []
    for i, R in enumerate(truth):
        prior = noisy(R, 6.0, rng)
        raw_errors.append(float(geodesic_deg(prior, R)))
        graph.add_node(i, prior, prior_sigma_deg=6.0)
        for j in range(max(0, i - 2), i):
            graph.add_edge(j, i, noisy(R @ truth[j].T, 0.5, rng), sigma_deg=0.5)
    graph.solve(iterations=5)
    errors = [float(geodesic_deg(graph.rotations[i], R)) for i, R in enumerate(truth)]
    assert np.mean(errors) < 0.5 * np.mean(raw_errors), "edges pool the priors of all keyframes"
    assert max(errors) < 6.0
    # The marginal covariance reflects the evidence: well below one prior's variance.
    assert np.sqrt(np.trace(graph.covariance(12)) / 3) < np.radians(6.0) / 2


def test_a_tight_prior_on_the_root_is_carried_along_the_chain():
    rng = np.random.default_rng(1)
    truth = yaw_sweep(8)
    graph = KeyframeGraph()
    graph.add_node(0, truth[0], prior_sigma_deg=0.1)
    for i in range(1, len(truth)):
        # Far keyframes have only weak, biased absolute priors; the small steps carry the root's accuracy.
        graph.add_node(i, noisy(truth[i], 15.0, rng), prior_sigma_deg=30.0, prior=noisy(truth[i], 15.0, rng))
        graph.add_edge(i - 1, i, truth[i] @ truth[i - 1].T, sigma_deg=0.2)
    graph.solve(iterations=6)
    assert max(float(geodesic_deg(graph.rotations[i], truth[i])) for i in range(len(truth))) < 3.0


def test_memory_is_bounded_by_nodes_and_edges_per_node():
    rng = np.random.default_rng(2)
    graph = KeyframeGraph(max_edges_per_node=3)
    for i in range(600):  # hours of keyframe churn: the caller evicts, the graph keeps only what it holds
        graph.add_node(i, noisy(np.eye(3), 5.0, rng), prior_sigma_deg=5.0)
        for j in range(max(0, i - 4), i):
            if j in graph.rotations:
                graph.add_edge(j, i, np.eye(3), sigma_deg=1.0 + (i - j))
        if len(graph) > 12:
            graph.remove_node(min(graph.rotations))
        graph.solve(iterations=1)
    assert len(graph) == 12 and len(graph.priors) == 12
    assert all(e.source in graph.rotations and e.target in graph.rotations for e in graph.edges)
    per_node = [sum(node in (e.source, e.target) for e in graph.edges) for node in graph.rotations]
    assert max(per_node) <= 3


def test_bad_factors_are_refused():
    graph = KeyframeGraph()
    graph.add_node(1, np.eye(3), prior_sigma_deg=1.0)
    with pytest.raises(InputError):
        graph.add_node(1, np.eye(3))
    with pytest.raises(InputError):
        graph.add_edge(1, 2, np.eye(3), 1.0)
    graph.add_node(2, np.eye(3))
    with pytest.raises(InputError):
        graph.add_edge(1, 2, np.eye(3), 0.0)
