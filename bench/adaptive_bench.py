"""Adaptive seeds against the fixed design they replace, on the synthetic app's truth.

One simulated study = one hypothesis on tests.apps.effects.model.value (noise = common = 1,
so a paired difference has sd √2): a reference and five conditions whose true effects are
0, 0.5δ, δ, 2δ and 3δ, δ the smallest effect of interest in sd of a paired difference
(``--delta``, default 0.5), two-sided claims, scenarios "calm" and "busy" (m = 5 contrasts,
S = 2). Each study has its own salt, and both designs read the same seeds' values (the
adaptive study runs a prefix of the fixed one's seed list), so they are compared on the very
same data.

* Fixed design, sized the classic way: n seeds per condition × scenario from
  ``analysis.seeds.seeds_needed(sd, S, δ, α/m, power=1 − β)`` — the true sd, Bonferroni over the
  m contrasts as the verdict rule does — run for every effect and decided as the report decides
  a fixed study: the pooled stratified t-interval at 1 − α/m (``analysis.estimate.stratified``)
  and its 1 − 2α/m interval for TOST, through ``verdict.contrast_verdict``.
* Adaptive design: ``analysis.arms.arms`` round after round exactly as the sweeper drives it
  (every arm's ``target`` seeds, in seed order) until no arm runs; each per-scenario arm at
  α/(m·S); the verdict is the pooled row of ``analysis.arms.confseq_rows`` (what the report
  shows). ``max_seeds`` defaults to the fixed n: the adaptive study is a prefix of the fixed one
  and never spends more.

Printed per effect and on average: mean seeds per arm (adaptive, fixed, ratio) and the share of
correct / false / inconclusive verdicts of each design; then each design's family-wise
false-decision rate (a study with any false verdict) against α. A false verdict: supported when
the effect is 0 or on the wrong side, or equivalent when |effect| ≥ δ; a correct one:
supported on the right side for a non-zero effect, or equivalent when |effect| < δ. The
reference arm (it runs while any partner does) is counted in the "all arms" ratio.
The issue's target: adaptive ≤ 50 % of the fixed design's seeds on average, false decisions
within α. ``--explore`` adds a grid of round_size × min_seeds × max_seeds (and δ) with fewer
trials (the figures below each run). Nothing is asserted.

Usage: ``python bench/adaptive_bench.py [--trials 1000] [--delta 0.5] [--power 0.8]
[--round-size 2] [--min-seeds 3] [--max-seeds N] [--explore] [--json PATH]``
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
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
MULTIPLES = (0.0, 0.5, 1.0, 2.0, 3.0)          # effects in units of δ
REFERENCE = "ref"
METRIC = "y"
OUTCOMES = ("correct", "false", "inconclusive")


@dataclass(frozen=True)
class Setup:
    delta_sd: float            # δ in sd of a paired difference
    alpha: float
    power: float
    min_seeds: int
    round_size: int
    max_seeds: int | None      # None: the fixed design's n

    @property
    def sd(self) -> float:
        return sd_of_difference(1.0)

    @property
    def delta(self) -> float:
        return self.delta_sd * self.sd

    @property
    def m(self) -> int:
        return len(MULTIPLES)

    def fixed_n(self) -> int:
        n = seeds_needed(self.sd, len(SCENARIOS), self.delta, self.alpha / self.m,
                         power=self.power)
        assert n is not None
        return n

    def cap(self) -> int:
        return self.max_seeds or self.fixed_n()


def conditions() -> dict[str, float]:
    return {f"e{k:g}": k for k in MULTIPLES}


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
                                           conditions().items()}}
        self._values: dict[tuple[str, str, int], float] = {}

    def y(self, cond: str, scenario: str, seed: int) -> float:
        key = (cond, scenario, seed)
        if key not in self._values:
            self._values[key] = value(self.effects[cond], seed, scenario, cond, salt=self.salt)
        return self._values[key]

    def adaptive(self) -> tuple[dict[str, str], dict[str, float], int]:
        """(condition → outcome, condition → seeds per arm, rounds), reference included in
        the seeds."""
        s = self.setup
        cap = s.cap()
        settings = AdaptiveSettings(goal="decide", min_seeds=s.min_seeds,
                                    round_size=s.round_size, max_seeds=cap, alpha=s.alpha)
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
                key = (arm["condition"], arm["scenario"])
                for seed in range(attempted[key] + 1, arm["target"] + 1):
                    cells[key][METRIC][seed] = self.y(key[0], key[1], seed)
                if arm["target"] > attempted[key]:
                    attempted[key], grew = arm["target"], True
            if not grew:
                raise RuntimeError(f"round {rounds}: arms running but no seed to add")
        rows = [{"condition": c, "reference": REFERENCE, "metric": METRIC,
                 "scenario": "pooled", "pooled": True, "direction": "two-sided",
                 "delta": s.delta} for c in conditions()]
        confseq_rows(rows, cells, s.alpha, s.m)
        out = {r["condition"]: outcome(r["verdict"], r["cs_low"], r["cs_high"],
                                       self.effects[r["condition"]], s.delta) for r in rows}
        seeds = {c: sum(attempted[(c, sc)] for sc in SCENARIOS) / len(SCENARIOS)
                 for c in self.effects}
        return out, seeds, rounds

    def fixed(self, n: int) -> dict[str, str]:
        s = self.setup
        conf, eq_conf = 1 - s.alpha / s.m, 1 - 2 * s.alpha / s.m
        out = {}
        for cond in conditions():
            diffs = {sc: [self.y(cond, sc, k) - self.y(REFERENCE, sc, k)
                          for k in range(1, n + 1)] for sc in SCENARIOS}
            est = stratified(diffs, conf)
            interval = (est.ci_low, est.ci_high)
            verdict, _ = contrast_verdict("two-sided", s.delta, interval,
                                          est.interval(eq_conf))
            out[cond] = outcome(verdict, *interval, self.effects[cond], s.delta)
        return out


def width_penalty(setup: Setup, n: int) -> dict:
    """Half-widths at n seeds per scenario with the sample sd at its true value: the
    adaptive pooled row (the n-weighted average of per-scenario sequences at α/(m·S), so
    one scenario's width) against the fixed pooled t-interval at α/m on all S·n pairs."""
    s, k = setup.sd, len(SCENARIOS)
    cs = half_width(n, (n - 1) * s * s, setup.alpha / (setup.m * k))
    t = t_quantile(k * (n - 1), 1 - setup.alpha / setup.m / 2) * s / math.sqrt(k * n)
    return {"n": n, "adaptive": cs, "fixed": t, "ratio": cs / t}


def run(setup: Setup, trials: int, salt: str = "bench") -> dict:
    n_fixed = setup.fixed_n()
    conds = list(conditions())
    tally = {d: {c: dict.fromkeys(OUTCOMES, 0) for c in conds} for d in ("adaptive", "fixed")}
    family = {"adaptive": 0, "fixed": 0}
    seeds = dict.fromkeys([REFERENCE, *conds], 0.0)
    rounds = 0
    start = time.perf_counter()
    for i in range(trials):
        study = Study(setup, f"{salt}-{i}")
        a_out, a_seeds, r = study.adaptive()
        f_out = study.fixed(n_fixed)
        rounds += r
        for c in conds:
            tally["adaptive"][c][a_out[c]] += 1
            tally["fixed"][c][f_out[c]] += 1
        for c, n in a_seeds.items():
            seeds[c] += n
        family["adaptive"] += any(v == "false" for v in a_out.values())
        family["fixed"] += any(v == "false" for v in f_out.values())
    elapsed = time.perf_counter() - start
    per_effect = []
    for c, k in conditions().items():
        mean = seeds[c] / trials
        per_effect.append({
            "effect_delta": k, "effect_sd": k * setup.delta_sd,
            "seeds_adaptive": mean, "seeds_fixed": n_fixed, "ratio": mean / n_fixed,
            "adaptive": {o: v / trials for o, v in tally["adaptive"][c].items()},
            "fixed": {o: v / trials for o, v in tally["fixed"][c].items()}})
    contrast_mean = sum(seeds[c] for c in conds) / (trials * len(conds))
    all_mean = sum(seeds.values()) / (trials * (len(conds) + 1))
    return {
        "settings": {"delta_sd": setup.delta_sd, "delta": setup.delta, "alpha": setup.alpha,
                     "power": setup.power, "m": setup.m, "scenarios": list(SCENARIOS),
                     "min_seeds": setup.min_seeds, "round_size": setup.round_size,
                     "max_seeds": setup.cap(), "fixed_n": n_fixed, "trials": trials},
        "per_effect": per_effect,
        "reference_seeds_adaptive": seeds[REFERENCE] / trials,
        "mean_seeds_adaptive_contrasts": contrast_mean,
        "mean_seeds_adaptive_all_arms": all_mean,
        "ratio_contrasts": contrast_mean / n_fixed,
        "ratio_all_arms": all_mean / n_fixed,
        "family_false_adaptive": family["adaptive"] / trials,
        "family_false_fixed": family["fixed"] / trials,
        "false_tolerance": 3 * math.sqrt(setup.alpha * (1 - setup.alpha) / trials),
        "mean_rounds": rounds / trials, "seconds": elapsed,
        "width_at_fixed_n": width_penalty(setup, n_fixed),
        "target_met": contrast_mean / n_fixed <= 0.5 and all_mean / n_fixed <= 0.5
        and family["adaptive"] / trials <= setup.alpha,
    }


def rates(d: dict) -> str:
    return "/".join(f"{d[o] * 100:3.0f}" for o in OUTCOMES)


def print_report(r: dict) -> None:
    s = r["settings"]
    print(f"adaptive vs fixed seeds — {s['trials']} studies, δ = {s['delta_sd']:g} sd of a "
          f"paired difference ({s['delta']:.3g} absolute), α = {s['alpha']:g}, m = {s['m']}, "
          f"S = {len(s['scenarios'])}, {r['seconds']:.1f} s")
    print(f"  fixed: n = {s['fixed_n']} seeds per condition × scenario (seeds_needed at "
          f"α/m = {s['alpha'] / s['m']:g}, power {s['power']:g} at δ)")
    print(f"  adaptive: min_seeds {s['min_seeds']}, round_size {s['round_size']}, max_seeds "
          f"{s['max_seeds']}; mean rounds {r['mean_rounds']:.1f}")
    print()
    print("  effect      seeds per arm          verdicts % correct/false/inconclusive")
    print("  δ     sd   adaptive fixed ratio    adaptive       fixed")
    for e in r["per_effect"]:
        print(f"  {e['effect_delta']:<4g} {e['effect_sd']:5.2f}  {e['seeds_adaptive']:6.1f} "
              f"{e['seeds_fixed']:5d}  {e['ratio']:5.2f}    {rates(e['adaptive']):12s}   "
              f"{rates(e['fixed'])}")
    print(f"  reference   {r['reference_seeds_adaptive']:6.1f} {s['fixed_n']:5d}  "
          f"{r['reference_seeds_adaptive'] / s['fixed_n']:5.2f}")
    print(f"  mean, contrast arms  {r['mean_seeds_adaptive_contrasts']:6.1f} {s['fixed_n']:5d}  "
          f"{r['ratio_contrasts']:5.2f}")
    print(f"  mean, all arms       {r['mean_seeds_adaptive_all_arms']:6.1f} {s['fixed_n']:5d}  "
          f"{r['ratio_all_arms']:5.2f}")
    print(f"  P(any false verdict in a study): adaptive {r['family_false_adaptive']:.3f}, "
          f"fixed {r['family_false_fixed']:.3f}  (α = {s['alpha']:g}, ±3 se "
          f"{r['false_tolerance']:.3f})")
    w = r["width_at_fixed_n"]
    print(f"  interval half-width at n = {w['n']} (sd at its true value): adaptive "
          f"{w['adaptive']:.3f}, fixed {w['fixed']:.3f} — {w['ratio']:.2f}× wider, so "
          f"~{w['ratio'] ** 2:.1f}× the seeds for the same width")
    ok = "MEETS" if r["target_met"] else "MISSES"
    print(f"verdict: adaptive {ok} the target (≤ 50 % of the fixed seeds, false decisions "
          f"≤ α): {r['ratio_contrasts'] * 100:.0f} % of the fixed seeds on the contrast arms, "
          f"{r['ratio_all_arms'] * 100:.0f} % over all arms, false-decision rate "
          f"{r['family_false_adaptive']:.3f} vs α = {s['alpha']:g}")


def explore(base: Setup, trials: int) -> list[dict]:
    """round_size × min_seeds × max_seeds (1, 2, 3 × the fixed n) at the chosen δ, then δ
    itself (1 and 0.25 sd) at the chosen round_size and min_seeds."""
    print()
    print(f"exploration ({trials} studies each; ratio = adaptive seeds / fixed seeds, contrast "
          f"arms and all arms; correct = mean share of correct verdicts over the five effects; "
          f"false = P(any false verdict in a study)):")
    print("  δ sd  fixed n  round  min  max |  ratio   all |  correct adaptive fixed |  false "
          "adaptive fixed")
    grid = [(base.delta_sd, r, mn, f) for r in (1, 2, 4) for mn in (3, 5) for f in (1, 2, 3)]
    grid += [(d, base.round_size, base.min_seeds, f) for d in (1.0, 0.25) for f in (1, 2)]
    out = []
    for delta_sd, round_size, min_seeds, factor in grid:
        n_fixed = Setup(delta_sd, base.alpha, base.power, 3, 2, None).fixed_n()
        setup = Setup(delta_sd, base.alpha, base.power, min_seeds, round_size,
                      max(min_seeds, factor * n_fixed))
        r = run(setup, trials, salt="explore")
        correct = {d: sum(e[d]["correct"] for e in r["per_effect"]) / len(r["per_effect"])
                   for d in ("adaptive", "fixed")}
        r["correct_mean"] = correct
        out.append(r)
        print(f"  {delta_sd:<5g} {n_fixed:6d}  {round_size:5d} {min_seeds:4d} {setup.cap():4d} "
              f"| {r['ratio_contrasts']:6.2f} {r['ratio_all_arms']:5.2f} |   "
              f"{correct['adaptive']:6.2f}   {correct['fixed']:6.2f}      |  "
              f"{r['family_false_adaptive']:6.3f} {r['family_false_fixed']:6.3f}"
              + ("  <- meets the target" if r["target_met"] else ""))
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
                        help="the adaptive cap (default: the fixed design's n)")
    parser.add_argument("--explore", action="store_true",
                        help="also a grid of settings (round_size, min_seeds, max_seeds, δ)")
    parser.add_argument("--explore-trials", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    setup = Setup(args.delta, args.alpha, args.power, args.min_seeds, args.round_size,
                  args.max_seeds)
    result = run(setup, args.trials)
    print_report(result)
    figures: dict = {"main": result}
    if args.explore:
        figures["explore"] = explore(setup, args.explore_trials)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
