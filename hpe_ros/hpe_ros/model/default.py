"""The embedded default model (``hpe_ros/models/default.safetensors``, described in ``models/MODEL_CARD.md``):
what every command runs when no model is named, and the check that a checkpoint's outputs are in the frame the
inference stack assumes."""

from __future__ import annotations

from pathlib import Path

from hpe_ros.errors import ModelFileError

DEFAULT_MODEL = "default"  # the --model value (and the default) naming the embedded model
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def default_model_path() -> Path:
    """Path of the embedded default checkpoint; ModelFileError when the installation lacks it."""
    path = MODELS_DIR / "default.safetensors"
    if not path.is_file():
        raise ModelFileError(
            f"the embedded default model {path} is missing from this installation: reinstall hpe_ros "
            "or pass --model PATH (.safetensors or .onnx)"
        )
    return path


def resolve_model(spec: str | Path | None) -> Path:
    """The model file a ``--model`` value names: ``None`` or ``default`` is the embedded model."""
    if spec is None or str(spec) == DEFAULT_MODEL:
        return default_model_path()
    return Path(spec)


def require_source_camera(path: str | Path) -> None:
    """Refuse a checkpoint trained in virtual crop cameras (``augment.virtual_camera``): its rotations are in
    the camera turned towards the crop centre, and the estimators and the tracker do not map them back yet,
    so they would be silently wrong by the crop's off-axis angle. ONNX exports carry no training flag
    and pass.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        return
    from hpe_ros.model.checkpoint_header import read_checkpoint_header

    _, meta = read_checkpoint_header(path)
    if meta.get("virtual_camera"):
        raise ModelFileError(
            f"{path} was trained with augment.virtual_camera=true (predictions in the crop-centre camera); "
            "the inference stack does not map those back yet: retrain with augment.virtual_camera=false"
        )
