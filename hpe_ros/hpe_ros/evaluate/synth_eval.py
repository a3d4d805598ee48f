"""``hpe eval synth``: relative pose on the fixed synthetic protocols ``easy`` / ``hard``.

Each pair of :func:`hpe_ros.synth.protocols.protocol_pairs` is already a face crop of a pinhole camera. The
estimator gets both crops with the face box they were framed around (:func:`~hpe_ros.evaluate.network.
implied_face`): our networks then see the whole crop resized to their input size, baselines crop it by their
own protocol. The predicted relative rotation is composed with the anchor's TRUE pose, R̂_q = R̂_rel · R_a,
and scored like the AFLW2000 harness (AFLW2000 angles of R̂_q and R_q, wrapped per-angle errors, geodesic).
Both true poses are taken in each head's view camera (:func:`view_rotation`): the crops are windows up to
46° (median 20°) off their camera's axis, and no estimator that sees only a crop can know that angle (scored
in the source camera, FSA-Net's geodesic on 60 easy pairs was 34.7°).
Models without a relative mode (FSA-Net, mean-pose) go through
:class:`~hpe_ros.evaluate.estimators.RelativeFromAbsolute`. Translation is not scored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hpe_ros.errors import InputError
from hpe_ros.evaluate.estimators import RelativePoseEstimator, as_relative, load_estimator
from hpe_ros.evaluate.harness import PoseResult, score_relative_pair, summarize
from hpe_ros.evaluate.network import implied_face
from hpe_ros.evaluate.report import ensure_output_dir, write_report
from hpe_ros.geometry import geodesic_deg
from hpe_ros.geometry.frames import head_view_rotation


def evaluate_pairs(
    estimator: RelativePoseEstimator,
    pairs: Iterable[tuple[np.ndarray, np.ndarray, dict]],
    name_prefix: str = "pair",
) -> list[PoseResult]:
    """Score every (anchor crop, query crop, labels) pair; ``extra["gap_deg"]`` keeps the true gap (between
    the view-camera poses: what the estimator has to bridge)."""
    results = []
    for anchor, query, labels in pairs:
        face = implied_face(anchor.shape[0])
        R_a, R_q = (view_rotation(labels[view]) for view in ("anchor", "query"))
        results.append(
            score_relative_pair(
                estimator,
                (anchor, face),
                (query, face),
                R_a,
                R_q,
                f"{name_prefix}-{labels['index']:04d}",
                extra={"gap_deg": float(geodesic_deg(R_q, R_a))},
            )
        )
    return results


def view_rotation(view_labels: dict) -> np.ndarray:
    """R_view←head of one view's labels: the head's rotation as its crop shows it, seen along the ray to the
    head (:func:`hpe_ros.geometry.frames.head_view_rotation`); labels without ``t`` are taken as on-axis."""
    R = np.asarray(view_labels["R"], np.float64)
    if "t" not in view_labels:
        return R
    return head_view_rotation(np.asarray(view_labels["t"], np.float64), R).T @ R


def run_synth_eval(
    protocol: str,
    model: str,
    json_path: str | Path,
    limit: int | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate ``model`` (a ``--model`` spec) on protocol ``easy`` or ``hard``; write JSON + CSV + PNG."""
    from hpe_ros.synth.protocols import PROTOCOLS, gap_statistics, protocol_pairs

    if protocol not in PROTOCOLS:
        raise InputError(f"unknown synthetic protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be positive, got {limit}")
    ensure_output_dir(json_path)
    estimator = load_estimator(model)
    relative = as_relative(estimator)
    total = PROTOCOLS[protocol].pairs if limit is None else min(limit, PROTOCOLS[protocol].pairs)
    pairs = tqdm(
        protocol_pairs(protocol, cache, limit=total),
        total=total,
        desc=f"eval-synth {protocol} {relative.name}",
        unit="pair",
        disable=not progress,
    )
    results = evaluate_pairs(relative, pairs, protocol)
    summary = {
        "task": "synth",
        "protocol": protocol,
        "model": model,
        "estimator": relative.name,
        "crop": "synthetic",
        **summarize(results),
        "gap": gap_statistics([r.extra["gap_deg"] for r in results]),
    }
    summary["outputs"] = {kind: str(path) for kind, path in write_report(summary, results, json_path).items()}
    return summary
