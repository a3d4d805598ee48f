"""Deterministic sampling of pair parameters: identity, outfit, poses, cameras, light, degradations.

Every pair is a pure function of ``(seed, index)``; identities are a pure function of their id. Training
draws identity ids below :data:`EVAL_IDENTITY_BASE`, evaluation protocols at or above it, so evaluation
identities are held out by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.crop import FACE_BOX_MARGIN, box_from_detection
from hpe_ros.errors import InputError
from hpe_ros.geometry import geodesic_deg, head_rotation_from_biwi
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.synth.facepoints import FacePoints, face_box
from hpe_ros.synth.mesh import RACES, Appearance, HeadModel, macro_target_weights
from hpe_ros.synth.renderer import Lighting

POSE_DISTRIBUTIONS = ("biwi", "full")
ANCHOR_POLICIES = ("neutral", "small-gap", "any")
NEUTRAL_MAX_DEG = 10.0  # near-frontal anchor: geodesic angle to R = I at most this
SMALL_GAP_DEG = (2.0, 30.0)  # small-gap policy: anchor-query geodesic gap range
EVAL_IDENTITY_BASE = 1_000_000_000
IDENTITY_SALT = 0x1D
# Crop side / ((1 + 2·FACE_BOX_MARGIN) · the face box's longer side): from the annotated-landmark box's
# framing (AFLW2000 `landmarks` protocol, 1.0) to BlazeFace's (its box is ~1.08× the landmark one, p90 1.16).
CROP_SCALE_JITTER = (0.95, 1.15)
# Hair styles that hang across the face on the fitted bust: bob01/02's fringe over the eyes (redrawn
# everywhere), long01's and Braid01's strands over the cheek at profile (they move rigidly with the head;
# redrawn in training pairs and the realism meter, :class:`PairSampler`; the bundled demo clip wears long01).
# The face mesh misses most such faces (realism meter, MODEL_CARD.md), which real face photos seldom show.
FACE_COVERING_HAIR = ("bob01", "bob02")
PROFILE_COVERING_HAIR = ("long01", "Braid01")
ACCESSORY_PROBABILITY = {"hair": 0.9, "glasses": 0.15, "hats": 0.04, "shirts": 0.95}
HAIR_TINTS = (
    (1.0, 1.0, 1.0),
    (0.35, 0.3, 0.28),
    (0.6, 0.5, 0.42),
    (1.15, 0.95, 0.75),
    (0.9, 0.55, 0.4),
    (0.8, 0.8, 0.8),
)


# Image degradations: name -> (probability, low, high) of the value drawn uniformly when on.
DEGRADATIONS = {
    "blur_sigma": (0.15, 0.3, 1.0),
    "motion_px": (0.12, 2.0, 9.0),
    "noise_sigma": (0.5, 1.0, 8.0),
    "jpeg_quality": (0.6, 30.0, 94.0),
    "occluder": (0.1, 1.0, 1.0),
    "lowres": (0.15, 0.25, 0.7),
}


@dataclass
class ViewParams:
    """One image of a pair: head pose (head→camera), crop intrinsics, expression, light and degradations."""

    R: np.ndarray
    t: np.ndarray
    K: np.ndarray
    crop_side_px: float  # side of the crop in the full camera image (low resolution below the render size)
    expression: dict[str, float]
    torso_rotation: np.ndarray
    lighting: Lighting
    background_seed: int
    degradation: dict[str, float] = field(default_factory=dict)


@dataclass
class PairParams:
    """Everything needed to render one anchor/query pair."""

    index: int
    identity_id: int
    identity: dict[str, float]
    appearance: Appearance
    anchor: ViewParams
    query: ViewParams


def sample_rotation(rng: np.random.Generator, distribution: str) -> np.ndarray:
    """Head rotation R_cam←head: ``biwi`` (yaw ±80°, pitch −40..30°, roll ±30°) or ``full`` (Haar SO(3))."""
    if distribution == "biwi":
        yaw, pitch = rng.uniform(-80, 80), rng.uniform(-40, 30)
        roll = float(np.clip(rng.normal(0, 12), -30, 30))
        return head_rotation_from_biwi(yaw, pitch, roll)
    if distribution == "full":
        return Rotation.random(random_state=rng).as_matrix()
    raise InputError(f"unknown pose distribution {distribution!r}; choose from {POSE_DISTRIBUTIONS}")


def random_rotation_within(rng: np.random.Generator, low_deg: float, high_deg: float) -> np.ndarray:
    """A rotation with a uniformly random axis and an angle uniform in [low_deg, high_deg]."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    return Rotation.from_rotvec(axis * np.radians(rng.uniform(low_deg, high_deg))).as_matrix()


def sample_pair_rotations(
    rng: np.random.Generator, distribution: str, policy: str
) -> tuple[np.ndarray, np.ndarray]:
    """(R_anchor, R_query) following an anchor policy: ``neutral``, ``small-gap`` or ``any``."""
    if policy == "neutral":
        return random_rotation_within(rng, 0.0, NEUTRAL_MAX_DEG), sample_rotation(rng, distribution)
    if policy == "small-gap":
        anchor = sample_rotation(rng, distribution)
        return anchor, random_rotation_within(rng, *SMALL_GAP_DEG) @ anchor
    if policy == "any":
        return sample_rotation(rng, distribution), sample_rotation(rng, distribution)
    raise InputError(f"unknown anchor policy {policy!r}; choose from {ANCHOR_POLICIES}")


def sample_identity(model: HeadModel, identity_id: int) -> tuple[dict[str, float], str]:
    """Shape target weights (MakeHuman macros + face modifiers) and skin of one identity id."""
    rng = np.random.default_rng([IDENTITY_SALT, identity_id])
    race = rng.dirichlet(np.full(len(RACES), 0.6))
    gender, age = float(rng.uniform()), float(rng.uniform(0.3, 1.0))
    weights = macro_target_weights(
        gender=gender,
        age=age,
        muscle=float(rng.beta(2, 2)),
        weight=float(rng.beta(2, 2)),
        race=race,
    )
    active = rng.random(len(model.face_targets)) < 0.08
    for name, on in zip(model.face_targets, active, strict=True):
        if on:
            weights[name] = float(rng.uniform(0.0, 0.6))
    # A skin photographed from a person of the dominant race, the same sex and the nearest age band.
    looks = (RACES[int(np.argmax(race))], "_male" if gender > 0.5 else "_female")
    looks += ("young" if age < 0.6 else "middleage" if age < 0.8 else "old",)
    skins = model.skins
    for keep in (3, 2, 1):
        matching = [s for s in model.skins if all(word in s for word in looks[:keep])]
        if matching:
            skins = matching
            break
    return weights, skins[rng.integers(len(skins))]


def sample_expression(rng: np.random.Generator, model: HeadModel, strength: float = 1.0) -> dict[str, float]:
    """0–3 MakeHuman expression units with random weights (empty = neutral face)."""
    count = rng.choice(4, p=[0.3, 0.35, 0.25, 0.1])
    names = rng.choice(model.expression_targets, size=count, replace=False)
    return {str(n): float(rng.uniform(0.2, 1.0) * strength) for n in names}


def sample_appearance(
    rng: np.random.Generator, model: HeadModel, skin: str, redrawn_hair: tuple[str, ...] = FACE_COVERING_HAIR
) -> Appearance:
    """Hair, brows, lashes, eyes, teeth, optional glasses/hat/shirt, with texture choices and tints; a hair
    style in ``redrawn_hair`` is drawn again."""
    proxies, textures = {}, {}
    for kind, names in sorted(model.proxies.items(), key=lambda item: (item[0] != "hats", item[0])):
        if rng.random() >= ACCESSORY_PROBABILITY.get(kind, 1.0):
            continue
        if kind == "hair" and "hats" in proxies:
            names = [n for n in names if n.startswith("short")] or names  # long hair would cut through hats
        proxies[kind] = names[rng.integers(len(names))]
        while proxies[kind] in redrawn_hair:  # redrawn: the other outfits keep their random stream
            proxies[kind] = names[rng.integers(len(names))]
        textures[kind] = int(rng.integers(model.texture_count(kind, proxies[kind])))
    hair_tint = HAIR_TINTS[rng.integers(len(HAIR_TINTS))]
    return Appearance(
        skin=skin,
        proxies=proxies,
        textures=textures,
        hair_tint=hair_tint,
        shirt_tint=tuple(float(c) for c in rng.uniform(0.3, 1.1, 3)),
        skin_tint=tuple(float(c) for c in rng.uniform(0.9, 1.08) * rng.uniform(0.96, 1.04, 3)),
    )


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """Ambient plus 1–3 directional lights of random direction (camera side) and colour temperature."""
    count = int(rng.integers(1, 4))
    directions = []
    for _ in range(count):
        d = rng.normal(size=3)
        d[2] = abs(d[2]) + 0.3  # light travels into the scene (away from the camera side)
        directions.append(tuple(d / np.linalg.norm(d)))
    warm = rng.uniform(-0.15, 0.15, count)
    energy = rng.uniform(0.3, 1.0, count) * 1.2 / count**0.5
    colours = [tuple(float(e) * np.array([1 + w, 1.0, 1 - w])) for e, w in zip(energy, warm, strict=True)]
    ambient = tuple(float(rng.uniform(0.12, 0.45)) * rng.uniform(0.9, 1.1, 3))
    shadows = bool(rng.random() < 0.7)
    return Lighting(ambient=ambient, directions=tuple(directions), colours=tuple(colours), shadows=shadows)


def sample_camera(
    rng: np.random.Generator,
    R: np.ndarray,
    size: int,
    camera: dict,
    face: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, ...]:
    """Head position t and the crop intrinsics K for a head of rotation R seen by ``camera`` (full image).

    The crop is cut from the face box as the runtime cuts a real face from its detector's box
    (:func:`hpe_ros.crop.box_from_detection` with ``FACE_BOX_MARGIN``), with a small jitter of scale
    (:data:`CROP_SCALE_JITTER`) and centre: the face box is the tight box of the visible semantic points
    ``face`` = (head-frame points, normals) of :mod:`hpe_ros.synth.facepoints`, AFLW2000's kind of box.
    (Framed by a fixed 0.27 m of head per side, faces filled 20 % less of the crop than in real crops, and
    centred on the head centre, turned faces sat off-centre: realism meter, MODEL_CARD.md.)
    """
    f, width, height = camera["f"], camera["width"], camera["height"]
    principal = np.array([width / 2, height / 2])
    distance = rng.uniform(0.45, 2.5)
    pixel = principal + (rng.uniform(0.1, 0.9, 2) - 0.5) * (width, height)  # where the head centre projects
    t = np.append((pixel - principal) / f, 1.0) * distance - R @ HEAD_CENTRE_M
    K_full = np.array([[f, 0.0, principal[0]], [0.0, f, principal[1]], [0.0, 0.0, 1.0]])
    x0, y0, x1, y1 = face_box(*face, R, t, K_full)
    side = box_from_detection(x0, y0, x1, y1, FACE_BOX_MARGIN).side * rng.uniform(*CROP_SCALE_JITTER)
    crop_centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) + rng.normal(0, 0.04 * side, 2)
    scale = size / side
    # Pixel centres at integers: u_crop = scale * (u_full - crop_centre + side / 2) - 0.5 (crop is size×size).
    cx, cy = scale * (principal - crop_centre + side / 2) - 0.5
    K = np.array([[f * scale, 0.0, cx], [0.0, f * scale, cy], [0.0, 0.0, 1.0]])
    return t, K, float(side)


def sample_full_camera(rng: np.random.Generator) -> dict:
    """The full camera of a pair: image size and focal length from a horizontal field of view of 45–95°."""
    width = int(rng.choice([640, 1280, 1920]))
    height = width * 9 // 16 if rng.random() < 0.6 else width * 3 // 4
    fov = np.radians(rng.uniform(45, 95))
    return {"width": width, "height": height, "f": width / 2 / np.tan(fov / 2)}


def sample_degradation(rng: np.random.Generator) -> dict[str, float]:
    """Blur, motion blur, noise, JPEG quality, an occluder and a low-resolution factor (0 = off), each on
    with its :data:`DEGRADATIONS` probability; as many draws whatever the settings (paired comparisons)."""
    on, where = rng.random(len(DEGRADATIONS)), rng.random(len(DEGRADATIONS))
    out = {}
    for (name, (probability, low, high)), u, v in zip(DEGRADATIONS.items(), on, where, strict=True):
        value = low + v * (high - low)
        out[name] = float(round(value) if name == "jpeg_quality" else value) if u < probability else 0.0
    return out


def torso_rotation(rng: np.random.Generator, R: np.ndarray, distribution: str) -> np.ndarray:
    """Torso relative to the head (head frame): the torso turns part of the way with the head, neck ≤ 60°."""
    rotvec = Rotation.from_matrix(R).as_rotvec()
    angle = np.degrees(np.linalg.norm(rotvec))
    follow = rng.uniform(0.0, 0.6) if distribution == "biwi" else rng.uniform(0.6, 1.0)
    if angle > 0:
        follow = max(follow, 1.0 - 60.0 / angle)
    torso_cam = Rotation.from_rotvec(rotvec * follow) * Rotation.from_matrix(
        random_rotation_within(rng, 0, 8)
    )
    return (Rotation.from_matrix(R).inv() * torso_cam).as_matrix()


class PairSampler:
    """Pair parameters for a pose distribution and an anchor policy, deterministic by ``(seed, index)``."""

    def __init__(
        self,
        model: HeadModel,
        size: int = 224,
        poses: str = "biwi",
        anchor: str = "any",
        seed: int = 0,
        identities: tuple[int, int] = (0, 250),
        degrade: bool = True,
        same_expression: float = 0.5,
    ):
        if poses not in POSE_DISTRIBUTIONS:
            raise InputError(f"unknown pose distribution {poses!r}; choose from {POSE_DISTRIBUTIONS}")
        if anchor not in ANCHOR_POLICIES:
            raise InputError(f"unknown anchor policy {anchor!r}; choose from {ANCHOR_POLICIES}")
        if not 0 <= identities[0] < identities[1]:
            raise InputError(f"identity id range must be non-empty, got {identities}")
        self.model, self.size, self.poses, self.anchor, self.seed = model, size, poses, anchor, seed
        self.identities, self.degrade, self.same_expression = identities, degrade, same_expression
        self.face_points = FacePoints(model)

    def sample(self, index: int) -> PairParams:
        """The parameters of pair ``index``."""
        rng = np.random.default_rng([self.seed, index])
        identity_id = int(rng.integers(*self.identities))
        identity, skin = sample_identity(self.model, identity_id)
        appearance = sample_appearance(rng, self.model, skin, FACE_COVERING_HAIR + PROFILE_COVERING_HAIR)
        R_a, R_q = sample_pair_rotations(rng, self.poses, self.anchor)
        camera = sample_full_camera(rng)
        lighting = sample_lighting(rng)
        expression_a = sample_expression(rng, self.model, 0.5 if self.anchor == "neutral" else 1.0)
        same = rng.random() < self.same_expression
        expression_q = expression_a if same else sample_expression(rng, self.model)
        views = []
        for R, expression in ((R_a, expression_a), (R_q, expression_q)):
            face = self.face_points.posed(identity, expression)
            t, K, side = sample_camera(rng, R, self.size, camera, face)
            degradation = sample_degradation(rng) if self.degrade else {}
            views.append(
                ViewParams(
                    R,
                    t,
                    K,
                    side,
                    expression,
                    torso_rotation(rng, R, self.poses),
                    lighting,
                    int(rng.integers(2**31)),
                    degradation,
                )
            )
        return PairParams(index, identity_id, identity, appearance, *views)


def gap_deg(pair: PairParams) -> float:
    """Geodesic anchor–query rotation gap of a pair in degrees."""
    return float(geodesic_deg(pair.query.R, pair.anchor.R))
