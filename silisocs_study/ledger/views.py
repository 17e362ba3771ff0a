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

Layout: each view is ``head + open + sep.join(fragments) + tail`` (``head + empty`` without
records), one fragment per record (:class:`Fragments`), so that
:mod:`silisocs_study.views` can update the files for a few changed records by splicing new
fragments between spans copied from the current files (:class:`Span`), byte-identical to a
full render. This module renders and writes; deciding what to rebuild is ``views``'.
"""
from __future__ import annotations

import errno
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

from ..atomic import atomic_replace, write_fully
from ..plan import natural_key
from ..status import COMPLETE_VALUES
from ..yamlout import dump_yaml, plain
from .lockfile import exclusive
from .provenance import environment
from .records import (RECORD_SCHEMA_VERSION, Ledger, generator, iso_from_peer, peer_record,
                      peer_time, utc_now)

VIEW_NAMES = ("repro_lock.json", "repro_lock.jsonl", "study_index.json", "study_enriched.yaml")
VIEWS_LOCK = ".views.lock"
CACHE_NAME = ".views_cache"   # silisocs_study.views' fragment index (stale once we rewrite)

SUMMARY_KEYS = ("run_id", "hypothesis", "condition", "scenario", "seed", "axes", "status",
                "fingerprint", "run_dir", "finished_at", "eval_paths")


def _json(obj: Any, indent: bool = True) -> bytes:
    import orjson

    opt = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(obj, option=opt, default=str)


def run_id_order(run_id: str) -> tuple:
    """Natural run-id order (seed2 before seed10); the id itself breaks ties (seed01/seed1),
    so the order never depends on the order the directory lists the files in."""
    return natural_key(run_id), run_id


def sorted_records(records: dict[str, dict]) -> list[dict]:
    """Records in natural run-id order (seed2 before seed10)."""
    return [records[k] for k in sorted(records, key=run_id_order)]


def mark_stale(records: Iterable[dict], fingerprints: dict[str, str]) -> None:
    """Flag completed records whose fingerprint no longer matches the plan."""
    for rec in records:
        want = fingerprints.get(str(rec.get("run_id")))
        rec["stale"] = bool(want and rec.get("fingerprint") != want
                            and rec.get("status") in COMPLETE_VALUES)


# -- one record's pieces of the views ----------------------------------------------------------

class Fragments(NamedTuple):
    """What one record contributes to the views (``rec`` already stale-flagged)."""
    lock: bytes    # its entry in the ``records`` list of repro_lock.json and study_index.json
    line: bytes    # its repro_lock.jsonl line (with the newline)
    row: bytes     # its run row under ``generated: records:`` of study_enriched.yaml
    key: str       # what it counts as in ``counts`` (its status, or ``stale``)

    def piece(self, column: int) -> bytes:
        """The fragment a view of that :attr:`Layout.column` is made of."""
        return (self.lock, self.line, self.row)[column]


_INDENT = b"\n    "   # a record sits two levels deep in repro_lock.json / study_index.json


def line_head(mark: str) -> bytes:
    """``{"generator":"…",``: the start of every repro_lock.jsonl line."""
    return _json({"generator": mark}, indent=False)[:-1] + b","


def fragments(rec: dict, repo_root: str | None, head: bytes) -> Fragments:
    """The record's fragments; ``head``: :func:`line_head` of the generator mark."""
    shaped = peer_record(rec, repo_root)
    lock = b"    " + _json(shaped).replace(b"\n", _INDENT)   # orjson escapes \n in strings
    line = head + _json(shaped, indent=False)[1:] + b"\n"
    return Fragments(lock, line, _row_text(_row(rec)).encode("utf-8"), count_key(rec))


def count_key(rec: dict) -> str:
    return "stale" if rec.get("stale") else rec.get("status", "unknown")


def counts_of(keys: Iterable[str]) -> dict[str, int]:
    """``counts`` of the index and enriched views, in order of first appearance."""
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


# -- the files around the fragments ------------------------------------------------------------

class Layout(NamedTuple):
    """One view file: ``head + open + sep.join(fragments) + tail``; ``head + empty`` when
    there is no record. ``column``: which :class:`Fragments` field it is made of."""
    name: str
    column: int
    head: bytes
    open: bytes
    sep: bytes
    tail: bytes
    empty: bytes

    @property
    def start(self) -> int:
        """Offset of the first fragment in the file."""
        return len(self.head) + len(self.open)


def layouts(generated: Path, study_meta: dict, raw_study: dict | None, counts: dict,
            repo_root: Path | None, now: str, mark: str) -> tuple[Layout, ...]:
    """The four views' frames (in :data:`VIEW_NAMES` order) at time ``now``."""
    lock = _json({"generator": mark, "schema_version": RECORD_SCHEMA_VERSION,
                  "generated_at": now,
                  "environment": peer_environment(repo_root or generated.parent, now),
                  "records": []})
    index = _json({"generator": mark, "schema_version": RECORD_SCHEMA_VERSION,
                   "generated_at": peer_time(now), "generated_at_iso": now,
                   "study": study_meta, "counts": counts, "records": []})
    enriched = dict(raw_study or {})
    enriched.pop("generated", None)   # keep it last: the run rows are appended below
    enriched["generated"] = {
        "generator": mark, "generated_at": peer_time(now), "generated_at_iso": now,
        "schema_version": RECORD_SCHEMA_VERSION, "counts": counts}
    yaml_head = (f"# generator: {mark} (a view of generated/records; rebuilt by `organize`)\n"
                 + dump_yaml(enriched, width=120)).encode("utf-8")
    return (_list_layout(VIEW_NAMES[0], lock),
            Layout(VIEW_NAMES[1], 1, b"", b"", b"", b"", b""),
            _list_layout(VIEW_NAMES[2], index),
            Layout(VIEW_NAMES[3], 2, yaml_head, b"  records:\n", b"", b"", b"  records: []\n"))


def _list_layout(name: str, empty_doc: bytes) -> Layout:
    """A JSON document whose last key is ``"records": []``, opened up for fragments."""
    if not empty_doc.endswith(b"[]\n}"):   # orjson's indented layout, relied on below
        raise ValueError(f"{name}: unexpected JSON layout {empty_doc[-20:]!r}")
    return Layout(name, 0, empty_doc[:-3], b"\n", b",\n", b"\n  ]\n}\n", b"]\n}\n")


def peer_environment(repo_root: Path | str, now: str | None = None) -> dict:
    """Our provenance plus the keys of the silisocs runner's ``environment`` block."""
    env = dict(environment(repo_root))
    env.setdefault("python_version", env.get("python"))
    env["silisocs_version"] = _silisocs_version()
    env["captured_at"] = now or utc_now()
    return env


@lru_cache(maxsize=1)
def _silisocs_version() -> str | None:
    """Looked up once per process, like :func:`generator` (a metadata search reads every
    installed package's folder: ~20 ms, more than splicing the views for one record)."""
    from importlib import metadata

    try:
        return metadata.version("silisocs")
    except metadata.PackageNotFoundError:
        return None


# -- writing -----------------------------------------------------------------------------------

class Span(NamedTuple):
    """Bytes ``[offset, offset + length)`` of an open file (an unchanged run of fragments,
    separators between them included) to copy into the new file."""
    fd: int
    offset: int
    length: int


class ViewChanged(Exception):
    """An old view was shorter than its recorded size: splice from it no more."""


class Written(NamedTuple):
    """What a view file is now: its identity, and a digest of its first and last 4 KiB."""
    size: int
    mtime_ns: int
    ino: int
    edges: str


def write_view(path: Path, layout: Layout, items: Sequence[bytes | Span]) -> Written:
    """Replace the view at ``path`` atomically (temp file, fsync, rename; a symlink there is
    replaced, never followed) with ``layout`` around ``items``: fragments, or spans of the
    old file holding consecutive fragments, ``layout.sep`` between items."""

    def fill(fd: int) -> Written:
        _fill(fd, layout, items)
        st = os.fstat(fd)   # size and mtime stay as they are through fchmod and fsync
        return Written(st.st_size, st.st_mtime_ns, st.st_ino, edges_of(fd, st.st_size))

    return atomic_replace(path, fill, what=f"the view {path.name}")


def _fill(fd: int, layout: Layout, items: Sequence[bytes | Span]) -> None:
    if not items:
        write_fully(fd, layout.head + layout.empty)
        return
    write_fully(fd, layout.head + layout.open)
    pending: list[bytes] = []     # consecutive fragments: joined, one write
    first = True
    for item in items:
        if isinstance(item, Span):
            if pending:
                write_fully(fd, (b"" if first else layout.sep) + layout.sep.join(pending))
                pending, first = [], False
            if not first and layout.sep:
                write_fully(fd, layout.sep)
            _copy(item, fd)
            first = False
        else:
            pending.append(item)
    if pending:
        write_fully(fd, (b"" if first else layout.sep) + layout.sep.join(pending))
    if layout.tail:
        write_fully(fd, layout.tail)


_NO_COPY_RANGE = (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF,
                  errno.ETXTBSY)


def _copy(span: Span, out: int) -> None:
    """Copy a span in the kernel (copy_file_range); plain reads where that is unsupported."""
    offset, left = span.offset, span.length
    copy = getattr(os, "copy_file_range", None)
    while left and copy is not None:
        try:
            n = copy(span.fd, out, left, offset)
        except OSError as exc:
            if exc.errno not in _NO_COPY_RANGE:
                raise
            break
        if n == 0:
            raise ViewChanged(f"view ended {left} byte(s) early")
        offset, left = offset + n, left - n
    while left:
        chunk = os.pread(span.fd, min(left, 1 << 20), offset)
        if not chunk:
            raise ViewChanged(f"view ended {left} byte(s) early")
        write_fully(out, chunk)
        offset, left = offset + len(chunk), left - len(chunk)


EDGE = 4096


def edges_of(fd: int, size: int) -> str:
    """A digest of the first and last :data:`EDGE` bytes of an open file's first ``size``
    bytes: :attr:`Written.edges`, and how a view that lines were appended to since is
    checked to still start with what was written."""
    import hashlib

    head = os.pread(fd, min(EDGE, size), 0)
    tail = os.pread(fd, min(EDGE, size), max(0, size - EDGE))
    return hashlib.blake2b(head + b"\0" + tail, digest_size=16).hexdigest()


# -- the whole set, from records -----------------------------------------------------------------

def write_all(generated: Path, records: list[dict], study_meta: dict,
              raw_study: dict | None, repo_root: Path | None, now: str | None = None,
              mark: str | None = None
              ) -> tuple[list[Fragments], tuple[Layout, ...], dict[str, Written]]:
    """Render every record (sorted, stale-flagged) and write the four views. Returns the
    fragments, the layouts and what each file is now (for the fragment index)."""
    now = now or utc_now()
    mark = mark or generator()
    root = str(repo_root) if repo_root is not None else None
    head = line_head(mark)
    parts = [fragments(r, root, head) for r in records]
    frames = layouts(generated, study_meta, raw_study, counts_of(p.key for p in parts),
                     repo_root, now, mark)
    written = {}
    for layout in frames:
        column = [p.piece(layout.column) for p in parts]
        written[layout.name] = write_view(generated / layout.name, layout, column)
    return parts, frames, written


def rebuild_views(generated: Path, study_meta: dict, raw_study: dict | None = None,
                  fingerprints: dict[str, str] | None = None, repo_root: Path | None = None
                  ) -> list[dict]:
    """Rewrite every lock/index view from the record files; returns the sorted records.
    (:func:`silisocs_study.views.refresh` does this for a study, incrementally too.)"""
    with exclusive(generated / VIEWS_LOCK, what="the views' lock file .views.lock"):
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
        (generated / CACHE_NAME).unlink(missing_ok=True)   # its fragments index old files
        write_all(generated, records, study_meta, raw_study, repo_root)
        return records


# -- study_enriched.yaml rows ----------------------------------------------------------------------

def _row(rec: dict) -> dict:
    row = {k: rec.get(k) for k in SUMMARY_KEYS if rec.get(k) is not None}
    if "finished_at" in row:
        row["finished_at"] = peer_time(row["finished_at"])
        row["finished_at_iso"] = iso_from_peer(rec["finished_at"])
    return row


def _yaml_rows(rows: list[dict]) -> str:
    """``  records:`` with one flow mapping per run, under the ``generated:`` block.

    PyYAML's representer costs ~3 s for 10,000 rows; these rows hold only scalars and flat
    mappings, so they are written directly (strings double-quoted, control, line-break and
    other non-printable characters escaped, so any value loads back exactly)."""
    if not rows:
        return "  records: []\n"
    return "  records:\n" + "".join(_row_text(row) for row in rows)


def _row_text(row: dict) -> str:
    return "  - {" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in row.items()) + "}\n"


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


_plain_ascii = re.compile(r'[\x20-\x21\x23-\x5b\x5d-\x7e]*').fullmatch   # nothing to escape


def _scalar(value: Any) -> str:
    if type(value) is str:   # the common case first
        if _plain_ascii(value):
            return f'"{value}"'
        return '"' + _ESCAPE.sub(_escape_char, value) + '"'
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

        # the representer needs no stream (the stubs ask for one)
        return yaml.SafeDumper(None).represent_float(value).value  # type: ignore[arg-type]
    return _scalar(str(plain(value)))
