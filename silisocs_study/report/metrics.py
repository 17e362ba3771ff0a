"""Per-run metrics from records: the ``aggregated`` block of each evaluator, kept apart.

A metric is always named ``<eval_id>.<metric>``: two evaluators that both report
``num_agents`` give two metrics, never an average of the two (weakness 15 of the reference).
Only records whose status is ``success`` or ``reused`` and that are not stale (their plan
changed since) count for statistics; every record still appears in the organized tree.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from ..status import COMPLETE_VALUES
from .numbers import finite_number

EVAL_OK = ("success", "reused")


def usable(rec: dict) -> bool:
    return rec.get("status") in COMPLETE_VALUES and not rec.get("stale")


def why_unusable(rec: dict) -> str | None:
    if rec.get("status") not in COMPLETE_VALUES:
        return f"status {rec.get('status')}"
    if rec.get("stale"):
        return "stale (the plan changed since this run)"
    return None


def _aggregated_from_file(path: str) -> dict | None:
    """The ``aggregated`` block of an evaluator output file (reused evals carry only a path)."""
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError:
        return None
    return _aggregated_at(path, mtime)


@lru_cache(maxsize=4096)   # reports read the same reused evaluations for every view
def _aggregated_at(path: str, mtime_ns: int) -> dict | None:
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    agg = payload.get("aggregated") if isinstance(payload, dict) else None
    return agg if isinstance(agg, dict) else None


def evaluator_metrics(rec: dict) -> dict[str, dict[str, float]]:
    """{eval_id: {metric: value}} for each evaluator of the run that produced numbers."""
    out: dict[str, dict[str, float]] = {}
    for ev in rec.get("evaluations") or []:
        if not isinstance(ev, dict) or not ev.get("id") or ev.get("status") not in EVAL_OK:
            continue
        agg = ev.get("aggregated")
        if not isinstance(agg, dict) and ev.get("path"):
            agg = _aggregated_from_file(str(ev["path"]))
        if not isinstance(agg, dict):
            continue
        values = {str(k): x for k, v in agg.items() if (x := finite_number(v, bools=True)) is not None}
        if values:
            out[str(ev["id"])] = values
    return out


def flat_metrics(rec: dict) -> dict[str, float]:
    """{"<eval_id>.<metric>": value} for one run."""
    return {f"{eid}.{m}": v for eid, vals in evaluator_metrics(rec).items()
            for m, v in vals.items()}


def metric_order(records: Iterable[dict]) -> list[str]:
    """Every metric key, in order of first appearance (evaluator order, then payload order)."""
    seen: dict[str, None] = {}
    for rec in records:
        for key in flat_metrics(rec):
            seen.setdefault(key, None)
    return list(seen)


def split_metric(key: str, evaluators: Iterable[str] = ()) -> tuple[str, str]:
    """("action_metrics", "actions_per_agent") from "action_metrics.actions_per_agent"."""
    for eid in sorted(evaluators, key=len, reverse=True):
        if key.startswith(eid + "."):
            return eid, key[len(eid) + 1:]
    eid, _, metric = key.partition(".")
    return eid, metric


def metric_words(key: str) -> str:
    """Plain words for a metric key: 'interactive actions per agent'."""
    return split_metric(key)[1].replace("_", " ")


METRICS_ADVICE = ("To get statistics, add an evaluator (`evaluations:` in the study file: a "
                  "builtin preset such as `builtin.action_metrics_detailed`, or your own "
                  "command) whose output JSON holds an `aggregated` object of numbers, e.g. "
                  '`{"aggregated": {"score": 0.7}}` — see README, section "Your own app".')


def no_metrics_reason(usable_records: list[dict], study=None, n_records: int | None = None
                      ) -> str:
    """Why these runs give no ``<eval_id>.<metric>`` at all, and what to do about it.

    Told apart: no usable run yet; no evaluator configured or run; every evaluator failed or
    was disabled; evaluators that succeeded but returned no number.
    """
    runs = len(usable_records)
    if not runs:
        total = f" ({n_records} record(s), none successful and current)" if n_records else ""
        return f"No numeric metrics yet: no run has finished successfully{total}."
    entries = [ev for rec in usable_records for ev in rec.get("evaluations") or []
               if isinstance(ev, dict)]
    if not entries:
        configured = any(getattr(g, "evaluators", ()) for g in getattr(study, "groups", []) or [])
        why = ("the study configures no evaluator (`evaluations:` is empty or missing)"
               if not configured else "no evaluator has run on them yet")
        return f"No numeric metrics: {runs} usable run(s), but {why}. {METRICS_ADVICE}"
    ok = [ev for ev in entries if ev.get("status") in EVAL_OK]
    if not ok:
        failed = [ev for ev in entries if ev.get("status") == "failed"]
        if failed:
            first = failed[0]
            return (f"No numeric metrics: every evaluator failed or was disabled on the "
                    f"{runs} usable run(s) ({len(failed)} failure(s); first: "
                    f"{first.get('id')}: {first.get('error') or 'no error message'}; each run's "
                    f"record names the evaluator's log). {METRICS_ADVICE}")
        return (f"No numeric metrics: every evaluator is disabled on the {runs} usable "
                f"run(s). {METRICS_ADVICE}")
    ids = ", ".join(dict.fromkeys(str(ev.get("id")) for ev in ok))
    return (f"No numeric metrics: no evaluator returned a number ({ids} succeeded on "
            f"{runs} usable run(s), but its output has no `aggregated` object with numeric "
            f"values). {METRICS_ADVICE}")


def run_warnings(records: Iterable[dict]) -> list[dict]:
    """[{run_id, status, warnings}] for every record that carries warnings (e.g. the run
    wrote nothing into its run folder), so reports can list them."""
    out = []
    for rec in records:
        notes = [str(w) for w in rec.get("warnings") or [] if w]
        if notes:
            out.append({"run_id": rec.get("run_id"), "status": rec.get("status"),
                        "warnings": notes})
    return out
