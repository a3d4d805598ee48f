"""The MakeHuman bust as a morphable model: identity/expression targets, fitted proxies, the head frame.

Head frame (the network's, see DESIGN.md section 3): metres, x toward the person's left (image right when the
person faces the camera), y toward the chin, z into the head; the origin is the **sellion** of the identity's
neutral-expression shape: the deepest point of the nasal bridge on the mid-sagittal profile, found on the base
mesh as the midline front vertex with the largest z between 1 and 5 cm above the eye centres
(:func:`landmark_indices`). A head looking straight into the camera therefore has R = I.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.synth.assets import TARGET_UNIT_MH

TARGET_TO_METRES = TARGET_UNIT_MH * 0.1
RACES = ("african", "asian", "caucasian")
# Rigid-head blend, in the head frame (origin at the sellion, y down, metres): vertices above NECK_TOP_Y (the
# chin lies ~0.11 below the sellion) follow the head exactly; the torso below SHOULDER_Y follows the torso
# rotation; the neck in between is blended. NECK_PIVOT: MakeHuman's neck01 joint relative to the base sellion.
NECK_TOP_Y = 0.125
SHOULDER_Y = 0.20
NECK_PIVOT = np.array([0.0, 0.143, 0.15], np.float32)


def macro_target_weights(gender: float, age: float, muscle: float, weight: float, race: np.ndarray) -> dict:
    """MakeHuman's macro-modifier blend (humanmodifier.MacroModifier) for values in [0, 1]; race sums to 1."""
    genders = {"female": 1.0 - gender, "male": gender}
    if age < 0.5:
        young = max(0.0, (age - 0.1875) * 3.2)
        ages = {
            "baby": max(0.0, 1 - age * 5.333),
            "child": max(0.0, min(1.0, 5.333 * age) - young),
            "young": young,
        }
        ages["old"] = 0.0
    else:
        old = max(0.0, age * 2 - 1)
        ages = {"baby": 0.0, "child": 0.0, "young": 1 - old, "old": old}

    def three(value: float, low: str, high: str) -> dict:
        if value < 0.5:
            return {f"min{low}": 1 - value / 0.5, f"average{low}": value / 0.5, f"max{low}": 0.0}
        return {f"min{low}": 0.0, f"average{low}": (1 - value) / 0.5, f"max{low}": (value - 0.5) / 0.5}

    muscles, weights = three(muscle, "muscle", ""), three(weight, "weight", "")
    out = {}
    for g, wg in genders.items():
        for a, wa in ages.items():
            for r, wr in zip(RACES, race, strict=True):
                out[f"macrodetails/{r}-{g}-{a}"] = wr * wg * wa
            for m, wm in muscles.items():
                for w, ww in weights.items():
                    out[f"macrodetails/universal-{g}-{a}-{m}-{w}"] = wg * wa * wm * ww
    return {name: value for name, value in out.items() if value > 1e-6}


def landmark_indices(positions: np.ndarray) -> dict[str, int]:
    """Indices (into the cache's base vertices) of the sellion and the nose tip, found on the base mesh."""
    midline = np.abs(positions[:, 0]) < 1e-4
    front = midline & (positions[:, 2] < -0.06)
    idx = np.flatnonzero(front)
    y = positions[idx, 1]
    bridge = idx[(y > -0.76) & (y < -0.71)]
    nose = idx[(y > -0.72) & (y < -0.66)]
    if not len(bridge) or not len(nose):
        raise InputError("the MakeHuman cache has no face midline; rerun `hpe synth assets`")
    return {
        "sellion": int(bridge[np.argmax(positions[bridge, 2])]),
        "nose_tip": int(nose[np.argmin(positions[nose, 2])]),
    }


@dataclass
class MeshPart:
    """One drawable piece in the head frame: render vertices, triangles, uv and its material."""

    name: str
    positions: np.ndarray  # (N,3) float32, head frame, metres
    normals: np.ndarray  # (N,3) float32
    uv: np.ndarray  # (N,2) float32
    triangles: np.ndarray  # (F,3) int32
    texture: str  # cache key of the PNG texture
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    specular: float = 0.2
    blended: bool = False  # alpha-blended (hair, brows, lashes) after the opaque parts
    alpha_cut: float = 0.5  # texels at least this opaque are drawn opaque, the others blended
    fringe_alpha: float = 1.0  # scales the alpha of the blended texels


@dataclass
class Appearance:
    """What is worn and how it looks: cache keys of skin, proxies and their texture choices, and tints."""

    skin: str
    # kind (hair, eyebrows, eyelashes, eyes, teeth, glasses, hats, shirts) -> proxy name / texture index
    proxies: dict[str, str]
    textures: dict[str, int]
    hair_tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    shirt_tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    skin_tint: tuple[float, float, float] = (1.0, 1.0, 1.0)


BLENDED_KINDS = ("hair", "eyebrows", "eyelashes", "glasses")
# The glasses texture's lenses are 60-78 % opaque and near black: cut at 0.5 they were opaque sunglasses,
# which real photos rarely show and the face mesh then misses. Blended and faded they are clear, tinted.
LENS = {"alpha_cut": 0.9, "fringe_alpha": 0.2}
HAT_LIFT_M = 0.008


class HeadModel:
    """Morphable MakeHuman bust loaded from the asset cache."""

    def __init__(self, cache: dict[str, np.ndarray]):
        self.cache = cache
        self.base = cache["base/positions"].astype(np.float32)
        names = [str(n) for n in cache["targets/names"]]
        self.target_index = {name: i for i, name in enumerate(names)}
        self.deltas = cache["targets/deltas"]
        self.landmarks = landmark_indices(self.base)
        self.skins = sorted(k.removeprefix("skin/") for k in cache if k.startswith("skin/"))
        self.proxies: dict[str, list[str]] = {}
        for key in cache:
            if key.startswith("proxy/") and key.endswith("/triangles"):
                _, kind, name, _ = key.split("/")
                self.proxies.setdefault(kind, []).append(name)
        self.expression_targets = [n for n in names if n.startswith("expression/")]
        self.face_targets = [n for n in names if not n.startswith(("expression/", "macrodetails/"))]
        self.skin_source = cache["base/render_source"]
        self.skin_source_triangles = self.skin_source[cache["base/triangles"]]

    def texture_count(self, kind: str, name: str) -> int:
        """How many alternative diffuse textures a proxy has (eye colours, hat colours)."""
        return sum(1 for k in self.cache if k.startswith(f"proxy/{kind}/{name}/texture"))

    def shape(self, weights: dict[str, float]) -> np.ndarray:
        """Base vertices (model frame) with the named targets applied at the given weights."""
        unknown = [n for n in weights if n not in self.target_index]
        if unknown:
            raise InputError(f"unknown MakeHuman targets: {unknown[:5]}")
        if not weights:
            return self.base.copy()
        rows = [self.target_index[n] for n in weights]
        w = np.array(list(weights.values()), np.float32) * TARGET_TO_METRES
        return self.base + np.tensordot(w, self.deltas[rows].astype(np.float32), axes=1)

    def build(
        self,
        identity: dict[str, float],
        expression: dict[str, float],
        appearance: Appearance,
        torso_rotation: np.ndarray | None = None,
    ) -> list[MeshPart]:
        """Mesh parts in the head frame for one identity, expression and outfit.

        ``torso_rotation`` (3×3, head frame) turns the shoulders relative to the head about the neck, blended
        smoothly over the neck; the head itself (everything above :data:`NECK_TOP_Y`) stays rigid.
        """
        neutral = self.shape(identity)
        origin = neutral[self.landmarks["sellion"]].copy()
        posed = self.shape({**identity, **{k: identity.get(k, 0.0) + v for k, v in expression.items()}})
        # Skin normals on the welded mesh (before the split at uv seams), so seams do not show in the shading.
        skin = bend_neck(posed - origin, torso_rotation)
        normals = vertex_normals(skin, self.skin_source_triangles)[self.skin_source]
        parts = [
            MeshPart(
                "skin",
                skin[self.skin_source],
                normals,
                self.cache["base/uv"],
                self.cache["base/triangles"],
                f"skin/{appearance.skin}",
                appearance.skin_tint,
                0.25,
            )
        ]
        tints = {
            "hair": appearance.hair_tint,
            "eyebrows": appearance.hair_tint,
            "shirts": appearance.shirt_tint,
        }
        for kind, name in appearance.proxies.items():
            key = f"proxy/{kind}/{name}"
            fitted = np.einsum("nk,nkc->nc", self.cache[f"{key}/weights"], posed[self.cache[f"{key}/ref"]])
            fitted = bend_neck(fitted + self.cache[f"{key}/offsets"] - origin, torso_rotation)
            triangles = self.cache[f"{key}/triangles"]
            normals = vertex_normals(fitted, triangles)
            if kind == "hats":  # lift the hat off the hair it would otherwise cut through
                outward = np.sign(np.einsum("nc,nc->n", normals, fitted - HEAD_CENTRE_M))[:, None]
                fitted += HAT_LIFT_M * normals * outward
            parts.append(
                MeshPart(
                    kind,
                    fitted,
                    normals,
                    self.cache[f"{key}/uv"],
                    triangles,
                    texture=f"{key}/texture{appearance.textures.get(kind, 0)}",
                    tint=tuple(tints.get(kind, (1.0, 1.0, 1.0))),
                    specular={"eyes": 0.8, "glasses": 0.6, "hair": 0.3}.get(kind, 0.15),
                    blended=kind in BLENDED_KINDS,
                    **(LENS if kind == "glasses" else {}),
                )
            )
        return parts


def neck_blend(y_head: np.ndarray) -> np.ndarray:
    """Weight 1 where a vertex (head-frame y) moves rigidly with the head, 0 on the torso, linear between."""
    return np.clip((SHOULDER_Y - y_head) / (SHOULDER_Y - NECK_TOP_Y), 0.0, 1.0).astype(np.float32)


def bend_neck(positions: np.ndarray, torso_rotation: np.ndarray | None) -> np.ndarray:
    """Head-frame vertices with the torso turned by ``torso_rotation`` about the neck, blended over it."""
    positions = positions.astype(np.float32)
    if torso_rotation is None:
        return positions
    rigid = neck_blend(positions[:, 1])
    bend = np.flatnonzero(rigid < 1.0)
    if len(bend):
        rotvec = Rotation.from_matrix(torso_rotation).as_rotvec()
        partial = Rotation.from_rotvec(np.outer(1.0 - rigid[bend], rotvec))
        positions[bend] = partial.apply(positions[bend] - NECK_PIVOT) + NECK_PIVOT
    return positions


def vertex_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit length; zero for unused vertices)."""
    a, b, c = (positions[triangles[:, i]] for i in range(3))
    face = np.cross(b - a, c - a)
    normals = np.zeros_like(positions)
    for i in range(3):
        for axis in range(3):
            normals[:, axis] += np.bincount(triangles[:, i], face[:, axis], minlength=len(positions))
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-12)).astype(np.float32)
