"""MediaPipe's face mesh with its face-presence output, on ONNX Runtime: is this crop an upright face?

The face-landmark network was trained on upright faces cut at MediaPipe's crop framing and answers a
face-presence logit beside its landmarks. On the AFLW2000-3D dev split (annotated boxes) the logit of the
crop turned to the face's own up is a median 24 at |yaw| < 30° and 22 at 30–60°, and falls below −4 with the
crop turned by a quarter or half turn; at 60–99° it is weak (median 2.5) in every direction. So it tells
which way is up (:mod:`hpe_ros.orientation`) and whether a detection is a face at all, for the price of
one face-mesh run per crop. The graph is emitted from the installed mediapipe wheel
(:mod:`hpe_ros.engine.tflite_onnx`); no torch.
"""

from __future__ import annotations

import numpy as np

from hpe_ros.engine.tflite_onnx import face_mesh_model
from hpe_ros.errors import InputError
from hpe_ros.model.config import FACE_MESH_INPUT_SIZE


class FaceMeshProbe:
    """Landmarks [N, 468, 3] (crop pixels) and face-presence logits [N] of face crops."""

    input_size = FACE_MESH_INPUT_SIZE

    def __init__(self, intra_op_threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        model = face_mesh_model(presence_output="presence")
        self._session = ort.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def probe(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(landmarks [N, 468, 3], presence logits [N]) of crops [N, 3, 192, 192] float RGB in [0, 1]."""
        images = np.ascontiguousarray(crops, dtype=np.float32)
        size = self.input_size
        if images.ndim != 4 or images.shape[1:] != (3, size, size) or len(images) == 0:
            raise InputError(f"face crops must be [N, 3, {size}, {size}], got {list(images.shape)}")
        landmarks, presence = self._session.run(["landmarks", "presence"], {"images": images})
        return landmarks, presence
