"""A chosen reference per face ("look at the robot" calibration), kept beside the pose, never inside it.

Published poses stay camera-frame R_cam←head. Calibrating a face records its current head rotation as the
reference R_cam←ref (its own TF frame on the node); an application then asks "is this person looking at me?"
from R_ref←head = R_cam←refᵀ · R_cam←head, whatever a dataset's idea of frontal is. A face is calibrated on
request (``hpe track --calibrate-on-frame N``, the node's Trigger service) or, with ``auto``, on its first
confident near-frontal frame. Calibration changes the reference frame and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpe_ros.config import Checked, param
from hpe_ros.geometry import geodesic_deg


@dataclass
class ReferenceConfig(Checked):
    """When a face's reference is set automatically."""

    auto: bool = param(False, "Set each face's reference on its first confident near-frontal frame.")
    auto_max_deg: float = param(
        15.0, "Automatic calibration: largest angle (deg) of the head to frontal.", minimum=0.0, maximum=180.0
    )
    auto_min_confidence: float = param(
        0.5, "Automatic calibration: least pose confidence (0..1).", minimum=0.0, maximum=1.0
    )


class FaceReference:
    """The reference of one face: unset until requested or automatically chosen."""

    def __init__(self, config: ReferenceConfig) -> None:
        self.config = config
        self.rotation: np.ndarray | None = None
        """R_cam←ref, None until calibrated."""
        self.requested = False

    def update(self, rotation: np.ndarray, confidence: float) -> np.ndarray | None:
        """Record ``rotation`` as the reference when requested (or automatically); returns the reference."""
        automatic = (
            self.config.auto
            and self.rotation is None
            and confidence >= self.config.auto_min_confidence
            and float(geodesic_deg(rotation, np.eye(3))) <= self.config.auto_max_deg
        )
        if self.requested or automatic:
            self.rotation = np.array(rotation, np.float64)
            self.requested = False
        return self.rotation


def rotation_from_reference(reference: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """R_ref←head: the head's rotation seen from the reference frame."""
    return np.asarray(reference).T @ np.asarray(rotation)
