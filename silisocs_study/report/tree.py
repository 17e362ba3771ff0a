"""Writing the organized tree: documents, per-run directories, relative links, and a cache.

:mod:`silisocs_study.report.organize` decides when to build and swaps the tree in; this
module writes one complete tree into a fresh directory. Per run
(``<hyp>/<cond>/<scenario>/seed_<seed>/``) it writes ``config.yaml`` (the record's identity,
run metadata under its own ``run_metadata`` key, and the silisocs runner's keys — see
:mod:`.compat`), and ``run``, ``eval.json`` and ``eval/<eval_id>/<file>`` as relative
symlinks. ``summary.json`` starts with our ``generator`` marker.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..yamlout import dump_yaml
from . import compat
from .contrasts import CONFIDENCE
from .metrics import usable

SUMMARY_SCHEMA_VERSION = 1
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CONFIG_KEYS = ("run_id", "study_id", "study", "hypothesis", "condition", "sub_experiment",
                "scenario", "seed", "status", "stale", "execution_mode", "fingerprint",
                "started_at", "finished_at", "duration_ms", "run_dir", "output_dir",
                "log_path", "eval_paths", "resolved_overrides", "command", "error")
METHOD = {
    "unit": "one run (condition × scenario × seed); statistics over seeds, never pooling "
            "scenarios or mixing evaluators (metrics are named <eval_id>.<metric>)",
    "included": "records with status success or reused that are not stale",
    "interval": "95% Student-t confidence interval of the mean",
    "contrast": "condition − reference per scenario and metric; paired t-test over the shared "
                "seeds when the arms share at least 2 seeds (effect size Cohen's d_z), "
                "else Welch's t-test (Cohen's d with pooled sd)",
    "multiple_comparisons": "Holm step-down adjustment over all contrasts of a hypothesis",
    "undefined": "p, CI and effect sizes are null (with a note) when n < 2 or the variance "
                 "is zero",
}



def _safe(name: Any, fallback: str) -> str:
    text = "" if name is None else str(name)
    if _SAFE.fullmatch(text):
        return text
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip("._-")
    return text or fallback


def run_subdir(rec: dict) -> str:
    seed = rec.get("seed")
    return "/".join((_safe(rec.get("condition"), "condition"),
                     _safe(rec.get("scenario"), "scenario"),
                     "seed_default" if seed is None else f"seed_{_safe(seed, 'default')}"))


def write_tree(root: Path, final: Path, study, records: list[dict], analysis: dict,
               cache: "TreeCache | None" = None) -> None:
    """Write the tree into ``root``; symlinks are made relative to where it will live."""
    from ..ledger.records import utc_now

    now = utc_now()
    final_real = Path(os.path.realpath(final.parent)) / final.name
    totals = counts(records)
    per_hyp: dict[str, list[dict]] = {}
    for rec in records:
        if rec.get("hypothesis") is not None:
            per_hyp.setdefault(str(rec["hypothesis"]), []).append(rec)
    hyp_ids = list(analysis["hypotheses"])
    _write_yaml(root / "study_summary.yaml", {
        "name": study.name, "study_id": study.study_id,
        "question": study.meta.get("question"),
        "scenarios": list(study.meta.get("scenarios") or []),
        "hypotheses": hyp_ids, "generated_at": now, "counts": totals,
        "counts_by_hypothesis": {h: counts(per_hyp.get(h, [])) for h in hyp_ids},
    })
    payloads = cache.payloads.get if cache is not None else compat.PayloadCache().get
    rows_by_run: dict[str, dict] = {}
    for hyp, block in analysis["hypotheses"].items():
        hdir = root / _safe(hyp, "hypothesis")
        hdir.mkdir(parents=True, exist_ok=True)
        decision = ((analysis.get("decisions") or {}).get("hypotheses") or {}).get(hyp)
        _write_yaml(hdir / "hypothesis.yaml", hypothesis_document(study, block, decision))
        used: set[str] = set()
        runs = []
        for rec in per_hyp.get(hyp, []):
            sub = run_subdir(rec)
            if sub in used:  # e.g. two reuse refs with the same scenario and seed
                sub = f"{sub}-{_safe(rec.get('run_id'), 'run')}"
            used.add(sub)
            _write_run_dir(hdir / sub, final_real / hdir.name / sub, rec, cache,
                           f"{hdir.name}/{sub}")
            row = compat.runs_row(rec, sub, payloads)
            rows_by_run[str(rec.get("run_id"))] = row
            runs.append(row)
        _write_json(hdir / "runs.json", runs)
    _write_json(root / "summary.json", summary_document(
        study, records, analysis, now, compat.summary_additions(records, rows_by_run)))


def summary_document(study, records: list[dict], analysis: dict, now: str,
                     peer: dict | None = None) -> dict:
    """summary.json: our marker, the silisocs runner's keys (``conditions``,
    ``metrics_by_condition``, ``metrics_stats_by_condition``), then our statistics."""
    from ..ledger.records import generator

    peer = peer if peer is not None else compat.summary_additions(records, {})
    return {
        "generator": generator(),
        "conditions": peer["conditions"],
        "metrics_by_condition": peer["metrics_by_condition"],
        "metrics_stats_by_condition": peer["metrics_stats_by_condition"],
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "generated_at": now,
        "study": {"name": study.name, "study_id": study.study_id, "kind": study.kind,
                  "question": study.meta.get("question"),
                  "scenarios": list(study.meta.get("scenarios") or [])},
        "counts": counts(records),
        "method": METHOD,
        "confidence": CONFIDENCE,
        "alpha": analysis["alpha"],
        "evaluators": analysis["evaluators"],
        "metrics": analysis["metrics"],
        "hypotheses": analysis["hypotheses"],
        "decisions": analysis.get("decisions"),
    }


def hypothesis_document(study, block: dict, decision: dict | None = None) -> dict:
    meta = (study.hypotheses or {}).get(block["id"]) or {}
    doc = {"id": block["id"], "statement": block.get("statement"),
           "independent_variable": block.get("independent_variable"),
           "prediction": block.get("prediction"), "status": block.get("status") or "testing",
           "conditions": block["conditions"], "scenarios": block["scenarios"],
           "reference": block["reference"], "reference_source": block["reference_source"]}
    for key in ("follows_from", "motivation", "finding", "analysis"):
        if meta.get(key) is not None:
            doc[key] = meta[key]
    if not block.get("in_study"):
        doc["note"] = "this hypothesis is no longer in the study file; its records remain"
    if decision is not None:   # beside the authored status, never over it
        doc["verdict"] = decision["verdict"]
        doc["verdict_reason"] = decision["reason"]
        doc["decision"] = decision
    doc["key_metric"] = block.get("key_metric")
    doc["counts"] = {"records": block["n_records"], "usable": block["n_usable"]}
    doc["excluded"] = block["excluded"]
    doc["holm_family_size"] = block["holm_family_size"]
    doc["statistics"] = block["statistics"]
    doc["contrasts"] = block["contrasts"]
    return doc


def counts(records: list[dict]) -> dict:
    by_status: dict[str, int] = {}
    for r in records:
        s = "stale" if r.get("stale") else str(r.get("status", "unknown"))
        by_status[s] = by_status.get(s, 0) + 1
    return {"records": len(records), "usable": sum(1 for r in records if usable(r)),
            "by_status": by_status}


def _write_run_dir(path: Path, final_path: Path, rec: dict, cache: "TreeCache | None" = None,
                   rel: str = "") -> None:
    path.mkdir(parents=True, exist_ok=True)
    ours = {k: rec.get(k) for k in _CONFIG_KEYS if k in rec}
    run_dir = rec.get("run_dir") or rec.get("output_dir")
    meta = dict(run_metadata(rec, run_dir) if cache is None else cache.metadata(rec, run_dir))
    peer_meta = dict(meta.pop("_peer", None) or compat.peer_metadata(None, run_dir))
    if run_dir:
        peer_meta["source"] = str(run_dir)
    ours["run_metadata"] = meta
    config = compat.config_document(rec, ours, peer_meta)
    if cache is None:
        _write_yaml(path / "config.yaml", config)
    else:
        cache.write_config(path / "config.yaml", f"{rel}/config.yaml", config)
    if run_dir and Path(run_dir).is_dir():
        _link(path / "run", final_path / "run", run_dir)
    first = True
    for ev in rec.get("evaluations") or []:
        if not isinstance(ev, dict) or not ev.get("path") or not ev.get("id"):
            continue
        target = Path(ev["path"])
        if not target.is_file():
            continue
        eid = _safe(ev["id"], "eval")
        _link(path / "eval" / eid / target.name, final_path / "eval" / eid / target.name,
              target)
        plots = target.with_name(f"{target.stem}_plots")
        if plots.is_dir():
            _link(path / "eval" / eid / plots.name, final_path / "eval" / eid / plots.name,
                  plots)
        if first:
            _link(path / "eval.json", final_path / "eval.json", target)
            first = False


def _link(link: Path, final_link: Path, target) -> None:
    """A relative symlink at ``link`` that resolves once the tree sits at its final place."""
    link.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(os.path.realpath(target), final_link.parent)
    if link.is_symlink() or link.exists():
        return
    os.symlink(rel, link)


def run_metadata(rec: dict, run_dir: str | None) -> dict:
    """What the run directory says about itself (effective_config.yaml, Hydra overrides).

    Kept under its own key in config.yaml so it can never overwrite the record's identity
    (weakness 14 of the reference).
    """
    eff = ((rec.get("lock") or {}).get("effective_config_path")
           or (str(Path(run_dir) / "effective_config.yaml") if run_dir else None))
    return _with_command(_file_metadata(eff, run_dir, rec), rec)


def _file_metadata(eff: str | None, run_dir: str | None, rec: dict) -> dict:
    out: dict[str, Any] = {}
    if eff and Path(eff).is_file():
        try:
            import yaml

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            cfg = yaml.load(Path(eff).read_text(encoding="utf-8"), Loader=loader)
        except Exception:  # noqa: BLE001 - unreadable or not YAML: no metadata
            cfg = None
        if isinstance(cfg, dict):
            # what the silisocs runner's organizer puts at the top of config.yaml
            out["_peer"] = compat.peer_metadata(cfg, run_dir)
            out["source"] = str(eff)
            out["effective_config_sha256"] = (rec.get("lock") or {}).get(
                "effective_config_sha256")
            for key, value in cfg.items():
                if isinstance(value, str):
                    out[str(key)] = value if len(value) <= 500 else value[:500] + "…"
                elif value is None or isinstance(value, (int, float, bool)):
                    out[str(key)] = value
                elif isinstance(value, dict):
                    for name in ("name", "scenario_name", "model_name", "llm_name"):
                        if isinstance(value.get(name), (str, int, float)):
                            out[str(key)] = value[name]
                            break
    if run_dir:
        for cand in (Path(run_dir) / ".hydra" / "overrides.yaml",):
            if cand.is_file():
                try:
                    import yaml

                    out["cli_overrides"] = yaml.load(
                        cand.read_text(encoding="utf-8"),
                        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
                except Exception:  # noqa: BLE001 - unreadable: leave it out
                    pass
    return out


def _with_command(meta: dict, rec: dict) -> dict:
    if rec.get("command"):
        import shlex

        meta = dict(meta)
        meta["run_command"] = shlex.join(str(a) for a in rec["command"])
    return meta


class TreeCache:
    """Makes a rebuild cost little for runs that did not change since the last one.

    ``generated/.organize_cache.json`` remembers the run metadata read from each run's
    effective_config.yaml (keyed by path + the sha256 in the record's lock), what each
    evaluator file says per agent (keyed by path, size and mtime) and a digest of every
    config.yaml written; an unchanged config.yaml is hard-linked from the current tree
    instead of being rendered again (never from a tree we did not build: :meth:`forget_files`).
    A missing or unreadable cache only costs time.
    """

    NAME = ".organize_cache.json"
    VERSION = 2

    def __init__(self, generated: Path, final: Path) -> None:
        import orjson

        self.path = Path(generated) / self.NAME
        self.final = final
        try:
            data = orjson.loads(self.path.read_bytes())
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict) or data.get("version") != self.VERSION:
            data = {}
        self.signature = data.get("signature")
        self.old_meta: dict = data.get("meta") or {}
        self.old_files: dict = data.get("files") or {}
        self.meta: dict = {}
        self.files: dict = {}
        self.payloads = compat.PayloadCache(data.get("payloads"))

    def forget_files(self) -> None:
        """The current tree is not ours: never hard-link a file of it into the new one."""
        self.old_files = {}
        self.signature = None

    def metadata(self, rec: dict, run_dir: str | None) -> dict:
        lock = rec.get("lock") or {}
        sha, eff = lock.get("effective_config_sha256"), lock.get("effective_config_path")
        key = f"{eff}|{sha}" if sha and eff else None
        if key is None:
            return run_metadata(rec, run_dir)
        meta = self.meta.get(key)
        if meta is None:
            meta = self.old_meta.get(key)
            if meta is None:
                meta = _file_metadata(eff, run_dir, rec)
                if not meta:   # effective_config.yaml unreadable now: do not remember that
                    return _with_command({}, rec)
            self.meta[key] = meta
        return _with_command(meta, rec)

    def write_config(self, target: Path, rel: str, config: dict) -> None:
        import hashlib

        import orjson

        digest = hashlib.blake2b(orjson.dumps(config, option=orjson.OPT_NON_STR_KEYS,
                                              default=str), digest_size=16).hexdigest()
        self.files[rel] = digest
        old = self.final / rel
        if self.old_files.get(rel) == digest:
            try:
                os.link(old, target)
                return
            except OSError:
                pass
        _write_yaml(target, config)

    def save(self, signature: str | None = None) -> None:
        import orjson

        from ..atomic import atomic_write_bytes

        atomic_write_bytes(self.path, orjson.dumps(
            {"version": self.VERSION, "signature": signature, "meta": self.meta,
             "files": self.files, "payloads": self.payloads.new},
            option=orjson.OPT_NON_STR_KEYS, default=str))


# -- writers ------------------------------------------------------------------------------

def _write_json(path: Path, obj: Any) -> None:
    import orjson

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                                  default=str) + b"\n")


def _write_yaml(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_yaml(obj), encoding="utf-8")
