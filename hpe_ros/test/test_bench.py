"""``hpe bench`` report schema from a minimal run (fields and consistency, never speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_dir
from rich.console import Console
from test_engine import MICRO

from hpe_ros.bench import SCHEMA, BenchSettings, anchor_cache_table, plot_report, results_table, run_bench
from hpe_ros.errors import InputError

ROW_FIELDS = {
    "model", "backend", "device", "precision", "unit", "batch", "iterations",
    "median_ms", "p90_ms", "median_ms_per_item", "throughput_per_s",
}  # fmt: skip


def test_minimal_bench_report(tmp_path: Path) -> None:
    fsanet = shared_dir() / "baselines" / "fsanet"
    settings = BenchSettings(
        configs=[MICRO.replace(frame_only_depth=1)],  # one cacheable per-frame block
        backends=["torch", "tensorrt"],  # tensorrt is skipped where it is not installed
        batches=[1, 2],
        fsanet_dir=fsanet if fsanet.is_dir() else None,
        warmup=1,
        iterations=3,
        budget_s=2.0,
        threads=1,
        anchor_cache=True,
    )
    report = json.loads(json.dumps(run_bench(settings, progress=False)))  # JSON-able as written
    assert report["schema"] == SCHEMA
    machine = report["machine"]
    assert report["settings"]["threads"] == 1 and machine["cpu_count"] >= 1
    assert len(machine["loadavg_start"]) == len(machine["loadavg_end"]) == 3
    micro = report["models"]["micro"]
    assert micro["params"] > 0 and micro["gflop_per_pair"] > micro["gflop_per_frame_absolute"] > 0
    ours = [row for row in report["results"] if row["model"] == "micro"]
    assert {(row["backend"], row["device"], row["precision"], row["batch"]) for row in ours} >= {
        ("torch", "cpu", "fp32", 1),
        ("torch", "cpu", "fp32", 2),
    }
    for row in report["results"]:
        assert set(row) == ROW_FIELDS
        assert 1 <= row["iterations"] <= 3 and row["p90_ms"] >= row["median_ms"] > 0
        assert row["median_ms_per_item"] == pytest.approx(row["median_ms"] / row["batch"], abs=1e-3)
        assert row["throughput_per_s"] == pytest.approx(1e3 / row["median_ms_per_item"], rel=1e-2, abs=0.01)
    if settings.fsanet_dir is not None:
        baseline = [row for row in report["results"] if row["model"] == "fsanet"]
        assert [row["batch"] for row in baseline] == [1, 2] and {r["unit"] for r in baseline} == {"image"}
        assert 1e5 < report["models"]["fsanet"]["params"] < 1e7
    png = plot_report(report, tmp_path / "bench.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    console = Console(width=200, record=True)
    console.print(results_table(report))
    assert "micro" in console.export_text()
    assert [row["anchors_per_query"] for row in report["anchor_cache"]] == [1, 2]
    for row in report["anchor_cache"]:
        assert (
            row["frame_only_depth"] == 1
            and row["full_ms_per_pair"] > 0
            and row["cached_anchor_ms_per_pair"] > 0
        )
        assert row["saving"] == pytest.approx(
            1 - row["cached_anchor_ms_per_pair"] / row["full_ms_per_pair"], abs=2e-3
        )
    console.print(anchor_cache_table(report))
    assert "cached ms/pair" in console.export_text()


def test_bench_rejects_empty_settings() -> None:
    with pytest.raises(InputError):
        run_bench(BenchSettings(configs=[MICRO], backends=["torch"], batches=[]), progress=False)
    with pytest.raises(InputError, match="can run here"):
        run_bench(BenchSettings(configs=[MICRO], backends=["openvino"]), progress=False)
