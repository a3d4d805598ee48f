"""MediaPipe BlazeFace full-range face detector (the model ships inside the ``mediapipe==0.10.14`` wheel)."""

from __future__ import annotations

import warnings

import numpy as np

from hpe_ros.detect.base import Detection, clip_to_image
from hpe_ros.image import as_rgb_uint8

SHORT_RANGE, FULL_RANGE = 0, 1  # mediapipe's model_selection: faces within about 2 m / about 5 m


class BlazeFaceDetector:
    """Several faces per image with BlazeFace full-range (legacy ``mediapipe.solutions.face_detection``).

    The full-range model is ``modules/face_detection/face_detection_full_range_sparse.tflite`` inside the
    installed wheel; nothing is downloaded. Faces turned beyond about 60° of yaw are often missed, and
    on AFLW2000-3D's close-up faces (a face filling half of a 450-pixel image) the full-range model misses
    ~14 % of the faces that the short-range model (``model_selection=SHORT_RANGE``) finds.
    """

    name = "blazeface"

    def __init__(self, min_score: float = 0.5, model_selection: int = FULL_RANGE) -> None:
        from mediapipe.python.solutions import face_detection

        # mediapipe 0.10.14 calls a protobuf API deprecated in protobuf 4.x on every graph output; the warning
        # says nothing to our users and breaks up the progress bar.
        warnings.filterwarnings(
            "ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated", category=UserWarning
        )
        self.min_score = float(min_score)
        self.model_selection = model_selection
        self._detector = face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=self.min_score
        )

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image, best score first, boxes clipped to the image."""
        image = as_rgb_uint8(image_rgb)
        height, width = image.shape[:2]
        result = self._detector.process(image)
        detections = []
        for found in result.detections or []:
            rel = found.location_data.relative_bounding_box
            keypoints = np.array(
                [[k.x * width, k.y * height] for k in found.location_data.relative_keypoints],
                dtype=np.float64,
            )
            box = Detection(
                x0=rel.xmin * width,
                y0=rel.ymin * height,
                x1=(rel.xmin + rel.width) * width,
                y1=(rel.ymin + rel.height) * height,
                score=float(found.score[0]),
                keypoints=keypoints if len(keypoints) == 6 else None,
            )
            clipped = clip_to_image(box, width, height)
            if clipped is not None:
                detections.append(clipped)
        return sorted(detections, key=lambda d: d.score, reverse=True)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._detector.close()
