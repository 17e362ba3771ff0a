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
import re
from functools import lru_cache
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


# -- the silisocs runner's conventions (what its loaders and notebooks read) ---------------
#
# Record files keep ISO-8601 with milliseconds. Every view the silisocs tools read (the lock
# and index files, RUN_COMPLETE.json, the organized tree) carries the silisocs runner's
# format under the silisocs key (``started_at`` = ``2024-05-01T12-30-45Z``) and ours beside
# it (``started_at_iso``). The conversion lives here, in ``peer_time`` / ``iso_from_peer``.

PEER_TIME_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
GENERATOR_NAME = "silisocs-study"
_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]00:?00)$")
_PEER = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)Z$")


@lru_cache(maxsize=1)
def generator() -> str:
    """The marker our generated files carry (``generator`` key, first in the file)."""
    from importlib import metadata

    try:
        return f"{GENERATOR_NAME} {metadata.version(GENERATOR_NAME)}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return GENERATOR_NAME


def peer_time(value: Any) -> Any:
    """Our ISO-8601 UTC timestamp in the silisocs runner's format (1 s resolution).

    A value already in that format, None, or anything unparseable is returned unchanged."""
    if not isinstance(value, str):
        return value
    if len(value) == 24 and value[13] == ":" and value[16] == ":" and value[-1] == "Z" \
            and value[10] == "T":          # ours (utc_now): the fast path
        return f"{value[:13]}-{value[14:16]}-{value[17:19]}Z"
    m = _ISO.match(value)
    if m is None:
        return value
    return f"{m.group(1)}T{m.group(2)}-{m.group(3)}-{m.group(4)}Z"


def iso_from_peer(value: Any) -> Any:
    """A silisocs-runner timestamp as our ISO-8601 (``.000Z``); ISO values pass through."""
    if not isinstance(value, str) or len(value) != 20 or value[13] != "-":
        return value
    m = _PEER.match(value)
    if m is None:
        return value
    return f"{m.group(1)}T{m.group(2)}:{m.group(3)}:{m.group(4)}.000Z"


def _relative(path: Any, root: str | None) -> Any:
    if not isinstance(path, str) or not root:
        return path
    if path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1:]
    return path


_PEER_EVAL = ("id", "status", "path", "command", "log_path", "return_code", "tail")


def peer_evaluation(entry: Any) -> Any:
    """An evaluation entry with the silisocs runner's keys first (ours kept after them)."""
    if not isinstance(entry, dict):
        return entry
    status = entry.get("status")
    out = {"id": entry.get("id"), "status": status, "path": entry.get("path"),
           "command": entry.get("command") if entry.get("command") is not None else [],
           "log_path": entry.get("log_path"),
           "return_code": entry["return_code"] if "return_code" in entry else (
               0 if status == "success" else None),
           "tail": entry.get("tail") or []}
    for key, value in entry.items():
        if key not in out:
            out[key] = value
    return out


def peer_record(rec: dict, repo_root: str | None = None) -> dict:
    """A record shaped as the silisocs runner writes it into its views, ours beside it.

    Adds ``return_code`` (our ``exit_code``; 0 for a success that reported none), ``tail``
    (the error tail), ``reused`` ({source, eval}, always present), ``planned_output_rootname``
    (relative to the repo root like the runner's), ``gpu_binding``, and the runner's
    timestamp format for ``started_at``/``finished_at`` with ours in ``*_iso``."""
    get = rec.get
    status = get("status")
    started, finished = get("started_at"), get("finished_at")
    if "return_code" in rec:
        return_code = rec["return_code"]
    else:
        return_code = get("exit_code")
        if return_code is None and status == "success":
            return_code = 0
    shaped = {
        "schema_version": get("schema_version", RECORD_SCHEMA_VERSION),
        "execution_mode": get("execution_mode") or get("mode"),
        "started_at": peer_time(started), "finished_at": peer_time(finished),
        "planned_output_rootname": rec["planned_output_rootname"]
        if "planned_output_rootname" in rec else _relative(
            get("planned_output_dir") or get("output_dir"), repo_root),
        "evaluations": [peer_evaluation(e) for e in get("evaluations") or ()],
        "eval_paths": get("eval_paths") or {},
        "reused": _reused(get("reused")),
        "lock": get("lock") or {"effective_config_sha256": None,
                                "effective_config_path": None},
        "return_code": return_code,
        "tail": rec["tail"] if "tail" in rec else list(get("error_tail") or ()),
        "started_at_iso": iso_from_peer(started), "finished_at_iso": iso_from_peer(finished),
    }
    # the runner's keys first (its order), then ours; the shaped values win
    return {**_PEER_TEMPLATE, **rec, **shaped}


_PEER_TEMPLATE = dict.fromkeys((
    "schema_version", "run_id", "study", "hypothesis", "condition", "sub_experiment",
    "scenario", "seed", "execution_mode", "started_at", "status", "resolved_overrides",
    "study_id", "run_name", "planned_output_rootname", "command", "log_path", "run_dir",
    "simulation_output_path", "evaluations", "eval_paths", "reused", "lock", "gpu_binding",
    "return_code", "tail", "finished_at"))


def _reused(value: Any) -> dict:
    if isinstance(value, dict):
        return {"source": value.get("source"), "eval": value.get("eval"),
                **{k: v for k, v in value.items() if k not in ("source", "eval")}}
    return {"source": None, "eval": None}


def _dumps(obj: Any) -> bytes:
    try:
        import orjson

        return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                            default=str) + b"\n"
    except ImportError:  # pragma: no cover
        return (json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _sync_dir(directory: Path, *, data: bool = True) -> None:
    """Flush the directory's filesystem (``syncfs``: every file written so far) or, with
    ``data=False``, only the directory entries (after renames)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        if data:
            libc = _libc()
            if libc is None or getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
                os.sync()
        else:
            os.fsync(fd)
    finally:
        os.close(fd)


@lru_cache(maxsize=1)
def _libc():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        return None


def _rename_noreplace(src: str, dst: Path) -> bool:
    """Move ``src`` to ``dst`` unless ``dst`` exists (atomic); False when it exists."""
    libc = _libc()
    fn = getattr(libc, "renameat2", None) if libc is not None else None
    if fn is not None:
        at_fdcwd, noreplace = -100, 1
        if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(str(dst)), noreplace) == 0:
            return True
        import ctypes
        import errno

        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(dst))
    try:                      # no renameat2 here: link (fails if dst exists), then unlink
        os.link(src, dst)
    except FileExistsError:
        return False
    os.unlink(src)
    return True


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

    def create(self, record: dict) -> bool:
        """Write a record only if the run has none yet (atomic; never replaces a record).
        Returns False, writing nothing, when a record appeared meanwhile."""
        return bool(self.create_many([record]))

    def create_many(self, records: list[dict]) -> list[str]:
        """:meth:`create` for many records with one filesystem sync instead of one fsync each
        (adopting a 10,000-run study): temp files are written, synced together, then each is
        renamed into place only where no record exists. Returns the run ids written."""
        if not records:
            return []
        self.records_dir.mkdir(parents=True, exist_ok=True)
        staged: list[tuple[str, str, Path]] = []
        try:
            for record in records:
                record = dict(record)
                record.setdefault("schema_version", RECORD_SCHEMA_VERSION)
                record.setdefault("history", [])
                path = self.path(record["run_id"])
                tmp = str(path.with_name(f".{path.name}.{os.getpid()}.create.tmp"))
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, _dumps(record))
                finally:
                    os.close(fd)
                staged.append((record["run_id"], tmp, path))
            _sync_dir(self.records_dir)
            written = []
            for run_id, tmp, path in staged:
                if _rename_noreplace(tmp, path):
                    written.append(run_id)
            _sync_dir(self.records_dir, data=False)
            return written
        finally:
            for _, tmp, _ in staged:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass

    def update(self, record: dict) -> None:
        """Rewrite a record in place (same attempt): no history entry."""
        atomic_write_bytes(self.path(record["run_id"]), _dumps(record))

    def file_names(self) -> set[str]:
        """Names in the records folder (empty when there is none yet)."""
        try:
            return set(os.listdir(self.records_dir))
        except FileNotFoundError:
            return set()

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
