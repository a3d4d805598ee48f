"""A soak run: clips replayed in a loop at a fixed rate through one tracker, for a given duration.

Every frame gets a fresh, monotonically increasing stamp (the wall clock when it is handed over), so the
tracker sees one endless live stream; a clip's end is a scene cut, never a jump back in time. Frames are
handed to a :class:`~hpe_ros.ros.worker.DropInFlightWorker` exactly as the node does: a frame arriving while
one is pending replaces it (a drop). The run records the process's resident memory (RSS), each frame's
latency (hand-over to result) and the drops, in total and per minute, to find leaks and slow drifts before a
robot does.
"""

from __future__ import annotations

import itertools
import os
import resource
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpe_ros.camera import intrinsics_from_fov
from hpe_ros.errors import InputError
from hpe_ros.io.sources import open_source
from hpe_ros.ros.worker import DropInFlightWorker
from hpe_ros.tracker import HeadPoseTracker

PERCENTILES = (50, 90, 99)
WINDOW_S = 60.0
"""Length of one entry of the per-minute series."""


def rss_mib() -> float:
    """The resident set size of this process in MiB (``/proc/self/status``; the peak where it is missing)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def looping_frames(sources: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    """(clip name, RGB image) from the clips in turn, forever (each clip reopened when it ends)."""
    for spec in itertools.cycle(sources):
        source = open_source(spec)
        try:
            empty = True
            for frame in source:
                empty = False
                yield source.name, frame.image
        finally:
            source.close()
        if empty:
            raise InputError(f"{spec}: no frame to replay")


def _percentiles(values: array | list[float]) -> dict[str, float | None]:
    if len(values) == 0:
        return {f"p{p}": None for p in PERCENTILES}
    found = np.percentile(np.asarray(values, dtype=np.float64), PERCENTILES)
    return {f"p{p}": round(float(v), 2) for p, v in zip(PERCENTILES, found, strict=True)}


@dataclass
class _Window:
    """What one minute of the run counted."""

    start_s: float
    submitted: int = 0
    handled: int = 0
    dropped: int = 0
    late: int = 0
    faces: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    rss_max_mib: float = 0.0

    def summary(self, rss_now: float) -> dict[str, Any]:
        return {
            "t_s": round(self.start_s, 1),
            "submitted": self.submitted,
            "frames": self.handled,
            "drops": self.dropped,
            "late_ticks": self.late,
            "faces": self.faces,
            "errors": self.errors,
            "latency_ms": _percentiles(self.latencies_ms),
            "rss_mib": round(rss_now, 1),
            "rss_max_mib": round(max(self.rss_max_mib, rss_now), 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }


class SoakRecorder:
    """Thread-safe counters of a soak run: totals, every latency, and the per-minute series."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.lock = threading.Lock()
        self.latencies_ms = array("d")
        self.process_ms = array("d")
        self.window = _Window(0.0)
        self.series: list[dict[str, Any]] = []
        self.totals = dict.fromkeys(("submitted", "frames", "drops", "late_ticks", "faces", "errors"), 0)
        self.rss_start = rss_mib()
        self.rss_max = self.rss_start
        self.last_error: str | None = None

    def sample_rss(self) -> float:
        """Read the RSS now and fold it into the maxima."""
        rss = rss_mib()
        with self.lock:
            self.rss_max = max(self.rss_max, rss)
            self.window.rss_max_mib = max(self.window.rss_max_mib, rss)
        return rss

    def roll(self, now: float) -> None:
        """Close the current minute when it is over (called by the pacing loop)."""
        if now - self.start - self.window.start_s >= WINDOW_S:
            self.close_window(now)

    def close_window(self, now: float) -> None:
        rss = self.sample_rss()
        with self.lock:
            self.series.append(self.window.summary(rss))
            self.window = _Window(now - self.start)

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.totals[key] += n
            window_key = {"frames": "handled", "drops": "dropped", "late_ticks": "late"}.get(key, key)
            setattr(self.window, window_key, getattr(self.window, window_key) + n)

    def handled(self, latency_ms: float, process_ms: float, faces: int) -> None:
        with self.lock:
            self.latencies_ms.append(latency_ms)
            self.process_ms.append(process_ms)
            self.window.latencies_ms.append(latency_ms)
        self.count("frames")
        self.count("faces", faces)

    def failed(self, error: BaseException) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        self.count("errors")


def soak(
    tracker: HeadPoseTracker,
    sources: list[str],
    duration_s: float,
    rate_hz: float = 30.0,
    horizontal_fov_deg: float | None = None,
    progress: Callable[[float, dict[str, int]], None] | None = None,
) -> dict[str, Any]:
    """Replay ``sources`` at ``rate_hz`` through ``tracker`` for ``duration_s`` seconds; the figures.

    The pacing loop (this thread) reads the next frame, waits for its tick and hands it to the inference
    thread; a tick the loop itself missed (reading took longer than a period) is skipped and counted as late.
    """
    if duration_s <= 0 or rate_hz <= 0:
        raise InputError(f"duration and rate must be positive, got {duration_s} s at {rate_hz} Hz")
    period = 1.0 / rate_hz
    fov = {} if horizontal_fov_deg is None else {"horizontal_fov_deg": horizontal_fov_deg}
    start = time.monotonic()
    recorder = SoakRecorder(start)

    def handle(item: tuple[np.ndarray, np.ndarray, int, float]) -> None:
        image, K, stamp_ns, handed_at = item
        begin = time.monotonic()
        result = tracker.process(image, stamp_ns, K)
        done = time.monotonic()
        recorder.handled((done - handed_at) * 1e3, (done - begin) * 1e3, len(result.faces))

    worker: DropInFlightWorker = DropInFlightWorker(
        handle, on_drop=lambda _: recorder.count("drops"), on_error=recorder.failed, name="hpe-soak"
    )
    frames = looping_frames(sources)
    intrinsics: dict[tuple[int, int], np.ndarray] = {}
    tick = 0
    try:
        while True:
            _, image = next(frames)
            height, width = image.shape[:2]
            K = intrinsics.get((width, height))
            if K is None:
                K = intrinsics[width, height] = intrinsics_from_fov(width, height, **fov)
            now = time.monotonic()
            due = start + tick * period
            if now - due >= period:  # the loop itself fell behind: skip the missed ticks
                missed = int((now - due) / period)
                recorder.count("late_ticks", missed)
                tick += missed
                due = start + tick * period
            if due - start >= duration_s:
                break
            time.sleep(max(0.0, due - now))
            handed_at = time.monotonic()
            worker.submit((image, K, time.monotonic_ns(), handed_at))
            recorder.count("submitted")
            tick += 1
            if tick % max(1, round(rate_hz)) == 0:
                recorder.sample_rss()
                recorder.roll(handed_at)
                if progress is not None:
                    progress(handed_at - start, dict(recorder.totals))
    finally:
        worker.stop(timeout_s=30.0)
    end = time.monotonic()
    recorder.close_window(end)
    return _report(recorder, sources, duration_s, rate_hz, end - start, tracker)


def _report(
    recorder: SoakRecorder,
    sources: list[str],
    duration_s: float,
    rate_hz: float,
    elapsed_s: float,
    tracker: HeadPoseTracker,
) -> dict[str, Any]:
    rss_end = rss_mib()
    totals = recorder.totals
    return {
        "sources": sources,
        "duration_s": duration_s,
        "elapsed_s": round(elapsed_s, 1),
        "rate_hz": rate_hz,
        **totals,
        "drop_fraction": round(totals["drops"] / totals["submitted"], 4) if totals["submitted"] else None,
        "processed_fps": round(totals["frames"] / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        "last_error": recorder.last_error,
        "rss_mib": {
            "start": round(recorder.rss_start, 1),
            "end": round(rss_end, 1),
            "max": round(max(recorder.rss_max, rss_end), 1),
        },
        "latency_ms": _percentiles(recorder.latencies_ms),
        "process_ms": _percentiles(recorder.process_ms),
        "load_average_1_5_15min_at_end": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "clock_resets": tracker.clock_resets,
        "engine": tracker.engine.describe(),
        "per_minute": recorder.series,
    }


def plot_soak(report: dict[str, Any], path: Path) -> None:
    """RSS, latency percentiles and drops per minute, one panel each, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = report["per_minute"]
    minutes = [entry["t_s"] / 60.0 for entry in series]
    figure, (memory, latency, drops) = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    memory.plot(minutes, [e["rss_mib"] for e in series], label="RSS at the minute's end")
    memory.plot(minutes, [e["rss_max_mib"] for e in series], "--", label="max in the minute")
    memory.set_ylabel("RSS (MiB)")
    memory.legend(loc="lower right")
    for p in PERCENTILES:
        values = [e["latency_ms"][f"p{p}"] for e in series]
        latency.plot(minutes, [np.nan if v is None else v for v in values], label=f"p{p}")
    latency.set_ylabel("latency (ms)")
    latency.legend(loc="upper right")
    drops.plot(minutes, [e["frames"] for e in series], label="frames processed")
    drops.plot(minutes, [e["drops"] for e in series], label="dropped (replaced while pending)")
    drops.plot(minutes, [e["late_ticks"] for e in series], label="late ticks (reader behind)")
    drops.set_ylabel("per minute")
    drops.set_xlabel("minutes")
    drops.legend(loc="upper right")
    figure.suptitle(
        f"hpe soak: {report['rate_hz']:g} Hz for {report['elapsed_s'] / 60:.0f} min, "
        f"{report['frames']} frames, {report['drops']} drops"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
