"""Contact sheet of rendered pairs with the ground-truth head axes drawn (x red, y green, z blue)."""

from __future__ import annotations

import os

import cv2
import numpy as np

AXIS_LENGTH_M = 0.08
AXIS_COLOURS = ((255, 40, 40), (40, 220, 40), (60, 120, 255))


def project(points_head: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixel coordinates (N,2) of head-frame points: K·(R·X + t), dehomogenised."""
    cam = np.asarray(points_head, float) @ np.asarray(R).T + np.asarray(t)
    pix = cam @ np.asarray(K).T
    return pix[:, :2] / pix[:, 2:3]


def draw_axes(image: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with the head frame's axes (origin at the sellion) projected by R, t, K."""
    out = np.ascontiguousarray(image.copy())
    points = project(np.vstack([np.zeros(3), np.eye(3) * AXIS_LENGTH_M]), R, t, K)
    origin = tuple(round(float(v)) for v in points[0])
    depth_order = np.argsort(-(np.asarray(R) @ np.eye(3))[2])  # draw far axes first
    for axis in depth_order:
        end = tuple(round(float(v)) for v in points[axis + 1])
        cv2.line(out, origin, end, AXIS_COLOURS[axis], 2, cv2.LINE_AA)
    cv2.circle(out, origin, 2, (255, 255, 255), -1, cv2.LINE_AA)
    return out


def contact_sheet(pairs: list[tuple[np.ndarray, np.ndarray, dict]], columns: int = 4) -> np.ndarray:
    """Grid of pairs (anchor | query side by side, axes drawn, gap in degrees written); RGB uint8."""
    tiles = []
    for anchor, query, labels in pairs:
        views = []
        for image, view in ((anchor, labels["anchor"]), (query, labels["query"])):
            views.append(draw_axes(image, np.array(view["R"]), np.array(view["t"]), np.array(view["K"])))
        tile = np.hstack(views)
        cv2.putText(
            tile,
            f"#{labels['index']} gap {labels['gap_deg']:.0f}",
            (4, 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0))))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    return np.vstack([np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)])


def write_contact_sheet(
    path: str | os.PathLike, pairs: list[tuple[np.ndarray, np.ndarray, dict]], columns: int = 4
):
    """Write :func:`contact_sheet` as a PNG."""
    cv2.imwrite(str(path), cv2.cvtColor(contact_sheet(pairs, columns), cv2.COLOR_RGB2BGR))
