"""Adaptive seeds against the fixed design they replace, on the synthetic app's truth.

One simulated study = one hypothesis on tests.apps.effects.model.value (noise = common = 1,
so a paired difference has sd √2): a reference and one condition per effect of a *mix*,
two-sided claims, scenarios "calm" and "busy" (m = the mix's contrasts, S = 2). δ, the
smallest effect of interest, is given in sd of a paired difference (``--delta``, default 0.5).
Two mixes, both run and printed (``--mix`` picks one):

* ``spread``: effects 0, 0.5δ, δ, 2δ and 3δ (m = 5);
* ``issue``: the issue's wording, "null, small, large, equivalent" — null 0, small δ (the
  smallest effect that matters), large 3δ, equivalent 0.25δ (real, but inside ±δ) (m = 4).

Each study has its own salt, and both designs read the same seeds' values (the adaptive study
runs a prefix of the fixed one's seed list), so they are compared on the very same data.

* Adaptive design: ``analysis.arms.arms`` round after round exactly as the sweeper drives it
  (every arm's ``target`` seeds, in seed order, in every scenario of ``arm["scenarios"]``)
  until no arm runs. Default arms (the core's default): one per condition, its scenarios in
  lockstep, the sequence of the seed-wise mean differences at α/m; ``--per-scenario``: one arm
  per condition × scenario at α/(m·S). The verdict is the pooled row of
  ``analysis.arms.confseq_rows`` (what the report shows). ``max_seeds`` defaults to the
  classic fixed n, so the adaptive study is a prefix of the fixed one and never spends more.
* Fixed design, decided as the report decides a fixed study: the pooled stratified
  t-interval at 1 − α/m (``analysis.estimate.stratified``) and its 1 − 2α/m interval for TOST,
  through ``verdict.contrast_verdict`` — the same α, Bonferroni over the same m.

Two comparisons, side by side:

1. *classic*: the fixed n sized the classic way, ``analysis.seeds.seeds_needed(sd, S, δ, α/m,
   power)`` (the true sd), for every condition — what a study would plan without adaptation;
2. *same error rates*: for each effect, the fixed n (simulated on the same studies over every
   n from 2 to 4× the classic n) whose correct-verdict rate reaches the one the adaptive
   design reached for that effect, at the same α: the smallest n from which on it stays
   there (so a lucky n with 2–4 df, whose sd came out tiny, does not count); the fixed
   design's false-decision rate at those n is printed too. This fixed design is an oracle: a
   real fixed study must pick one n before it knows the effects (that is comparison 1); it
   answers "how many seeds would a fixed design need to be exactly as good, effect by effect".

Printed per effect and on average: mean seeds per arm and scenario (adaptive, classic fixed,
matched fixed n) with the ratios, the share of correct / false / inconclusive verdicts of each
design, and each design's family-wise false-decision rate (a study with any false verdict)
against α. A false verdict: supported when the effect is 0 or on the wrong side, or equivalent
when |effect| ≥ δ; a correct one: supported on the right side for a non-zero effect, or
equivalent when |effect| < δ. Averages: the ratio of the mean seeds (contrast arms; "all arms"
adds the reference, which the adaptive design runs while any partner does and the matched
fixed design runs to the largest matched n). The issue's target: adaptive ≤ 50 % of the fixed
design's seeds on average, false decisions within α. ``--explore`` adds a grid of round_size ×
min_seeds × max_seeds (and δ) with fewer trials. Nothing is asserted.

Usage: ``python bench/adaptive_bench.py [--trials 1000] [--delta 0.5] [--power 0.8]
[--round-size 2] [--min-seeds 3] [--max-seeds N] [--per-scenario] [--mix both|spread|issue]
[--explore] [--json PATH]``
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from silisocs_study.analysis.adaptive import AdaptiveSettings
from silisocs_study.analysis.arms import arms, confseq_rows
from silisocs_study.analysis.confseq import half_width
from silisocs_study.analysis.estimate import stratified, t_quantile
from silisocs_study.analysis.seeds import seeds_needed
from silisocs_study.analysis.verdict import contrast_verdict
from tests.apps.effects.model import sd_of_difference, value

SCENARIOS = ("calm", "busy")
MIXES: dict[str, dict[str, float]] = {   # condition → effect in units of δ
    "spread": {"e0": 0.0, "e0.5": 0.5, "e1": 1.0, "e2": 2.0, "e3": 3.0},
    "issue": {"null": 0.0, "small": 1.0, "large": 3.0, "equivalent": 0.25},
}
REFERENCE = "ref"
METRIC = "y"
OUTCOMES = ("correct", "false", "inconclusive")
GRID_FACTOR = 4             # the matched fixed n is searched in 2 .. 4 × the classic n


@dataclass(frozen=True)
class Setup:
    delta_sd: float            # δ in sd of a paired difference
    alpha: float
    power: float
    min_seeds: int
    round_size: int
    max_seeds: int | None      # None: the classic fixed design's n
    per_scenario: bool = False
    mix: str = "spread"

    @property
    def sd(self) -> float:
        return sd_of_difference(1.0)

    @property
    def delta(self) -> float:
        return self.delta_sd * self.sd

    @property
    def multiples(self) -> dict[str, float]:
        return MIXES[self.mix]

    @property
    def m(self) -> int:
        return len(self.multiples)

    def fixed_n(self) -> int:
        n = seeds_needed(self.sd, len(SCENARIOS), self.delta, self.alpha / self.m,
                         power=self.power)
        assert n is not None
        return n

    def cap(self) -> int:
        return self.max_seeds or self.fixed_n()

    def grid(self) -> range:
        return range(2, GRID_FACTOR * self.fixed_n() + 1)


def outcome(verdict: str, low: float | None, high: float | None, effect: float,
            delta: float) -> str:
    if verdict in ("supported", "refuted"):
        side = 1 if low is not None and low > 0 else -1
        return "correct" if effect != 0 and side == (1 if effect > 0 else -1) else "false"
    if verdict == "equivalent":
        return "correct" if abs(effect) < delta else "false"
    return "inconclusive"


class Study:
    """One simulated study: values drawn lazily and shared by both designs."""

    def __init__(self, setup: Setup, salt: str) -> None:
        self.setup, self.salt = setup, salt
        self.effects = {REFERENCE: 0.0, **{c: k * setup.delta for c, k in
                                           setup.multiples.items()}}
        self._values: dict[tuple[str, str, int], float] = {}

    def y(self, cond: str, scenario: str, seed: int) -> float:
        key = (cond, scenario, seed)
        if key not in self._values:
            self._values[key] = value(self.effects[cond], seed, scenario, cond, salt=self.salt)
        return self._values[key]

    def adaptive(self) -> tuple[dict[str, str], dict[str, float], int]:
        """(condition → outcome, condition → seeds per scenario, rounds), the reference
        included in the seeds."""
        s = self.setup
        cap = s.cap()
        settings = AdaptiveSettings(goal="decide", min_seeds=s.min_seeds,
                                    round_size=s.round_size, max_seeds=cap, alpha=s.alpha,
                                    per_scenario=s.per_scenario)
        scen = {c: list(SCENARIOS) for c in self.effects}
        cells = {(c, sc): {METRIC: {}} for c in self.effects for sc in SCENARIOS}
        attempted = {key: 0 for key in cells}
        planned = {key: cap for key in cells}
        directions = {c: "two-sided" for c in self.effects}
        rounds = 0
        while True:
            block = arms("h", settings, METRIC, REFERENCE, scen, cells, directions, s.delta,
                         s.alpha, s.m, attempted, planned)
            if block["state"] == "done":
                break
            rounds += 1
            grew = False
            for arm in block["arms"]:
                cond = arm["condition"]
                for sc in arm["scenarios"]:     # a pooled arm: its scenarios in lockstep
                    key = (cond, sc)
                    for seed in range(attempted[key] + 1, arm["target"] + 1):
                        cells[key][METRIC][seed] = self.y(cond, sc, seed)
                    if arm["target"] > attempted[key]:
                        attempted[key], grew = arm["target"], True
            if not grew:
                raise RuntimeError(f"round {rounds}: arms running but no seed to add")
        rows = [{"condition": c, "reference": REFERENCE, "metric": METRIC,
                 "scenario": sc, "pooled": sc == "pooled", "direction": "two-sided",
                 "delta": s.delta} for c in s.multiples for sc in ("pooled", *SCENARIOS)]
        # as analysis.decide does: lockstep exactly when the arms are pooled
        confseq_rows(rows, cells, s.alpha, s.m, lockstep=not s.per_scenario)
        out = {r["condition"]: outcome(r["verdict"], r["cs_low"], r["cs_high"],
                                       self.effects[r["condition"]], s.delta)
               for r in rows if r["pooled"]}
        seeds = {c: sum(attempted[(c, sc)] for sc in SCENARIOS) / len(SCENARIOS)
                 for c in self.effects}
        return out, seeds, rounds

    def fixed(self, n: int) -> dict[str, str]:
        """Every contrast of the fixed design with n seeds per condition × scenario."""
        s = self.setup
        conf, eq_conf = 1 - s.alpha / s.m, 1 - 2 * s.alpha / s.m
        out = {}
        for cond in s.multiples:
            diffs = {sc: [self.y(cond, sc, k) - self.y(REFERENCE, sc, k)
                          for k in range(1, n + 1)] for sc in SCENARIOS}
            est = stratified(diffs, conf)
            interval = (est.ci_low, est.ci_high)
            verdict, _ = contrast_verdict("two-sided", s.delta, interval,
                                          est.interval(eq_conf))
            out[cond] = outcome(verdict, *interval, self.effects[cond], s.delta)
        return out


CODE = {o: i for i, o in enumerate(OUTCOMES)}
CHECKED = 5                 # studies whose whole fixed grid is also decided by Study.fixed


@functools.lru_cache(maxsize=None)
def _t(df: int, q: float) -> float:
    return t_quantile(df, q)


def fixed_sweep(study: Study, grid: range) -> dict[str, dict[int, str]]:
    """condition → n → the fixed design's outcome with n seeds, for every n of the grid at
    once: the stratified pooled t-interval of ``analysis.estimate.stratified`` from running
    sums (its estimate, within-scenario pooled sd, df = S·(n − 1)), decided by
    ``verdict.contrast_verdict``; ``fixed_grid`` checks it against ``Study.fixed``."""
    s = study.setup
    conf, eq_conf = 1 - s.alpha / s.m, 1 - 2 * s.alpha / s.m
    k = len(SCENARIOS)
    out: dict[str, dict[int, str]] = {}
    for cond in s.multiples:
        sums, squares = [0.0] * k, [0.0] * k
        per: dict[int, str] = {}
        for n in range(1, grid.stop):
            for j, sc in enumerate(SCENARIOS):
                d = study.y(cond, sc, n) - study.y(REFERENCE, sc, n)
                sums[j] += d
                squares[j] += d * d
            if n not in grid:
                continue
            total = k * n
            estimate = sum(sums) / total
            ss = sum(q - t * t / n for t, q in zip(sums, squares))
            df = total - k
            se = math.sqrt(max(ss, 0.0) / df) / math.sqrt(total)
            half, eq_half = _t(df, 0.5 + conf / 2) * se, _t(df, 0.5 + eq_conf / 2) * se
            interval = (estimate - half, estimate + half)
            verdict, _ = contrast_verdict("two-sided", s.delta, interval,
                                          (estimate - eq_half, estimate + eq_half))
            per[n] = outcome(verdict, *interval, study.effects[cond], s.delta)
        out[cond] = per
    return out


@functools.cache
def fixed_grid(delta_sd: float, alpha: float, power: float, mix: str, trials: int,
               salt: str) -> dict[str, dict[int, bytes]]:
    """condition → n → each study's outcome code (0 correct, 1 false, 2 inconclusive) of the
    fixed design with n seeds, for every n of the grid (it depends on δ, α, the mix and the
    studies, not on the adaptive settings, so one grid serves every adaptive setting)."""
    setup = Setup(delta_sd, alpha, power, 3, 2, None, mix=mix)
    grid = setup.grid()
    codes = {c: {n: bytearray(trials) for n in grid} for c in setup.multiples}
    for i in range(trials):
        study = Study(setup, f"{salt}-{i}")
        sweep = fixed_sweep(study, grid)
        if i < CHECKED:     # the running sums decide exactly as the report's estimator
            for n in grid:
                direct = study.fixed(n)
                if direct != {c: sweep[c][n] for c in direct}:
                    raise RuntimeError(f"fixed_sweep disagrees with Study.fixed at n = {n}")
        for c, per in sweep.items():
            for n, o in per.items():
                codes[c][n][i] = CODE[o]
    return {c: {n: bytes(v) for n, v in per.items()} for c, per in codes.items()}


def matched_n(curve: dict[int, bytes], goal: int) -> tuple[int, bool]:
    """The smallest n from which on the fixed design's correct count stays ≥ ``goal`` up to
    the grid's end (a single lucky n with 2–4 df does not count); (the grid's end, False)
    when it never does."""
    found = None
    for n in sorted(curve, reverse=True):
        if curve[n].count(CODE["correct"]) < goal:
            break
        found = n
    return (found, True) if found is not None else (max(curve), False)


def rates_of(codes: bytes) -> dict[str, float]:
    return {o: codes.count(CODE[o]) / len(codes) for o in OUTCOMES}


def width_penalty(setup: Setup, n: int) -> dict:
    """Half-widths at n seeds per scenario with the sample sd at its true value: the adaptive
    pooled row — pooled arms: the sequence of the seed-wise means (sd σ/√S) at α/m;
    per-scenario arms: the n-weighted average of per-scenario sequences at α/(m·S), so one
    scenario's width — against the fixed pooled t-interval at α/m on all S·n pairs."""
    s, k = setup.sd, len(SCENARIOS)
    if setup.per_scenario:
        cs = half_width(n, (n - 1) * s * s, setup.alpha / (setup.m * k))
    else:
        cs = half_width(n, (n - 1) * s * s / k, setup.alpha / setup.m)
    t = t_quantile(k * (n - 1), 1 - setup.alpha / setup.m / 2) * s / math.sqrt(k * n)
    return {"n": n, "adaptive": cs, "fixed": t, "ratio": cs / t}


def run(setup: Setup, trials: int, salt: str = "bench") -> dict:
    n_fixed = setup.fixed_n()
    conds = list(setup.multiples)
    grid = fixed_grid(setup.delta_sd, setup.alpha, setup.power, setup.mix, trials, salt)
    a_codes = {c: bytearray(trials) for c in conds}
    seeds = dict.fromkeys([REFERENCE, *conds], 0.0)
    rounds = 0
    start = time.perf_counter()
    for i in range(trials):
        a_out, a_seeds, r = Study(setup, f"{salt}-{i}").adaptive()
        rounds += r
        for c in conds:
            a_codes[c][i] = CODE[a_out[c]]
        for c, n in a_seeds.items():
            seeds[c] += n
    elapsed = time.perf_counter() - start
    # comparison 2: per effect, the smallest n whose correct rate reaches the adaptive one
    matched = {c: matched_n(grid[c], a_codes[c].count(CODE["correct"])) for c in conds}
    per_effect = []
    for c, k in setup.multiples.items():
        mean = seeds[c] / trials
        n_match, reached = matched[c]
        per_effect.append({
            "condition": c, "effect_delta": k, "effect_sd": k * setup.delta_sd,
            "seeds_adaptive": mean, "seeds_fixed": n_fixed, "ratio": mean / n_fixed,
            "matched_n": n_match, "matched_reached": reached,
            "ratio_matched": mean / n_match,
            "adaptive": rates_of(bytes(a_codes[c])),
            "fixed": rates_of(grid[c][n_fixed]),
            "matched": rates_of(grid[c][n_match])})

    def family(codes: dict[str, bytes]) -> float:
        return sum(any(codes[c][i] == CODE["false"] for c in conds)
                   for i in range(trials)) / trials

    contrast_mean = sum(seeds[c] for c in conds) / (trials * len(conds))
    all_mean = sum(seeds.values()) / (trials * (len(conds) + 1))
    match_mean = sum(matched[c][0] for c in conds) / len(conds)
    match_all = (sum(matched[c][0] for c in conds) + max(matched[c][0] for c in conds)) / \
        (len(conds) + 1)
    out = {
        "settings": {"mix": setup.mix, "effects_delta": dict(setup.multiples),
                     "delta_sd": setup.delta_sd, "delta": setup.delta, "alpha": setup.alpha,
                     "power": setup.power, "m": setup.m, "scenarios": list(SCENARIOS),
                     "arms": "per condition × scenario" if setup.per_scenario else
                     "per condition (scenarios in lockstep)",
                     "min_seeds": setup.min_seeds, "round_size": setup.round_size,
                     "max_seeds": setup.cap(), "fixed_n": n_fixed, "trials": trials},
        "per_effect": per_effect,
        "reference_seeds_adaptive": seeds[REFERENCE] / trials,
        "mean_seeds_adaptive_contrasts": contrast_mean,
        "mean_seeds_adaptive_all_arms": all_mean,
        "ratio_contrasts": contrast_mean / n_fixed,
        "ratio_all_arms": all_mean / n_fixed,
        "mean_matched_n_contrasts": match_mean, "mean_matched_n_all_arms": match_all,
        "ratio_matched_contrasts": contrast_mean / match_mean,
        "ratio_matched_all_arms": all_mean / match_all,
        "matched_all_reached": all(r for _, r in matched.values()),
        "correct_mean": {d: sum(e[d]["correct"] for e in per_effect) / len(per_effect)
                         for d in ("adaptive", "fixed", "matched")},
        "family_false_adaptive": family({c: bytes(a_codes[c]) for c in conds}),
        "family_false_fixed": family({c: grid[c][n_fixed] for c in conds}),
        "family_false_matched": family({c: grid[c][matched[c][0]] for c in conds}),
        "false_tolerance": 3 * math.sqrt(setup.alpha * (1 - setup.alpha) / trials),
        "mean_rounds": rounds / trials, "seconds_adaptive": elapsed,
        "width_at_fixed_n": width_penalty(setup, n_fixed),
    }
    within = out["family_false_adaptive"] <= setup.alpha
    out["target_met_classic"] = (out["ratio_contrasts"] <= 0.5 and out["ratio_all_arms"] <= 0.5
                                 and within)
    out["target_met_matched"] = (out["ratio_matched_contrasts"] <= 0.5
                                 and out["ratio_matched_all_arms"] <= 0.5 and within)
    return out


def rates(d: dict) -> str:
    return "/".join(f"{d[o] * 100:3.0f}" for o in OUTCOMES)


def print_report(r: dict) -> None:
    s = r["settings"]
    mix = ", ".join(f"{c} {k:g}δ" for c, k in s["effects_delta"].items())
    print(f"adaptive vs fixed seeds — mix '{s['mix']}' ({mix}); {s['trials']} studies, δ = "
          f"{s['delta_sd']:g} sd of a paired difference ({s['delta']:.3g} absolute), α = "
          f"{s['alpha']:g}, m = {s['m']}, S = {len(s['scenarios'])}; adaptive "
          f"{r['seconds_adaptive']:.1f} s")
    print(f"  adaptive: arms {s['arms']}; min_seeds {s['min_seeds']}, round_size "
          f"{s['round_size']}, max_seeds {s['max_seeds']}; mean rounds {r['mean_rounds']:.1f}")
    print(f"  (1) classic fixed: n = {s['fixed_n']} seeds per condition × scenario "
          f"(seeds_needed at α/m = {s['alpha'] / s['m']:g}, power {s['power']:g} at δ)")
    print(f"  (2) same error rates: per effect, the smallest fixed n (of 2..{GRID_FACTOR}×"
          f"{s['fixed_n']}) from which on the fixed design's correct-verdict rate stays at or "
          f"above the adaptive one, same α/m (an oracle: it knows each effect)")
    print()
    print("  effect        seeds per arm and scenario             verdicts % "
          "correct/false/inconclusive")
    print("  name       δ  adaptive | (1) n ratio | (2) n  ratio |  adaptive      "
          "(1) classic   (2) matched")
    for e in r["per_effect"]:
        n2 = f"{e['matched_n']:3d}" if e["matched_reached"] else f">{e['matched_n']:d}"
        print(f"  {e['condition']:10s} {e['effect_delta']:<4g}{e['seeds_adaptive']:6.1f} | "
              f"{e['seeds_fixed']:5d} {e['ratio']:5.2f} | {n2:>5s} {e['ratio_matched']:5.2f} |"
              f"  {rates(e['adaptive']):12s}  {rates(e['fixed']):12s}  {rates(e['matched'])}")
    n_fixed = s["fixed_n"]
    print(f"  {'reference':15s}{r['reference_seeds_adaptive']:6.1f} | {n_fixed:5d} "
          f"{r['reference_seeds_adaptive'] / n_fixed:5.2f} | "
          f"{max(e['matched_n'] for e in r['per_effect']):5d}       |")
    print(f"  {'mean, contrasts':15s}{r['mean_seeds_adaptive_contrasts']:6.1f} | {n_fixed:5d} "
          f"{r['ratio_contrasts']:5.2f} | {r['mean_matched_n_contrasts']:5.1f} "
          f"{r['ratio_matched_contrasts']:5.2f} |  correct on average: adaptive "
          f"{r['correct_mean']['adaptive'] * 100:.0f} %, (1) {r['correct_mean']['fixed'] * 100:.0f}"
          f" %, (2) {r['correct_mean']['matched'] * 100:.0f} %")
    print(f"  {'mean, all arms':15s}{r['mean_seeds_adaptive_all_arms']:6.1f} | {n_fixed:5d} "
          f"{r['ratio_all_arms']:5.2f} | {r['mean_matched_n_all_arms']:5.1f} "
          f"{r['ratio_matched_all_arms']:5.2f} |")
    print(f"  P(any false verdict in a study): adaptive {r['family_false_adaptive']:.3f}, "
          f"(1) classic fixed {r['family_false_fixed']:.3f}, (2) matched fixed "
          f"{r['family_false_matched']:.3f}  (α = {s['alpha']:g}, ±3 se "
          f"{r['false_tolerance']:.3f})")
    w = r["width_at_fixed_n"]
    print(f"  interval half-width at n = {w['n']} (sd at its true value): adaptive "
          f"{w['adaptive']:.3f}, fixed {w['fixed']:.3f} — {w['ratio']:.2f}× wider, so "
          f"~{w['ratio'] ** 2:.1f}× the seeds for the same width")
    meets = [name for name, key in (("(1) classic", "target_met_classic"),
                                    ("(2) same error rates", "target_met_matched")) if r[key]]
    print(f"verdict [{s['mix']}, arms {s['arms']}]: target ≤ 50 % of the fixed seeds on "
          f"average with false decisions ≤ α — (1) classic: "
          f"{r['ratio_contrasts'] * 100:.0f} % of the seeds on the contrast arms, "
          f"{r['ratio_all_arms'] * 100:.0f} % over all arms; (2) same error rates: "
          f"{r['ratio_matched_contrasts'] * 100:.0f} % / {r['ratio_matched_all_arms'] * 100:.0f}"
          f" %; adaptive false-decision rate {r['family_false_adaptive']:.3f} vs α = "
          f"{s['alpha']:g}. Met by: {' and '.join(meets) if meets else 'neither'}.")


def explore(base: Setup, trials: int) -> list[dict]:
    """round_size × min_seeds × max_seeds (1, 2, 3 × the classic n) at the chosen δ, then δ
    itself (1 and 0.25 sd) at the chosen round_size and min_seeds."""
    print()
    print(f"exploration, mix '{base.mix}', arms "
          f"{'per condition × scenario' if base.per_scenario else 'per condition'} "
          f"({trials} studies each; ratio = adaptive seeds / fixed seeds on the contrast arms "
          f"and all arms, (1) classic n, (2) matched n; correct = mean share of correct "
          f"verdicts over the effects; false = P(any false verdict in a study)):")
    print("  δ sd  fixed n  round  min  max | (1) ratio  all | (2) ratio  all | correct "
          "adaptive (1)   | false adaptive (1)")
    grid = [(base.delta_sd, r, mn, f) for r in (1, 2, 4) for mn in (3, 5) for f in (1, 2, 3)]
    grid += [(d, base.round_size, base.min_seeds, f) for d in (1.0, 0.25) for f in (1, 2)]
    out = []
    for delta_sd, round_size, min_seeds, factor in grid:
        n_fixed = replace(base, delta_sd=delta_sd).fixed_n()
        setup = replace(base, delta_sd=delta_sd, min_seeds=min_seeds, round_size=round_size,
                        max_seeds=max(min_seeds, factor * n_fixed))
        r = run(setup, trials, salt="explore")
        out.append(r)
        flags = [n for n, k in (("(1)", "target_met_classic"), ("(2)", "target_met_matched"))
                 if r[k]]
        print(f"  {delta_sd:<5g} {n_fixed:6d}  {round_size:5d} {min_seeds:4d} {setup.cap():4d} "
              f"|    {r['ratio_contrasts']:6.2f} {r['ratio_all_arms']:4.2f} |    "
              f"{r['ratio_matched_contrasts']:6.2f} {r['ratio_matched_all_arms']:4.2f} |     "
              f"{r['correct_mean']['adaptive']:6.2f} {r['correct_mean']['fixed']:6.2f} |     "
              f"{r['family_false_adaptive']:6.3f} {r['family_false_fixed']:6.3f}"
              + ("" if r["matched_all_reached"] else "  (2): * some effect's rate not "
                 f"reached by n = {GRID_FACTOR}× the classic n, ratio an upper bound")
              + (f"  <- meets the target: {', '.join(flags)}" if flags else ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--delta", type=float, default=0.5,
                        help="δ in sd of a paired difference (default 0.5)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--min-seeds", type=int, default=3)
    parser.add_argument("--round-size", type=int, default=2)
    parser.add_argument("--max-seeds", type=int, default=None,
                        help="the adaptive cap (default: the classic fixed design's n)")
    parser.add_argument("--per-scenario", action="store_true",
                        help="adaptive arms per condition × scenario (per_scenario: true) "
                             "instead of the default pooled arms")
    parser.add_argument("--mix", choices=("both", *MIXES), default="both",
                        help="the effect mix(es) to run (default both)")
    parser.add_argument("--explore", action="store_true",
                        help="also a grid of settings (round_size, min_seeds, max_seeds, δ)")
    parser.add_argument("--explore-trials", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    mixes = list(MIXES) if args.mix == "both" else [args.mix]
    figures: dict = {}
    start = time.perf_counter()
    for i, mix in enumerate(mixes):
        setup = Setup(args.delta, args.alpha, args.power, args.min_seeds, args.round_size,
                      args.max_seeds, args.per_scenario, mix)
        if i:
            print()
        result = run(setup, args.trials)
        print_report(result)
        figures[mix] = {"main": result}
        if args.explore:
            figures[mix]["explore"] = explore(setup, args.explore_trials)
    print(f"\n({time.perf_counter() - start:.0f} s in all)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
