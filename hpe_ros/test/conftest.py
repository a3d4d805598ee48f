"""Shared test fixtures: where the repository and the team's shared data are."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpe_ros.evaluate.paths import shared_dir

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
