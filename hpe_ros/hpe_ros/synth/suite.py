"""The ground-truth video suite: scripted clips of held-out heads, rendered like the bundled demo clip.

Each clip is a :class:`SuiteClip`: a smooth pose script (keyframes of BIWI yaw, pitch, roll in degrees, cosine
eased; equal neighbours make a still segment) plus optional events: talking expressions, a hand-like occluder
passing over the face, a second person crossing behind, a lighting change. Everything is a pure function of
the script, so ``hpe synth suite --out DIR`` regenerates the same files. Per clip: ``<name>.mp4``,
``<name>_gt.csv`` (the demo clip's ground-truth columns, of the scored person) and ``<name>_camera.yaml``;
``suite.json`` lists the clips with their tags. The bundled demo clip is the suite's smallest member; it is
listed by path and never regenerated.

What the renderer cannot do, and so the suite does not: hands are 2-D skin-coloured shapes composited in the
image (no 3-D hand), the crossing person is composited by whole-body depth order (always behind), and lighting
changes are in the renderer's light model (direction, colour, ambient), not exposure or white balance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.geometry import head_rotation_from_biwi
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.synth.clip import (
    CAMERA_NAME,
    DEMO_CLIP_DIR,
    GT_NAME,
    VIDEO_NAME,
    ClipFrame,
    ClipRenderer,
    ClipSpec,
    camera_info_yaml,
    clip_camera,
    write_ground_truth,
)
from hpe_ros.synth.renderer import Lighting
from hpe_ros.synth.sampler import EVAL_IDENTITY_BASE, sample_appearance, sample_identity

MANIFEST_NAME = "suite.json"
SUITE_IDENTITY_BASE = EVAL_IDENTITY_BASE + 5000
SKIN_RGB = (198, 150, 125)
Keyframe = tuple[float, float, float, float]
"""(time s, yaw, pitch, roll) in degrees, BIWI convention."""


@dataclass(frozen=True)
class SuiteClip:
    """One scripted clip of the suite."""

    name: str
    keyframes: tuple[Keyframe, ...]
    tags: tuple[str, ...]
    seed: int
    talking: bool = False
    occluder: tuple[float, float] | None = None
    """(start s, end s) of a hand passing over the face."""
    crossing: tuple[float, float] | None = None
    """(start s, end s) of a second person walking across behind."""
    lighting_change: tuple[float, float] | None = None
    """(start s, end s) over which the key light swings and dims."""
    offset_m: tuple[float, float] = (0.0, 0.0)
    """(right, down) offset of the head centre from the optical axis, metres at the clip's distance."""

    @property
    def seconds(self) -> float:
        return self.keyframes[-1][0]

    def spec(self) -> ClipSpec:
        """The demo clip's camera and rendering settings with this clip's length, identity and seed."""
        return ClipSpec(
            seconds=self.seconds,
            identity=SUITE_IDENTITY_BASE + self.seed,
            seed=self.seed,
            supersample=2,
        )


def _sweep(amplitude: float, period_s: float, seconds: float, still_s: float, axis: int) -> tuple:
    """Keyframes: still, then ±amplitude on one axis (0 yaw, 1 pitch, 2 roll) every half period, still end."""
    keys: list[Keyframe] = [(0.0, 0.0, 0.0, 0.0), (still_s, 0.0, 0.0, 0.0)]
    t, sign = still_s, 1.0
    while t + period_s / 2 <= seconds - still_s:
        t += period_s / 2
        angles = [0.0, 0.0, 0.0]
        angles[axis] = sign * amplitude
        keys.append((t, *angles))
        sign = -sign
    keys += [(seconds - still_s / 2, 0.0, 0.0, 0.0), (seconds, 0.0, 0.0, 0.0)]
    return tuple(keys)


SUITE: tuple[SuiteClip, ...] = (
    SuiteClip("yaw_slow", _sweep(90.0, 6.0, 14.0, 1.0, 0), ("sweep", "still", "profile"), 1),
    SuiteClip("yaw_fast", _sweep(90.0, 2.0, 10.0, 1.0, 0), ("sweep", "fast", "profile"), 15),
    SuiteClip("pitch", _sweep(40.0, 3.0, 10.0, 1.0, 1), ("sweep",), 3),
    SuiteClip("roll", _sweep(45.0, 3.0, 10.0, 1.0, 2), ("sweep",), 4),
    SuiteClip(
        "upside_down",
        ((0, 0, 0, 0), (1.5, 0, 0, 0), (4.5, 0, 0, 180), (6.5, 0, 0, 180), (9, 0, 0, 0), (10, 0, 0, 0)),
        ("roll", "upside_down"),
        5,
    ),
    SuiteClip(
        "still_poses",
        ((0, 0, -5, 0), (2.5, 0, -5, 0), (3.5, 35, 0, 0), (6, 35, 0, 0), (7, 70, 5, 5), (10, 70, 5, 5)),
        ("still", "profile"),
        6,
    ),
    SuiteClip(
        "talking",
        ((0, 0, 0, 0), (2, 0, 0, 0), (4, 30, -10, 5), (6, -30, 5, -5), (8, 0, 0, 0), (10, 0, 0, 0)),
        ("talking", "still"),
        7,
        talking=True,
    ),
    SuiteClip(
        "occluder",
        ((0, 0, 0, 0), (1.5, 0, 0, 0), (4, 45, 0, 0), (6.5, -45, 0, 0), (8.5, 0, 0, 0), (10, 0, 0, 0)),
        ("occluder", "sweep"),
        8,
        occluder=(3.0, 6.0),
    ),
    SuiteClip(
        "crossing",
        ((0, 0, 0, 0), (2, 0, 0, 0), (5, 40, 10, 0), (8, -40, -10, 0), (10, 0, 0, 0), (12, 0, 0, 0)),
        ("crossing", "still"),
        13,
        crossing=(2.0, 9.0),
    ),
    SuiteClip(
        "lighting",
        ((0, 0, 0, 0), (2, 0, 0, 0), (5, 50, -15, 10), (8, -50, 10, -10), (10, 0, 0, 0)),
        ("lighting", "still"),
        10,
        lighting_change=(1.0, 9.0),
    ),
    SuiteClip(
        "profile_holds",
        (
            (0, 0, 0, 0),
            (1, 0, 0, 0),
            (3, 80, 0, 0),
            (5, 80, 0, 0),
            (7, -80, 0, 0),
            (9, -80, 0, 0),
            (10, 0, 0, 0),
        ),
        ("profile", "still", "sweep"),
        11,
    ),
    SuiteClip(  # 20 deg right of the axis: faces the camera (yaw 20), then the axis' direction, then turns
        "off_axis",
        (
            (0, 20, 0, 0),
            (2, 20, 0, 0),
            (3.5, 0, 0, 0),
            (5, 0, 0, 0),
            (7, 60, 5, 0),
            (8.5, 60, 5, 0),
            (10.5, -30, -10, 0),
            (12, 20, 0, 0),
            (13, 20, 0, 0),
        ),
        ("off_axis", "still", "sweep"),
        14,
        offset_m=(0.33, 0.0),
    ),
    SuiteClip(
        "mixed",
        (
            (0, 0, 0, 0),
            (1, 0, 0, 0),
            (3, 60, 25, 20),
            (5, -70, -30, -25),
            (6.5, -70, -30, -25),
            (8.5, 85, 10, 30),
            (10, 0, 0, 0),
            (11, 0, 0, 0),
        ),
        ("sweep", "profile", "still"),
        12,
    ),
)


def clip_angles(clip: SuiteClip, time_s: float) -> np.ndarray:
    """(yaw, pitch, roll) in degrees at ``time_s``: cosine easing between the script's keyframes."""
    keys = np.asarray(clip.keyframes, float)
    time_s = float(np.clip(time_s, keys[0, 0], keys[-1, 0]))
    i = int(np.clip(np.searchsorted(keys[:, 0], time_s, side="right") - 1, 0, len(keys) - 2))
    span = keys[i + 1, 0] - keys[i, 0]
    u = 0.0 if span <= 0 else (time_s - keys[i, 0]) / span
    ease = 0.5 - 0.5 * np.cos(np.pi * u)
    return keys[i, 1:] + ease * (keys[i + 1, 1:] - keys[i, 1:])


def suite_trajectory(clip: SuiteClip) -> list[ClipFrame]:
    """Ground truth of every frame: the scripted rotation, the head centre still at the demo distance (off
    the axis by the clip's offset)."""
    spec = clip.spec()
    centre = np.array([*clip.offset_m, spec.distance_m])
    frames = []
    for index in range(spec.frames):
        time_s = index / spec.fps
        R = head_rotation_from_biwi(*clip_angles(clip, time_s))
        frames.append(ClipFrame(index, round(time_s * 1e9), R, centre - R @ HEAD_CENTRE_M))
    return frames


def talking_expression(model_targets: list[str], time_s: float) -> dict[str, float]:
    """Speech-like mouth and jaw motion (~3 syllables/s) with occasional brow raises."""
    by_unit = {name.rsplit("/", 1)[-1]: name for name in model_targets}
    syllable = 0.5 - 0.5 * np.cos(2 * np.pi * 3.1 * time_s)
    weights = {
        "mouth-open": 0.8 * syllable,
        "mouth-corner-puller": 0.4 * (0.5 - 0.5 * np.cos(2 * np.pi * 0.4 * time_s)),
        "mouth-pursing": 0.3 * (0.5 - 0.5 * np.cos(2 * np.pi * 1.3 * time_s + 1.0)),
        "eyebrows-left-up": 0.5 * max(np.sin(2 * np.pi * 0.3 * time_s), 0.0),
        "eyebrows-right-up": 0.5 * max(np.sin(2 * np.pi * 0.3 * time_s), 0.0),
    }
    return {by_unit[unit]: float(w) for unit, w in weights.items() if unit in by_unit and w > 1e-3}


def window(time_s: float, span: tuple[float, float] | None) -> float | None:
    """Progress 0..1 of ``time_s`` through ``span`` (None outside it or without one)."""
    if span is None or not span[0] <= time_s <= span[1]:
        return None
    return (time_s - span[0]) / (span[1] - span[0])


def draw_hand(image: np.ndarray, centre_px: np.ndarray, scale_px: float, angle_deg: float) -> np.ndarray:
    """A flat skin-coloured palm with four fingers and a thumb, softly edged, pasted at ``centre_px``."""
    mask = np.zeros(image.shape[:2], np.uint8)
    c = np.asarray(centre_px, float)
    turn = np.radians(angle_deg)
    along, across = np.array([np.sin(turn), -np.cos(turn)]), np.array([np.cos(turn), np.sin(turn)])

    def ellipse(offset: np.ndarray, axes: tuple[float, float], extra_deg: float = 0.0) -> None:
        point = tuple(int(v) for v in c + offset)
        size = (max(int(axes[0]), 1), max(int(axes[1]), 1))
        cv2.ellipse(mask, point, size, angle_deg + extra_deg, 0, 360, 255, -1)

    ellipse(np.zeros(2), (0.42 * scale_px, 0.5 * scale_px))
    for k in range(4):
        offset = along * 0.75 * scale_px + across * (k - 1.5) * 0.22 * scale_px
        ellipse(offset, (0.09 * scale_px, 0.38 * scale_px))
    ellipse(across * 0.5 * scale_px, (0.1 * scale_px, 0.3 * scale_px), -40.0)
    alpha = cv2.GaussianBlur(mask, (0, 0), 1.2)[:, :, None].astype(np.float32) / 255.0
    shade = 0.75 + 0.25 * np.linspace(0, 1, image.shape[0])[:, None, None]
    hand = np.asarray(SKIN_RGB, np.float32) * shade
    return np.clip(image * (1 - alpha) + hand * alpha, 0, 255).astype(np.uint8)


def lighting_at(base: Lighting, progress: float | None) -> Lighting:
    """The clip light while the key light swings from the left to the right and dims to 40 % half-way."""
    if progress is None:
        return base
    swing = np.radians(-60.0 + 120.0 * progress)
    key = (float(np.sin(swing)), 0.2, float(np.cos(swing)))
    dim = 1.0 - 0.6 * np.sin(np.pi * progress)
    colours = tuple(tuple(dim * v for v in colour) for colour in base.colours)
    ambient = tuple(max(0.12, dim * v) for v in base.ambient)
    return Lighting(ambient, (key, *base.directions[1:]), colours, base.shadows)


class SuiteRenderer(ClipRenderer):
    """The demo clip's renderer plus the suite's events (expressions, hand, second person, light)."""

    def __init__(self, clip: SuiteClip, cache: str | os.PathLike | None = None) -> None:
        super().__init__(clip.spec(), cache)
        self.clip = clip
        self.other = None
        if clip.crossing is not None:
            rng = np.random.default_rng([clip.seed, 99])
            identity, skin = sample_identity(self.model, SUITE_IDENTITY_BASE + 1000 + clip.seed)
            self.other = (identity, sample_appearance(rng, self.model, skin))

    def render(self, frame: ClipFrame) -> np.ndarray:
        """RGB uint8 (height, width, 3) full frame with the clip's events at this time."""
        from hpe_ros.synth.degrade import composite

        time_s = frame.index / self.spec.fps
        expression = talking_expression(self.model.expression_targets, time_s) if self.clip.talking else {}
        light = lighting_at(self.lighting, window(time_s, self.clip.lighting_change))
        K = self.square_intrinsics()
        torso = frame.R.T @ Rotation.from_rotvec(0.3 * Rotation.from_matrix(frame.R).as_rotvec()).as_matrix()
        image = self.background
        crossing = window(time_s, self.clip.crossing)
        if crossing is not None and self.other is not None:
            R_other = head_rotation_from_biwi(-70.0 + 140.0 * crossing, 0.0, 0.0)
            x = -0.7 + 1.4 * crossing
            t_other = np.array([x, 0.03, 1.5]) - R_other @ HEAD_CENTRE_M
            parts = self.model.build(self.other[0], {}, self.other[1])
            image = composite(self.renderer.render(parts, K, R_other, t_other, light), image)
        parts = self.model.build(self.identity, expression, self.appearance, torso)
        image = composite(self.renderer.render(parts, K, frame.R, frame.t, light), image)
        occluding = window(time_s, self.clip.occluder)
        if occluding is not None:
            face = K @ (frame.R @ np.array([0.0, 0.05, 0.0]) + frame.t)
            centre = face[:2] / face[2] + np.array([(occluding - 0.5) * 260.0, 40.0])
            image = draw_hand(image, centre, 0.105 * K[0, 0] / frame.t[2], 20.0 * np.sin(6 * occluding))
        rows, cols = self.offset
        return np.ascontiguousarray(image[rows : rows + self.spec.height, cols : cols + self.spec.width])


@dataclass
class SuiteEntry:
    """One clip of a rendered suite, as listed in ``suite.json``."""

    name: str
    video: Path
    ground_truth: Path
    camera: Path
    tags: tuple[str, ...] = field(default_factory=tuple)


def demo_entry() -> SuiteEntry:
    """The bundled demo clip as a suite member (a sweep with a still start)."""
    return SuiteEntry(
        "demo",
        DEMO_CLIP_DIR / VIDEO_NAME,
        DEMO_CLIP_DIR / GT_NAME,
        DEMO_CLIP_DIR / CAMERA_NAME,
        ("sweep", "still"),
    )


def render_clip(clip: SuiteClip, out: Path, cache=None, progress: bool = True) -> SuiteEntry:
    """Render one suite clip into ``out`` (mp4v video, ground-truth CSV, camera YAML)."""
    from tqdm import tqdm

    spec = clip.spec()
    entry = SuiteEntry(
        clip.name,
        out / f"{clip.name}.mp4",
        out / f"{clip.name}_gt.csv",
        out / f"{clip.name}_camera.yaml",
        clip.tags,
    )
    frames = suite_trajectory(clip)
    K = clip_camera(spec)
    partial = entry.video.with_suffix(".partial.mp4")
    writer = cv2.VideoWriter(
        str(partial), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.width, spec.height)
    )
    if not writer.isOpened():
        raise InputError(f"cannot write {partial} (OpenCV has no mp4v encoder here)")
    renderer = SuiteRenderer(clip, cache)
    try:
        for frame in tqdm(frames, desc=clip.name, unit="frame", disable=not progress):
            writer.write(np.ascontiguousarray(renderer.render(frame)[:, :, ::-1]))
    finally:
        writer.release()
        renderer.close()
    write_ground_truth(entry.ground_truth, frames, K)
    entry.camera.write_text(camera_info_yaml(K, spec.width, spec.height))
    partial.replace(entry.video)  # a clip is listed as done only once its video is complete
    return entry


def write_manifest(out: Path, entries: list[SuiteEntry]) -> Path:
    """``suite.json``: every clip with its files (relative to ``out`` when inside it) and tags."""

    def name(path: Path) -> str:
        return str(path.relative_to(out)) if path.is_relative_to(out) else str(path)

    clips = [
        {
            "name": e.name,
            "video": name(e.video),
            "ground_truth": name(e.ground_truth),
            "camera": name(e.camera),
            "tags": list(e.tags),
        }
        for e in entries
    ]
    path = out / MANIFEST_NAME
    path.write_text(json.dumps({"clips": clips}, indent=2) + "\n")
    return path


def write_suite(
    out_dir: str | Path,
    names: list[str] | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    seconds: float | None = None,
) -> list[SuiteEntry]:
    """Render the suite (or the named clips) into ``out_dir``; clips already rendered there are kept.

    ``seconds`` cuts every script to that length (a quick subset for tests); the demo clip is always listed.
    """
    known = {clip.name: clip for clip in SUITE}
    unknown = sorted(set(names or ()) - set(known) - {"demo"})
    if unknown:
        raise InputError(f"unknown suite clips {', '.join(unknown)}; choose from demo, {', '.join(known)}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the suite folder {out}: {error}") from None
    entries = [demo_entry()]
    for clip in SUITE:
        if names and clip.name not in names:
            continue
        if seconds is not None:
            clip = shortened(clip, seconds)
        video = out / f"{clip.name}.mp4"
        if video.is_file() and (out / f"{clip.name}_gt.csv").is_file():
            entries.append(
                SuiteEntry(
                    clip.name, video, out / f"{clip.name}_gt.csv", out / f"{clip.name}_camera.yaml", clip.tags
                )
            )
            continue
        entries.append(render_clip(clip, out, cache, progress))
        write_manifest(out, entries)
    write_manifest(out, entries)
    return entries


def shortened(clip: SuiteClip, seconds: float) -> SuiteClip:
    """``clip`` with its script cut at ``seconds`` (the pose there becomes the last keyframe)."""
    if seconds >= clip.seconds:
        return clip
    keys = [k for k in clip.keyframes if k[0] < seconds]
    keys.append((seconds, *clip_angles(clip, seconds).tolist()))
    return SuiteClip(**{**clip.__dict__, "keyframes": tuple(keys)})


def read_manifest(suite_dir: str | Path) -> list[SuiteEntry]:
    """The clips of a rendered suite (``suite.json``), checking that their files exist."""
    root = Path(suite_dir)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise InputError(
            f"{root} holds no {MANIFEST_NAME}; render the suite with `hpe synth suite --out {root}`"
        )
    try:
        clips = json.loads(path.read_text())["clips"]
        entries = [
            SuiteEntry(
                c["name"],
                *(root / c[key] for key in ("video", "ground_truth", "camera")),
                tuple(c.get("tags", ())),
            )
            for c in clips
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path} is not a suite manifest: {error}") from None
    missing = [str(p) for e in entries for p in (e.video, e.ground_truth, e.camera) if not p.is_file()]
    if missing:
        raise InputError(f"suite files missing: {', '.join(missing[:4])}")
    return entries
