"""An ``experiment.<name>`` spec analysed like a study: the values of one axis compared.

The experiment is one hypothesis (named after it). Its conditions are the values of the
``compare:`` axis (default: the first non-seed axis with several values), its reference one
of them (default: the first); every combination of the other non-seed axes is a stratum
(the study format's scenario), seeds pair within a stratum, and each score of result.json is
the metric ``scores.<name>``. :func:`experiment_view` recasts the records that way and
:func:`experiment_analysis` runs the study's own :func:`~.contrasts.analyze` on them — one
analysis, so summary.md, report.html and ``silisocs_study.analyze`` agree with studies.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from ..analysis.settings import AnalysisSettings
from ..status import COMPLETE_VALUES
from .decisions import settings_of
from .experiment_summary import cell_label, experiment_axes

SCORES = "scores"   # the evaluator id the scores of result.json appear under


@dataclass(frozen=True)
class ExperimentView:
    """The experiment as a one-hypothesis study: a stand-in Study and recast records."""
    study: Any
    records: list[dict]
    planned: list[SimpleNamespace]


def _score_key(name: str) -> str:
    return name if name.startswith(SCORES + ".") else f"{SCORES}.{name}"


def experiment_view(study, records: list[dict], results: list[dict], plan=None
                    ) -> ExperimentView | None:
    """None when no non-seed axis has values to compare."""
    axes = experiment_axes(study, results)
    factors = [a for a in axes if a != "seed"]
    settings = settings_of(study)
    compare = settings.compare or next((a for a in factors if len(axes[a]) > 1), None)
    if compare is None:
        return None
    name = study.name
    strata_axes = [a for a in factors if a != compare]

    def place(values: dict) -> tuple[str, str]:
        return _place(values, compare, strata_axes)

    scores = {r.get("run_id"): r for r in results}
    recast = []
    for rec in records:
        axes_of = rec.get("axes") or {}
        if compare not in axes_of:
            continue
        cond, stratum = place(axes_of)
        entry = scores.get(rec.get("run_id")) or {}
        evals = [ev for ev in rec.get("evaluations") or [] if isinstance(ev, dict)]
        numbers = entry.get("scores") or {}
        if numbers and rec.get("status") in COMPLETE_VALUES:
            evals.append({"id": SCORES, "status": "success", "aggregated": dict(numbers)})
        recast.append({**rec, "hypothesis": name, "condition": cond, "scenario": stratum,
                       "seed": axes_of.get("seed", rec.get("seed")), "evaluations": evals,
                       "stale": rec.get("stale") or entry.get("stale")})
    levels = [str(v) for v in axes[compare]]
    points = [p for g in study.groups for p in g.points] or \
        [r.axes or {} for r in (plan.runs if plan else [])]
    strata = list(dict.fromkeys(place(p)[1] for p in points))
    one = settings.for_hypothesis(name)
    one = dataclasses.replace(one, metrics=tuple(_score_key(m) for m in one.metrics))
    counts: dict[str, dict[str, int]] = {}   # level → stratum → seeds the design gives it
    for point in points:
        cond, stratum = place(point)
        counts.setdefault(cond, {})[stratum] = counts.get(cond, {}).get(stratum, 0) + 1
    adaptive = {h: dataclasses.replace(a, metric=_score_key(a.metric) if a.metric else None)
                for h, a in (getattr(study, "adaptive", None) or {}).items()}
    stand_in = dataclasses.replace(
        study, kind="study", adaptive=adaptive,
        hypotheses={name: {"statement": study.meta.get("question") or
                           study.meta.get("description"), "reference": one.reference}},
        groups=[SimpleNamespace(hypothesis=name, condition=lv, scenarios=strata or ["all"],
                                reuse=(), planned=counts.get(lv, {})) for lv in levels],
        analysis=AnalysisSettings(default=one, hypotheses={name: one}, compare=compare,
                                  written=settings.written))
    planned = [SimpleNamespace(hypothesis=name, condition=c, scenario=s,
                               seed=(r.axes or {}).get("seed", r.seed))
               for r in (plan.runs if plan else []) for c, s in [place(r.axes or {})]]
    return ExperimentView(stand_in, recast, planned)


def _place(values: dict, compare: str, strata_axes: list[str]) -> tuple[str, str]:
    stratum = (cell_label({a: values.get(a) for a in strata_axes}, strata_axes)
               if strata_axes else "all")
    return str(values.get(compare)), stratum


def experiment_place(study, values: dict) -> tuple[str, str]:
    """(condition, stratum) of one point, as :func:`experiment_view` places its run."""
    axes = experiment_axes(study, [])
    factors = [a for a in axes if a != "seed"]
    compare = settings_of(study).compare or next((a for a in factors if len(axes[a]) > 1),
                                                 factors[0] if factors else "")
    return _place(values, compare, [a for a in factors if a != compare])


def experiment_analysis(study, records: list[dict], results: list[dict], plan=None
                        ) -> tuple[dict | None, ExperimentView | None]:
    """(the analysis dict of :func:`~.contrasts.analyze`, the view) — (None, None) when
    there is nothing to compare."""
    from .contrasts import analyze

    view = experiment_view(study, records, results, plan)
    if view is None:
        return None, None
    analysis = analyze(view.study, view.records)
    decisions = analysis.get("decisions") or {}
    for block in (decisions.get("hypotheses") or {}).values():
        compare = view.study.analysis.compare
        block.setdefault("notes", []).insert(0, f"conditions are the values of axis "
                                                f"'{compare}'; strata: each combination of the "
                                                f"other axes; metrics: scores.<name> of "
                                                f"result.json")
    if decisions:
        decisions["source"] = decisions["source"].replace("study file", "experiment spec")
    return analysis, view


def experiment_decisions(study, results: list[dict], records: list[dict] | None = None,
                         plan=None) -> dict | None:
    """The ``decisions`` block alone (status, ``plan --seeds-needed``)."""
    if records is None:
        from ..ledger import Ledger

        records = list(Ledger(study.generated).all().values())
    analysis, _ = experiment_analysis(study, records, results, plan)
    return analysis.get("decisions") if analysis else None
