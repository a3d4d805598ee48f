"""The training curve of a run (``training_curve.png`` beside ``model.safetensors``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_training_curve(history: list[dict[str, Any]], path: str | Path) -> Path | None:
    """Loss per logged step (left) and held-out synthetic geodesic error per evaluation (right, with the
    floors dashed). None when the history holds no pose-stage loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = [(r["step"], r["loss"]) for r in history if r.get("stage") == "pose" and "loss" in r]
    if not losses:
        return None
    evaluations = [r for r in history if any(k.endswith("/mean_deg") for k in r)]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(*zip(*losses, strict=True), lw=1)
    left.set(xlabel="step", ylabel="training loss", title="pose stage")
    names = sorted({k.removesuffix("/mean_deg") for r in evaluations for k in r if k.endswith("/mean_deg")})
    for name in names:
        points = [(r["step"], r[f"{name}/mean_deg"]) for r in evaluations if f"{name}/mean_deg" in r]
        line = right.plot(*zip(*points, strict=True), marker="o", label=name)[0]
        floor = [r[f"{name}/floor_deg"] for r in evaluations if f"{name}/floor_deg" in r]
        if floor:
            right.axhline(floor[-1], ls="--", lw=0.8, color=line.get_color())
    right.set(xlabel="step", ylabel="geodesic error (deg)", title="held-out synthetic pairs (dashed: floor)")
    if names:
        right.legend(fontsize=7)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
