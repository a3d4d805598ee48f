"""A user-supplied ONNX face detector of the Ultra-Light-Fast-Generic-Face-Detector family (e.g. RFB-320).

Contract of such a model: one input (1, 3, H, W) float, RGB normalised as (pixel - 127) / 128; two outputs,
``scores`` (1, N, 2) softmaxed [background, face] and ``boxes`` (1, N, 4) already decoded to corner form
(x0, y0, x1, y1) as fractions of the input size. The detector rescales boxes to the image and runs NMS.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hpe_ros.detect.base import Detection, clip_to_image
from hpe_ros.errors import ModelFileError
from hpe_ros.image import as_rgb_uint8

PIXEL_MEAN = 127.0
PIXEL_SCALE = 1.0 / 128.0


class OnnxFaceDetector:
    """Faces from an RFB-320-style ONNX detector: score threshold, then non-maximum suppression."""

    name = "onnx"

    def __init__(
        self, model_path: str | Path, min_score: float = 0.7, nms_iou: float = 0.3, max_faces: int = 50
    ) -> None:
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise ModelFileError(f"ONNX face detector {path} does not exist")
        options = ort.SessionOptions()
        options.log_severity_level = (
            3  # the RFB-320 export lists its weights as graph inputs: silence the warnings
        )
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises several unrelated types for unreadable files
            raise ModelFileError(f"cannot load ONNX face detector {path}: {error}") from error
        inputs = self._session.get_inputs()
        outputs = {o.name for o in self._session.get_outputs()}
        shape = inputs[0].shape if len(inputs) == 1 else None
        if (
            shape is None
            or len(shape) != 4
            or not all(isinstance(s, int) for s in shape[2:])
            or shape[1] != 3
        ):
            raise ModelFileError(
                f"{path}: expected one input of shape (1, 3, H, W), got {[i.shape for i in inputs]}"
            )
        if not {"scores", "boxes"} <= outputs:
            raise ModelFileError(
                f"{path}: expected outputs named 'scores' and 'boxes', got {sorted(outputs)}"
            )
        self._input_name = inputs[0].name
        self.input_size = (int(shape[3]), int(shape[2]))  # (width, height)
        self.min_score = float(min_score)
        self.nms_iou = float(nms_iou)
        self.max_faces = int(max_faces)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image, best score first, boxes in image pixels clipped to the image."""
        image = as_rgb_uint8(image_rgb)
        height, width = image.shape[:2]
        blob = (cv2.resize(image, self.input_size).astype(np.float32) - PIXEL_MEAN) * PIXEL_SCALE
        scores, boxes = self._session.run(
            ["scores", "boxes"], {self._input_name: blob.transpose(2, 0, 1)[None]}
        )
        face_scores = scores[0, :, 1]
        keep = face_scores >= self.min_score
        pixel_boxes = boxes[0, keep] * np.array([width, height, width, height], dtype=np.float32)
        kept_scores = face_scores[keep]
        if len(kept_scores) == 0:
            return []
        xywh = np.column_stack([pixel_boxes[:, :2], pixel_boxes[:, 2:] - pixel_boxes[:, :2]])
        chosen = cv2.dnn.NMSBoxes(xywh.tolist(), kept_scores.tolist(), self.min_score, self.nms_iou)
        detections = []
        for index in np.asarray(chosen, dtype=int).reshape(-1)[: self.max_faces]:
            x0, y0, x1, y1 = (float(v) for v in pixel_boxes[index])
            clipped = clip_to_image(Detection(x0, y0, x1, y1, float(kept_scores[index])), width, height)
            if clipped is not None:
                detections.append(clipped)
        return sorted(detections, key=lambda d: d.score, reverse=True)
