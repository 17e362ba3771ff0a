"""The study's statistics: per condition × scenario over seeds, and per-hypothesis contrasts.

:func:`analyze` turns all records of a study into one JSON-ready dict (the core of
``organized/summary.json``; the Markdown, plot and Excel reports read the same dict):

* ``statistics[cond][scenario]``: the seeds and runs of that cell and, for every
  ``<eval_id>.<metric>``, n / mean / sd / se / 95 % Student-t CI over the seeds. Scenarios
  are never pooled and evaluators are never mixed.
* ``contrasts``: each condition against the hypothesis' reference condition (``reference:``
  in the hypothesis, else its first condition), per scenario and metric: difference of means
  with a 95 % CI, paired t over the shared seeds when the arms share ≥ 2 seeds, else Welch;
  Cohen's d_z / d; p; and Holm-adjusted p over every contrast of the hypothesis.
"""
from __future__ import annotations

import re
from typing import Any

from .metrics import (flat_metrics, no_metrics_reason, run_warnings, split_metric, usable,
                      why_unusable)
from .decisions import decisions_block, hypothesis_decision
from .stats import contrast, describe, holm

ALPHA = 0.05
CONFIDENCE = 0.95
PREFERRED_METRICS = ("action_metrics.interactive_actions_per_agent",)
UNFINISHED = ("running",)   # a record exists, the run has not ended


def _order(study, records: list[dict]) -> dict[str, dict[str, list[str]]]:
    """{hypothesis: {condition: [scenarios]}} in authored order, then extras from records."""
    order: dict[str, dict[str, list[str]]] = {}
    for h in getattr(study, "hypotheses", {}) or {}:
        order.setdefault(h, {})
    for g in getattr(study, "groups", []) or []:
        scen = order.setdefault(g.hypothesis, {}).setdefault(g.condition, [])
        for s in list(g.scenarios) + [ref[1] for ref in g.reuse]:
            if s not in scen:
                scen.append(s)
    for rec in records:
        h, c, s = rec.get("hypothesis"), rec.get("condition"), rec.get("scenario")
        if h is None or c is None:
            continue
        scen = order.setdefault(str(h), {}).setdefault(str(c), [])
        if s is not None and str(s) not in scen:
            scen.append(str(s))
    return order


def reference_of(study, hyp: str, conditions: list[str]) -> tuple[str | None, str]:
    """The reference condition of a hypothesis and where it came from."""
    meta = (getattr(study, "hypotheses", {}) or {}).get(hyp) or {}
    settings = getattr(study, "analysis", None)
    chosen = settings.for_hypothesis(hyp).reference if settings is not None else None
    if chosen in conditions:
        return chosen, "set by `reference:` in the analysis: block"
    ref = meta.get("reference")
    if isinstance(ref, str) and ref in conditions:
        return ref, "set by `reference:` in the hypothesis"
    if not conditions:
        return None, "no conditions"
    if ref is not None:
        return conditions[0], (f"`reference: {ref}` is not a condition of {hyp}, so the "
                               f"first condition listed")
    return conditions[0], "the first condition listed"


def planned_seeds(study, hyp: str) -> dict[tuple[str, str], int]:
    """Seeds the fixed design gives each (condition, scenario) of ``hyp``."""
    out: dict[tuple[str, str], int] = {}
    for g in getattr(study, "groups", []) or []:
        if g.hypothesis != hyp:
            continue
        counts = getattr(g, "planned", None)
        for s in g.scenarios:
            out[(g.condition, s)] = counts.get(s, 0) if isinstance(counts, dict) else \
                len(getattr(g, "seeds", ()) or ())
    return out


def _cell_keys(runs: list[dict]) -> list:
    """Pairing keys of a cell's runs: the seed when seeds are unique, else the run id."""
    seeds = [r.get("seed") for r in runs]
    if None in seeds or len(set(seeds)) != len(seeds):
        return [f"run:{r['run_id']}" for r in runs]
    return seeds


def analyze(study, records: list[dict]) -> dict[str, Any]:
    """Statistics and contrasts of every hypothesis, from all records of the study."""
    order = _order(study, records)
    evaluators: dict[str, None] = {}
    flat: dict[str, dict[str, float]] = {}
    metric_keys: dict[str, None] = {}
    for rec in records:
        if usable(rec):
            values = flat_metrics(rec)
            flat[rec["run_id"]] = values
            for k in values:
                metric_keys.setdefault(k, None)
            for ev in rec.get("evaluations") or []:
                if isinstance(ev, dict) and ev.get("id"):
                    evaluators.setdefault(str(ev["id"]), None)
    by_hyp: dict[str, list[dict]] = {}
    for rec in records:
        if rec.get("hypothesis") is not None:
            by_hyp.setdefault(str(rec["hypothesis"]), []).append(rec)
    hyps = {}
    for hyp, conds in order.items():
        hyps[hyp] = _hypothesis(study, hyp, conds, by_hyp.get(hyp, []), flat,
                                list(metric_keys), list(evaluators))
    decisions = decisions_block(study, {h: b.pop("decision") for h, b in hyps.items()})
    return {"confidence": CONFIDENCE, "alpha": ALPHA, "metrics": list(metric_keys),
            "decisions": decisions,
            "evaluators": list(evaluators), "hypotheses": hyps,
            "metrics_note": None if metric_keys else no_metrics_reason(
                [r for r in records if usable(r)], study, n_records=len(records)),
            "warnings": run_warnings(records)}


def _hypothesis(study, hyp: str, conds: dict[str, list[str]], recs: list[dict],
                flat: dict[str, dict[str, float]], metric_keys: list[str],
                evaluators: list[str]) -> dict:
    meta = (getattr(study, "hypotheses", {}) or {}).get(hyp) or {}
    conditions = list(conds)
    reference, ref_source = reference_of(study, hyp, conditions)
    cells: dict[str, dict[str, list[dict]]] = {c: {s: [] for s in conds[c]} for c in conds}
    excluded: list[dict] = []
    unusable: dict[tuple[str, str], list[str]] = {}    # (cond, scen) → statuses left out
    for rec in recs:
        c, s = str(rec.get("condition")), str(rec.get("scenario"))
        if not usable(rec):
            excluded.append({"run_id": rec.get("run_id"), "reason": why_unusable(rec)})
            unusable.setdefault((c, s), []).append(
                "stale" if rec.get("stale") else str(rec.get("status")))
            continue
        cells.setdefault(c, {}).setdefault(s, []).append(rec)
    statistics: dict[str, dict[str, dict]] = {}
    keyed: dict[tuple[str, str], dict[str, dict]] = {}   # (cond, scen) → metric → {key: v}
    for c, scen in cells.items():
        for s, runs in scen.items():
            runs.sort(key=lambda r: (r.get("seed") is None, r.get("seed") or 0, r["run_id"]))
            keys = _cell_keys(runs)
            per_metric: dict[str, dict] = {}
            for key, rec in zip(keys, runs):
                for m, v in flat.get(rec["run_id"], {}).items():
                    per_metric.setdefault(m, {})[key] = v
            keyed[(c, s)] = per_metric
            metrics = {}
            for m in metric_keys:
                if m not in per_metric:
                    continue
                d = describe(per_metric[m].values(), CONFIDENCE)
                missing = len(runs) - d["n"]
                if missing:
                    d["note"] = f"missing in {missing} of {len(runs)} run(s)"
                metrics[m] = d
            statistics.setdefault(c, {})[s] = {
                "n_runs": len(runs), "seeds": [r.get("seed") for r in runs],
                "run_ids": [r["run_id"] for r in runs], "metrics": metrics}
    rows: list[dict] = []
    if reference is not None:
        for c in conditions:
            if c == reference:
                continue
            for s in conds[c]:
                if s not in conds.get(reference, []):
                    continue
                a_cell, b_cell = keyed.get((c, s), {}), keyed.get((reference, s), {})
                for m in metric_keys:
                    if m not in a_cell and m not in b_cell:
                        continue
                    row = contrast(a_cell.get(m, {}), b_cell.get(m, {}), CONFIDENCE)
                    if (m in a_cell) != (m in b_cell):
                        side, arm = ((f"this condition {c}", c) if m not in a_cell else
                                     (f"the reference condition {reference}", reference))
                        row["note"] = _missing_arm(side, len(cells.get(arm, {}).get(s, [])),
                                                   unusable.get((arm, s), []))
                    ev, name = split_metric(m, evaluators)
                    rows.append({"hypothesis": hyp, "condition": c, "reference": reference,
                                 "scenario": s, "metric": m, "evaluator": ev,
                                 "metric_name": name, **row})
    adjusted = holm([r["p"] for r in rows])
    for r, adj in zip(rows, adjusted):
        r["p_holm"] = adj
        r["significant"] = adj is not None and adj < ALPHA
    family = sum(1 for p in adjusted if p is not None)
    block = {
        "id": hyp,
        "statement": meta.get("statement"),
        "independent_variable": meta.get("independent_variable"),
        "prediction": meta.get("prediction"),
        "status": meta.get("status") or "testing",
        "conditions": conditions,
        "scenarios": _scenarios(conds),
        "reference": reference,
        "reference_source": ref_source,
        "in_study": hyp in (getattr(study, "hypotheses", {}) or {}),
        "n_records": len(recs),
        "n_usable": len(recs) - len(excluded),
        "excluded": excluded,
        "statistics": statistics,
        "contrasts": rows,
        "holm_family_size": family,
    }
    block["key_metric"] = key_metric(block)
    attempted: dict[tuple[str, str], int] = {}   # seeds with a final record, per cell
    for rec in recs:
        if rec.get("status") not in UNFINISHED:
            cell = (str(rec.get("condition")), str(rec.get("scenario")))
            attempted[cell] = attempted.get(cell, 0) + 1
    block["decision"] = hypothesis_decision(study, hyp, block, conds, keyed,
                                            predicted_direction, attempted=attempted,
                                            planned=planned_seeds(study, hyp))
    block["metrics_note"] = None
    if block["n_usable"] and block["key_metric"] is None:
        block["metrics_note"] = no_metrics_reason([r for r in recs if usable(r)], study)
    return block


def _missing_arm(side: str, n_usable: int, left_out: list[str]) -> str:
    """Why one arm of a contrast has no value: no runs yet, none finished, none usable, or
    runs that lack this metric — never just "missing" when the truth is "not run yet"."""
    if n_usable:
        return f"{side} has {n_usable} usable run(s) but none reports this metric"
    if not left_out:
        return f"no runs yet for {side}"
    counts: dict[str, int] = {}
    for status in left_out:
        counts[status] = counts.get(status, 0) + 1
    what = ", ".join(f"{n} {k}" for k, n in counts.items())
    if all(k in UNFINISHED for k in counts):
        return f"{side} has no finished runs yet ({what})"
    return f"{side} has no usable runs yet ({what})"


def _scenarios(conds: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for scen in conds.values():
        out += [s for s in scen if s not in out]
    return out


# -- choosing what to show --------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def key_metric(block: dict) -> str | None:
    """The metric a reader most likely cares about for this hypothesis.

    1. the metric whose name's words all appear in the prediction (or statement) — the most
       such words wins ("interactive actions per agent" in "recsys > chronological on
       interactive actions per agent"); 2. a preferred default when present; 3. the contrast
       with the smallest Holm p (then largest |effect|); 4. the first metric.
    """
    metrics: list[str] = []
    for scen in block["statistics"].values():
        for cell in scen.values():
            metrics += [m for m in cell["metrics"] if m not in metrics]
    if not metrics:
        return None
    best = _text_match(metrics, block.get("prediction"), block)
    if best is None:
        best = _text_match(metrics, block.get("statement"), block)
    if best is not None:
        return best
    for m in PREFERRED_METRICS:
        if m in metrics:
            return m
    ranked = ranked_contrasts(block["contrasts"])
    if ranked and ranked[0].get("p") is not None:
        return ranked[0]["metric"]
    return metrics[0]


def _text_match(metrics: list[str], text: Any, block: dict) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    words = {_stem(w) for w in _WORD.findall(text.lower())}
    best, best_score = None, (1, 0.0)
    p_of: dict[str, float] = {}
    for r in block["contrasts"]:
        if r.get("p_holm") is not None:
            p_of[r["metric"]] = min(p_of.get(r["metric"], 1.0), r["p_holm"])
    for m in metrics:
        tokens = [_stem(t) for t in _WORD.findall(split_metric(m)[1].lower())]
        if tokens and all(t in words for t in tokens):
            score = (len(tokens), -p_of.get(m, 2.0))
            if score > best_score:
                best, best_score = m, score
    return best


def ranked_contrasts(rows: list[dict]) -> list[dict]:
    """Holm-significant contrasts first (smallest p), then the rest by |effect size|."""
    def key(r):
        sig = r.get("significant")
        eff = abs(r["effect_size"]) if r.get("effect_size") is not None else -1.0
        p = r["p_holm"] if r.get("p_holm") is not None else 2.0
        return (0 if sig else 1, p if sig else 0.0, -eff, p)
    return sorted(rows, key=key)


def predicted_direction(prediction: Any, condition: str, reference: str) -> int | None:
    """+1 if the prediction says ``condition`` > ``reference``, −1 if <, None if it doesn't say."""
    if not isinstance(prediction, str):
        return None
    text = prediction.lower()
    more = r"(>|\b(more|higher|greater|larger|bigger|exceeds?|increases?|above)\b)"
    less = r"(<|\b(less|lower|fewer|smaller|decreases?|below)\b)"
    for first, second, sign in ((condition, reference, 1), (reference, condition, -1)):
        pat = re.compile(rf"(?<![\w-]){re.escape(first.lower())}(?![\w-])(.{{0,60}}?)"
                         rf"(?<![\w-]){re.escape(second.lower())}(?![\w-])")
        m = pat.search(text)
        if not m:
            continue
        middle = m.group(1)
        if re.search(more, middle):
            return sign
        if re.search(less, middle):
            return -sign
    return None
