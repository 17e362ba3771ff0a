"""The synthetic study's truth: a seed's value for an arm whose true mean is ``effect``.

value = base[scenario] + effect + common·z(seed, scenario) + noise·z(seed, scenario, arm):
the common part is shared by every arm on the same seed and scenario (paired seeds cancel
it), the rest is each arm's own. Deterministic in its arguments, so the Hydra app and the
in-process simulation give the same numbers.
"""
from __future__ import annotations

import hashlib
import math
import random

BASE = {"calm": 10.0, "busy": 14.0}


def _normal(*key: object) -> float:
    digest = hashlib.sha256(repr(key).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).gauss(0.0, 1.0)


def value(effect: float, seed: int, scenario: str, arm: str, *, noise: float = 1.0,
          common: float = 1.0, salt: str = "") -> float:
    base = BASE.get(scenario, 0.0)
    return base + effect + common * _normal("common", salt, seed, scenario) + \
        noise * _normal("own", salt, seed, scenario, arm)


def sd_of_difference(noise: float = 1.0) -> float:
    """The sd of a paired difference (the common part cancels)."""
    return noise * math.sqrt(2.0)
