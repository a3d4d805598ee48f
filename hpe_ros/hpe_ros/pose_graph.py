"""A small rotation pose graph per face: keyframe rotations from absolute priors and relative edges.

Nodes are keyframes with rotations R_i (camera←head). Factors, each with an isotropic information 1/σ²:

- prior: an absolute estimate P_i of R_i, residual log(R_i · P_iᵀ);
- edge: a relative estimate R_ji with R_j ≈ R_ji · R_i, residual log(R_j · (R_ji · R_i)ᵀ).

:meth:`KeyframeGraph.solve` runs Gauss–Newton on left perturbations R ← exp(δ) R (edge Jacobians I and
−R_ji, the SO(3) adjoint) over a dense 3N × 3N system: N is the keyframe count, bounded by the buffer, so a
solve costs O(N³) with N ≤ a few dozen, and warm starts from the previous solution keep one or two
iterations enough per change. The marginal covariance of each node is its 3 × 3 block of the inverse
information matrix. Memory is bounded: removing a node removes its factors, and a node keeps at most
``max_edges_per_node`` edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError


@dataclass
class _Edge:
    source: int
    target: int
    rotation: np.ndarray
    """R_target←source: R_target ≈ rotation · R_source."""
    information: float


class KeyframeGraph:
    """Rotation-only keyframe graph with priors and relative edges (ids are the caller's anchor ids)."""

    def __init__(self, max_edges_per_node: int = 4) -> None:
        self.max_edges_per_node = max_edges_per_node
        self.rotations: dict[int, np.ndarray] = {}
        self.priors: dict[int, tuple[np.ndarray, float]] = {}
        self.edges: list[_Edge] = []
        self._covariances: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rotations)

    def add_node(
        self,
        node: int,
        rotation: np.ndarray,
        prior_sigma_deg: float | None = None,
        prior: np.ndarray | None = None,
    ) -> None:
        """A keyframe starting at ``rotation``; with ``prior_sigma_deg`` it gets an absolute prior
        (``prior``, default ``rotation``)."""
        if node in self.rotations:
            raise InputError(f"keyframe {node} is already in the graph")
        rotation = np.asarray(rotation, np.float64)
        self.rotations[node] = rotation.copy()
        if prior_sigma_deg is not None:
            prior = rotation if prior is None else np.asarray(prior, np.float64)
            self.priors[node] = (prior.copy(), _information(prior_sigma_deg))

    def add_edge(self, source: int, target: int, rotation: np.ndarray, sigma_deg: float) -> None:
        """A relative estimate R_target ≈ rotation · R_source; a node's weakest edge goes beyond the limit."""
        if source not in self.rotations or target not in self.rotations or source == target:
            raise InputError(f"an edge needs two distinct keyframes in the graph, got {source} -> {target}")
        self.edges.append(_Edge(source, target, np.asarray(rotation, np.float64), _information(sigma_deg)))
        for node in (source, target):
            mine = [e for e in self.edges if node in (e.source, e.target)]
            if len(mine) > self.max_edges_per_node:
                self.edges.remove(min(mine, key=lambda e: e.information))

    def remove_node(self, node: int) -> None:
        """Forget a keyframe and every factor on it."""
        self.rotations.pop(node, None)
        self.priors.pop(node, None)
        self._covariances.pop(node, None)
        self.edges = [e for e in self.edges if node not in (e.source, e.target)]

    def clear(self) -> None:
        """Forget everything."""
        self.rotations.clear()
        self.priors.clear()
        self.edges.clear()
        self._covariances.clear()

    def covariance(self, node: int) -> np.ndarray:
        """Marginal 3 × 3 covariance (rad², about the camera axes) of a node after the last solve."""
        return self._covariances.get(node, np.eye(3) * np.radians(90.0) ** 2)

    def solve(self, iterations: int = 3, tolerance_rad: float = 1e-5) -> None:
        """Gauss–Newton from the current rotations; updates them and the marginal covariances (from the
        information matrix of the last iteration, linearised within its step of the solution)."""
        nodes = list(self.rotations)
        if not nodes:
            return
        index = {node: k for k, node in enumerate(nodes)}
        for _ in range(iterations):
            H, b = self._normal_equations(nodes, index)
            step = -np.linalg.solve(H, b).reshape(-1, 3)
            updated = Rotation.from_rotvec(step).as_matrix() @ np.stack([self.rotations[n] for n in nodes])
            self.rotations = dict(zip(nodes, updated, strict=True))
            if np.abs(step).max() < tolerance_rad:
                break
        inverse = np.linalg.inv(H)
        self._covariances = {node: inverse[3 * k : 3 * k + 3, 3 * k : 3 * k + 3] for node, k in index.items()}

    def _normal_equations(self, nodes: list[int], index: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """H and b of the linearised problem; every factor's residual comes from one batched scipy call."""
        size = 3 * len(nodes)
        H = np.eye(size) * 1e-9  # gauge guard for nodes with no prior in their component
        b = np.zeros(size)
        if self.priors:
            current = np.stack([self.rotations[node] for node in self.priors])
            measured = np.stack([prior for prior, _ in self.priors.values()])
            residuals = _log(current @ np.swapaxes(measured, 1, 2))
            for (node, (_, information)), residual in zip(self.priors.items(), residuals, strict=True):
                k = 3 * index[node]
                H[k : k + 3, k : k + 3] += information * np.eye(3)
                b[k : k + 3] += information * residual
        if self.edges:
            sources = np.stack([self.rotations[edge.source] for edge in self.edges])
            targets = np.stack([self.rotations[edge.target] for edge in self.edges])
            relatives = np.stack([edge.rotation for edge in self.edges])
            residuals = _log(targets @ np.swapaxes(relatives @ sources, 1, 2))
            for edge, residual in zip(self.edges, residuals, strict=True):
                # Jacobians: I for the target, −R_ji for the source (JᵀJ blocks: I, I, −R_ji, −R_jiᵀ).
                i, j, w, R_ji = (
                    3 * index[edge.source],
                    3 * index[edge.target],
                    edge.information,
                    edge.rotation,
                )
                H[j : j + 3, j : j + 3] += w * np.eye(3)
                H[i : i + 3, i : i + 3] += w * np.eye(3)
                H[j : j + 3, i : i + 3] -= w * R_ji
                H[i : i + 3, j : j + 3] -= w * R_ji.T
                b[j : j + 3] += w * residual
                b[i : i + 3] -= w * R_ji.T @ residual
        return H, b


def _log(rotations: np.ndarray) -> np.ndarray:
    """Rotation vectors [N, 3] of rotation matrices [N, 3, 3]."""
    return Rotation.from_matrix(rotations).as_rotvec()


def _information(sigma_deg: float) -> float:
    if not sigma_deg > 0:
        raise InputError(f"a factor's sigma must be positive, got {sigma_deg}")
    return 1.0 / np.radians(sigma_deg) ** 2
