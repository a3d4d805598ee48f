"""Semantic facial points on the MakeHuman mesh: eye corners, brows, nose, mouth, chin, ear lobes.

They give the renders what real datasets annotate: the face-mesh landmark error of the realism meter (eight
points with a MediaPipe face-mesh index and an iBUG 68-point index) and a face box like AFLW2000's (the tight
box of the visible AFLW-21-like points), which training crops are framed around as a detector's box is.

The vertices were located once by running the face mesh on clean frontal renders of the base mesh (five
skins; the head-frame point under each landmark read from the position pass; nearest skin vertex), then made
left/right symmetric; ear lobes are the lowest skin vertices of the ears. Ids are MakeHuman base-mesh (hm08)
vertex numbers; "right" is the subject's right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.synth.mesh import HeadModel, vertex_normals
from hpe_ros.synth.preview import project


@dataclass(frozen=True)
class SemanticPoint:
    """A facial point: its MakeHuman vertex, its face-mesh and iBUG-68 indices where those models have it."""

    vertex: int
    face_mesh: int | None = None
    ibug68: int | None = None


SEMANTIC_POINTS = {
    "eye_r_outer": SemanticPoint(6780, 33, 36),
    "eye_r_inner": SemanticPoint(70, 133, 39),
    "eye_l_inner": SemanticPoint(6854, 362, 42),
    "eye_l_outer": SemanticPoint(13376, 263, 45),
    "nose_tip": SemanticPoint(297, 1, 30),
    "mouth_r": SemanticPoint(427, 61, 48),
    "mouth_l": SemanticPoint(7187, 291, 54),
    "chin": SemanticPoint(5225, 152, 8),
    "brow_r_outer": SemanticPoint(261),
    "brow_r_mid": SemanticPoint(206),
    "brow_r_inner": SemanticPoint(208),
    "brow_l_inner": SemanticPoint(6983),
    "brow_l_mid": SemanticPoint(6981),
    "brow_l_outer": SemanticPoint(7030),
    "nostril_r": SemanticPoint(358),
    "nostril_l": SemanticPoint(7119),
    "lip_lower": SemanticPoint(523),
    "ear_r": SemanticPoint(5732),
    "ear_l": SemanticPoint(12329),
}
POINT_NAMES = tuple(SEMANTIC_POINTS)
LANDMARK_NAMES = tuple(name for name, p in SEMANTIC_POINTS.items() if p.face_mesh is not None)
OUTER_EYES = ("eye_r_outer", "eye_l_outer")


class FacePoints:
    """The semantic points of a :class:`HeadModel`, posed per identity and expression (head frame)."""

    def __init__(self, model: HeadModel):
        source = {int(v): i for i, v in enumerate(model.cache["base/source_index"])}
        missing = [name for name, p in SEMANTIC_POINTS.items() if p.vertex not in source]
        if missing:
            raise InputError(f"the MakeHuman cache lacks the vertices of {missing}; rerun `hpe synth assets`")
        self.model = model
        self.rows = np.array([source[p.vertex] for p in SEMANTIC_POINTS.values()])

    def posed(
        self, identity: dict[str, float], expression: dict[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Head-frame positions (P, 3) and outward unit normals (P, 3), in :data:`POINT_NAMES` order."""
        model = self.model
        origin = model.shape(identity)[model.landmarks["sellion"]]
        posed = model.shape({**identity, **{k: identity.get(k, 0.0) + v for k, v in expression.items()}})
        return posed[self.rows] - origin, vertex_normals(posed, model.skin_source_triangles)[self.rows]


def facing(points: np.ndarray, normals: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Which points face the camera (their normal has a component toward it): a self-occlusion proxy."""
    camera = points @ np.asarray(R).T + np.asarray(t)
    return np.einsum("pc,pc->p", normals @ np.asarray(R).T, -camera) > 0


def face_box(
    points: np.ndarray, normals: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray
) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1): the tight pixel box of the points that face the camera (all when under two do)."""
    pixels = project(points, R, t, K)
    visible = facing(points, normals, R, t)
    if visible.sum() >= 2:
        pixels = pixels[visible]
    (x0, y0), (x1, y1) = pixels.min(axis=0), pixels.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)
