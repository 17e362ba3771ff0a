"""The organized tree in the shapes silisocs' own loaders and notebooks read.

silisocs' ``load_study(study_dir)`` reads ``organized/<h>/runs.json`` rows
(``condition, scenario, seed, run_id, status, run_dir, eval_paths, agents, aggregated,
aggregated_stats, summary`` with a *flat* numeric ``aggregated``), ``organized/summary.json``
(``conditions``, ``metrics_by_condition`` = {hyp: {cond: {metric: mean}}},
``metrics_stats_by_condition`` = {hyp: {cond: {metric: {n, mean, stdev, ci95_low,
ci95_high}}}}) and each run's ``config.yaml`` (the record's identity with ``model_name``,
``num_agents``, ``max_steps`` … from the run's ``effective_config.yaml`` at top level).

Our richer content stays beside those keys. Metric names are ``<eval_id>.<metric>`` in
every one of these shapes too: two evaluators reporting the same name stay two metrics
(the silisocs runner averages them into one). A condition's statistics pool its scenarios and
seeds, as the silisocs runner's do; the per-scenario statistics and contrasts are under
``hypotheses`` in the same summary.json.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, cast

from ..ledger.records import peer_evaluation, peer_time
from .metrics import evaluator_metrics, flat_metrics, usable
from .numbers import finite_number
from .stats import describe

# keys the silisocs runner's organizer copies from effective_config.yaml into config.yaml
PEER_METADATA_KEYS = ("source", "model_name", "model_config", "scenario", "world_description",
                      "max_steps", "num_agents", "seed", "cli_overrides", "run_command")
IDENTITY_WINS = ("scenario", "seed")   # the record's values; the run's own are in run_metadata


# -- per run: what a run's directory and evaluator files say ----------------------------------

def _block(cfg: dict, key: str) -> dict:
    """``cfg[key]`` when it is a mapping, else an empty one."""
    value = cfg.get(key)
    return value if isinstance(value, dict) else {}


def peer_metadata(cfg: dict | None, run_dir: str | None) -> dict:
    """What the silisocs runner's organizer extracts from a run's ``effective_config.yaml``
    and ``configs/*/overrides.yaml`` (or Hydra's ``.hydra/overrides.yaml``)."""
    out: dict[str, Any] = {"source": str(run_dir) if run_dir else None}
    if not isinstance(cfg, dict):
        return out
    sim = _block(cfg, "sim")
    llm = _block(sim, "llm")
    setting = _block(cfg, "setting")
    event = _block(cfg, "event")
    scenario = cfg.get("scenario_name")
    if scenario is None and isinstance(cfg.get("scenario"), dict):
        scenario = cfg["scenario"].get("scenario_name")
    out.update(model_name=llm.get("name"), model_config=llm.get("provider"), scenario=scenario,
               world_description=event.get("context") or setting.get("background")
               or setting.get("name"),
               max_steps=cfg.get("num_steps"), num_agents=cfg.get("num_agents"),
               seed=cfg.get("seed"))
    if run_dir:
        overrides = _overrides_file(Path(run_dir))
        if overrides is not None:
            out["cli_overrides"] = overrides
    return out


def _overrides_file(run_dir: Path) -> list | None:
    candidates = sorted(run_dir.glob("configs/*/overrides.yaml")) + [
        run_dir / ".hydra" / "overrides.yaml"]
    for path in candidates:
        if path.is_file():
            try:
                import yaml

                data = yaml.load(path.read_text(encoding="utf-8"),
                                 Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            except Exception:  # noqa: BLE001 - unreadable: leave it out
                return None
            return data if isinstance(data, list) else None
    return None


def payload_extras(path: str | Path) -> dict:
    """``agents`` (per-agent numeric metrics: the payload's ``agents``, or our evaluators'
    ``per_agent_detail`` / ``per_agent``) and ``summary`` of one evaluator output file."""
    try:
        import orjson

        payload = orjson.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(payload, dict):
        return {}
    out: dict[str, Any] = {}
    agents = payload.get("agents")
    if not isinstance(agents, dict):  # probe evaluators keep silisocs' per_agent (counts) and ours apart
        agents = payload.get("per_agent_detail") or payload.get("per_agent")
    if isinstance(agents, dict):
        per = {}
        for agent, metrics in agents.items():
            if isinstance(metrics, dict):
                vals = {str(k): x for k, v in metrics.items() if (x := finite_number(v)) is not None}
                if vals:
                    per[str(agent)] = vals
        if per:
            out["agents"] = per
    if isinstance(payload.get("summary"), dict):
        out["summary"] = payload["summary"]
    return out


class PayloadCache:
    """``payload_extras`` per evaluator file, remembered by (path, size, mtime) across builds
    in the organize cache, so a rebuild reads only the files that changed."""

    def __init__(self, old: dict | None = None) -> None:
        self.old = old or {}
        self.new: dict[str, dict] = {}

    def get(self, path: str) -> dict:
        try:
            st = os.stat(path)
        except OSError:
            return {}
        key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
        hit = self.new.get(key)
        if hit is None:
            hit = self.old.get(key)
            if hit is None:
                hit = payload_extras(path)
            self.new[key] = hit
        return hit


def _run_extras(rec: dict, payloads: Callable[[str], dict] | None) -> tuple[dict, dict]:
    """(agents, summary) of a run, every metric named ``<eval_id>.<metric>``."""
    agents: dict[str, dict[str, float]] = {}
    summary: dict[str, Any] = {}
    if payloads is None:
        return agents, summary
    for ev in rec.get("evaluations") or []:
        if not isinstance(ev, dict) or not ev.get("path") or \
                ev.get("status") not in ("success", "reused"):
            continue
        extras = payloads(str(ev["path"]))
        eid = str(ev.get("id"))
        for agent, metrics in (extras.get("agents") or {}).items():
            agents.setdefault(agent, {}).update({f"{eid}.{m}": v for m, v in metrics.items()})
        for key, value in (extras.get("summary") or {}).items():
            summary[f"{eid}.{key}"] = value
    reused_eval = (rec.get("reused") or {}).get("eval") if isinstance(rec.get("reused"),
                                                                       dict) else None
    if not agents and not summary and reused_eval:
        extras = payloads(str(reused_eval))
        agents = {a: {f"reused_eval.{m}": v for m, v in ms.items()}
                  for a, ms in (extras.get("agents") or {}).items()}
        summary = {f"reused_eval.{k}": v for k, v in (extras.get("summary") or {}).items()}
    return agents, summary


def runs_row(rec: dict, sub: str, payloads: Callable[[str], dict] | None = None) -> dict:
    """A ``runs.json`` row: the silisocs runner's keys first, then ours."""
    agents, summary = _run_extras(rec, payloads)
    return {
        "condition": rec.get("condition"), "scenario": rec.get("scenario"),
        "seed": rec.get("seed"), "run_id": rec.get("run_id"), "status": rec.get("status"),
        "run_dir": rec.get("run_dir"), "eval_paths": rec.get("eval_paths") or {},
        "agents": agents, "aggregated": flat_metrics(rec), "aggregated_stats": {},
        "summary": summary,
        # ours
        "stale": bool(rec.get("stale")), "usable": usable(rec),
        "fingerprint": rec.get("fingerprint"), "organized_dir": sub,
        "eval_status": {str(e.get("id")): e.get("status")
                        for e in rec.get("evaluations") or [] if isinstance(e, dict)},
        "metrics_by_evaluator": evaluator_metrics(rec),
    }


def config_document(rec: dict, ours: dict, peer_meta: dict) -> dict:
    """A run's organized ``config.yaml``: the silisocs runner's keys (its timestamp format,
    evaluation entries, run metadata at top level), then ours (``run_metadata`` etc.)."""
    doc = {"run_id": rec.get("run_id"), "study_id": rec.get("study_id"),
           "study": rec.get("study"), "hypothesis": rec.get("hypothesis"),
           "condition": rec.get("condition"), "scenario": rec.get("scenario"),
           "seed": rec.get("seed"), "status": rec.get("status"),
           "execution_mode": rec.get("execution_mode") or rec.get("mode"),
           "started_at": peer_time(rec.get("started_at")),
           "finished_at": peer_time(rec.get("finished_at")),
           "run_dir": rec.get("run_dir") or rec.get("output_dir"),
           "evaluations": [peer_evaluation(e) for e in rec.get("evaluations") or []
                           if isinstance(e, dict)],
           "eval_paths": rec.get("eval_paths") or {}}
    for key in PEER_METADATA_KEYS:
        if key in IDENTITY_WINS:
            continue
        if key in peer_meta:
            doc[key] = peer_meta[key]
    if "run_command" not in doc and ours.get("run_metadata", {}).get("run_command"):
        doc["run_command"] = ours["run_metadata"]["run_command"]
    for key, value in ours.items():
        if key not in doc and key != "evaluations":
            doc[key] = value
    doc["started_at_iso"] = rec.get("started_at")
    doc["finished_at_iso"] = rec.get("finished_at")
    return doc


# -- per study: summary.json additions -------------------------------------------------------

def summary_additions(records: list[dict], rows: dict[str, dict]) -> dict:
    """``conditions``, ``metrics_by_condition`` and ``metrics_stats_by_condition`` over the
    usable runs (rows: run_id → runs.json row, for ``aggregated``/``summary``)."""
    conditions: list[dict] = []
    pooled: dict[str, dict[str, dict[str, list[float]]]] = {}
    for rec in records:
        if not usable(rec) or rec.get("hypothesis") is None:
            continue
        row = rows.get(str(rec.get("run_id"))) or {}
        # a runs.json row always holds its "aggregated" mapping (runs_row)
        aggregated = cast("dict[str, Any]", row.get("aggregated")) if row else flat_metrics(rec)
        summary = row.get("summary") or {}
        if not aggregated and not summary:
            continue
        hyp, cond = str(rec["hypothesis"]), str(rec.get("condition"))
        conditions.append({"hypothesis": hyp, "condition": cond,
                           "scenario": rec.get("scenario"), "seed": rec.get("seed"),
                           "run_id": rec.get("run_id"), "aggregated": aggregated,
                           "summary": summary})
        cell = pooled.setdefault(hyp, {}).setdefault(cond, {})
        for metric, value in aggregated.items():
            cell.setdefault(metric, []).append(value)
    by_condition: dict[str, dict[str, dict[str, float | None]]] = {}
    stats_by_condition: dict[str, dict[str, dict[str, dict]]] = {}
    for hyp, conds in pooled.items():
        for cond, metrics in conds.items():
            means, stats = {}, {}
            for metric, values in metrics.items():
                d = describe(values)
                means[metric] = d["mean"]
                stats[metric] = {"n": d["n"], "mean": d["mean"], "stdev": d["sd"],
                                 "ci95_low": d["ci_low"], "ci95_high": d["ci_high"]}
            by_condition.setdefault(hyp, {})[cond] = means
            stats_by_condition.setdefault(hyp, {})[cond] = stats
    return {"conditions": conditions, "metrics_by_condition": by_condition,
            "metrics_stats_by_condition": stats_by_condition}
