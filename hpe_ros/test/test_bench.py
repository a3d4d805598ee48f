"""``hpe bench`` report schema from minimal runs (fields and consistency, never speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_dir
from rich.console import Console
from test_engine import MICRO

from hpe_ros.bench import (
    SCHEMA,
    TRACKER_MODES,
    BenchSettings,
    anchor_cache_table,
    plot_report,
    results_table,
    run_bench,
)
from hpe_ros.errors import InputError
from hpe_ros.model import HeadPoseNet, save_checkpoint

ROW_FIELDS = {
    "model", "mode", "backend", "device", "precision", "unit", "batch", "iterations",
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
    assert {(row["mode"], row["unit"]) for row in ours} == {("relative", "pair")}  # a config: full pairs
    for row in report["results"]:
        assert set(row) == ROW_FIELDS
        assert 1 <= row["iterations"] <= 3 and row["p90_ms"] >= row["median_ms"] > 0
        assert row["median_ms_per_item"] == pytest.approx(row["median_ms"] / row["batch"], abs=1e-3)
        assert row["throughput_per_s"] == pytest.approx(1e3 / row["median_ms_per_item"], rel=1e-2, abs=0.01)
    if settings.fsanet_dir is not None:
        baseline = [row for row in report["results"] if row["model"] == "fsanet"]
        assert [row["batch"] for row in baseline] == [1, 2] and {r["unit"] for r in baseline} == {"image"}
        assert {row["mode"] for row in baseline} == {"absolute"}
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


def test_a_model_file_is_timed_per_tracker_mode_through_the_engines_it_opens_with(tmp_path: Path) -> None:
    """A checkpoint runs on torch and, through the cached ONNX export, on ONNX Runtime, in every mode the
    tracker calls; an ONNX file cannot feed torch, so only ONNX Runtime times it."""
    config = MICRO.replace(frame_only_depth=1)  # cacheable: all four modes are exported
    checkpoint = save_checkpoint(tmp_path / "micro.safetensors", HeadPoseNet(config), config, {})
    settings = BenchSettings(
        configs=[],
        backends=["torch", "onnxruntime"],
        model=checkpoint,
        cache_dir=tmp_path / "cache",
        batches=[1, 2],
        warmup=1,
        iterations=2,
        budget_s=1.0,
        threads=1,
    )
    report = json.loads(json.dumps(run_bench(settings, progress=False)))
    timed = {(row["backend"], row["mode"], row["batch"]) for row in report["results"]}
    assert timed == {(b, m, n) for b in ("torch", "onnxruntime") for m in TRACKER_MODES for n in (1, 2)}
    units = {row["mode"]: row["unit"] for row in report["results"]}
    assert units == {
        "absolute": "frame",
        "anchor_tokens": "anchor",
        "relative_cached": "pair",
        "relative": "pair",
    }
    cost = report["models"]["micro.safetensors"]
    assert cost["file_bytes"] == checkpoint.stat().st_size and cost["params"] > 0
    assert cost["gflop_per_pair"] > cost["gflop_per_frame_absolute"] > 0
    console = Console(width=200, record=True)
    console.print(results_table(report))
    text = console.export_text()
    assert "cached-anchor pair" in text and "anchor embedding" in text
    assert plot_report(report, tmp_path / "bench.png").stat().st_size > 1000
    exports = (tmp_path / "cache" / "onnx").glob("micro-*.onnx")
    (onnx_file,) = (path for path in exports if "." not in path.stem)  # the relative-mode file
    report = run_bench(
        BenchSettings(
            configs=[], backends=["torch", "onnxruntime"], model=onnx_file, batches=[1], warmup=0,
            iterations=1, threads=1,
        ),
        progress=False,
    )  # fmt: skip
    assert {(row["backend"], row["mode"]) for row in report["results"]} == {
        ("onnxruntime", mode) for mode in TRACKER_MODES
    }


def test_bench_rejects_empty_settings(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        run_bench(BenchSettings(configs=[MICRO], backends=["torch"], batches=[]), progress=False)
    with pytest.raises(InputError, match="a model file or at least one config"):
        run_bench(BenchSettings(configs=[], backends=["torch"]), progress=False)
    with pytest.raises(InputError, match="does not exist"):
        run_bench(BenchSettings(configs=[], backends=["torch"], model=tmp_path / "x.onnx"), progress=False)
    with pytest.raises(InputError, match="can run here"):
        run_bench(BenchSettings(configs=[MICRO], backends=["openvino"]), progress=False)
