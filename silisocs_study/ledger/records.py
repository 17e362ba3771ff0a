"""Per-run record files: ``generated/records/<run_id>.json``, written atomically.

Whoever finishes a run writes its record: the job's callback (in the job's own process, on a
compute node for Slurm), or the orchestrator for reused, skipped and crashed runs. One file
per run means concurrent writers never touch the same file, so no lock is needed; os.replace
makes each write all-or-nothing. A record keeps the history of earlier attempts.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Iterator

from ..atomic import atomic_write_bytes

RECORD_SCHEMA_VERSION = 1
FINAL_STATUSES = ("success", "failed", "timeout", "reused")
_HISTORY_KEYS = ("attempt_id", "session", "status", "started_at", "finished_at", "duration_ms",
                 "exit_code", "error", "fingerprint", "host", "pid")
MAX_HISTORY = 50


def utc_now() -> str:
    """ISO-8601 UTC with milliseconds: sortable, unambiguous, and parseable everywhere."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _dumps(obj: Any) -> bytes:
    try:
        import orjson

        return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                            default=str) + b"\n"
    except ImportError:  # pragma: no cover
        return (json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _loads(data: bytes) -> Any:
    try:
        import orjson

        return orjson.loads(data)
    except ImportError:  # pragma: no cover
        return json.loads(data)


class Ledger:
    """The records of one study workspace (``<workspace>/generated``)."""

    def __init__(self, generated: Path | str) -> None:
        self.generated = Path(generated)
        self.records_dir = self.generated / "records"
        self.unreadable: list[str] = []

    def path(self, run_id: str) -> Path:
        return self.records_dir / f"{run_id}.json"

    def read(self, run_id: str) -> dict | None:
        """The record of ``run_id``, or None if absent or unreadable."""
        try:
            return _loads(self.path(run_id).read_bytes())
        except (FileNotFoundError, ValueError):
            return None

    def write(self, record: dict) -> None:
        """Write a record atomically; a previous *other* attempt moves into ``history``."""
        run_id = record["run_id"]
        previous = self.read(run_id)
        record = dict(record)
        record.setdefault("schema_version", RECORD_SCHEMA_VERSION)
        history = list((previous or {}).get("history") or [])
        if previous is not None and previous.get("attempt_id") != record.get("attempt_id"):
            history.append({k: previous.get(k) for k in _HISTORY_KEYS if k in previous})
        record["history"] = history[-MAX_HISTORY:]
        atomic_write_bytes(self.path(run_id), _dumps(record))

    def update(self, record: dict) -> None:
        """Rewrite a record in place (same attempt): no history entry."""
        atomic_write_bytes(self.path(record["run_id"]), _dumps(record))

    def iter_records(self) -> Iterator[dict]:
        """Every readable record; unreadable ones are skipped (counted in ``self.unreadable``)."""
        self.unreadable: list[str] = []
        try:
            names = os.listdir(self.records_dir)
        except FileNotFoundError:
            return
        base = str(self.records_dir)
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:  # plain paths: pathlib costs more than the read on 10,000 records
                with open(os.path.join(base, name), "rb") as fh:
                    data = fh.read()
                yield _loads(data)
            except (OSError, ValueError):
                self.unreadable.append(name)

    def all(self) -> dict[str, dict]:
        return {r["run_id"]: r for r in self.iter_records() if isinstance(r, dict)
                and "run_id" in r}
