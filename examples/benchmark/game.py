"""Pure mutualism-ecology game (no Hydra): plants feed pollinators, pollinators pollinate plants.

Each round the agent rests, plants, harvests lightly or harvests heavily. Heavy harvesting pays
now but thins plants and damages pollinator habitat, and because each species' growth needs
the other, the system tips into collapse. The score rewards both yield (efficiency) and
keeping the ecosystem healthy (sustainability). Weather and decisions use separate seeded
streams, so agents compared on one seed face the same weather.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ACTIONS = ("rest", "plant", "harvest_low", "harvest_high")
AGENTS = ("random", "greedy", "cooperative")

K_PLANTS = 100.0
K_POLLINATORS = 100.0
GROWTH_PLANTS = 0.5
GROWTH_POLLINATORS = 0.5
HALF_SATURATION = 30.0
HARVEST_LOW = 0.10
HARVEST_HIGH = 0.40
HABITAT_DAMAGE = 0.7  # pollinators kept after a heavy harvest
REFERENCE_YIELD = 6.5  # per round: the maximum sustainable yield at mean weather
COLLAPSE = 8.0
PLANTING = 3.0  # plants added by planting


@dataclass
class State:
    round: int
    plants: float
    pollinators: float
    harvested: float = 0.0


def _weights(agent: str, s: State) -> list[float]:
    """Action logits (order of ACTIONS) that encode each agent's policy."""
    if agent == "random":
        return [0.0, 0.0, 0.0, 0.0]
    if agent == "greedy":
        return [-1.0, -2.0, 1.0, 3.0]
    if agent == "cooperative":
        if s.plants < 0.45 * K_PLANTS:
            return [1.0, 3.0, -1.0, -4.0]
        if s.pollinators < 0.4 * K_POLLINATORS:
            return [3.0, 0.5, 0.0, -4.0]
        return [0.0, -1.0, 3.0, -3.0]
    raise ValueError(f"agent must be one of {AGENTS}, got {agent!r}")


def sample_action(
    logits: Sequence[float], temperature: float, top_p: float, rng: random.Random
) -> str:
    """Softmax sampling with temperature and nucleus (top-p) filtering, like an LLM decoder.

    ``temperature <= 0`` is argmax with uniform tie-breaking (so the random agent stays random).
    Exactly one draw is consumed per call so the stream stays aligned across settings.
    """
    u = rng.random()
    peak = max(logits)
    if temperature <= 0:
        best = [i for i, x in enumerate(logits) if x == peak]
        return ACTIONS[best[int(u * len(best))]]
    probs = [math.exp((x - peak) / temperature) for x in logits]
    total = sum(probs)
    ranked = sorted(range(len(probs)), key=lambda i: (-logits[i], i))  # exact, unlike probs
    kept: list[int] = []
    mass = 0.0
    for i in ranked:
        kept.append(i)
        mass += probs[i] / total
        if mass >= top_p - 1e-12:
            break
    norm = sum(probs[i] for i in kept)
    acc = 0.0
    for i in kept:
        acc += probs[i] / norm
        if u < acc:
            return ACTIONS[i]
    return ACTIONS[kept[-1]]


def _step(s: State, action: str, weather: float) -> float:
    """Apply the action then one round of mutualistic growth; return the net yield."""
    gain = 0.0
    if action == "harvest_low":
        gain = HARVEST_LOW * s.plants
    elif action == "harvest_high":
        gain = HARVEST_HIGH * s.plants
        s.pollinators *= HABITAT_DAMAGE
    elif action == "plant":
        gain = -2.0  # seeds cost part of the stock
        s.plants += PLANTING
    s.plants -= max(gain, 0.0)
    p, q = s.plants, s.pollinators
    pollination = q / (q + HALF_SATURATION)
    forage = p / (p + HALF_SATURATION)
    growth_p = GROWTH_PLANTS * weather * p * pollination * (1 - p / K_PLANTS)
    growth_q = GROWTH_POLLINATORS * q * forage * (1 - q / K_POLLINATORS)
    s.plants = max(0.0, p + growth_p - 0.05 * p)
    s.pollinators = max(0.0, q + growth_q - 0.08 * q)
    if s.plants < COLLAPSE:  # Allee effect: too few plants to recover on their own
        s.plants *= 0.5
    if s.pollinators < COLLAPSE:
        s.pollinators *= 0.5
    s.harvested += gain
    s.round += 1
    return gain


def play(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Play one game; return the result.json payload (scores, success, final_state, timeline)."""
    agent = str(cfg["agent"])
    seed = int(cfg["seed"])
    rounds = int(cfg["num_rounds"])
    temperature, top_p = float(cfg["temperature"]), float(cfg["top_p"])
    if agent not in AGENTS:
        raise ValueError(f"agent must be one of {AGENTS}, got {agent!r}")
    if rounds < 1 or not 0.0 < top_p <= 1.0:
        raise ValueError("need num_rounds >= 1 and 0 < top_p <= 1")
    weather_rng = random.Random(f"benchmark:{seed}:weather")
    agent_rng = random.Random(f"benchmark:{seed}:agent:{agent}")
    s = State(0, 60.0, 50.0)
    timeline: list[dict[str, Any]] = []
    health = 0.0
    for _ in range(rounds):
        action = sample_action(_weights(agent, s), temperature, top_p, agent_rng)
        gain = _step(s, action, max(0.2, weather_rng.gauss(1.0, 0.2)))
        health += min(1.0, s.plants / (0.5 * K_PLANTS), s.pollinators / (0.5 * K_POLLINATORS))
        timeline.append(
            {
                "round": s.round,
                "action": action,
                "yield": round(gain, 6),
                "plants": round(s.plants, 6),
                "pollinators": round(s.pollinators, 6),
            }
        )
    efficiency = min(1.0, max(0.0, s.harvested / (REFERENCE_YIELD * rounds)))
    sustainability = health / rounds
    collapsed = s.plants < COLLAPSE or s.pollinators < COLLAPSE
    score = 0.5 * efficiency + 0.5 * sustainability
    return {
        "scores": {
            "score": round(score, 6),
            "efficiency": round(efficiency, 6),
            "sustainability": round(sustainability, 6),
        },
        "success": (not collapsed) and score >= 0.5,
        "final_state": {
            "round": s.round,
            "plants": round(s.plants, 6),
            "pollinators": round(s.pollinators, 6),
            "harvested_total": round(s.harvested, 6),
            "collapsed": collapsed,
        },
        "timeline": timeline,
    }
