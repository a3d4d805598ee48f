"""Fixed synthetic evaluation protocols on held-out identities, mirroring VGGT-HPE's controlled benchmarks.

``easy``: 360 pairs, near-neutral anchor (≤ 10° from frontal), query a small gap (5–30°) away from it.
``hard``: 360 pairs, near-neutral anchor, extreme query: BIWI-range pose at least 45° away from the anchor.
Both use identity ids ≥ :data:`~hpe_ros.synth.sampler.EVAL_IDENTITY_BASE` (never drawn in training), fixed
seeds and no degradations (blur, noise, JPEG, occluders, low resolution), so every run sees identical images.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hpe_ros.errors import InputError
from hpe_ros.geometry import geodesic_deg
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.synth.sampler import (
    EVAL_IDENTITY_BASE,
    PairParams,
    PairSampler,
    random_rotation_within,
    sample_rotation,
)


@dataclass(frozen=True)
class Protocol:
    """A fixed pair set: size, seed, identity pool and the query's gap range from the anchor (degrees)."""

    name: str
    pairs: int
    seed: int
    gap_deg: tuple[float, float]
    identities: int = 60


PROTOCOLS = {
    "easy": Protocol("easy", 360, seed=20260401, gap_deg=(5.0, 30.0)),
    "hard": Protocol("hard", 360, seed=20260402, gap_deg=(45.0, 180.0)),
}


class _ProtocolSampler(PairSampler):
    """A neutral-anchor sampler whose query gap is confined to the protocol's range (rejection sampling)."""

    def __init__(self, model, protocol: Protocol, size: int):
        ids = (EVAL_IDENTITY_BASE, EVAL_IDENTITY_BASE + protocol.identities)
        super().__init__(model, size, "biwi", "neutral", protocol.seed, ids, degrade=False)
        self.protocol = protocol

    def sample(self, index: int) -> PairParams:
        pair = super().sample(index)
        rng = np.random.default_rng([self.seed, index, 1])
        low, high = self.protocol.gap_deg
        for _ in range(1000):
            if high <= 30.0:
                R_q = random_rotation_within(rng, low, high) @ pair.anchor.R
            else:
                R_q = sample_rotation(rng, "biwi")
            if low <= geodesic_deg(R_q, pair.anchor.R) <= high:
                break
        else:
            raise InputError(f"protocol {self.protocol.name}: no query pose in the gap range")
        # Keep the query's crop placement: move its head so the head centre stays where it was sampled.
        centre = pair.query.R @ HEAD_CENTRE_M + pair.query.t
        pair.query.t = centre - R_q @ HEAD_CENTRE_M
        pair.query.R = R_q
        return pair


def protocol_pairs(
    name: str,
    cache: str | os.PathLike | None = None,
    size: int = 224,
    limit: int | None = None,
    renderer=None,
) -> Iterator[tuple[np.ndarray, np.ndarray, dict]]:
    """Yield (anchor RGB, query RGB, labels) of protocol ``easy`` or ``hard``, identical on every run.

    Labels are :func:`~hpe_ros.synth.generator.pair_labels` (R, t, K per view, R_rel, t_rel, gap_deg, …).
    ``limit`` renders only the first pairs; ``renderer`` reuses an existing :class:`PairRenderer`.
    """
    from hpe_ros.synth.generator import PairRenderer

    if name not in PROTOCOLS:
        raise InputError(f"unknown synthetic protocol {name!r}; choose from {sorted(PROTOCOLS)}")
    protocol = PROTOCOLS[name]
    own = renderer is None
    renderer = renderer or PairRenderer(size=size, cache=cache)
    sampler = _ProtocolSampler(renderer.model, protocol, renderer.size)
    try:
        for index in range(protocol.pairs if limit is None else min(limit, protocol.pairs)):
            yield renderer.render_pair(sampler.sample(index))
    finally:
        if own:
            renderer.close()


def gap_statistics(gaps_deg: list[float] | np.ndarray) -> dict[str, float]:
    """Summary of anchor–query gaps in degrees: n, mean, median, min, max, p90."""
    gaps = np.asarray(gaps_deg, float)
    if not len(gaps):
        return {"n": 0}
    return {
        "n": len(gaps),
        "mean": float(gaps.mean()),
        "median": float(np.median(gaps)),
        "min": float(gaps.min()),
        "max": float(gaps.max()),
        "p90": float(np.percentile(gaps, 90)),
    }
