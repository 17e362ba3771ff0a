"""Adaptive seeds, simulated: hundreds of whole adaptive studies driven in-process by the very
functions the sweeper uses (analysis.arms.arms → every arm's ``target`` → those seeds run →
again), on the synthetic app's truth (tests.apps.effects.model.value, the value the Hydra app
``python -m tests.apps.effects`` writes). Each study has its own ``salt``, so the studies are
independent draws.

Units: ``noise = common = 1``, so a seed's value has sd √2 and a paired difference (the common
part cancels) has sd √2 ≈ 1.41; effects and δ below are absolute (δ = 1 is 0.71 sd of a paired
difference).

Settings as a study would write them: min_seeds 3, round_size 2, max_seeds 40 (the study lists
40 seeds), α = 0.05, scenarios "calm" and "busy".

Decide mode, two hypotheses per study:

* ``effects``: reference ``base``; ``null`` (effect 0, two-sided), ``small`` (+0.4 < δ,
  "higher"), ``large`` (+2.5, "higher") and ``harm`` (−2.5, "higher": refuted is right);
  δ = 1, m = 4, so every contrast arm is held to 0.05/(4·2).
* ``same``: reference ``base``; ``twin`` (effect 0, two-sided) with δ = 2, so it is usually
  decided equivalent; m = 1, arms at 0.05/2.

A false decision: supported/refuted when the true effect is 0, an interval that excludes 0 on
the wrong side, or equivalent when |true effect| ≥ δ — per scenario arm (what stops it) and per
pooled contrast (what the report shows, analysis.arms.confseq_rows). The guarantee is
family-wise: P(any false decision in a hypothesis) ≤ α, checked against α plus three binomial
standard errors of the number of simulated hypotheses; likewise every final interval of a
hypothesis covers its true paired effect with probability ≥ 1 − α.

Half-width mode: each arm's own mean (non-contrast), one hypothesis with an absolute goal
(±1.0) and one with a relative goal (10 % of |mean|), checked for per-arm coverage at α and for
every stopped arm meeting its goal.

``pytest -s`` prints the figures (runtime, error rates, coverage, seeds spent).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from silisocs_study.analysis.adaptive import AdaptiveSettings
from silisocs_study.analysis.arms import arms, confseq_rows
from silisocs_study.analysis.confseq import half_width
from tests.apps.effects.model import BASE, value

STUDIES = 500
SCENARIOS = ("calm", "busy")
SEEDS = 40                      # the study's seed list: 1..40
ALPHA = 0.05
METRIC = "y"
DECIDE = AdaptiveSettings(goal="decide", min_seeds=3, round_size=2, max_seeds=40, alpha=ALPHA)
SIGMA_DIFF = math.sqrt(2.0)     # sd of a paired difference (noise = common = 1)


@dataclass(frozen=True)
class Hyp:
    name: str
    reference: str
    effects: dict[str, float]            # condition → true effect (reference included)
    directions: dict[str, str]
    delta: float | None
    settings: AdaptiveSettings = DECIDE

    @property
    def contrasts(self) -> list[str]:
        return [c for c in self.effects if c != self.reference]


EFFECTS = Hyp("effects", "base", {"base": 0.0, "null": 0.0, "small": 0.4, "large": 2.5,
                                  "harm": -2.5},
              {"null": "two-sided", "small": "higher", "large": "higher", "harm": "higher"},
              delta=1.0)
SAME = Hyp("same", "base", {"base": 0.0, "twin": 0.0}, {"twin": "two-sided"}, delta=2.0)


@dataclass
class Outcome:
    block: dict                          # the final adaptive block (every arm)
    rows: list[dict]                     # pooled and per-scenario contrast rows
    rounds: int
    seeds: dict[tuple[str, str], int] = field(default_factory=dict)


def simulate(hyp: Hyp, salt: str) -> Outcome:
    """One adaptive hypothesis from its first round until no arm runs."""
    scenarios = {c: list(SCENARIOS) for c in hyp.effects}
    cells: dict[tuple[str, str], dict[str, dict[int, float]]] = {
        (c, s): {METRIC: {}} for c in hyp.effects for s in SCENARIOS}
    attempted = {key: 0 for key in cells}
    planned = {key: SEEDS for key in cells}
    reference = hyp.reference if hyp.settings.goal == "decide" else None
    m = max(1, len(hyp.contrasts))
    rounds = 0
    while True:
        block = arms(hyp.name, hyp.settings, METRIC, reference, scenarios, cells,
                     hyp.directions, hyp.delta, ALPHA, m, attempted, planned)
        if block["state"] == "done":
            break
        grew = False
        for arm in block["arms"]:
            key = (arm["condition"], arm["scenario"])
            cond, scenario = key
            for seed in range(attempted[key] + 1, arm["target"] + 1):   # seed order 1..max
                cells[key][METRIC][seed] = value(hyp.effects[cond], seed, scenario,
                                                 f"{hyp.name}/{cond}", salt=salt)
            if arm["target"] > attempted[key]:
                attempted[key], grew = arm["target"], True
        rounds += 1
        assert grew, f"a round with running arms but no new seed: {block['arms']}"
        assert rounds <= SEEDS, "more rounds than seeds"
    rows = []
    if reference is not None:
        for cond in hyp.contrasts:
            for s in ("pooled", *SCENARIOS):
                rows.append({"condition": cond, "reference": reference, "metric": METRIC,
                             "scenario": s, "pooled": s == "pooled",
                             "direction": hyp.directions[cond], "delta": hyp.delta})
        confseq_rows(rows, cells, ALPHA, m)
    return Outcome(block, rows, rounds, dict(attempted))


def false_decision(verdict: str | None, low: float | None, high: float | None, truth: float,
                   delta: float | None) -> bool:
    if verdict in ("supported", "refuted"):
        assert low is not None and high is not None
        claimed = 1 if low > 0 else -1 if high < 0 else 0
        assert claimed, (verdict, low, high)
        return truth == 0 or claimed != (1 if truth > 0 else -1)
    if verdict == "equivalent":
        return delta is not None and abs(truth) >= delta
    return False


def covers(low: float | None, high: float | None, truth: float) -> bool:
    return low is None or high is None or low <= truth <= high


def tolerance(rate: float, trials: int) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / trials)


def rounds_grid(settings: AdaptiveSettings) -> list[int]:
    """The seed counts an arm can stop at: min_seeds, then every round_size to the cap."""
    cap = settings.max_seeds or SEEDS
    return list(range(settings.min_seeds, cap, settings.round_size)) + [cap]


def typical_stop(effect: float, level: float, settings: AdaptiveSettings) -> int:
    """Where an arm whose mean and sd came out exactly at their true values would stop:
    the first n on the rounds' grid whose interval excludes 0 (mean − half-width > 0)."""
    for n in rounds_grid(settings):
        if abs(effect) > half_width(n, (n - 1) * SIGMA_DIFF ** 2, level):
            return n
    return settings.max_seeds or SEEDS


def test_adaptive_decide_simulation() -> None:
    start = time.perf_counter()
    tally: dict[str, dict] = {}
    for hyp in (EFFECTS, SAME):
        t = tally[hyp.name] = {"family_false": 0, "family_miss": 0, "arm_false": 0,
                               "arm_miss": 0, "arms": 0, "pooled_false": 0,
                               "pooled_miss": 0, "pooled": 0, "rounds": 0,
                               "seeds": {c: 0 for c in hyp.effects},
                               "verdicts": {c: {} for c in hyp.contrasts},
                               "states": {}}
        for i in range(STUDIES):
            out = simulate(hyp, salt=f"decide-{i}")
            t["rounds"] += out.rounds
            wrong = miss = False
            for arm in out.block["arms"]:
                t["seeds"][arm["condition"]] += arm["attempted"]
                if arm["role"] != "contrast":
                    continue
                truth = hyp.effects[arm["condition"]] - hyp.effects[hyp.reference]
                t["states"][arm["state"]] = t["states"].get(arm["state"], 0) + 1
                assert arm["alpha"] == ALPHA / (len(hyp.contrasts) * len(SCENARIOS))
                assert arm["state"] != "running"
                # a decided arm is exactly one whose verdict is not inconclusive
                assert (arm["state"] == "decided") == (arm["verdict"] != "inconclusive")
                assert arm["attempted"] >= DECIDE.min_seeds
                if arm["state"] == "capped":
                    assert arm["attempted"] == DECIDE.max_seeds
                f = false_decision(arm["verdict"], arm["low"], arm["high"], truth, hyp.delta)
                c = covers(arm["low"], arm["high"], truth)
                t["arms"] += 1
                t["arm_false"] += f
                t["arm_miss"] += not c
                wrong |= f
                miss |= not c
            for row in out.rows:
                if not row["pooled"]:
                    continue
                truth = hyp.effects[row["condition"]] - hyp.effects[hyp.reference]
                f = false_decision(row["verdict"], row["cs_low"], row["cs_high"], truth,
                                   hyp.delta)
                c = covers(row["cs_low"], row["cs_high"], truth)
                t["pooled"] += 1
                t["pooled_false"] += f
                t["pooled_miss"] += not c
                verdicts = t["verdicts"][row["condition"]]
                verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
                wrong |= f
                miss |= not c
            t["family_false"] += wrong
            t["family_miss"] += miss
    elapsed = time.perf_counter() - start

    tol = tolerance(ALPHA, STUDIES)
    print(f"\nadaptive decide: {STUDIES} studies × 2 hypotheses in {elapsed:.1f} s "
          f"(settings: min_seeds {DECIDE.min_seeds}, round_size {DECIDE.round_size}, "
          f"max_seeds {DECIDE.max_seeds}, α {ALPHA}; bound α + 3 se = {ALPHA + tol:.3f})")
    for hyp in (EFFECTS, SAME):
        t = tally[hyp.name]
        print(f"  {hyp.name} (δ = {hyp.delta:g}, m = {len(hyp.contrasts)}): "
              f"P(any false decision) = {t['family_false'] / STUDIES:.3f}, "
              f"P(any final interval misses) = {t['family_miss'] / STUDIES:.3f}; per arm "
              f"false {t['arm_false'] / t['arms']:.4f}, coverage "
              f"{1 - t['arm_miss'] / t['arms']:.4f}; pooled contrasts false "
              f"{t['pooled_false'] / t['pooled']:.4f}, coverage "
              f"{1 - t['pooled_miss'] / t['pooled']:.4f}; mean rounds "
              f"{t['rounds'] / STUDIES:.1f}; arm states {t['states']}")
        for cond, effect in hyp.effects.items():
            mean = t["seeds"][cond] / (STUDIES * len(SCENARIOS))
            verdicts = t["verdicts"].get(cond)
            print(f"    {cond:6s} effect {effect:+.1f}: mean seeds per arm {mean:5.1f} of "
                  f"{SEEDS}" + (f"; pooled verdicts {verdicts}" if verdicts else
                                " (reference: runs while any partner does)"))

    level = ALPHA / (len(EFFECTS.contrasts) * len(SCENARIOS))
    print(f"  large/harm: an arm at its true mean and sd would stop at n* = "
          f"{typical_stop(2.5, level, DECIDE)} (bound n* + 2 rounds)")

    for hyp in (EFFECTS, SAME):
        t = tally[hyp.name]
        # (i) false decisions, family-wise (the design's promise) and hence per arm
        assert t["family_false"] / STUDIES <= ALPHA + tol, (hyp.name, t)
        # (ii) every final interval of the hypothesis covers its truth at once
        assert 1 - t["family_miss"] / STUDIES >= 1 - ALPHA - tol, (hyp.name, t)
        assert 1 - t["arm_miss"] / t["arms"] >= 1 - ALPHA - tolerance(ALPHA, t["arms"])
    # (iii) seeds spent: large effects stop where an arm with its true mean and sd would (n*,
    # 11 on the grid 3, 5, 7, …), give or take sampling, so far below the cap; the reference
    # of ``effects`` serves ``small``, which is rarely decided, so it runs long
    seeds = {c: n / (STUDIES * len(SCENARIOS)) for c, n in tally["effects"]["seeds"].items()}
    for cond in ("large", "harm"):
        bound = typical_stop(EFFECTS.effects[cond], level, DECIDE) + 2 * DECIDE.round_size
        assert seeds[cond] < bound, (cond, seeds[cond], bound)
        assert seeds[cond] < DECIDE.max_seeds / 2
    # the equivalence of ``twin`` (δ = 2) is clear after ~12 seeds; allow sampling
    twin = tally["same"]["seeds"]["twin"] / (STUDIES * len(SCENARIOS))
    assert twin < DECIDE.max_seeds / 2, twin
    assert tally["same"]["verdicts"]["twin"].get("equivalent", 0) / STUDIES > 0.8
    # correct decisions do happen: large effects are found, harm refuted
    assert tally["effects"]["verdicts"]["large"].get("supported", 0) / STUDIES > 0.95
    assert tally["effects"]["verdicts"]["harm"].get("refuted", 0) / STUDIES > 0.95


HW_ABS = AdaptiveSettings(goal="half_width", half_width=1.0, min_seeds=3, round_size=2,
                          max_seeds=40, alpha=ALPHA)
HW_REL = AdaptiveSettings(goal="half_width", half_width=0.10, relative=True, min_seeds=3,
                          round_size=2, max_seeds=40, alpha=ALPHA)
PRECISION = (Hyp("absolute", "a", {"a": 0.0, "b": 1.5}, {}, None, HW_ABS),
             Hyp("relative", "a", {"a": 0.0, "b": -3.0}, {}, None, HW_REL))


def test_adaptive_half_width_simulation() -> None:
    start = time.perf_counter()
    arms_seen = misses = stopped = 0
    seeds: dict[tuple[str, str, str], int] = {}
    arm_misses: dict[tuple[str, str, str], int] = {}
    states: dict[str, int] = {}
    for i in range(STUDIES):
        for hyp in PRECISION:
            out = simulate(hyp, salt=f"precision-{i}")
            for arm in out.block["arms"]:
                cond, scenario = arm["condition"], arm["scenario"]
                truth = BASE[scenario] + hyp.effects[cond]
                assert arm["role"] == "mean" and arm["alpha"] == ALPHA
                arms_seen += 1
                miss = not covers(arm["low"], arm["high"], truth)
                misses += miss
                key = (hyp.name, cond, scenario)
                arm_misses[key] = arm_misses.get(key, 0) + miss
                states[arm["state"]] = states.get(arm["state"], 0) + 1
                seeds[key] = seeds.get(key, 0) + arm["attempted"]
                if arm["state"] == "decided":
                    stopped += 1
                    goal = hyp.settings.half_width * (abs(arm["estimate"])
                                                      if hyp.settings.relative else 1.0)
                    assert arm["verdict"] == "precise"
                    assert (arm["high"] - arm["low"]) / 2 <= goal + 1e-12, arm
                else:
                    assert arm["state"] == "capped" and arm["attempted"] == 40
    elapsed = time.perf_counter() - start
    coverage = 1 - misses / arms_seen
    # arms of one study share the common noise: treat the STUDIES draws of one arm as the
    # independent ones (the tolerance of the pooled rate is then conservative)
    tol = tolerance(ALPHA, STUDIES)
    print(f"\nadaptive half_width: {STUDIES} studies × 2 hypotheses × 4 arms in "
          f"{elapsed:.1f} s; coverage {coverage:.4f} (bound {1 - ALPHA - tol:.3f}); "
          f"states {states}")
    for (name, cond, scenario), total in seeds.items():
        print(f"  {name:8s} {cond} {scenario:4s}: mean seeds {total / STUDIES:5.1f}, coverage "
              f"{1 - arm_misses[(name, cond, scenario)] / STUDIES:.3f}")
    assert coverage >= 1 - ALPHA - tol
    for key, missed in arm_misses.items():      # each arm's own rate, too
        assert 1 - missed / STUDIES >= 1 - ALPHA - tol, (key, missed)
    assert stopped > 0.85 * arms_seen
