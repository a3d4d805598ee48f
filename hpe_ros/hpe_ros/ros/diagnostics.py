"""What the node says on /diagnostics: a level, a one-line reason and key/values, from counted events.

:class:`NodeHealth` is fed by the image callback and the inference thread (it locks) and summarised once per
period by :meth:`NodeHealth.report`, which also starts the next period. Levels follow
diagnostic_msgs/DiagnosticStatus. WARN: frames dropped because inference is slower than the input, frames
skipped for an unsupported encoding, no camera_info (a default field of view is assumed), a stale camera_info
(none for longer than ``camera_info_max_age_s``: its age and the intrinsics still in use are said), a time
jump (the tracks were reset), non-finite engine outputs, or no image in the period. ERROR: a frame failed
with an error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from hpe_ros.results import FrameResult

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}


@dataclass(frozen=True)
class DiagnosticReport:
    """One diagnostic_msgs/DiagnosticStatus worth of content."""

    level: int
    message: str
    values: list[tuple[str, str]]

    def value(self, key: str) -> str:
        """The value of ``key`` (KeyError when absent)."""
        return dict(self.values)[key]


@dataclass(frozen=True)
class IntrinsicsSource:
    """Where one frame's intrinsics came from."""

    from_camera_info: bool
    """False: no usable camera_info, the default field of view was assumed."""
    camera_info_age_s: float | None = None
    """Seconds since the last camera_info arrived; None when none has."""
    max_age_s: float = 0.0
    """A camera_info older than this is stale (0: never)."""

    @property
    def stale(self) -> bool:
        """The last camera_info is older than ``max_age_s``."""
        age = self.camera_info_age_s
        return age is not None and self.max_age_s > 0 and age > self.max_age_s


@dataclass
class _Period:
    received: int = 0
    processed: int = 0
    dropped: int = 0
    skipped_encoding: int = 0
    non_finite: int = 0
    time_jumps: int = 0
    errors: int = 0
    default_intrinsics: int = 0
    stale_intrinsics: int = 0
    latency_ms: list[float] = field(default_factory=list)


class NodeHealth:
    """Counts the node's events and turns them into a :class:`DiagnosticReport` per period."""

    def __init__(self, engine_info: dict[str, Any], start_s: float, default_fov_deg: float) -> None:
        self.engine_info = dict(engine_info)
        self.default_fov_deg = default_fov_deg
        self._lock = threading.Lock()
        self._period = _Period()
        self._totals = _Period()
        self._period_start_s = start_s
        self.last_error = ""
        self.last_encoding_error = ""
        self.faces = 0
        self.anchors: dict[int, int] = {}
        self.intrinsics: IntrinsicsSource | None = None

    def frame_received(self) -> None:
        """An image arrived (before conversion)."""
        self._count("received")

    def frame_dropped(self) -> None:
        """A pending frame was replaced by a newer one before inference (inference slower than the input)."""
        self._count("dropped")

    def unsupported_encoding(self, message: str) -> None:
        """A frame was skipped because its encoding cannot be read."""
        with self._lock:
            self.last_encoding_error = message
        self._count("skipped_encoding")

    def frame_failed(self, message: str) -> None:
        """Processing a frame raised an error (bad input, engine failure)."""
        with self._lock:
            self.last_error = message
        self._count("errors")

    def frame_processed(
        self,
        result: FrameResult,
        latency_ms: float,
        anchors: dict[int, int],
        intrinsics: IntrinsicsSource,
    ) -> None:
        """A frame went through the tracker with the intrinsics ``intrinsics`` says."""
        with self._lock:
            for counters in (self._period, self._totals):
                counters.processed += 1
                counters.non_finite += result.dropped
                counters.time_jumps += int(result.reset)
                counters.default_intrinsics += int(not intrinsics.from_camera_info)
                counters.stale_intrinsics += int(intrinsics.stale)
            self._period.latency_ms.append(latency_ms)
            self.faces = len(result.faces)
            self.anchors = dict(anchors)
            self.intrinsics = intrinsics

    def report(self, now_s: float) -> DiagnosticReport:
        """The status of the period that ends now (a new period starts)."""
        with self._lock:
            period, totals = self._period, self._totals
            elapsed = max(now_s - self._period_start_s, 1e-9)
            self._period, self._period_start_s = _Period(), now_s
            faces, anchors, intrinsics = self.faces, dict(self.anchors), self.intrinsics
            last_error, last_encoding_error = self.last_error, self.last_encoding_error
        reasons: list[tuple[int, str]] = []
        if period.errors:
            reasons.append((ERROR, f"{period.errors} frame(s) failed: {last_error}"))
        if period.received == 0:
            reasons.append((WARN, "no image received"))
        if period.skipped_encoding:
            reasons.append((WARN, f"{period.skipped_encoding} frame(s) skipped: {last_encoding_error}"))
        fov = f"a {self.default_fov_deg:g} deg horizontal field of view"
        if period.stale_intrinsics and intrinsics is not None:
            in_use = "its K is still used" if intrinsics.from_camera_info else f"assuming {fov}"
            reasons.append(
                (
                    WARN,
                    f"camera_info stale: the last arrived {intrinsics.camera_info_age_s:.1f} s ago "
                    f"(camera_info_max_age_s {intrinsics.max_age_s:g}); {in_use}",
                )
            )
        elif period.default_intrinsics:
            reasons.append((WARN, f"no camera_info: assuming {fov}"))
        if period.time_jumps:
            reasons.append(
                (WARN, f"time jump (stamp went back or skipped ahead): tracks reset x{period.time_jumps}")
            )
        if period.non_finite:
            reasons.append((WARN, f"engine returned NaN/Inf for {period.non_finite} face(s)"))
        if period.dropped:
            reasons.append(
                (
                    WARN,
                    f"dropped {period.dropped} of {period.received} frames: inference slower than the input",
                )
            )
        level = max((lvl for lvl, _ in reasons), default=OK)
        message = "; ".join(text for _, text in reasons) or "tracking"
        latency = period.latency_ms
        values = [(key, str(value)) for key, value in self.engine_info.items()]
        values += [
            ("input rate (Hz)", f"{period.received / elapsed:.1f}"),
            ("output rate (Hz)", f"{period.processed / elapsed:.1f}"),
            ("latency mean (ms)", f"{sum(latency) / len(latency):.1f}" if latency else "n/a"),
            ("latency max (ms)", f"{max(latency):.1f}" if latency else "n/a"),
            ("frames received", str(totals.received)),
            ("frames processed", str(totals.processed)),
            ("frames dropped", str(totals.dropped)),
            ("frames skipped (encoding)", str(totals.skipped_encoding)),
            ("frames failed", str(totals.errors)),
            ("non-finite outputs", str(totals.non_finite)),
            ("time jumps", str(totals.time_jumps)),
            ("faces", str(faces)),
            ("anchors", ", ".join(f"{track}:{count}" for track, count in sorted(anchors.items())) or "none"),
            ("intrinsics", _intrinsics_in_use(intrinsics, self.default_fov_deg)),
            ("camera_info age (s)", _camera_info_age(intrinsics)),
            ("last error", last_error or "none"),
        ]
        return DiagnosticReport(level, message, values)

    def _count(self, name: str) -> None:
        with self._lock:
            for counters in (self._period, self._totals):
                setattr(counters, name, getattr(counters, name) + 1)


def _intrinsics_in_use(intrinsics: IntrinsicsSource | None, default_fov_deg: float) -> str:
    if intrinsics is None:
        return "none yet"
    if not intrinsics.from_camera_info:
        return f"default field of view ({default_fov_deg:g} deg)"
    return "last camera_info (stale)" if intrinsics.stale else "camera_info"


def _camera_info_age(intrinsics: IntrinsicsSource | None) -> str:
    if intrinsics is None or intrinsics.camera_info_age_s is None:
        return "none received"
    return f"{intrinsics.camera_info_age_s:.1f}"
