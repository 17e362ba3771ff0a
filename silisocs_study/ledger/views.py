"""Views rebuilt from *all* records of a study: never from one invocation's runs alone.

``repro_lock.json`` (environment + records in natural order), ``repro_lock.jsonl`` (one line
per record), ``study_index.json`` and ``study_enriched.yaml`` (the authored study plus a
compact summary per run). Each file is replaced atomically, so a reader never sees half a
view, and running h1 then only h2 leaves both in every view. A symlink planted at a view's
name is replaced by a regular file (a warning names it; what it points at is untouched),
never written through. Damaged record files are left out and named in one warning line.

The views are what silisocs' own loaders read, so they carry the silisocs runner's shapes:
records as :func:`~silisocs_study.ledger.records.peer_record` makes them (its timestamp
format, ``return_code``, ``tail``, ``reused``, ``planned_output_rootname``, evaluations with
``command``/``log_path``/``return_code``/``tail``), ``environment.silisocs_version`` and
``captured_at``. Each file starts with our ``generator`` marker; a file without it was
written by the silisocs runner: its records are adopted and the file is preserved
(:mod:`~silisocs_study.ledger.adopt`) before it is replaced.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..plan import natural_key
from ..yamlout import dump_yaml, plain
from .lockfile import exclusive
from .provenance import environment
from .records import (RECORD_SCHEMA_VERSION, Ledger, generator, iso_from_peer, peer_record,
                      peer_time, utc_now)

VIEW_NAMES = ("repro_lock.json", "repro_lock.jsonl", "study_index.json", "study_enriched.yaml")

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
    with exclusive(generated / ".views.lock", what="the views' lock file .views.lock"):
        return _rebuild(generated, study_meta, raw_study, fingerprints, repo_root)


def _rebuild(generated: Path, study_meta: dict, raw_study: dict | None,
             fingerprints: dict[str, str] | None, repo_root: Path | None) -> list[dict]:
    from .adopt import adopt_lock_files, foreign_files, preserve

    foreign = foreign_files(generated, VIEW_NAMES)
    if foreign:   # the silisocs runner wrote these: take its records, keep its files
        adopt_lock_files(generated, foreign, fingerprints, repo_root)
        preserve(generated, foreign, reason="silisocs runner views replaced by the "
                                            "silisocs-study views rebuild (records adopted)")
    ledger = Ledger(generated)
    records = sorted_records(ledger.all())
    warning = ledger.damaged_warning()
    if warning:
        import sys

        print(f"{warning} (left out of the views)", file=sys.stderr)
    if fingerprints is not None:
        mark_stale(records, fingerprints)
    now = utc_now()
    mark = generator()
    root = str(repo_root) if repo_root is not None else None
    shaped = [peer_record(r, root) for r in records]
    lock = _json({"generator": mark, "schema_version": RECORD_SCHEMA_VERSION,
                  "generated_at": now,
                  "environment": peer_environment(repo_root or generated.parent, now),
                  "records": shaped}) + b"\n"
    _write(generated / "repro_lock.json", lock)
    head = _json({"generator": mark}, indent=False)[:-1] + b","   # marker first on each line
    lines = b"".join(head + _json(r, indent=False)[1:] + b"\n" if r else b""
                     for r in shaped)
    _write(generated / "repro_lock.jsonl", lines)
    _write(generated / "study_index.json", _json(
        {"generator": mark, "schema_version": RECORD_SCHEMA_VERSION,
         "generated_at": peer_time(now), "generated_at_iso": now, "study": study_meta,
         "counts": _counts(records), "records": shaped}) + b"\n")
    enriched = dict(raw_study or {})
    enriched.pop("generated", None)   # keep it last: the run rows are appended below
    enriched["generated"] = {
        "generator": mark, "generated_at": peer_time(now), "generated_at_iso": now,
        "schema_version": RECORD_SCHEMA_VERSION, "counts": _counts(records)}
    rows = [_row(r) for r in records]
    _write(generated / "study_enriched.yaml", (
        f"# generator: {mark} (a view of generated/records; rebuilt by `organize`)\n"
        + dump_yaml(enriched, width=120) + _yaml_rows(rows)).encode("utf-8"))
    return records


def _write(path: Path, data: bytes) -> None:
    """A view, replaced atomically (a symlink planted there is replaced, never followed)."""
    atomic_write_bytes(path, data, what=f"the view {path.name}")


def _row(rec: dict) -> dict:
    row = {k: rec.get(k) for k in SUMMARY_KEYS if rec.get(k) is not None}
    if "finished_at" in row:
        row["finished_at"] = peer_time(row["finished_at"])
        row["finished_at_iso"] = iso_from_peer(rec["finished_at"])
    return row


def peer_environment(repo_root: Path | str, now: str | None = None) -> dict:
    """Our provenance plus the keys of the silisocs runner's ``environment`` block."""
    env = dict(environment(repo_root))
    env.setdefault("python_version", env.get("python"))
    env["silisocs_version"] = _silisocs_version()
    env["captured_at"] = now or utc_now()
    return env


def _silisocs_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("silisocs")
    except metadata.PackageNotFoundError:
        return None


def _counts(records: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        status = "stale" if r.get("stale") else r.get("status", "unknown")
        counts[status] = counts.get(status, 0) + 1
    return counts


def _yaml_rows(rows: list[dict]) -> str:
    """``  records:`` with one flow mapping per run, under the ``generated:`` block.

    PyYAML's representer costs ~3 s for 10,000 rows; these rows hold only scalars and flat
    mappings, so they are written directly (strings double-quoted, control, line-break and
    other non-printable characters escaped, so any value loads back exactly)."""
    if not rows:
        return "  records: []\n"
    out = ["  records:\n"]
    for row in rows:
        out.append("  - {" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in row.items())
                   + "}\n")
    return "".join(out)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


_ESCAPE = re.compile(r'[^\x20-\x7e]|["\\]')


def _escape_char(match: "re.Match[str]") -> str:
    ch = match.group()
    if ch in '"\\':
        return "\\" + ch
    if ch.isprintable():   # printable non-ASCII stays readable (YAML allows it)
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else (
        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + _ESCAPE.sub(_escape_char, value) + '"'
    if isinstance(value, float):
        import yaml

        return yaml.SafeDumper(None).represent_float(value).value
    return _scalar(str(plain(value)))
