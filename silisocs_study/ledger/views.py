"""Views rebuilt from *all* records of a study: never from one invocation's runs alone.

``repro_lock.json`` (environment + records in natural order), ``repro_lock.jsonl`` (one line
per record), ``study_index.json`` and ``study_enriched.yaml`` (the authored study plus a
compact summary per run). Each file is replaced atomically, so a reader never sees half a
view, and running h1 then only h2 leaves both in every view.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes, atomic_write_text
from ..plan import natural_key
from .provenance import environment
from .records import RECORD_SCHEMA_VERSION, Ledger, utc_now

SUMMARY_KEYS = ("run_id", "hypothesis", "condition", "scenario", "seed", "axes", "status",
                "fingerprint", "run_dir", "finished_at", "eval_paths")


def _json(obj: Any, indent: bool = True) -> bytes:
    import orjson

    opt = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(obj, option=opt, default=str)


def sorted_records(records: dict[str, dict]) -> list[dict]:
    """Records in natural run-id order (seed2 before seed10)."""
    return [records[k] for k in sorted(records, key=natural_key)]


def mark_stale(records: list[dict], fingerprints: dict[str, str]) -> None:
    """Flag completed records whose fingerprint no longer matches the plan."""
    for rec in records:
        want = fingerprints.get(rec.get("run_id"))
        rec["stale"] = bool(want and rec.get("fingerprint") != want
                            and rec.get("status") in ("success", "reused"))


def rebuild_views(generated: Path, study_meta: dict, raw_study: dict | None = None,
                  fingerprints: dict[str, str] | None = None, repo_root: Path | None = None
                  ) -> list[dict]:
    """Rewrite every lock/index view from the record files; returns the sorted records."""
    ledger = Ledger(generated)
    records = sorted_records(ledger.all())
    if fingerprints is not None:
        mark_stale(records, fingerprints)
    now = utc_now()
    env = environment(repo_root or generated.parent)
    atomic_write_bytes(generated / "repro_lock.json", _json(
        {"schema_version": RECORD_SCHEMA_VERSION, "generated_at": now, "environment": env,
         "records": records}) + b"\n")
    lines = b"".join(_json(r, indent=False) + b"\n" for r in records)
    atomic_write_bytes(generated / "repro_lock.jsonl", lines)
    atomic_write_bytes(generated / "study_index.json", _json(
        {"schema_version": RECORD_SCHEMA_VERSION, "generated_at": now, "study": study_meta,
         "counts": _counts(records), "records": records}) + b"\n")
    enriched = dict(raw_study or {})
    enriched["generated"] = {
        "generated_at": now, "schema_version": RECORD_SCHEMA_VERSION,
        "counts": _counts(records),
        "records": [{k: r.get(k) for k in SUMMARY_KEYS if r.get(k) is not None}
                    for r in records]}
    atomic_write_text(generated / "study_enriched.yaml", _yaml(enriched))
    return records


def _counts(records: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        status = "stale" if r.get("stale") else r.get("status", "unknown")
        counts[status] = counts.get(status, 0) + 1
    return counts


def _yaml(obj: Any) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(_plain(obj), Dumper=dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=120)


def _plain(obj: Any) -> Any:
    """Make the authored document dumpable (``!ref`` values become their names)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    name = getattr(obj, "name", None)
    return f"!ref {name}" if name is not None else str(obj)
