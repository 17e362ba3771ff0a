"""An adaptive hypothesis' arms and its intervals after data-dependent stopping.

When seeds stop once an answer looks clear, the fixed-n t-interval of the seeds that ran is no
longer valid (it was peeked at). Every contrast row of an adaptive hypothesis is therefore
driven by the anytime-valid sequence of :mod:`.confseq`: per scenario at α/(m·S) (m primary
contrasts, S scenarios: all rows hold at once); pooled over scenarios, at α/m, from the
seed-wise means over scenarios (scenarios in lockstep, the default), or with ``per_scenario``
arms as the seed-weighted average of the scenario rows — valid for any weights, including the
ones stopping produced.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .adaptive import AdaptiveSettings, ArmState, arm_state, target
from .confseq import NAME, combine, confidence_sequence
from .verdict import contrast_verdict

Cells = Mapping[tuple[str, str], Mapping[str, Mapping[Any, float]]]
Counts = Mapping[tuple[str, str], int]

INTERVAL_RULE = (f"Seeds stopped adaptively, so every interval shown for this hypothesis is "
                 f"{NAME}: per scenario at α/(m·S); pooled over scenarios at α/m, from each "
                 f"seed's mean difference over the scenarios (or, with per_scenario arms, the "
                 f"seed-weighted average of the scenario intervals). Fixed-sample t and "
                 f"bootstrap intervals are not valid after data-dependent stopping and do not "
                 f"decide here.")
ALL = "all scenarios"   # a pooled arm's scenario


def paired(cells: Cells, cond: str, ref: str, scenario: str, metric: str) -> list[float]:
    a = cells.get((cond, scenario), {}).get(metric, {})
    b = cells.get((ref, scenario), {}).get(metric, {})
    return [a[k] - b[k] for k in a if k in b]


def seed_means(cells: Cells, cond: str, ref: str, scenarios: Sequence[str], metric: str
               ) -> list[float]:
    """Per seed that both arms ran in every scenario: its mean paired difference."""
    keys: set | None = None
    for s in scenarios:
        a = cells.get((cond, s), {}).get(metric, {})
        b = cells.get((ref, s), {}).get(metric, {})
        shared = {k for k in a if k in b}
        keys = shared if keys is None else keys & shared
    out = []
    for k in keys or ():
        diffs = [cells[(cond, s)][metric][k] - cells[(ref, s)][metric][k] for s in scenarios]
        out.append(math.fsum(diffs) / len(diffs))
    return out


def confseq_rows(rows: list[dict], cells: Cells, alpha: float, m: int, *,
                 lockstep: bool = True) -> None:
    """Replace each contrast row's deciding interval by the confidence sequence (in place);
    ``lockstep``: the pooled row from the seed-wise means over scenarios."""
    strata: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        strata.setdefault((row["condition"], row["metric"]), []).append(row)
    for (cond, metric), group in strata.items():
        pooled: dict | None = next((r for r in group if r["pooled"]), None)
        per = [r for r in group if not r["pooled"]]
        ref = group[0]["reference"]
        scenarios = [r["scenario"] for r in per] or _scenarios_of(cells, cond, ref, metric)
        level = alpha / (m * max(1, len(scenarios)))
        parts = []
        for s in scenarios:
            cs = confidence_sequence(paired(cells, cond, ref, s, metric), level)
            parts.append((cs.n, cs.low, cs.high))
            one: dict | None = next((r for r in per if r["scenario"] == s), None)
            if one is not None:
                _drive(one, cs.low, cs.high, level)
        if pooled is None:
            continue
        if lockstep and len(scenarios) > 1:
            cs = confidence_sequence(seed_means(cells, cond, ref, scenarios, metric), alpha / m)
            _drive(pooled, cs.low, cs.high, alpha / m)
            if cs.n < (pooled.get("n") or 0) / max(1, len(scenarios)):
                pooled["note"] = "; ".join(filter(None, [pooled.get("note"), (
                    f"the anytime-valid interval uses the {cs.n} seed(s) run in every "
                    f"scenario")]))
        else:
            low, high = combine(parts)
            _drive(pooled, low, high, level)


def _scenarios_of(cells: Cells, cond: str, ref: str, metric: str) -> list[str]:
    return [s for (c, s) in cells if c == cond and (ref, s) in cells
            and metric in cells[(c, s)]]


def _drive(row: dict, low: float | None, high: float | None, level: float) -> None:
    row["cs_low"], row["cs_high"], row["cs_alpha"] = low, high, level
    row["verdict"], row["reason"] = contrast_verdict(row["direction"], row["delta"],
                                                     (low, high), (low, high))


def arms(hyp: str, settings: AdaptiveSettings, metric: str, reference: str | None,
         scenarios: Mapping[str, Sequence[str]], cells: Cells, directions: Mapping[str, str],
         delta: float | None, alpha: float, m: int, attempted: Counts, planned: Counts
         ) -> dict:
    """The adaptive block of one hypothesis: every arm's state, target and seeds saved."""
    cap = settings.max_seeds
    out: list[dict] = []
    if settings.goal == "decide" and reference is not None:
        others = [c for c in scenarios if c != reference]
        shared = {c: [s for s in scenarios[c] if s in scenarios.get(reference, ())]
                  for c in others}
        partners: dict[str, list[dict]] = {}
        if settings.per_scenario:
            level = alpha / m
            for cond in others:
                level = alpha / (m * max(1, len(shared[cond])))   # as its report rows
                for s in shared[cond]:
                    done, limit = _counts(attempted, planned, cond, s, cap)
                    st = arm_state(paired(cells, cond, reference, s, metric), attempted=done,
                                   cap=limit, settings=settings, alpha=level,
                                   direction=directions.get(cond, "two-sided"), delta=delta)
                    arm = _arm(cond, s, "contrast", st, done, planned, limit, settings, [s])
                    partners.setdefault(s, []).append(arm)
                    out.append(arm)
            for s in scenarios.get(reference, ()):
                out.append(_reference_arm(reference, s, [s], partners.get(s, []), cells,
                                          metric, attempted, planned, cap, level))
        else:   # one arm per condition, its scenarios in lockstep
            level = alpha / m
            for cond in others:
                scens = shared[cond]
                if not scens:
                    continue
                done, limit = _lockstep_counts(attempted, planned, cond, scens, cap)
                st = arm_state(seed_means(cells, cond, reference, scens, metric),
                               attempted=done, cap=limit, settings=settings, alpha=level,
                               direction=directions.get(cond, "two-sided"), delta=delta)
                arm = _arm(cond, _label(scens), "contrast", st, done,
                           _lockstep_planned(planned, cond, scens), limit, settings, scens)
                partners.setdefault(_label(scens), []).append(arm)
                out.append(arm)
            ref_scens = list(scenarios.get(reference, ()))
            sets = {tuple(a["scenarios"]) for group in partners.values() for a in group}
            if len(sets) > 1:   # partners cover different scenarios: one arm per scenario,
                for one in ref_scens:   # run as far as the partners covering it need
                    group = [a for g in partners.values() for a in g if one in a["scenarios"]]
                    out.append(_reference_arm(reference, one, [one], group, cells, metric,
                                              attempted, planned, cap, level))
            for label, group in partners.items() if len(sets) == 1 else ():
                scens = group[0]["scenarios"]
                out.append(_reference_arm(reference, label, scens, group, cells, metric,
                                          attempted, planned, cap, level))
            if not partners and ref_scens:
                out.append(_reference_arm(reference, _label(ref_scens), ref_scens, [], cells,
                                          metric, attempted, planned, cap, level))
    else:
        for cond, listed in scenarios.items():
            for s in listed:
                done, limit = _counts(attempted, planned, cond, s, cap)
                values = list(cells.get((cond, s), {}).get(metric, {}).values())
                st = arm_state(values, attempted=done, cap=limit, settings=settings,
                               alpha=alpha, contrast=False)
                out.append(_arm(cond, s, "mean", st, done, planned, limit, settings, [s]))
    stopped = [a for a in out if a["state"] != "running"]
    return {
        "per_scenario": settings.per_scenario or settings.goal != "decide",
        "hypothesis": hyp, "goal": settings.goal, "goal_text": settings.goal_text(),
        "metric": metric, "min_seeds": settings.min_seeds, "max_seeds": settings.max_seeds,
        "round_size": settings.round_size, "alpha": alpha, "method": NAME,
        "state": "running" if len(stopped) < len(out) else "done", "arms": out,
        "seeds_done": sum(a["attempted"] * len(a["scenarios"]) for a in out),
        "seeds_fixed": sum(a["planned"] * len(a["scenarios"]) for a in out),
        "seeds_saved": sum((a["saved"] or 0) * len(a["scenarios"]) for a in stopped),
    }


def _label(scenarios: Sequence[str]) -> str:
    return scenarios[0] if len(scenarios) == 1 else ALL


def _lockstep_counts(attempted: Counts, planned: Counts, cond: str, scens: Sequence[str],
                     cap: int | None) -> tuple[int, int]:
    """A pooled arm: seeds done in every scenario, and the cap they share."""
    pairs = [_counts(attempted, planned, cond, s, cap) for s in scens]
    return min(d for d, _ in pairs), min(lim for _, lim in pairs)


def _lockstep_planned(planned: Counts, cond: str, scens: Sequence[str]) -> Counts:
    return {(cond, _label(scens)): min(planned.get((cond, s), 0) for s in scens)}


def _counts(attempted: Counts, planned: Counts, cond: str, s: str, cap: int | None
            ) -> tuple[int, int]:
    full = planned.get((cond, s), 0)
    limit = min(full, cap) if cap is not None else full
    return min(attempted.get((cond, s), 0), full), limit


def _arm(cond: str, s: str, role: str, st: ArmState, done: int, planned: Counts, limit: int,
         settings: AdaptiveSettings, scenarios: Sequence[str]) -> dict:
    """One arm; ``attempted``/``planned``/``saved`` count seeds per scenario it covers."""
    full = planned.get((cond, s), 0)
    return {"condition": cond, "scenario": s, "scenarios": list(scenarios), "role": role,
            "state": st.state, "n": st.n,
            "attempted": done, "planned": full, "cap": limit,
            "target": target(st.state, done, limit, settings),
            "estimate": st.estimate, "low": st.low, "high": st.high, "alpha": st.alpha,
            "verdict": st.verdict, "reason": st.reason,
            "saved": full - done if st.state != "running" else None}


def _reference_arm(ref: str, s: str, scens: Sequence[str], partners: list[dict],
                   cells: Cells, metric: str, attempted: Counts, planned: Counts,
                   cap: int | None, level: float) -> dict:
    """The reference runs as far as its furthest running partner needs (its interval: the
    mean over its scenarios' seed-wise means)."""
    done, limit = _lockstep_counts(attempted, planned, ref, scens, cap)
    running = [p for p in partners if p["state"] == "running"]
    state = "running" if running else ("capped" if any(p["state"] == "capped"
                                                        for p in partners) else "decided")
    goal = max((p["target"] for p in running), default=done)
    per_seed: dict[Any, list[float]] = {}
    for one in scens:
        for k, v in cells.get((ref, one), {}).get(metric, {}).items():
            per_seed.setdefault(k, []).append(v)
    values = [math.fsum(v) / len(v) for v in per_seed.values() if len(v) == len(scens)]
    cs = confidence_sequence(values, level)
    full = min(planned.get((ref, one), 0) for one in scens)
    reason = (f"serves {len(running)} running contrast(s)" if running else
              "every contrast it serves has stopped")
    return {"condition": ref, "scenario": s, "scenarios": list(scens), "role": "reference",
            "state": state,
            "n": cs.n, "attempted": done, "planned": full, "cap": limit,
            "target": min(limit, max(goal, done)) if running else done,
            "estimate": cs.mean, "low": cs.low, "high": cs.high, "alpha": level,
            "verdict": None, "reason": reason,
            "saved": full - done if state != "running" else None}
