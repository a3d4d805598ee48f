"""FSA-Net baseline (Yang et al., CVPR 2019) from the ONNX export of omasaht/headpose-fsanet-pytorch (MIT).

Preprocessing as its authors' code does it (FSA-Net ``TYY_create_db_type1.py`` for the crop with ``ad=0.6``;
the PyTorch port's ``demo.py`` for the input): the tight face box is enlarged by 0.6 of its width and height
on each side and clipped to the image, the crop is resized to 64×64 without keeping its aspect ratio,
channels in BGR order, (pixel − 127.5) / 128, layout (1, 3, 64, 64). The 1x1 and var models' outputs (yaw,
pitch, roll in degrees, the AFLW2000 convention) are averaged.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hpe_ros.detect import Detection
from hpe_ros.errors import InputError, ModelFileError
from hpe_ros.geometry import head_rotation_from_aflw2000
from hpe_ros.image import as_rgb_uint8

INPUT_SIZE = 64
CROP_MARGIN = 0.6
PIXEL_MEAN = 127.5
PIXEL_SCALE = 1.0 / 128.0
MODEL_PATTERNS = ("fsanet-1x1*.onnx", "fsanet-var*.onnx")


def fsanet_input(image_rgb: np.ndarray, face: Detection) -> np.ndarray:
    """The (1, 3, 64, 64) float32 input FSA-Net expects for a face's tight box."""
    image = as_rgb_uint8(image_rgb)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = int(face.x0), int(face.y0), int(face.x1), int(face.y1)
    w, h = x1 - x0, y1 - y0
    x0, x1 = max(int(x0 - CROP_MARGIN * w), 0), min(int(x1 + CROP_MARGIN * w), width - 1)
    y0, y1 = max(int(y0 - CROP_MARGIN * h), 0), min(int(y1 + CROP_MARGIN * h), height - 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InputError(
            f"face box ({face.x0:.0f}, {face.y0:.0f}, {face.x1:.0f}, {face.y1:.0f}) is empty in the image"
        )
    crop = cv2.resize(image[y0:y1, x0:x1, ::-1], (INPUT_SIZE, INPUT_SIZE))
    blob = (crop.astype(np.float32) - PIXEL_MEAN) * PIXEL_SCALE
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None])


class FsaNetEstimator:
    """FSA-Net as an absolute pose estimator: the average of its 1x1 and var ONNX models."""

    name = "fsanet"

    def __init__(self, model_dir: str | Path) -> None:
        import onnxruntime as ort

        model_dir = Path(model_dir)
        paths = [sorted(model_dir.glob(pattern)) for pattern in MODEL_PATTERNS]
        if not all(paths):
            raise ModelFileError(
                f"FSA-Net models not found in {model_dir}: expected {' and '.join(MODEL_PATTERNS)}"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a 64×64 input: threads cost more than they bring
        self.model_paths = [found[0] for found in paths]
        try:
            self._sessions = [
                ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
                for p in self.model_paths
            ]
        except Exception as error:  # onnxruntime raises several unrelated types for unreadable files
            raise ModelFileError(f"cannot load the FSA-Net models in {model_dir}: {error}") from error

    def estimate_angles_deg(self, image_rgb: np.ndarray, face: Detection) -> np.ndarray:
        """FSA-Net's own output: (yaw, pitch, roll) in degrees, averaged over both models."""
        blob = fsanet_input(image_rgb, face)
        outputs = [
            session.run(None, {session.get_inputs()[0].name: blob})[0][0] for session in self._sessions
        ]
        return np.mean(outputs, axis=0)

    def estimate(self, image_rgb: np.ndarray, face: Detection) -> np.ndarray:
        """R_cam←head of the face."""
        yaw, pitch, roll = np.radians(self.estimate_angles_deg(image_rgb, face))
        return head_rotation_from_aflw2000(pitch, yaw, roll)
