"""Adaptive seeds, simulated: thousands of whole adaptive studies driven in-process by the very
functions the sweeper uses (analysis.arms.arms → every arm's ``target`` seeds in every scenario
of ``arm["scenarios"]``, as launch.rounds.next_round maps them → those seeds run → again), on
the synthetic app's truth (tests.apps.effects.model.value, the value the Hydra app
``python -m tests.apps.effects`` writes). Each study has its own ``salt``, so the studies are
independent draws.

Units: ``noise = common = 1``, so a seed's value has sd √2 and a paired difference (the common
part cancels) has sd √2 ≈ 1.41; the seed-wise mean of the S = 2 scenarios' paired differences
(what a pooled arm sees) has sd 1. Effects and δ below are absolute (δ = 1 is 0.71 sd of a
paired difference).

Settings as a study would write them: min_seeds 3, round_size 2, max_seeds 40 (the study lists
40 seeds), α = 0.05, scenarios "calm" and "busy".

Decide mode, in BOTH arm layouts, 500 simulated studies each (1000 decide studies in all, each
with two hypotheses):

* ``pooled`` (the default): one arm per condition over both scenarios in lockstep, its values
  the seed-wise means of the paired differences, its sequence at α/m;
* ``per_scenario: true``: one arm per condition × scenario at α/(m·S).

Two hypotheses per study:

* ``effects``: reference ``base``; ``null`` (effect 0, two-sided), ``small`` (+0.2 in calm,
  +0.6 in busy: +0.4 < δ pooled, "higher"), ``large`` (+2 in calm, +3 in busy: +2.5 pooled,
  "higher") and ``harm`` (−2.5, "higher": refuted is right); δ = 1, m = 4.
* ``same``: reference ``base``; ``twin`` (effect 0, two-sided) with δ = 2, so it is usually
  decided equivalent; m = 1.

The true value of a per-scenario arm or row is that scenario's true paired difference; of a
pooled arm or row, the mean over the scenarios of the true paired differences (what the
seed-wise means estimate, and what the stratified pooled row of a balanced design estimates).

A false decision: supported/refuted when the true effect is 0, an interval that excludes 0 on
the wrong side, or equivalent when |true effect| ≥ δ. Two families per hypothesis, each held
to P(any false decision) ≤ α and P(any of its final intervals misses) ≤ α, checked against α
plus three binomial standard errors of the number of simulated hypotheses:

* what decides: the contrast arms (what stops the seeds) and the pooled rows of
  analysis.arms.confseq_rows (what the report shows) — in pooled mode they are the same
  sequence, and the test checks that the arm and its row agree exactly;
* the per-scenario rows the report also shows, each at α/(m·S).

Seeds spent: large effects stop where an arm whose mean and sd came out at their true values
would (n*, on the rounds' grid 3, 5, 7, …) give or take sampling — bounded by n* + 2 rounds,
far below the cap; and pooled arms spend fewer seeds than per-scenario arms on the very same
effects (the reason pooled is the default): the seed-wise mean has 1/S of the variance and its
sequence runs at α/m instead of α/(m·S).

Half-width mode: each arm's own mean (non-contrast), one hypothesis with an absolute goal
(±1.0) and one with a relative goal (10 % of |mean|), checked for per-arm coverage at α and for
every stopped arm meeting its goal.

``pytest -s`` prints the figures (runtime, error rates, coverage, seeds spent).
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field, replace

from silisocs_study.analysis.adaptive import AdaptiveSettings
from silisocs_study.analysis.arms import ALL, arms, confseq_rows
from silisocs_study.analysis.confseq import half_width
from tests.apps.effects.model import BASE, value

STUDIES = 500                   # per decide mode (pooled, per_scenario), and half_width
SCENARIOS = ("calm", "busy")
SEEDS = 40                      # the study's seed list: 1..40
ALPHA = 0.05
METRIC = "y"
DECIDE = AdaptiveSettings(goal="decide", min_seeds=3, round_size=2, max_seeds=40, alpha=ALPHA)
MODES = {"pooled": DECIDE, "per_scenario": replace(DECIDE, per_scenario=True)}
SIGMA_DIFF = math.sqrt(2.0)     # sd of a paired difference (noise = common = 1)
SIGMA_MEAN = SIGMA_DIFF / math.sqrt(len(SCENARIOS))   # sd of a seed-wise mean over scenarios


def everywhere(effect: float) -> dict[str, float]:
    return {s: effect for s in SCENARIOS}


@dataclass(frozen=True)
class Hyp:
    name: str
    reference: str
    effects: dict[str, dict[str, float]]     # condition → scenario → true effect
    directions: dict[str, str]
    delta: float | None
    settings: AdaptiveSettings = DECIDE

    @property
    def contrasts(self) -> list[str]:
        return [c for c in self.effects if c != self.reference]

    def truth(self, cond: str, scenario: str) -> float:
        """The true paired difference in ``scenario``; pooled (ALL or "pooled"): its mean
        over the scenarios."""
        if scenario in SCENARIOS:
            return self.effects[cond][scenario] - self.effects[self.reference][scenario]
        return math.fsum(self.truth(cond, s) for s in SCENARIOS) / len(SCENARIOS)


EFFECTS = Hyp("effects", "base",
              {"base": everywhere(0.0), "null": everywhere(0.0),
               "small": {"calm": 0.2, "busy": 0.6}, "large": {"calm": 2.0, "busy": 3.0},
               "harm": everywhere(-2.5)},
              {"null": "two-sided", "small": "higher", "large": "higher", "harm": "higher"},
              delta=1.0)
SAME = Hyp("same", "base", {"base": everywhere(0.0), "twin": everywhere(0.0)},
           {"twin": "two-sided"}, delta=2.0)


@dataclass
class Outcome:
    block: dict                          # the final adaptive block (every arm)
    rows: list[dict]                     # pooled and per-scenario contrast rows
    rounds: int
    seeds: dict[tuple[str, str], int] = field(default_factory=dict)   # per cell


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
            cond = arm["condition"]
            for scenario in arm["scenarios"]:   # a pooled arm: its scenarios in lockstep
                key = (cond, scenario)
                for seed in range(attempted[key] + 1, arm["target"] + 1):   # seed order
                    cells[key][METRIC][seed] = value(hyp.effects[cond][scenario], seed,
                                                     scenario, f"{hyp.name}/{cond}",
                                                     salt=salt)
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
        # as analysis.decide does: lockstep exactly when the arms are pooled
        confseq_rows(rows, cells, ALPHA, m, lockstep=not hyp.settings.per_scenario)
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


def typical_stop(effect: float, sd: float, level: float, settings: AdaptiveSettings) -> int:
    """Where an arm whose mean and sd came out exactly at their true values would stop:
    the first n on the rounds' grid whose interval excludes 0 (|mean| > half-width)."""
    for n in rounds_grid(settings):
        if abs(effect) > half_width(n, (n - 1) * sd ** 2, level):
            return n
    return settings.max_seeds or SEEDS


def arm_level(mode: str, hyp: Hyp) -> float:
    m = len(hyp.contrasts)
    return ALPHA / m if mode == "pooled" else ALPHA / (m * len(SCENARIOS))


def new_tally(hyp: Hyp) -> dict:
    return {"decide_false": 0, "decide_miss": 0, "rows_false": 0, "rows_miss": 0,
            "arm_false": 0, "arm_miss": 0, "arms": 0, "pooled_false": 0, "pooled_miss": 0,
            "pooled": 0, "rounds": 0, "seeds": {cell: 0 for cell in
                                                ((c, s) for c in hyp.effects for s in SCENARIOS)},
            "verdicts": {c: {} for c in hyp.contrasts}, "states": {}}


@functools.cache
def decide_run(mode: str) -> tuple[dict[str, dict], float]:
    """STUDIES simulated studies (both hypotheses) with the arms of ``mode``; the tallies and
    the seconds they took."""
    settings = MODES[mode]
    start = time.perf_counter()
    tally: dict[str, dict] = {}
    for base in (EFFECTS, SAME):
        hyp = replace(base, settings=settings)
        t = tally[hyp.name] = new_tally(hyp)
        level = arm_level(mode, hyp)
        for i in range(STUDIES):
            out = simulate(hyp, salt=f"decide-{i}")   # the same data in both modes
            t["rounds"] += out.rounds
            block = out.block
            assert block["per_scenario"] is (mode == "per_scenario")
            # the block's accounting: seeds per cell, whatever the layout
            assert block["seeds_done"] == sum(out.seeds.values())
            assert block["seeds_fixed"] == SEEDS * len(out.seeds)
            assert block["seeds_saved"] == block["seeds_fixed"] - block["seeds_done"]
            for cell, n in out.seeds.items():
                t["seeds"][cell] += n
            pooled_rows = {r["condition"]: r for r in out.rows if r["pooled"]}
            wrong = miss = False
            for arm in block["arms"]:
                cond = arm["condition"]
                assert arm["state"] != "running"
                if mode == "pooled":
                    assert arm["scenarios"] == list(SCENARIOS) and arm["scenario"] == ALL
                    # lockstep: the same seeds ran in every scenario
                    assert {out.seeds[(cond, s)] for s in SCENARIOS} == {arm["attempted"]}
                else:
                    assert arm["scenarios"] == [arm["scenario"]]
                    assert out.seeds[(cond, arm["scenario"])] == arm["attempted"]
                if arm["role"] != "contrast":
                    continue
                truth = hyp.truth(cond, arm["scenario"])
                t["states"][arm["state"]] = t["states"].get(arm["state"], 0) + 1
                assert arm["alpha"] == level
                # a decided arm is exactly one whose verdict is not inconclusive
                assert (arm["state"] == "decided") == (arm["verdict"] != "inconclusive")
                assert arm["attempted"] >= DECIDE.min_seeds
                if arm["state"] == "capped":
                    assert arm["attempted"] == DECIDE.max_seeds
                if mode == "pooled":    # the arm that stopped is the row the report shows
                    row = pooled_rows[cond]
                    assert arm["n"] == arm["attempted"]
                    assert row["cs_alpha"] == arm["alpha"]
                    assert row["verdict"] == arm["verdict"]
                    # the same seed-wise means at the same level (fsum: order-free)
                    assert (row["cs_low"], row["cs_high"]) == (arm["low"], arm["high"])
                f = false_decision(arm["verdict"], arm["low"], arm["high"], truth, hyp.delta)
                c = covers(arm["low"], arm["high"], truth)
                t["arms"] += 1
                t["arm_false"] += f
                t["arm_miss"] += not c
                wrong |= f
                miss |= not c
            rows_wrong = rows_miss = False
            for row in out.rows:
                truth = hyp.truth(row["condition"], row["scenario"])
                f = false_decision(row["verdict"], row["cs_low"], row["cs_high"], truth,
                                   hyp.delta)
                c = covers(row["cs_low"], row["cs_high"], truth)
                if not row["pooled"]:
                    assert row["cs_alpha"] == ALPHA / (len(hyp.contrasts) * len(SCENARIOS))
                    rows_wrong |= f
                    rows_miss |= not c
                    continue
                assert row["cs_alpha"] == (ALPHA / len(hyp.contrasts) if mode == "pooled"
                                           else ALPHA / (len(hyp.contrasts) * len(SCENARIOS)))
                t["pooled"] += 1
                t["pooled_false"] += f
                t["pooled_miss"] += not c
                verdicts = t["verdicts"][row["condition"]]
                verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
                wrong |= f
                miss |= not c
            t["decide_false"] += wrong
            t["decide_miss"] += miss
            t["rows_false"] += rows_wrong
            t["rows_miss"] += rows_miss
    return tally, time.perf_counter() - start


def mean_seeds(t: dict, cond: str, scenario: str | None = None) -> float:
    """Mean seeds per scenario a condition ran (one scenario's, or over both)."""
    scens = SCENARIOS if scenario is None else (scenario,)
    return sum(t["seeds"][(cond, s)] for s in scens) / (STUDIES * len(scens))


def report(mode: str, tally: dict[str, dict], elapsed: float) -> None:
    tol = tolerance(ALPHA, STUDIES)
    print(f"\nadaptive decide, {mode} arms: {STUDIES} studies × 2 hypotheses in "
          f"{elapsed:.1f} s (min_seeds {DECIDE.min_seeds}, round_size {DECIDE.round_size}, "
          f"max_seeds {DECIDE.max_seeds}, α {ALPHA}; bound α + 3 se = {ALPHA + tol:.3f})")
    for hyp in (EFFECTS, SAME):
        t = tally[hyp.name]
        print(f"  {hyp.name} (δ = {hyp.delta:g}, m = {len(hyp.contrasts)}, arms at "
              f"{arm_level(mode, hyp):.4g}): deciding intervals P(any false) = "
              f"{t['decide_false'] / STUDIES:.3f}, P(any misses) = "
              f"{t['decide_miss'] / STUDIES:.3f}; per-scenario rows P(any false) = "
              f"{t['rows_false'] / STUDIES:.3f}, P(any misses) = "
              f"{t['rows_miss'] / STUDIES:.3f}; per arm false {t['arm_false'] / t['arms']:.4f},"
              f" coverage {1 - t['arm_miss'] / t['arms']:.4f}; pooled rows false "
              f"{t['pooled_false'] / t['pooled']:.4f}, coverage "
              f"{1 - t['pooled_miss'] / t['pooled']:.4f}; mean rounds "
              f"{t['rounds'] / STUDIES:.1f}; arm states {t['states']}")
        for cond in hyp.effects:
            per = ", ".join(f"{s} {mean_seeds(t, cond, s):4.1f}" for s in SCENARIOS)
            verdicts = t["verdicts"].get(cond)
            truth = hyp.truth(cond, ALL) if cond != hyp.reference else 0.0
            print(f"    {cond:6s} effect {truth:+.1f} (pooled): mean seeds per scenario "
                  f"{mean_seeds(t, cond):5.1f} of {SEEDS} ({per})"
                  + (f"; pooled verdicts {verdicts}" if verdicts else
                     " (reference: runs while any partner does)"))


def check_mode(mode: str) -> None:
    tally, elapsed = decide_run(mode)
    report(mode, tally, elapsed)
    tol = tolerance(ALPHA, STUDIES)
    for hyp in (EFFECTS, SAME):
        t = tally[hyp.name]
        # (i) false decisions, family-wise (the design's promise): what decides, and the
        # per-scenario rows the report shows besides
        assert t["decide_false"] / STUDIES <= ALPHA + tol, (mode, hyp.name, t)
        assert t["rows_false"] / STUDIES <= ALPHA + tol, (mode, hyp.name, t)
        # (ii) every final interval of a family covers its truth at once
        assert 1 - t["decide_miss"] / STUDIES >= 1 - ALPHA - tol, (mode, hyp.name, t)
        assert 1 - t["rows_miss"] / STUDIES >= 1 - ALPHA - tol, (mode, hyp.name, t)
        assert 1 - t["arm_miss"] / t["arms"] >= 1 - ALPHA - tolerance(ALPHA, t["arms"])
        assert 1 - t["pooled_miss"] / t["pooled"] >= 1 - ALPHA - tolerance(ALPHA, t["pooled"])
    # (iii) seeds spent: large effects stop near n*, where an arm at its true mean and sd
    # would (its seed-wise mean, sd 1, at α/m when pooled; each scenario's difference, sd √2,
    # at α/(m·S) per scenario); sampling moves the stop both ways, so the mean stays below
    # n* + 2 rounds — far below the cap
    t = tally["effects"]
    level = arm_level(mode, EFFECTS)
    for cond in ("large", "harm"):
        places = [None] if mode == "pooled" else list(SCENARIOS)
        for s in places:
            truth = EFFECTS.truth(cond, s or ALL)
            sd = SIGMA_MEAN if mode == "pooled" else SIGMA_DIFF
            bound = typical_stop(truth, sd, level, DECIDE) + 2 * DECIDE.round_size
            spent = mean_seeds(t, cond, s)
            print(f"  {cond} {s or ALL}: n* = {bound - 2 * DECIDE.round_size}, mean seeds "
                  f"{spent:.1f} < bound {bound}")
            assert spent < bound, (mode, cond, s, spent, bound)
            assert spent < DECIDE.max_seeds / 2
    # the equivalence of ``twin`` (δ = 2) is clear well before the cap
    twin = mean_seeds(tally["same"], "twin")
    assert twin < DECIDE.max_seeds / 2, twin
    assert tally["same"]["verdicts"]["twin"].get("equivalent", 0) / STUDIES > 0.8
    # correct decisions do happen: large effects are found, harm refuted
    assert t["verdicts"]["large"].get("supported", 0) / STUDIES > 0.95
    assert t["verdicts"]["harm"].get("refuted", 0) / STUDIES > 0.95


def test_adaptive_decide_simulation_pooled() -> None:
    check_mode("pooled")


def test_adaptive_decide_simulation_per_scenario() -> None:
    check_mode("per_scenario")


def test_pooled_arms_spend_fewer_seeds() -> None:
    """The reason pooled arms are the default: on the same data and effects, with S = 2, they
    decide on fewer seeds (every condition that stops, and the study as a whole)."""
    pooled, _ = decide_run("pooled")
    per, _ = decide_run("per_scenario")
    total = {mode: sum(n for t in tally.values() for n in t["seeds"].values())
             for mode, tally in (("pooled", pooled), ("per_scenario", per))}
    print(f"\npooled vs per_scenario arms, seeds per scenario (mean over {STUDIES} studies):")
    for hyp in (EFFECTS, SAME):
        for cond in hyp.effects:
            a, b = mean_seeds(pooled[hyp.name], cond), mean_seeds(per[hyp.name], cond)
            print(f"  {hyp.name}/{cond:6s} pooled {a:5.1f}  per_scenario {b:5.1f}  "
                  f"ratio {a / b:.2f}")
    print(f"  all cells: pooled {total['pooled'] / STUDIES:.1f}, per_scenario "
          f"{total['per_scenario'] / STUDIES:.1f} seeds per study (ratio "
          f"{total['pooled'] / total['per_scenario']:.2f})")
    # n* of the large effects: where pooled and per-scenario arms at their true mean and sd
    # would stop (per scenario: the slower scenario, calm's +2 for ``large``)
    for cond in ("large", "harm"):
        star_pooled = typical_stop(EFFECTS.truth(cond, ALL), SIGMA_MEAN,
                                   arm_level("pooled", EFFECTS), DECIDE)
        star_per = max(typical_stop(EFFECTS.truth(cond, s), SIGMA_DIFF,
                                    arm_level("per_scenario", EFFECTS), DECIDE)
                       for s in SCENARIOS)
        assert star_pooled < star_per, (cond, star_pooled, star_per)
    for name, cond in (("effects", "null"), ("effects", "large"), ("effects", "harm"),
                       ("effects", "base"), ("same", "twin"), ("same", "base")):
        assert mean_seeds(pooled[name], cond) < mean_seeds(per[name], cond), (name, cond)
    # ``small`` (pooled +0.4 < δ) is seldom decided in either layout: no claim but ≤ the cap
    assert total["pooled"] < 0.8 * total["per_scenario"], total
HW_ABS = AdaptiveSettings(goal="half_width", half_width=1.0, min_seeds=3, round_size=2,
                          max_seeds=40, alpha=ALPHA)
HW_REL = AdaptiveSettings(goal="half_width", half_width=0.10, relative=True, min_seeds=3,
                          round_size=2, max_seeds=40, alpha=ALPHA)
PRECISION = (Hyp("absolute", "a", {"a": everywhere(0.0), "b": everywhere(1.5)}, {}, None,
                 HW_ABS),
             Hyp("relative", "a", {"a": everywhere(0.0), "b": everywhere(-3.0)}, {}, None,
                 HW_REL))


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
                truth = BASE[scenario] + hyp.effects[cond][scenario]
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
