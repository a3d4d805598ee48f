"""Face tracks: stable ids for the face boxes a detector returns frame after frame.

Each track carries its box and a constant-velocity motion model (pixels per second, on the four box
coordinates). Every frame the tracks' predicted boxes are associated with the detections by an optimal
assignment (``scipy.optimize.linear_sum_assignment``) on a cost of overlap (1 - IoU) plus centre distance,
gated so that far-apart pairs never match. Hysteresis on both ends: a new track is reported only after
``confirm_hits`` detections in a row, and a confirmed track survives detector misses for ``max_missed_s``
seconds, its box propagated by the motion model (the detector loses faces turned far away, exactly the poses
the relative pose network handles). A track lost for longer is kept aside for ``reid_window_s``; a detection
that appears near where it was lost takes its old id back. At most ``max_faces`` tracks exist at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from hpe_ros.config import Checked, param
from hpe_ros.errors import InputError

_NO_MATCH = 1e6


@dataclass
class FaceTracksConfig(Checked):
    """Tunables of the multi-face tracker."""

    max_faces: int = param(
        8,
        "Most faces tracked at once; further detections (lowest scores first) are ignored.",
        minimum=1,
        maximum=64,
    )
    min_detection_score: float = param(
        0.5, "Detections scoring below this are ignored.", minimum=0.0, maximum=1.0
    )
    min_iou: float = param(
        0.1,
        "A detection can continue a track if their boxes overlap at least this (IoU) ...",
        minimum=0.0,
        maximum=1.0,
    )
    max_centre_distance: float = param(
        0.7, "... or if their centres are closer than this many track-box sizes.", minimum=0.0, maximum=100.0
    )
    confirm_hits: int = param(
        2, "Detections in a row before a new track is reported (confirmation).", minimum=1, maximum=100
    )
    max_missed_s: float = param(
        0.7,
        "A confirmed track without detections is kept (box propagated) this long (s).",
        minimum=0.0,
        maximum=60.0,
    )
    reid_window_s: float = param(
        2.0,
        "A lost face that reappears within this time (s) near its last box keeps its id.",
        minimum=0.0,
        maximum=3600.0,
    )
    reid_max_centre_distance: float = param(
        1.5,
        "Re-identification gate: centre distance in box sizes from the lost box.",
        minimum=0.0,
        maximum=100.0,
    )
    reid_max_size_ratio: float = param(
        1.6, "Re-identification gate: largest size ratio to the lost box.", minimum=1.0, maximum=100.0
    )
    velocity_smoothing: float = param(
        0.5,
        "Weight (0..1) of the newest velocity measurement in the constant-velocity model.",
        minimum=0.0,
        maximum=1.0,
    )
    velocity_decay_per_s: float = param(
        2.0,
        "Rate (1/s) at which the velocity of a propagated box decays towards rest.",
        minimum=0.0,
        maximum=100.0,
    )


@dataclass
class TrackedFace:
    """One confirmed track in the current frame."""

    track_id: int
    box: np.ndarray
    """x0, y0, x1, y1 in pixels (float64)."""
    score: float
    """Detector score of the matched detection, 0 when the box was propagated."""
    detection_index: int | None
    """Index of the matched detection in this frame's input, None when propagated."""
    propagated: bool
    reidentified: bool
    """True in the frame where a lost face got its old id back."""
    hits: int


@dataclass
class _Track:
    track_id: int
    seen_box: np.ndarray
    """Box of the last matched detection."""
    last_seen: float
    velocity: np.ndarray
    """Box-coordinate velocity (px/s) estimated at ``last_seen``."""
    box: np.ndarray
    """Box in the current frame: ``seen_box`` or its propagation."""
    hits: int = 1
    """Detections in a row."""
    confirmed: bool = False
    score: float = 0.0
    detection_index: int | None = None
    reidentified: bool = False

    def predict(self, stamp: float, decay_per_s: float) -> np.ndarray:
        """Box at ``stamp``: constant velocity that decays exponentially while the face is unseen.

        The centre moves freely; the size follows its own rate within half to twice the last seen size,
        so a propagated box never collapses or inverts.
        """
        unseen = max(0.0, stamp - self.last_seen)
        travel = unseen if decay_per_s <= 0 else (1.0 - np.exp(-decay_per_s * unseen)) / decay_per_s
        seen_size = self.seen_box[2:] - self.seen_box[:2]
        centre = (self.seen_box[:2] + self.seen_box[2:]) / 2 + (
            self.velocity[:2] + self.velocity[2:]
        ) / 2 * travel
        size = np.clip(
            seen_size + (self.velocity[2:] - self.velocity[:2]) * travel, seen_size / 2, seen_size * 2
        )
        return np.concatenate([centre - size / 2, centre + size / 2])


def _intersection_areas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas of boxes ``a`` [N,4] and ``b`` [M,4] (x0, y0, x1, y1) -> [N,M]."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=2)


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of boxes ``a`` [N,4] and ``b`` [M,4] (x0, y0, x1, y1) -> [N,M]."""
    intersection = _intersection_areas(a, b)
    return intersection / np.maximum(_areas(a)[:, None] + _areas(b)[None, :] - intersection, 1e-9)


SAME_FACE_IOU = 0.3
"""Two boxes that overlap at least this much (IoU) are taken for the same face: a track's predicted box and
a detection, or a face a later detector pass finds again."""


def not_covered(boxes: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Mask [N]: which of ``boxes`` [N, 4] no box of ``known`` [M, 4] overlaps by :data:`SAME_FACE_IOU`."""
    if not len(known):
        return np.ones(len(boxes), dtype=bool)
    return box_iou(boxes, known).max(axis=1) < SAME_FACE_IOU


def box_containment(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise fraction of each box of ``a`` [N,4] that lies inside each box of ``b`` [M,4] -> [N,M]."""
    return _intersection_areas(a, b) / np.maximum(_areas(a)[:, None], 1e-9)


def _sizes(boxes: np.ndarray) -> np.ndarray:
    return np.sqrt(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1))


def _centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise centre distances [N,M] in units of the size of the ``a`` boxes."""
    centres_a = (a[:, :2] + a[:, 2:]) / 2.0
    centres_b = (b[:, :2] + b[:, 2:]) / 2.0
    return np.linalg.norm(centres_a[:, None] - centres_b[None], axis=2) / _sizes(a)[:, None]


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Optimal one-to-one pairs (row, col) of a cost matrix, leaving out gated pairs."""
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _NO_MATCH]


def _check_detections(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise InputError(f"{len(boxes)} detection boxes but {len(scores)} scores")
    bad = ~np.all(np.isfinite(boxes), axis=1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if np.any(bad):
        raise InputError(f"detection boxes must be finite with x1 > x0 and y1 > y0: {boxes[bad].tolist()}")
    return boxes, scores


class FaceTracks:
    """Stable face ids across frames; call :meth:`update` once per frame with that frame's detections."""

    def __init__(self, config: FaceTracksConfig | None = None) -> None:
        self.config = config or FaceTracksConfig()
        self.active: list[_Track] = []
        self.lost: list[tuple[_Track, float]] = []
        self.next_id = 1

    def reset(self) -> None:
        """Forget every track (e.g. on a clock jump); ids keep increasing so old ids are never reused."""
        self.active.clear()
        self.lost.clear()

    def known_ids(self) -> set[int]:
        """Ids of the active tracks and of the lost tracks that can still be re-identified."""
        return {t.track_id for t in self.active} | {t.track_id for t, _ in self.lost}

    def update(self, boxes: np.ndarray, scores: np.ndarray, stamp_s: float) -> list[TrackedFace]:
        """Associate one frame's detections (boxes [N,4] x0,y0,x1,y1 px; scores [N]) taken at ``stamp_s``;
        returns the confirmed tracks, by id (ended ids drop out of :meth:`known_ids`)."""
        cfg = self.config
        boxes, scores = _check_detections(boxes, scores)
        keep = np.flatnonzero(scores >= cfg.min_detection_score)
        keep = keep[np.argsort(-scores[keep], kind="stable")]

        for track in self.active:
            track.detection_index, track.reidentified = None, False
        unmatched = self._match_active(boxes, scores, keep, stamp_s)
        self._age_unmatched(stamp_s)
        unmatched = self._reidentify(boxes, scores, unmatched, stamp_s)
        for index in unmatched:
            if len(self.active) >= cfg.max_faces:
                break
            self._start_track(boxes[index], float(scores[index]), int(index), stamp_s)
        self.lost = [(t, lost_at) for t, lost_at in self.lost if stamp_s - lost_at <= cfg.reid_window_s]

        return [
            TrackedFace(
                track_id=t.track_id,
                box=t.box.copy(),
                score=t.score if t.detection_index is not None else 0.0,
                detection_index=t.detection_index,
                propagated=t.detection_index is None,
                reidentified=t.reidentified,
                hits=t.hits,
            )
            for t in sorted(self.active, key=lambda t: t.track_id)
            if t.confirmed
        ]

    def missing_regions(self, boxes: np.ndarray, stamp_s: float) -> np.ndarray:
        """Predicted boxes [M, 4] at ``stamp_s`` of the confirmed tracks that none of ``boxes`` [N, 4] covers
        (:func:`not_covered`): where a tracked face went missing in this frame's detections."""
        decay = self.config.velocity_decay_per_s
        predicted = [t.predict(stamp_s, decay) for t in self.active if t.confirmed]
        if not predicted:
            return np.zeros((0, 4))
        predicted = np.stack(predicted)
        return predicted[not_covered(predicted, np.asarray(boxes, np.float64).reshape(-1, 4))]

    def _match_active(
        self, boxes: np.ndarray, scores: np.ndarray, keep: np.ndarray, stamp: float
    ) -> list[int]:
        """Continue active tracks with their best detections; returns the unmatched detection indices."""
        cfg = self.config
        if not self.active or keep.size == 0:
            return keep.tolist()
        predicted = np.stack([t.predict(stamp, cfg.velocity_decay_per_s) for t in self.active])
        candidates = boxes[keep]
        iou = box_iou(predicted, candidates)
        distance = _centre_distance(predicted, candidates)
        cost = (1.0 - iou) + distance
        cost[(iou < cfg.min_iou) & (distance > cfg.max_centre_distance)] = _NO_MATCH
        matched_columns = set()
        for row, col in _assign(cost):
            self._observe(self.active[row], candidates[col], float(scores[keep[col]]), int(keep[col]), stamp)
            matched_columns.add(col)
        return [int(keep[c]) for c in range(len(keep)) if c not in matched_columns]

    def _observe(self, track: _Track, box: np.ndarray, score: float, index: int, stamp: float) -> None:
        dt = stamp - track.last_seen
        if dt > 0:
            alpha = 1.0 if track.hits == 1 else self.config.velocity_smoothing
            track.velocity = alpha * (box - track.seen_box) / dt + (1.0 - alpha) * track.velocity
        track.seen_box, track.box, track.last_seen = box.copy(), box.copy(), stamp
        track.score, track.detection_index = score, index
        track.hits += 1
        track.confirmed = track.confirmed or track.hits >= self.config.confirm_hits

    def _age_unmatched(self, stamp: float) -> None:
        """Propagate unmatched tracks; tentative ones end, confirmed ones are lost after retention."""
        cfg = self.config
        still_active = []
        for track in self.active:
            if track.detection_index is not None:
                still_active.append(track)
            elif track.confirmed:
                track.box, track.hits = track.predict(stamp, cfg.velocity_decay_per_s), 0
                if stamp - track.last_seen > cfg.max_missed_s:
                    self.lost.append((track, stamp))
                else:
                    still_active.append(track)
        self.active = still_active

    def _reidentify(
        self, boxes: np.ndarray, scores: np.ndarray, unmatched: list[int], stamp: float
    ) -> list[int]:
        """Give lost tracks their id back for detections near where they were lost; returns the rest."""
        cfg = self.config
        if not self.lost or not unmatched:
            return unmatched
        lost_boxes = np.stack([t.box for t, _ in self.lost])
        candidates = boxes[unmatched]
        distance = _centre_distance(lost_boxes, candidates)
        ratio = _sizes(candidates)[None, :] / _sizes(lost_boxes)[:, None]
        cost = distance + np.abs(np.log(ratio))
        cost[
            (distance > cfg.reid_max_centre_distance)
            | (np.maximum(ratio, 1 / ratio) > cfg.reid_max_size_ratio)
        ] = _NO_MATCH
        taken_rows, taken_cols = set(), set()
        for row, col in _assign(cost):
            if len(self.active) >= cfg.max_faces:
                break
            track = self.lost[row][0]
            track.velocity, track.last_seen, track.hits = np.zeros(4), stamp, 0
            self._observe(track, candidates[col], float(scores[unmatched[col]]), unmatched[col], stamp)
            track.confirmed, track.reidentified = True, True
            self.active.append(track)
            taken_rows.add(row)
            taken_cols.add(col)
        self.lost = [entry for i, entry in enumerate(self.lost) if i not in taken_rows]
        return [index for c, index in enumerate(unmatched) if c not in taken_cols]

    def _start_track(self, box: np.ndarray, score: float, index: int, stamp: float) -> None:
        track = _Track(
            track_id=self.next_id,
            seen_box=box.copy(),
            last_seen=stamp,
            velocity=np.zeros(4),
            box=box.copy(),
            score=score,
            detection_index=index,
        )
        track.confirmed = self.config.confirm_hits <= 1
        self.next_id += 1
        self.active.append(track)
