"""Where the team's shared evaluation material lives (never inside the repository)."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    """``$HPE_SHARED``, else the folder ``shared`` beside the repository root (for an editable install)."""
    env = os.environ.get("HPE_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared"
