"""``hpe soak``: a short run on the bundled demo clip processes frames, writes the figures and the curve."""

import json
from pathlib import Path

from hpe_ros.cli import main
from hpe_ros.synth.clip import DEMO_CLIP_DIR, VIDEO_NAME


def test_a_short_soak_writes_its_figures(tmp_path: Path):
    out = tmp_path / "soak"
    clip = str(DEMO_CLIP_DIR / VIDEO_NAME)
    assert (
        main(["soak", clip, clip, "--duration-s", "3", "--rate", "30", "--out", str(out), "--threads", "1"])
        == 0
    )
    report = json.loads((out / "soak.json").read_text())
    for key in (
        "frames",
        "drops",
        "submitted",
        "late_ticks",
        "errors",
        "per_minute",
        "latency_ms",
        "rss_mib",
    ):
        assert key in report
    assert set(report["rss_mib"]) == {"start", "end", "max"}
    assert set(report["latency_ms"]) == {"p50", "p90", "p99"}
    assert report["frames"] >= 1 and report["errors"] == 0, report["last_error"]
    assert report["frames"] + report["drops"] <= report["submitted"] <= 3 * 30 + 1
    assert report["latency_ms"]["p50"] > 0 and report["rss_mib"]["max"] >= report["rss_mib"]["start"] > 0
    assert report["per_minute"] and report["per_minute"][-1]["frames"] == report["frames"]
    assert (out / "soak.png").stat().st_size > 0
