"""The bundled demo clip: a held-out synthetic head turning before a fixed pinhole camera, with its truth.

Full frames (default 640×480, 15 fps, 8 s) from a camera with known K; the head holds still for the first
``still_s`` seconds (frame-to-frame jitter is measured there), then turns through yaw ±60° with pitch and roll
variations. Per frame the ground truth is R_cam←head, t_cam←head (head frame and optical camera axes as in
:mod:`hpe_ros.geometry`; origin at the sellion) and K. Everything is a pure function of :class:`ClipSpec`.

Files (``write_clip``): ``demo_clip.mp4`` (mp4v), ``demo_clip_gt.csv`` (frame, stamp_ns, r00..r22, tx, ty, tz,
fx, fy, cx, cy) and ``demo_clip_camera.yaml`` (ROS camera_info YAML, read by ``hpe track --calibration``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.geometry import head_rotation_from_biwi
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.synth.sampler import EVAL_IDENTITY_BASE, sample_appearance, sample_identity

DEMO_CLIP_DIR = Path(__file__).resolve().parent.parent / "assets"
VIDEO_NAME, GT_NAME, CAMERA_NAME = "demo_clip.mp4", "demo_clip_gt.csv", "demo_clip_camera.yaml"
GT_FIELDS = ("frame", "stamp_ns", *(f"r{i}{j}" for i in range(3) for j in range(3)), "tx", "ty", "tz")
GT_FIELDS += ("fx", "fy", "cx", "cy")


@dataclass(frozen=True)
class ClipSpec:
    """What the clip shows; the defaults make the bundled clip."""

    seconds: float = 8.0
    fps: float = 15.0
    width: int = 640
    height: int = 480
    focal_px: float = 560.0  # horizontal field of view ~59.5° at 640 px
    still_s: float = 1.5
    distance_m: float = 0.9
    identity: int = EVAL_IDENTITY_BASE + 4242  # held out of training by construction
    seed: int = 7
    supersample: int = 1

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)


@dataclass
class ClipFrame:
    """Ground truth of one frame."""

    index: int
    stamp_ns: int
    R: np.ndarray  # R_cam←head
    t: np.ndarray  # t_cam←head, metres


def clip_camera(spec: ClipSpec) -> np.ndarray:
    """The clip camera's K (square pixels, principal point at the image centre)."""
    return np.array(
        [
            [spec.focal_px, 0.0, (spec.width - 1) / 2],
            [0.0, spec.focal_px, (spec.height - 1) / 2],
            [0.0, 0.0, 1.0],
        ]
    )


def clip_angles_deg(spec: ClipSpec, time_s: float) -> tuple[float, float, float]:
    """BIWI (yaw, pitch, roll) in degrees at ``time_s``: still, then a yaw sweep through ±60°, nods, tilts."""
    if time_s <= spec.still_s:
        return 0.0, -5.0, 0.0
    u = (time_s - spec.still_s) / (spec.seconds - spec.still_s)
    ramp = min(u / 0.08, 1.0)  # ease in, so the motion starts smoothly after the still segment
    yaw = 60.0 * np.sin(2 * np.pi * u) * ramp
    pitch = -5.0 + 20.0 * np.sin(4 * np.pi * u) * ramp
    roll = 15.0 * np.sin(3 * np.pi * u) * ramp
    return float(yaw), float(pitch), float(roll)


def clip_trajectory(spec: ClipSpec) -> list[ClipFrame]:
    """Ground truth of every frame (the head centre drifts a few cm sideways while it turns)."""
    frames = []
    for index in range(spec.frames):
        time_s = index / spec.fps
        R = head_rotation_from_biwi(*clip_angles_deg(spec, time_s))
        drift = max(time_s - spec.still_s, 0.0) / (spec.seconds - spec.still_s)
        centre = np.array([0.06 * np.sin(np.pi * drift), 0.02 * np.sin(2 * np.pi * drift), spec.distance_m])
        frames.append(ClipFrame(index, round(time_s * 1e9), R, centre - R @ HEAD_CENTRE_M))
    return frames


class ClipRenderer:
    """Renders the frames of a clip: one identity, outfit, light and background for the whole clip."""

    def __init__(self, spec: ClipSpec, cache: str | os.PathLike | None = None) -> None:
        from hpe_ros.synth.backgrounds import random_background
        from hpe_ros.synth.generator import shared_backgrounds, shared_model
        from hpe_ros.synth.renderer import Lighting, Renderer

        self.spec = spec
        self.model = shared_model(None if cache is None else str(cache))
        rng = np.random.default_rng([spec.seed, spec.identity])
        self.identity, skin = sample_identity(self.model, spec.identity)
        self.appearance = sample_appearance(rng, self.model, skin)
        self.side = max(spec.width, spec.height)  # the renderer draws squares: render one, cut the frame
        self.background = random_background(rng, self.side, list(shared_backgrounds()))
        self.lighting = Lighting(
            ambient=(0.3, 0.3, 0.32),
            directions=((0.4, 0.3, 1.0), (-0.7, 0.1, 0.8)),
            colours=((0.85, 0.82, 0.78), (0.25, 0.27, 0.3)),
            shadows=True,
        )
        self.renderer = Renderer(self.model.cache, self.side, spec.supersample)
        self.offset = ((self.side - spec.height) // 2, (self.side - spec.width) // 2)  # rows, columns cut

    def square_intrinsics(self) -> np.ndarray:
        """K of the square render whose centre part is the frame."""
        K = clip_camera(self.spec)
        K[0, 2] += self.offset[1]
        K[1, 2] += self.offset[0]
        return K

    def parts(self, frame: ClipFrame):
        """Mesh parts of a frame (the torso turns 30 % of the way with the head)."""
        rotvec = Rotation.from_matrix(frame.R).as_rotvec()
        torso = frame.R.T @ Rotation.from_rotvec(0.3 * rotvec).as_matrix()
        return self.model.build(self.identity, {}, self.appearance, torso)

    def render(self, frame: ClipFrame) -> np.ndarray:
        """RGB uint8 (height, width, 3) full frame."""
        from hpe_ros.synth.degrade import composite

        rgba = self.renderer.render(
            self.parts(frame), self.square_intrinsics(), frame.R, frame.t, self.lighting
        )
        image = composite(rgba, self.background)
        rows, cols = self.offset
        return np.ascontiguousarray(image[rows : rows + self.spec.height, cols : cols + self.spec.width])

    def close(self) -> None:
        """Release the GL context."""
        self.renderer.release()


def write_ground_truth(path: Path, frames: list[ClipFrame], K: np.ndarray) -> None:
    """The per-frame ground-truth CSV (:data:`GT_FIELDS`)."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(GT_FIELDS)
        for f in frames:
            values = [*f.R.reshape(-1), *f.t, K[0, 0], K[1, 1], K[0, 2], K[1, 2]]
            writer.writerow([f.index, f.stamp_ns, *(f"{v:.9g}" for v in values)])


def read_ground_truth(path: str | Path) -> tuple[list[ClipFrame], np.ndarray]:
    """(frames, K of the first row) from a ground-truth CSV written by :func:`write_ground_truth`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ground-truth file {path} does not exist")
    with path.open(newline="", errors="replace") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
        missing = [name for name in GT_FIELDS if name not in (reader.fieldnames or ())]
    if missing or not rows:
        problem = f"lacks the columns {', '.join(missing)}" if missing else "has no rows"
        raise InputError(f"ground-truth file {path} {problem} (expected: {', '.join(GT_FIELDS)})")
    try:
        frames = [
            ClipFrame(
                int(row["frame"]),
                int(row["stamp_ns"]),
                np.array([float(row[f"r{i}{j}"]) for i in range(3) for j in range(3)]).reshape(3, 3),
                np.array([float(row[k]) for k in ("tx", "ty", "tz")]),
            )
            for row in rows
        ]
        fx, fy, cx, cy = (float(rows[0][k]) for k in ("fx", "fy", "cx", "cy"))
    except (ValueError, TypeError) as error:
        raise InputError(f"ground-truth file {path} has a non-numeric value: {error}") from None
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return frames, K


def camera_info_yaml(K: np.ndarray, width: int, height: int) -> str:
    """A ROS camera_info YAML (camera_calibration format, no distortion) for ``K``."""
    P = np.hstack([K, np.zeros((3, 1))])
    info = {
        "image_width": int(width),
        "image_height": int(height),
        "camera_name": "hpe_demo_clip",
        "camera_matrix": {"rows": 3, "cols": 3, "data": [float(v) for v in K.reshape(-1)]},
        "distortion_model": "plumb_bob",
        "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.0] * 5},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": [float(v) for v in np.eye(3).reshape(-1)]},
        "projection_matrix": {"rows": 3, "cols": 4, "data": [float(v) for v in P.reshape(-1)]},
    }
    return yaml.safe_dump(info, sort_keys=False, default_flow_style=None)


def write_clip(
    out_dir: str | Path,
    spec: ClipSpec | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Render the clip into ``out_dir``: mp4, ground-truth CSV and camera YAML; returns their paths."""
    from tqdm import tqdm

    spec = spec or ClipSpec()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the clip folder {out}: {error}") from None
    paths = {"video": out / VIDEO_NAME, "ground_truth": out / GT_NAME, "camera": out / CAMERA_NAME}
    frames = clip_trajectory(spec)
    K = clip_camera(spec)
    writer = cv2.VideoWriter(
        str(paths["video"]), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.width, spec.height)
    )
    if not writer.isOpened():
        raise InputError(f"cannot write {paths['video']} (OpenCV has no mp4v encoder here)")
    renderer = ClipRenderer(spec, cache)
    try:
        for frame in tqdm(frames, desc="demo clip", unit="frame", disable=not progress):
            writer.write(np.ascontiguousarray(renderer.render(frame)[:, :, ::-1]))
    finally:
        writer.release()
        renderer.close()
    write_ground_truth(paths["ground_truth"], frames, K)
    paths["camera"].write_text(camera_info_yaml(K, spec.width, spec.height))
    return paths
