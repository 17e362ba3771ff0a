"""Decisions for an ``experiment.<name>`` spec: the values of one axis compared.

The experiment is one hypothesis (named after it). Its conditions are the values of the
``compare:`` axis (default: the first non-seed axis with several values), its reference one
of them (default: the first); every combination of the other non-seed axes is a stratum
(the study format's scenario), seeds pair within a stratum, and the metric is a score
(default: the primary score). Then the same :func:`decide_hypothesis` as for studies.
"""
from __future__ import annotations

from typing import Any

from ..analysis.decide import decide_hypothesis
from ..status import COMPLETE_VALUES
from .decisions import decisions_block, settings_of
from .experiment_summary import cell_label, experiment_axes, primary_score
from .numbers import finite_number


def experiment_decisions(study, results: list[dict]) -> dict | None:
    """``analysis["decisions"]``-shaped block, or None when there is nothing to compare."""
    axes = experiment_axes(study, results)
    factors = [a for a in axes if a != "seed"]
    settings_all = settings_of(study)
    compare = settings_all.compare or next((a for a in factors if len(axes[a]) > 1), None)
    if compare is None:
        return None
    name = study.name
    settings = settings_all.for_hypothesis(name)
    levels = [str(v) for v in axes[compare]]
    reference = settings.reference if settings.reference in levels else levels[0]
    primary = primary_score(results)
    metrics = list(settings.metrics) or ([primary] if primary else [])
    strata_axes = [a for a in factors if a != compare]
    cells: dict[tuple[str, str], dict[str, dict[Any, float]]] = {}
    scenarios: dict[str, list[str]] = {lv: [] for lv in levels}
    for r in results:
        if r.get("status") not in COMPLETE_VALUES or r.get("stale") or compare not in r:
            continue
        cond = str(r[compare])
        stratum = cell_label({a: r.get(a) for a in strata_axes}, strata_axes) \
            if strata_axes else "all"
        if stratum not in scenarios.setdefault(cond, []):
            scenarios[cond].append(stratum)
        for m in metrics:
            value = finite_number((r.get("scores") or {}).get(m), bools=True)
            if value is not None:
                cells.setdefault((cond, stratum), {}).setdefault(m, {})[r.get("seed")] = value
    direction = settings.direction or "two-sided"
    claim = study.meta.get("question") or study.meta.get("description")
    out = decide_hypothesis(name, claim, settings, metrics, reference, scenarios, cells,
                            {c: direction for c in scenarios})
    out["compare"] = compare
    out["notes"] = [f"conditions are the values of axis '{compare}'"
                    + (f"; strata: each combination of {', '.join(strata_axes)}"
                       if strata_axes else "")]
    return decisions_block(study, {name: out})
