"""Per-run record files: ``generated/records/<run_id>.json``, written atomically.

Whoever finishes a run writes its record: the job's callback (in the job's own process, on a
compute node for Slurm), or the orchestrator for reused, skipped and crashed runs. One file
per run means concurrent writers never touch the same file, so no lock is needed; os.replace
makes each write all-or-nothing. A record keeps the history of earlier attempts.
"""
from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import re
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from ..atomic import atomic_write_bytes, make_dirs, refuse_links, storage_failure
from ..constants import GENERATOR_NAME, generator  # noqa: F401 - re-exported
from ..errors import StorageError, note_written

RECORD_SCHEMA_VERSION = 1
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
_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]00:?00)$")
_PEER = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)Z$")


@lru_cache(maxsize=1)
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


# -- damaged record files --------------------------------------------------------------------
#
# A record file that is not a regular file (a folder, FIFO, socket or symlink in its place),
# is not JSON, is not a JSON object, holds another run's record (copied under the wrong name)
# or has a field of the wrong type is *damaged*: it counts for no run (the file's own run is
# treated as having no record, so it runs again; the run named inside keeps its own record),
# it is listed by ``status`` and ``run``, and it is moved aside — never deleted — to
# ``records/.damaged/<name>.<UTC time>`` by the next write of that run. Reads never block (a
# FIFO is opened O_NONBLOCK and not read) and never follow a symlink.

DAMAGED_DIR = ".damaged"
#: how record files are opened: never through a planted link, never blocking on a FIFO
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
    getattr(os, "O_CLOEXEC", 0)
_KIND = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISLNK, "a symlink"))
_STR, _INT, _NONE = (str,), (int,), (type(None),)
# the fields our verbs compute with, and the types they must have when present
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "status": _STR, "seed": _INT + _NONE,
    **{k: _STR + _NONE for k in ("hypothesis", "condition", "scenario", "sub_experiment",
                                 "fingerprint", "session", "attempt_id", "started_at",
                                 "finished_at", "run_dir", "output_dir")},
    "duration_ms": (int, float, type(None)),
    **{k: (list, type(None)) for k in ("history", "evaluations", "warnings", "error_tail")},
    **{k: (dict, type(None)) for k in ("eval_paths", "axes")},
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list",
               dict: "an object", type(None): "null", bool: "a boolean"}


_FIELD_ITEMS = tuple(FIELD_TYPES.items())


def _want(types: tuple[type, ...]) -> str:
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def check_record(rec: Any, run_id: str | None = None) -> str | None:
    """Why ``rec`` (parsed from ``<run_id>.json``) is not a usable record, or None."""
    if not isinstance(rec, dict):
        return f"not a JSON object ({_type_name(rec)})"
    rid = rec.get("run_id")
    if not isinstance(rid, str) or not rid:
        return "no run_id" if rid is None else f"run_id is {_type_name(rid)}"
    if run_id is not None and rid != run_id:
        return f"holds the record of another run ({rid})"
    get = rec.get
    for key, types in _FIELD_ITEMS:
        value = get(key)
        if value is None:
            if key in rec and type(None) not in types:
                return f"field '{key}' is null (want {_want(types)})"
            continue
        if not isinstance(value, types) or (value is True or value is False) and \
                bool not in types:
            return f"field '{key}' is {_type_name(value)} (want {_want(types)})"
    for key in ("evaluations", "history"):
        if any(not isinstance(e, dict) for e in rec.get(key) or ()):
            return f"field '{key}' holds something that is not an object"
    return None


def read_record_file(path: str) -> tuple[Any, str | None]:
    """(parsed content, None), (None, why it is damaged), or (None, None) when absent.
    Never follows a symlink and never blocks (FIFO, socket, device)."""
    try:
        fd = os.open(path, READ_FLAGS)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            return None, _link_reason(path)
        if exc.errno == errno.ENXIO:
            return None, "a socket, not a regular file"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return None, f"unreadable ({exc.strerror})"
        raise   # out of file handles, a failing disk...: not the file's fault
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KIND if test(st.st_mode)), "special file")
            return None, f"{kind}, not a regular file"
        data = read_open_file(fd, st.st_size)
    finally:
        os.close(fd)
    return parse_record_bytes(data)


def read_open_file(fd: int, size: int) -> bytes:
    """All of an open regular file whose size was ``size`` (it may have grown meanwhile:
    not ours, ours are replaced whole), in one read when it did not."""
    data = os.read(fd, size + 1)
    if len(data) > size:
        chunks = [data]
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        data = b"".join(chunks)
    return data


def parse_record_bytes(data: bytes) -> tuple[Any, str | None]:
    """(parsed content, None) or (None, why a record file with these bytes is damaged)."""
    if not data.strip():
        return None, "empty"
    try:
        return _loads(data), None
    except ValueError:
        return None, f"not valid JSON ({len(data)} bytes; truncated or garbage)"


def _link_reason(path: str) -> str:
    try:
        return f"a symlink (to {os.readlink(path)}), not a regular file"
    except OSError:
        return "a symlink, not a regular file"


class Ledger:
    """The records of one study workspace (``<workspace>/generated``).

    The one reader of record files: it classifies damaged ones (``self.damaged``: file name
    → why) and moves them aside when their run is written next."""

    def __init__(self, generated: Path | str) -> None:
        self.generated = Path(generated)
        self.records_dir = self.generated / "records"
        self.damaged: dict[str, str] = {}

    @property
    def unreadable(self) -> list[str]:
        """Names of the damaged record files the last read found (``damaged``' keys)."""
        return sorted(self.damaged)

    def path(self, run_id: str) -> Path:
        return self.records_dir / f"{run_id}.json"

    def _load(self, name: str) -> dict | None:
        rec, why = read_record_file(os.path.join(self.records_dir, name))
        if why is None and rec is not None:
            why = check_record(rec, name[:-5])
        if why is not None:
            self.damaged[name] = why
            return None
        self.damaged.pop(name, None)
        return rec

    def read(self, run_id: str) -> dict | None:
        """The record of ``run_id``, or None if absent or damaged (then in ``damaged``)."""
        return self._load(f"{run_id}.json")

    def damaged_warning(self) -> str | None:
        """One line naming the damaged record files the last read found (None: none):
        why for the first 10, the names of 40 more, then a count."""
        if not self.damaged:
            return None
        names = sorted(self.damaged, key=lambda n: [int(t) if t.isdigit() else t
                                                    for t in re.split(r"(\d+)", n)])
        shown = "; ".join(f"{n} ({self.damaged[n]})" for n in names[:10])
        if names[10:50]:
            shown += "; also " + ", ".join(names[10:50])
        if len(names) > 50:
            shown += f" and {len(names) - 50} more (status --json lists them)"
        return (f"warning: {len(names)} damaged record file(s) in {self.records_dir} count "
                f"for no run (their runs run again; each is moved to "
                f"{DAMAGED_DIR}/ when its run is recorded next): {shown}")

    def _move_aside(self, name: str) -> Path | None:
        """Move a damaged record file (or folder, FIFO, link) to ``records/.damaged/``."""
        import sys

        src = self.records_dir / name
        if not os.path.lexists(src):
            self.damaged.pop(name, None)
            return None
        folder = self.records_dir / DAMAGED_DIR
        what = f"the damaged record file {name} (moving it aside)"
        make_dirs(folder, what)
        stamp = utc_now().replace(":", "").replace("-", "")
        for n in range(100):
            dest = folder / (f"{name}.{stamp}" + (f".{n}" if n else ""))
            try:
                if _rename_noreplace(str(src), dest):
                    break
            except FileNotFoundError:
                self.damaged.pop(name, None)   # someone else moved it meanwhile
                return None
            except OSError as exc:
                raise storage_failure(exc, dest, what) from None
        else:  # pragma: no cover - 100 moves within one millisecond
            raise StorageError(src, what, "no free name in " + str(folder))
        print(f"warning: damaged record file {src} ({self.damaged.pop(name, 'damaged')}) "
              f"moved to {dest}", file=sys.stderr)
        return dest

    def _put(self, run_id: str, record: dict) -> None:
        """Replace the run's record file (moving a damaged one aside first)."""
        name = f"{run_id}.json"
        if name in self.damaged or self._blocks(name):
            self._move_aside(name)
        atomic_write_bytes(self.path(run_id), _dumps(record), what=f"the record of {run_id}",
                           below=self.generated)

    def _blocks(self, name: str) -> bool:
        """Something an atomic rename must not silently replace stands at ``name``: a
        folder (the rename would fail), a symlink, FIFO or other special file."""
        try:
            st = os.lstat(self.records_dir / name)
        except OSError:
            return False
        if stat.S_ISREG(st.st_mode):
            return False
        self.damaged.setdefault(name, next(
            (f"{kind}, not a regular file" for test, kind in _KIND if test(st.st_mode)),
            "special file"))
        return True

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
        self._put(run_id, record)

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
        what = f"{len(records)} adopted record(s)"
        refuse_links(self.records_dir / "x", self.generated, what)
        make_dirs(self.records_dir, what)
        staged: list[tuple[str, str, Path]] = []
        try:
            try:
                for record in records:
                    record = dict(record)
                    record.setdefault("schema_version", RECORD_SCHEMA_VERSION)
                    record.setdefault("history", [])
                    path = self.path(record["run_id"])
                    tmp = str(path.with_name(f".{path.name}.{os.getpid()}.create.tmp"))
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    staged.append((record["run_id"], tmp, path))
                    try:
                        data = memoryview(_dumps(record))
                        while data:
                            data = data[os.write(fd, data):]
                    finally:
                        os.close(fd)
                _sync_dir(self.records_dir)
                written = []
                for run_id, tmp, path in staged:
                    if _rename_noreplace(tmp, path):
                        written.append(run_id)
                _sync_dir(self.records_dir, data=False)
            except OSError as exc:
                raise storage_failure(exc, self.records_dir, what) from None
            if written:
                note_written()
            return written
        finally:
            for _, tmp, _ in staged:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass

    def update(self, record: dict) -> None:
        """Rewrite a record in place (same attempt): no history entry."""
        self.read(record["run_id"])   # classify what stands there now (damaged: moved aside)
        self._put(record["run_id"], record)

    def file_names(self) -> set[str]:
        """Names in the records folder (empty when there is none yet)."""
        try:
            return set(os.listdir(self.records_dir))
        except FileNotFoundError:
            return set()

    def iter_records(self) -> Iterator[dict]:
        """Every usable record; damaged files are skipped (listed in ``self.damaged``)."""
        self.damaged = {}
        try:
            names = os.listdir(self.records_dir)
        except FileNotFoundError:
            return
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            rec = self._load(name)
            if rec is not None:
                yield rec

    def all(self) -> dict[str, dict]:
        """Every usable record by run id (a record counts only under its own file name)."""
        return {r["run_id"]: r for r in self.iter_records()}
