"""One hypothesis' decision: its primary contrasts pooled and per scenario, and a verdict.

``cells[(condition, scenario)][metric]`` maps a pairing key (the seed) to the run's value —
the same cells the report's per-scenario statistics come from. Only seeds present in both
arms of a scenario pair up; a run without a partner is counted in the note, never guessed.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .adaptive import AdaptiveSettings
from .arms import INTERVAL_RULE as CONFSEQ_RULE
from .arms import arms, confseq_rows
from .bootstrap import bootstrap, seed_for
from .equivalence import tost_p
from .estimate import Estimate, stratified
from .seeds import seeds_needed
from .settings import HypothesisAnalysis
from .verdict import contrast_verdict, hypothesis_verdict

Cells = Mapping[tuple[str, str], Mapping[str, Mapping[Any, float]]]

INTERVAL_RULE = {
    "t": "The verdict uses the stratified t-interval (pooled within-scenario variance, "
         "df = pairs − scenarios); the cluster-bootstrap interval (BCa, seeds resampled within "
         "scenario) is shown beside it.",
    "bootstrap": "The verdict uses the cluster-bootstrap interval (BCa, seeds resampled within "
                 "scenario); the stratified t-interval is shown beside it.",
    "confseq": CONFSEQ_RULE,
}


def _pairs(cells: Cells, cond: str, ref: str, scenario: str, metric: str
           ) -> tuple[list[float], list[float], int]:
    a = cells.get((cond, scenario), {}).get(metric, {})
    b = cells.get((ref, scenario), {}).get(metric, {})
    shared = sorted((k for k in a if k in b), key=lambda k: (isinstance(k, str), str(k)
                                                            if isinstance(k, str) else k))
    unpaired = (len(a) - len(shared)) + (len(b) - len(shared))
    return [a[k] - b[k] for k in shared], [b[k] for k in shared], unpaired


def _row(cond: str, ref: str, metric: str, scenario: str, est: Estimate,
         boot, conf: float, eq_conf: float, delta: float | None, direction: str,
         interval: str, note: str | None) -> dict:
    t_eq = est.interval(eq_conf)
    b_ci = boot.bounds[conf] if boot else (None, None)
    b_eq = boot.bounds[eq_conf] if boot else (None, None)
    drive, drive_eq = ((b_ci, b_eq) if interval == "bootstrap" and boot else
                       ((est.ci_low, est.ci_high), t_eq))
    verdict, reason = contrast_verdict(direction, delta, drive, drive_eq)
    notes = [x for x in (note, est.note) if x]
    if interval == "bootstrap" and not boot and est.n:
        notes.append("no bootstrap interval (fewer than 2 pairs): the t-interval decides")
    return {"condition": cond, "reference": ref, "metric": metric, "scenario": scenario,
            "pooled": scenario == "pooled", "direction": direction, "n": est.n,
            "strata": est.strata, "estimate": est.estimate, "sd": est.sd, "se": est.se,
            "df": est.df, "ci_low": est.ci_low, "ci_high": est.ci_high, "p": est.p,
            "boot_low": b_ci[0], "boot_high": b_ci[1],
            "boot_method": boot.method if boot else None,
            "tost_low": drive_eq[0], "tost_high": drive_eq[1],
            "p_tost": tost_p(est, delta) if delta is not None else None,
            "delta": delta, "verdict": verdict, "reason": reason,
            "note": "; ".join(notes) or None}


def decide_hypothesis(hyp: str, claim: str | None, settings: HypothesisAnalysis,
                      metrics: Sequence[str], reference: str | None,
                      scenarios: Mapping[str, Sequence[str]], cells: Cells,
                      directions: Mapping[str, str], adaptive: AdaptiveSettings | None = None,
                      attempted: Mapping[tuple[str, str], int] | None = None,
                      planned: Mapping[tuple[str, str], int] | None = None) -> dict:
    """The decision block of one hypothesis (shape documented in docs of report.html).
    ``adaptive``: its seeds stop adaptively — intervals from the confidence sequence, and an
    ``adaptive`` block with every arm (``attempted``/``planned``: seeds per cell)."""
    conditions = list(scenarios)
    others = [c for c in conditions if c != reference] if reference else []
    m = max(1, len(others) * len(metrics))
    alpha = settings.alpha
    conf, eq_conf = 1 - alpha / m, 1 - 2 * alpha / m
    rows: list[dict] = []
    needed: list[int] = []
    deltas = _deltas(settings, metrics, reference, scenarios, cells)
    plan_notes: list[str] = []
    for cond in others:
        direction = directions.get(cond, "two-sided")
        shared = [s for s in scenarios[cond] if s in scenarios.get(reference or "", ())]
        for metric in metrics:
            diffs: dict[str, list[float]] = {}
            unpaired = 0
            for s in shared:
                d, _, u = _pairs(cells, cond, reference or "", s, metric)
                diffs[s], unpaired = d, unpaired + u
            delta = deltas[metric][0]
            note = (f"{unpaired} run(s) without a partner seed left out" if unpaired else None)
            key = f"{hyp}/{cond}/{metric}"
            pooled = stratified(diffs, conf)
            boot = bootstrap(diffs, (conf, eq_conf), resamples=settings.resamples,
                             seed=seed_for(key))
            rows.append(_row(cond, reference or "", metric, "pooled", pooled, boot, conf,
                             eq_conf, delta, direction, settings.interval, note))
            if len(shared) > 1:
                for s in shared:
                    one = {s: diffs[s]}
                    rows.append(_row(cond, reference or "", metric, s,
                                     stratified(one, conf),
                                     bootstrap(one, (conf, eq_conf), resamples=settings.resamples,
                                               seed=seed_for(f"{key}/{s}")),
                                     conf, eq_conf, delta, direction, settings.interval, None))
            n_needed = seeds_needed(pooled.sd, max(1, len(shared)), delta, alpha / m,
                                    half_width=settings.half_width, power=settings.power)
            if n_needed is not None:
                needed.append(n_needed)
            elif delta is None:
                plan_notes.append("set delta in the analysis: block to plan seeds")
            elif pooled.sd is None:
                plan_notes.append(f"{cond}: needs two seeds in one scenario to plan from")
    adaptive_block = None
    if adaptive is not None:
        confseq_rows(rows, cells, adaptive.alpha or alpha, m,
                     lockstep=adaptive.goal == "decide" and not adaptive.per_scenario)
        primary = adaptive.metric or (metrics[0] if metrics else None)
        if primary is not None:
            delta = (deltas.get(primary) or _deltas(settings, [primary], reference, scenarios,
                                                    cells)[primary])[0]
            adaptive_block = arms(hyp, adaptive, primary, reference, scenarios, cells,
                                  directions, delta, adaptive.alpha or alpha, m,
                                  attempted or {}, planned or {})
    pooled_rows = [r for r in rows if r["pooled"]]
    verdict, reason = hypothesis_verdict([r["verdict"] for r in pooled_rows])
    first = metrics[0] if metrics else None
    seeds_used = {c: min((len(cells.get((c, s), {}).get(first, {})) if first else 0
                          for s in scenarios[c]), default=0) for c in conditions}
    target = (f"power {settings.power:g} at δ" if settings.power is not None else
              f"a CI half-width ≤ {settings.half_width:g}·δ")
    return {
        "id": hyp, "claim": claim, "metrics": list(metrics),
        "direction": _direction_summary(directions, others),
        "delta": _one_delta(deltas),
        "deltas": {m: v for m, (v, _) in deltas.items()},
        "delta_text": _delta_text(settings, deltas), "alpha": alpha, "m": m, "confidence": conf,
        "equivalence_confidence": eq_conf, "reference": reference,
        "interval": "confseq" if adaptive is not None else settings.interval,
        "adaptive": adaptive_block, "verdict": verdict, "reason": reason,
        "seeds_used": seeds_used, "seeds_needed": max(needed) if needed else None,
        "seeds_needed_note": (f"for {target} at α/m = {alpha / m:.3g}"
                              if needed else "; ".join(dict.fromkeys(plan_notes)) or
                              "no primary contrast yet"),
        "settings_written": settings.written, "contrasts": rows,
    }


def _direction_summary(directions: Mapping[str, str], others: Sequence[str]) -> str:
    found = {directions.get(c, "two-sided") for c in others}
    return found.pop() if len(found) == 1 else "per condition"


def _deltas(settings: HypothesisAnalysis, metrics: Sequence[str], reference: str | None,
            scenarios: Mapping[str, Sequence[str]], cells: Cells
            ) -> dict[str, tuple[float | None, str]]:
    """metric → (absolute δ, its text): a relative δ is a share of the reference's mean over
    all its runs of that metric, so every condition is held to the same δ."""
    out: dict[str, tuple[float | None, str]] = {}
    for metric in metrics:
        if settings.delta is None:
            out[metric] = (None, "not set")
            continue
        values = [v for s in scenarios.get(reference or "", ())
                  for v in cells.get((reference or "", s), {}).get(metric, {}).values()]
        mean = math.fsum(values) / len(values) if values else None
        out[metric] = (settings.delta.absolute(mean), settings.delta.text(mean))
    return out


def _one_delta(deltas: Mapping[str, tuple[float | None, str]]) -> float | None:
    """The hypothesis' δ when every primary metric has the same one (else see ``deltas``)."""
    values = {v for v, _ in deltas.values()}
    return values.pop() if len(values) == 1 else None


def _delta_text(settings: HypothesisAnalysis, deltas: Mapping[str, tuple[float | None, str]]
                ) -> str:
    if settings.delta is None:
        return "not set (no equivalence verdict, no seed planning)"
    texts = {t for _, t in deltas.values()}
    if len(texts) <= 1:
        return texts.pop() if texts else settings.delta.text(None)
    return "; ".join(f"{m}: {t}" for m, (_, t) in deltas.items())

