"""A stratified cluster bootstrap of the pooled contrast, with BCa intervals.

The resampling unit is the seed's paired difference (the seed is the cluster: both arms of a
pair share it), drawn with replacement *within* each scenario, so every resample keeps the
design's n_s per scenario. The interval is bias-corrected and accelerated (BCa, Efron 1987):
the bias from the share of resamples below the estimate, the acceleration from the jackknife
over the N pairs. When the resamples cannot give a BCa interval (all below or above the
estimate) the percentile interval is returned and ``method`` says so.

Deterministic: the generator is seeded from a key naming the contrast, so a report rebuilt
from the same records shows the same bounds. tests/test_analysis_stats.py checks the
one-scenario case against scipy.stats.bootstrap(method="BCa").
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class BootstrapIntervals:
    method: str                                        # "BCa" | "percentile" | "exact"
    bounds: dict[float, tuple[float, float]]           # confidence → (low, high)


def seed_for(key: str) -> int:
    return zlib.crc32(key.encode("utf-8"))


def bootstrap(differences: Mapping[str, Sequence[float]], confidences: Sequence[float], *,
              resamples: int = 2000, seed: int = 0) -> BootstrapIntervals | None:
    """Intervals of the pooled mean difference at each confidence (None: fewer than 2 pairs)."""
    import numpy as np
    from scipy.special import ndtr, ndtri

    strata = [np.asarray(d, dtype=float) for d in differences.values() if len(d)]
    n = sum(len(d) for d in strata)
    if n < 2:
        return None
    every = np.concatenate(strata)
    theta = float(every.mean())
    if np.ptp(every) <= 1e-12 * max(1.0, float(np.abs(every).max())):
        return BootstrapIntervals("exact", {c: (theta, theta) for c in confidences})
    rng = np.random.default_rng(seed)
    sums = np.zeros(resamples)
    for d in strata:
        sums += d[rng.integers(0, len(d), size=(resamples, len(d)))].sum(axis=1)
    boot = sums / n
    below = float(np.mean(boot < theta))
    jack = (every.sum() - every) / (n - 1)
    spread = jack.mean() - jack
    denom = 6.0 * float(np.sum(spread ** 2)) ** 1.5
    accel = float(np.sum(spread ** 3)) / denom if denom > 0 else 0.0
    bounds: dict[float, tuple[float, float]] = {}
    method = "BCa"
    for c in confidences:
        tails = np.array([(1 - c) / 2, (1 + c) / 2])
        if 0.0 < below < 1.0:
            z0 = float(ndtri(below))
            z = ndtri(tails)
            tails = ndtr(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        else:
            method = "percentile"
        low, high = np.percentile(boot, tails * 100)
        bounds[c] = (float(low), float(high))
    return BootstrapIntervals(method, bounds)
