"""Evaluation outputs: the JSON summary, a per-image CSV and a plot of error against |yaw|, side by side."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.evaluate.harness import PoseResult

CSV_FIELDS = (
    "name",
    "model",
    "transform",
    "failure",
    "gt_pitch",
    "gt_yaw",
    "gt_roll",
    "pred_pitch",
    "pred_yaw",
    "pred_roll",
    "err_pitch",
    "err_yaw",
    "err_roll",
    "mae",
    "geodesic_deg",
    "ms",
    "detect_ms",
    "source_yaw",
)
YAW_BIN_DEG = 15.0


def output_paths(json_path: str | Path) -> dict[str, Path]:
    """Where the JSON, CSV and PNG of one evaluation go: the CSV and PNG beside the JSON, same stem."""
    json_path = Path(json_path)
    return {"json": json_path, "csv": json_path.with_suffix(".csv"), "png": json_path.with_suffix(".png")}


def ensure_output_dir(json_path: str | Path) -> None:
    """Create the report's folder now, so that an unwritable place fails before a long evaluation."""
    folder = Path(json_path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the report folder {folder}: {error}") from error


def write_csv(results: Sequence[PoseResult], path: Path) -> None:
    """One row per scored prediction (angles in degrees, AFLW2000 convention)."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_FIELDS)
        for r in results:
            writer.writerow(
                [r.name, r.model, r.transform, r.failure]
                + [f"{v:.4f}" for v in (*r.gt_deg, *r.pred_deg, *r.errors_deg)]
                + [f"{np.mean(r.errors_deg):.4f}", f"{r.geodesic_deg:.4f}", f"{r.ms:.3f}"]
                + [f"{r.extra.get('detect_ms', 0.0):.3f}", f"{r.bin_yaw_deg:.4f}"]
            )


def plot_error_vs_yaw(results: Sequence[PoseResult], path: Path, title: str) -> None:
    """Per-image MAE and geodesic error against |true yaw| (of the untransformed label), with means per 15°
    bin (failures left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in results if not r.failed]
    yaw = np.array([r.bin_yaw_deg for r in scored])
    mae = np.array([np.mean(r.errors_deg) for r in scored])
    geodesic = np.array([r.geodesic_deg for r in scored])
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.scatter(yaw, mae, s=8, alpha=0.35, label="MAE per image")
    axes.scatter(yaw, geodesic, s=8, alpha=0.35, marker="x", label="geodesic per image")
    edges = np.arange(0.0, max(float(yaw.max(initial=0.0)), YAW_BIN_DEG) + YAW_BIN_DEG, YAW_BIN_DEG)
    index = np.digitize(yaw, edges) - 1
    bins = [b for b in range(len(edges) - 1) if np.any(index == b)]
    centres = [edges[b] + YAW_BIN_DEG / 2 for b in bins]
    axes.plot(
        centres, [mae[index == b].mean() for b in bins], "o-", label=f"MAE, mean per {YAW_BIN_DEG:g}° bin"
    )
    axes.plot(centres, [geodesic[index == b].mean() for b in bins], "s-", label="geodesic, mean per bin")
    axes.set_xlabel("|true yaw| (degrees)")
    axes.set_ylabel("error (degrees)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(summary: dict, results: Sequence[PoseResult], json_path: str | Path) -> dict[str, Path]:
    """Write the JSON summary, the CSV and the plot; returns their paths."""
    paths = output_paths(json_path)
    ensure_output_dir(json_path)
    try:
        paths["json"].write_text(json.dumps(summary, indent=2) + "\n")
        write_csv(results, paths["csv"])
        title = "{model} on {task}, {crop} crop, n={n}".format_map(summary)
        first = [r for r in results if r.model == results[0].model]  # the first model's rows
        plot_error_vs_yaw(first, paths["png"], title)
    except OSError as error:
        raise InputError(f"cannot write the evaluation report next to {paths['json']}: {error}") from error
    return paths
