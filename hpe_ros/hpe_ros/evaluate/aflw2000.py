"""AFLW2000-3D reader: images, ground-truth Euler angles and landmarks, the standard |angle| ≤ 99° subset.

Each image ``NAME.jpg`` has ``NAME.mat`` with ``Pose_Para[0][:3]`` = pitch, yaw, roll in radians, ``pt2d``
(2, 21) AFLW landmarks in pixels (missing ones marked by a non-positive coordinate) and ``pt3d_68`` (3, 68)
fitted 3-D landmarks whose first two rows are pixel positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from hpe_ros.errors import InputError

STANDARD_MAX_ABS_DEG = 99.0
# 0-based indices of the 68-point scheme (subject's right first) averaged into BlazeFace's six keypoints:
# right eye, left eye, nose tip, mouth centre, right and left ear tragion (approximated by the jaw's ends).
KEYPOINT_INDICES = (
    tuple(range(36, 42)),
    tuple(range(42, 48)),
    (30,),
    (62, 66),
    (0,),
    (16,),
)


@dataclass(frozen=True)
class AflwSample:
    """One AFLW2000-3D image and its annotation."""

    name: str
    image_path: Path
    pitch_yaw_roll: np.ndarray  # (3,) radians, the dataset's own convention
    pt2d: np.ndarray  # (2, K) visible AFLW landmarks in pixels (missing ones removed)
    pt3d_68: np.ndarray  # (3, 68) fitted landmarks, rows x, y in pixels and depth

    @property
    def angles_deg(self) -> np.ndarray:
        """Ground truth (pitch, yaw, roll) in degrees."""
        return np.degrees(self.pitch_yaw_roll)

    def landmark_box(self) -> tuple[float, float, float, float]:
        """The tight box (x0, y0, x1, y1) around the visible 2-D landmarks, in pixels."""
        (x0, y0), (x1, y1) = self.pt2d.min(axis=1), self.pt2d.max(axis=1)
        return float(x0), float(y0), float(x1), float(y1)

    def keypoints(self) -> np.ndarray:
        """BlazeFace's six keypoints (2, 6) in pixels from the fitted 68 landmarks (eye centres, nose tip,
        mouth centre, jaw ends for the ears): what a perfect detector would report."""
        return np.stack([self.pt3d_68[:2, list(group)].mean(axis=1) for group in KEYPOINT_INDICES], axis=1)


def read_split(path: str | Path) -> list[str]:
    """Image names listed one per line (extension optional, blank lines and ``#`` comments ignored)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"split file {path} does not exist")
    names = []
    for line in path.read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            names.append(Path(entry).stem)
    if not names:
        raise InputError(f"split file {path} lists no images")
    return names


def read_sample(data_dir: Path, name: str) -> AflwSample:
    """Read ``NAME.mat`` (and check that ``NAME.jpg`` exists) from an AFLW2000-3D folder."""
    mat_path, image_path = data_dir / f"{name}.mat", data_dir / f"{name}.jpg"
    if not mat_path.is_file() or not image_path.is_file():
        raise InputError(f"{data_dir} lacks {name}.jpg or {name}.mat")
    try:
        mat = scipy.io.loadmat(str(mat_path))
        pose = np.asarray(mat["Pose_Para"], dtype=np.float64).reshape(-1)[:3]
        pt2d = np.asarray(mat["pt2d"], dtype=np.float64)
        pt3d = np.asarray(mat["pt3d_68"], dtype=np.float64)
    except (ValueError, KeyError, OSError) as error:
        raise InputError(f"{mat_path} is not a readable AFLW2000-3D annotation: {error}") from error
    if pose.shape != (3,) or pt2d.ndim != 2 or pt2d.shape[0] != 2 or pt3d.shape != (3, 68):
        raise InputError(f"{mat_path}: unexpected shapes Pose_Para {pose.shape}, pt2d {pt2d.shape}")
    visible = pt2d[:, (pt2d[0] > 0) & (pt2d[1] > 0)]
    if visible.shape[1] < 2:
        raise InputError(f"{mat_path}: fewer than two visible 2-D landmarks")
    return AflwSample(name, image_path, pose, visible, pt3d)


def load_aflw2000(
    data_dir: str | Path, split: str | Path | None = None, max_abs_deg: float | None = STANDARD_MAX_ABS_DEG
) -> list[AflwSample]:
    """The samples of an AFLW2000-3D folder, sorted by name.

    ``split`` restricts them to the names a file lists; ``max_abs_deg`` keeps the standard subset (all three
    |angles| ≤ 99°, 1969 of the 2000 images); None keeps every image.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError(f"AFLW2000-3D folder {data_dir} does not exist")
    names = read_split(split) if split is not None else sorted(p.stem for p in data_dir.glob("*.mat"))
    if not names:
        raise InputError(f"{data_dir} holds no AFLW2000-3D annotations (*.mat)")
    missing = [n for n in names if not (data_dir / f"{n}.mat").is_file()]
    if missing:
        raise InputError(f"{len(missing)} images of the split are not in {data_dir}, e.g. {missing[:3]}")
    samples = [read_sample(data_dir, name) for name in sorted(names)]
    if max_abs_deg is None:
        return samples
    return [s for s in samples if np.all(np.abs(s.angles_deg) <= max_abs_deg)]


def read_image_rgb(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); InputError when it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
