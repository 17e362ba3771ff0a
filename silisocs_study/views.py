"""The study's views and organized tree, refreshed from its record files: :func:`refresh`.

The views (``repro_lock.json``, ``repro_lock.jsonl``, ``study_index.json``,
``study_enriched.yaml``; rendered by :mod:`silisocs_study.ledger.views`) always show *every*
record of the study. They are refreshed one of three ways, all under the ``.views.lock``:

* **full** (``changed=None``, ``force``, foreign views to adopt, or no usable index): every
  record file is read once and every view rendered. With ``only_if_changed`` nothing is
  written when the content stamp — a hash over every record file's bytes, plus the study
  file, the plan's fingerprints and the renderer — equals the one of the last write and the
  views are still the files that write made.
* **incremental** (``changed`` = the run ids this process just finished): only those record
  files, and any whose (size, mtime_ns, inode) differs from the index or that appeared, are
  read and rendered; the files are spliced from the new fragments and spans of the current
  files (copied in the kernel). The output is byte-identical to a full rebuild of the same
  records at the same time. ``changed`` exists because a signature can miss a rewrite (same
  size, same clock tick, reused inode): those ids are always re-read.
* **unchanged** (``only_if_changed`` and nothing changed): nothing is written.

The index (``generated/.views_cache``) holds, per usable record file in view order, its
signature, a digest of its bytes, what it counts as and the length of each of its three
fragments; the fragments themselves are the bytes of the current view files, whose identity
(and, for the jsonl that finished runs append to, a digest of its first and last 4 KiB) is
recorded too. Whatever does not match — another format version, another study file, plan,
generator or renderer, a view rewritten by someone else — means a full rebuild, which writes
a new index. The index is written after the views: a crash in between leaves an index whose
view identities no longer match.

Reading 10,000 records costs far more than updating the views for one of them, so an
incremental refresh reads the unchanged records only when :attr:`ViewsResult.records` is
first used (or the organized tree needs them); every record file is read at most once.
"""
from __future__ import annotations

import hashlib
import os
import stat as _stat
import sys
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from .ledger import views as lv
from .ledger.lockfile import exclusive
from .ledger.records import (READ_FLAGS, check_record, generator, parse_record_bytes,
                             read_open_file, read_record_file, utc_now)

CACHE_VERSION = 1
_MAGIC = b"silisocs-study views index\n"
_DIGEST = 16


@dataclass(frozen=True)
class ViewsResult:
    """What :func:`refresh` did.

    ``records``: every usable record, natural run-id order, ``stale`` flags against the full
    plan (after an incremental refresh the unchanged ones are read on first use; each
    record file is read at most once per refresh)."""
    rebuilt: bool                      # False: nothing had changed, nothing written
    organize_error: str | None = None  # the organized tree / results failed (warning printed)
    analysis: dict | None = None       # analyze() computed for the organized tree (study.yaml)
    incremental: bool = False          # the views were spliced, not rendered in full
    source: Any = field(default=None, repr=False, compare=False)   # list, or its loader

    @cached_property
    def records(self) -> list[dict]:
        return self.source() if callable(self.source) else list(self.source or [])


def refresh(plan, *, changed: Iterable[str] | None = None, only_if_changed: bool = False,
            force: bool = False, organized: bool = True, now: str | None = None,
            known: dict[str, dict] | None = None) -> ViewsResult:
    """Bring the views (and, with ``organized``, the organized tree or an experiment's
    results.yaml) up to date with the record files; see the module docstring.

    ``changed``: run ids whose records this process wrote (None: rebuild from every record);
    ``force``: rebuild views and tree whatever the stamps say (the ``organize`` verb);
    ``now``: the views' timestamp (tests pin it); ``known``: the records the caller read
    since the views were last written (run id → record): when nothing changed they are the
    result's records (stale-flagged), not read a second time. A StorageError propagates; any
    other failure of the tree is printed as a warning and returned as ``organize_error``."""
    study = plan.study
    generated = Path(study.generated)
    if plan.filters:
        from .plan import build_plan

        plan = build_plan(study)   # stale marks are against the whole plan
    job = _Job(generated, study, {r.run_id: r.fingerprint for r in plan.runs}, now)
    with exclusive(generated / lv.VIEWS_LOCK, what="the views' lock file .views.lock"):
        result = job.run(None if changed is None else set(changed), only_if_changed, force)
    if not result.rebuilt and known is not None:
        records = lv.sorted_records(known)
        lv.mark_stale(records, job.fingerprints)
        result = ViewsResult(False, None, None, False, records)
    if not organized or not (result.rebuilt or force):
        return result
    records = result.records
    from .errors import StorageError
    from .report.organize import organize

    try:
        done = organize(study, records, force=force)
    except StorageError:
        # records are the truth: make the next refresh rebuild (and retry the tree)
        (generated / lv.CACHE_NAME).unlink(missing_ok=True)
        raise
    return ViewsResult(result.rebuilt, done.error, done.analysis, result.incremental,
                       records)


def study_meta(study) -> dict:
    """The ``study`` block of study_index.json."""
    return {"name": study.name, "study_id": study.study_id,
            "study_version": study.meta.get("study_version"),
            "parent_studies": study.meta.get("parent_studies", []),
            "derived_from_runs": study.meta.get("derived_from_runs", []),
            "question": study.meta.get("question"), "file": str(study.file)}


# -- reading record files ------------------------------------------------------------------------

class _Read(NamedTuple):
    sig: tuple[int, int, int]      # size, mtime_ns, inode
    digest: bytes                  # of the bytes (or of why it is not a usable record)
    rec: dict | None               # the record, when usable
    why: str | None                # why not (damaged), else None


def _names(records_dir: Path, dfd: int | None = None) -> list[str]:
    """The record file names (what ``Ledger.all`` reads: ``*.json``, no dot files)."""
    try:
        names = os.listdir(records_dir if dfd is None else dfd)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [n for n in names if n[-5:] == ".json" and n[:1] != "."]


def _scan(records_dir: Path) -> dict[str, tuple[int, int, int]]:
    """{record file name: signature}: one directory read and one stat per file, relative
    to the directory (cheaper than resolving full paths)."""
    try:
        dfd = os.open(records_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    out = {}
    try:
        stat = os.stat
        for name in _names(records_dir, dfd):
            try:
                st = stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            out[name] = (st.st_size, st.st_mtime_ns, st.st_ino)
    finally:
        os.close(dfd)
    return out


_UNSURE = (-1, -1, -1)   # a signature no file has: read it again next time


def _read(records_dir: Path, name: str) -> _Read | None:
    """One record file, read once and classified as ``Ledger.read`` does (None: gone).
    A regular file is read here; anything else (a link, FIFO, folder...) is classified by
    ``read_record_file``, which never follows a link and never blocks."""
    path = os.path.join(records_dir, name)
    try:
        fd = os.open(path, READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError:
        return _odd(path)
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            return _odd(path)
        data = read_open_file(fd, st.st_size)
    finally:
        os.close(fd)
    sig = (st.st_size, st.st_mtime_ns, st.st_ino)
    digest = hashlib.blake2b(data, digest_size=_DIGEST).digest()
    rec, why = parse_record_bytes(data)   # the reasons read_record_file gives
    if why is None:
        why = check_record(rec, name[:-5])
    return _Read(sig, digest, None, why) if why is not None else _Read(sig, digest, rec, None)


def _odd(path: str) -> _Read | None:
    got, why = read_record_file(path)
    if got is None and why is None:
        return None
    if why is None:
        why = check_record(got, os.path.basename(path)[:-5]) or "changed while read"
    digest = hashlib.blake2b(b"<odd>" + why.encode(), digest_size=_DIGEST).digest()
    try:
        st = os.lstat(path)
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        sig = _UNSURE
    return _Read(_UNSURE if why == "changed while read" else sig, digest, None, why)


def _warn_damaged(records_dir: Path, damaged: dict[str, str]) -> None:
    """The ledger's one warning line for damaged record files."""
    if not damaged:
        return
    from .ledger.records import Ledger

    ledger = Ledger(records_dir.parent)
    ledger.damaged = dict(damaged)
    print(f"{ledger.damaged_warning()} (left out of the views)", file=sys.stderr)


# -- the index ---------------------------------------------------------------------------------

_INTS = ("size", "mtime_ns", "kind", "lock", "line", "row")   # array('q') columns
_FRAGMENT_COLUMNS = ("lock", "line", "row")                   # by Layout.column


def _columns() -> dict[str, array]:
    return {**{c: array("q") for c in _INTS}, "ino": array("Q")}


@dataclass
class _Index:
    """The views as last written: per usable record file, in view order, its name,
    signature (size, mtime_ns, ino), digest, count kind and fragment lengths (columns, so
    that a splice copies runs of them at C speed); damaged files; the view files."""
    key: dict
    stamp: str
    views: dict[str, list]        # name -> [size, mtime_ns, ino, edges, first fragment at]
    kinds: list[str]              # count keys, numbered by the "kind" column
    names: list[str]
    cols: dict[str, array]
    digests: bytes                # _DIGEST bytes per record
    damaged: dict[str, tuple[tuple[int, int, int], bytes, str]]

    def save(self, path: Path) -> None:
        import orjson

        from .atomic import atomic_write_bytes

        blobs = [("\0".join(self.names)).encode("utf-8", "surrogateescape"),
                 *(self.cols[c].tobytes() for c in (*_INTS, "ino")), self.digests]
        header = orjson.dumps({
            "version": CACHE_VERSION, "key": self.key, "stamp": self.stamp,
            "views": self.views, "n": len(self.names), "kinds": self.kinds,
            "damaged": {n: [*sig, d.hex(), why] for n, (sig, d, why) in self.damaged.items()},
            "blobs": [len(b) for b in blobs]})
        atomic_write_bytes(path, b"".join((_MAGIC, header, b"\n", *blobs)),
                           what="the views' index .views_cache")

    @classmethod
    def load(cls, path: Path) -> "_Index | None":
        """The index, or None when missing, unreadable, damaged or of another version."""
        import orjson

        try:
            data = path.read_bytes()
            if not data.startswith(_MAGIC):
                return None
            end = data.index(b"\n", len(_MAGIC))
            head = orjson.loads(data[len(_MAGIC):end])
            if not isinstance(head, dict) or head.get("version") != CACHE_VERSION:
                return None
            n, sizes, kinds = head["n"], head["blobs"], head["kinds"]
            if len(sizes) != len(_INTS) + 3 or sum(sizes) != len(data) - end - 1:
                return None
            blobs, at = [], end + 1
            for size in sizes:
                blobs.append(data[at:at + size])
                at += size
            names = blobs[0].decode("utf-8", "surrogateescape").split("\0") if n else []
            cols = _columns()
            for name, blob in zip((*_INTS, "ino"), blobs[1:-1]):
                cols[name].frombytes(blob)
            views = head["views"]
            if len(names) != n or any(len(c) != n for c in cols.values()) or \
                    len(blobs[-1]) != _DIGEST * n or \
                    any(not 0 <= k < len(kinds) for k in set(cols["kind"])) or \
                    not all(isinstance(k, str) for k in kinds) or \
                    not isinstance(head["stamp"], str) or not isinstance(head["key"], dict) or \
                    set(views) != set(lv.VIEW_NAMES) or not all(_view_entry(v)
                                                               for v in views.values()):
                return None
            return cls(head["key"], head["stamp"], views, list(kinds), names, cols,
                       blobs[-1], {k: ((v[0], v[1], v[2]), bytes.fromhex(v[3]), v[4])
                                   for k, v in head["damaged"].items()})
        except (OSError, ValueError, KeyError, TypeError, IndexError, OverflowError):
            return None

    def signatures(self) -> dict[str, tuple[int, int, int]]:
        """{name: signature} of every record file indexed, damaged ones too."""
        c = self.cols
        out = dict(zip(self.names, zip(c["size"], c["mtime_ns"], c["ino"])))
        out.update((n, d[0]) for n, d in self.damaged.items())
        return out

    def digest(self, i: int) -> bytes:
        return self.digests[i * _DIGEST:(i + 1) * _DIGEST]


class _Builder:
    """The next index's columns, built from runs of the old one and new entries."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = list(kinds)
        self.kind_of = {k: i for i, k in enumerate(self.kinds)}
        self.names: list[str] = []
        self.cols = _columns()
        self.digests: list[bytes] = []

    def extend(self, index: _Index, a: int, b: int) -> None:
        """Old entries ``[a, b)`` unchanged."""
        self.names += index.names[a:b]
        for name, col in self.cols.items():
            col.extend(index.cols[name][a:b])
        self.digests.append(index.digests[a * _DIGEST:b * _DIGEST])

    def append(self, name: str, sig: tuple[int, int, int], digest: bytes, kind: str,
               lengths: Iterable[int]) -> None:
        self.names.append(name)
        if kind not in self.kind_of:
            self.kind_of[kind] = len(self.kinds)
            self.kinds.append(kind)
        c = self.cols
        for col, value in zip(("size", "mtime_ns", "ino", "kind", *_FRAGMENT_COLUMNS),
                              (*sig, self.kind_of[kind], *lengths)):
            c[col].append(value)
        self.digests.append(digest)

    def counts(self) -> dict[str, int]:
        """``counts`` of the views: kinds in order of first appearance."""
        from collections import Counter

        return {self.kinds[k]: n for k, n in Counter(self.cols["kind"]).items()}

    def index(self, key: dict, damaged: dict, views: dict[str, list]) -> _Index:
        digests = b"".join(self.digests)
        return _Index(key, _stamp(self.names, digests, damaged), views, self.kinds,
                      self.names, self.cols, digests, damaged)


def _view_entry(value: Any) -> bool:
    """[size, mtime_ns, ino, edges, first fragment at], as :func:`_views` writes it."""
    return isinstance(value, list) and len(value) == 5 and isinstance(value[3], str) and \
        all(isinstance(v, int) and not isinstance(v, bool) for i, v in enumerate(value)
            if i != 3)


def _stamp(names: list[str], digests: bytes,
           damaged: dict[str, tuple[Any, bytes, str]]) -> str:
    """What the views are made of, by content: every usable record file (view order) and
    every damaged one (by name), each with the digest of its bytes."""
    h = hashlib.blake2b(digest_size=20)
    h.update("\0".join(names).encode("utf-8", "surrogateescape"))
    h.update(digests)
    for name in sorted(damaged):
        h.update(b"\1" + name.encode("utf-8", "surrogateescape") + damaged[name][1])
    return h.hexdigest()


def _renderer() -> str:
    """A digest of the code that renders fragments: another renderer, another index."""
    import orjson

    from .ledger import records

    h = hashlib.blake2b(orjson.__version__.encode(), digest_size=16)
    for module in (lv, records):
        try:
            h.update(Path(str(module.__file__)).read_bytes())
        except OSError:   # no source to read (a frozen install): the version must do
            h.update(str(getattr(module, "__spec__", module)).encode())
    return h.hexdigest()


# -- one refresh ---------------------------------------------------------------------------------

class _Job:
    """One refresh of one study's views (under the views' lock)."""

    def __init__(self, generated: Path, study, fingerprints: dict[str, str],
                 now: str | None) -> None:
        import orjson

        self.generated = generated
        self.records_dir = generated / "records"
        self.study = study
        self.fingerprints = fingerprints
        self.now = now
        self.root = str(study.repo_root) if study.repo_root is not None else None
        try:
            spec = hashlib.blake2b(Path(study.file).read_bytes(), digest_size=16).hexdigest()
        except (OSError, TypeError):
            spec = None
        self.mark = generator()   # looked up once: a metadata search costs milliseconds
        self.key = {"study_file": spec, "repo_root": self.root, "generator": self.mark,
                    "renderer": _renderer(),
                    "fingerprints": hashlib.blake2b(orjson.dumps(fingerprints),
                                                    digest_size=16).hexdigest()}
        self.index_path = generated / lv.CACHE_NAME

    def run(self, changed: set[str] | None, only_if_changed: bool,
            force: bool) -> ViewsResult:
        from .ledger.adopt import adopt_lock_files, foreign_files, preserve

        foreign = foreign_files(self.generated, lv.VIEW_NAMES)
        if foreign:   # the silisocs runner wrote these: take its records, keep its files
            adopt_lock_files(self.generated, foreign, self.fingerprints,
                             self.study.repo_root)
            preserve(self.generated, foreign, reason="silisocs runner views replaced by the "
                                                     "silisocs-study views rebuild (records "
                                                     "adopted)")
        index = None if force or foreign else _Index.load(self.index_path)
        if index is not None and index.key != self.key:
            index = None
        if changed is not None and index is not None:
            fds = self._open_views(index, grown_ok=True)
            if fds is not None:
                try:
                    return self._splice(index, changed, only_if_changed, fds)
                except lv.ViewChanged:   # an old view shrank under us: render in full
                    pass
                finally:
                    _close_later(fds.values())
        return self._full(index, only_if_changed and not force and not foreign)

    def _layouts(self, counts: dict[str, int]) -> tuple[lv.Layout, ...]:
        return lv.layouts(self.generated, study_meta(self.study), self.study.raw, counts,
                          self.study.repo_root, self.now or utc_now(), self.mark)

    # -- full -----------------------------------------------------------------------------------
    def _full(self, index: _Index | None, only_if_changed: bool) -> ViewsResult:
        """Every record file read once, every view rendered (unless nothing changed)."""
        damaged: dict[str, tuple[Any, bytes, str]] = {}
        usable: list[tuple[str, _Read]] = []
        records: list[dict] = []
        for name in sorted(_names(self.records_dir), key=_order):
            got = _read(self.records_dir, name)
            if got is None:
                continue
            if got.rec is None:
                damaged[name] = (got.sig, got.digest, str(got.why))
            else:
                usable.append((name, got))
                records.append(got.rec)
        lv.mark_stale(records, self.fingerprints)
        names = [name for name, _ in usable]
        if only_if_changed and index is not None and \
                index.stamp == _stamp(names, b"".join(g.digest for _, g in usable), damaged) \
                and self._views_unchanged(index):
            return ViewsResult(False, source=records)
        _warn_damaged(self.records_dir, {n: d[2] for n, d in damaged.items()})
        parts, frames, written = lv.write_all(self.generated, records, study_meta(self.study),
                                              self.study.raw, self.study.repo_root, self.now,
                                              self.mark)
        build = _Builder([])
        for (name, got), part in zip(usable, parts):
            build.append(name, got.sig, got.digest, part.key, map(len, part[:3]))
        build.index(self.key, damaged, _views(written, frames)).save(self.index_path)
        return ViewsResult(True, source=records)

    # -- incremental --------------------------------------------------------------------------
    def _views_unchanged(self, index: _Index) -> bool:
        """Every view is still exactly the file the index describes."""
        fds = self._open_views(index, grown_ok=False)
        for fd in (fds or {}).values():
            os.close(fd)
        return fds is not None

    def _open_views(self, index: _Index, *, grown_ok: bool) -> dict[str, int] | None:
        """Descriptors of the views when each is still the file the index describes (the
        jsonl may have grown by lines that finished runs appended, with ``grown_ok``: its
        first bytes are checked to be as written); else None."""
        fds: dict[str, int] = {}
        try:
            for name in lv.VIEW_NAMES:
                want = index.views[name]
                try:
                    fds[name] = fd = os.open(self.generated / name, READ_FLAGS)
                except OSError:
                    return None
                st = os.fstat(fd)
                if not _stat.S_ISREG(st.st_mode) or st.st_ino != want[2]:
                    return None
                if st.st_size == want[0] and st.st_mtime_ns == want[1]:
                    continue
                grown = grown_ok and name == "repro_lock.jsonl" and st.st_size > want[0]
                if not grown or lv.edges_of(fd, want[0]) != want[3]:
                    return None
            done, fds = fds, {}
            return done
        finally:
            for fd in fds.values():
                os.close(fd)

    def _splice(self, index: _Index, changed: set[str], only_if_changed: bool,
                fds: dict[str, int]) -> ViewsResult:
        """Re-read what changed, render only that, splice the views from the new fragments
        and spans of the current files."""
        current = _scan(self.records_dir)
        before = index.signatures()
        dirty = {n for n, sig in current.items() if before.get(n) != sig}
        dirty.update(n for n in (f"{rid}.json" for rid in changed) if n in current)
        position = {n: i for i, n in enumerate(index.names)}
        damaged = {n: d for n, d in index.damaged.items() if n in current}
        drop = {i for i, n in enumerate(index.names) if n not in current}   # deleted
        replace: dict[int, tuple[str, _Read, lv.Fragments]] = {}
        touch: dict[int, tuple[int, int, int]] = {}
        insert: dict[int, list[tuple[str, _Read, lv.Fragments]]] = {}
        parsed: dict[str, dict] = {}
        head = lv.line_head(self.mark)
        for name in sorted(dirty, key=_order):
            got = _read(self.records_dir, name)
            i = position.get(name)
            rec = got.rec if got is not None else None
            if got is None or rec is None:
                if got is None:
                    damaged.pop(name, None)
                else:
                    damaged[name] = (got.sig, got.digest, str(got.why))
                if i is not None:
                    drop.add(i)
                continue
            damaged.pop(name, None)
            lv.mark_stale([rec], self.fingerprints)
            parsed[name] = rec
            if i is not None and index.digest(i) == got.digest:
                touch[i] = got.sig          # same bytes: same fragments
                continue
            new = (name, got, lv.fragments(rec, self.root, head))
            if i is not None:
                replace[i] = new
            else:   # before the first old entry that sorts after it
                at = bisect_left(index.names, _order(name), key=_order)
                insert.setdefault(at, []).append(new)
        grown = os.fstat(fds["repro_lock.jsonl"]).st_size != index.views["repro_lock.jsonl"][0]
        if only_if_changed and not (drop or replace or insert or grown):
            return ViewsResult(False, incremental=True,
                               source=self._loader(index.names, parsed))
        _warn_damaged(self.records_dir, {n: d[2] for n, d in damaged.items()})
        build = _Builder(index.kinds)
        pieces: list[range | lv.Fragments] = []   # new fragments, runs of old ones
        n, done = len(index.names), 0

        def keep(a: int, b: int) -> None:
            if a < b:
                build.extend(index, a, b)
                _old(pieces, a, b)

        def add(name: str, got: _Read, new: lv.Fragments) -> None:
            build.append(name, got.sig, got.digest, new.key, map(len, new[:3]))
            pieces.append(new)

        for at in sorted({*drop, *replace, *touch, *insert}):
            keep(done, at)
            for entry in insert.get(at, ()):
                add(*entry)
            if at in drop:
                pass
            elif at in replace:
                add(*replace[at])
            elif at in touch:
                build.extend(index, at, at + 1)
                for col, value in zip(("size", "mtime_ns", "ino"), touch[at]):
                    build.cols[col][-1] = value
                _old(pieces, at, at + 1)
            elif at < n:   # only an insertion point
                keep(at, at + 1)
            done = min(at + 1, n)
        keep(done, n)
        frames = self._layouts(build.counts())
        written = {}
        for layout in frames:
            lengths = index.cols[_FRAGMENT_COLUMNS[layout.column]]
            items = _items(pieces, layout.column, fds[layout.name],
                           index.views[layout.name][4], lengths, len(layout.sep))
            written[layout.name] = lv.write_view(self.generated / layout.name, layout, items)
        build.index(self.key, damaged, _views(written, frames)).save(self.index_path)
        return ViewsResult(True, incremental=True, source=self._loader(build.names, parsed))

    def _loader(self, order: list[str], parsed: dict[str, dict]) -> Callable[[], list[dict]]:
        """The records in view order: those the refresh read, the others read now."""
        records_dir, fingerprints = self.records_dir, self.fingerprints

        def load() -> list[dict]:
            out = []
            for name in order:
                rec = parsed.get(name)
                if rec is None:
                    got = _read(records_dir, name)
                    if got is None or got.rec is None:
                        continue
                    rec = got.rec
                    lv.mark_stale([rec], fingerprints)
                out.append(rec)
            return out

        return load


def _order(name: str) -> tuple:
    return lv.run_id_order(name[:-5])


def _views(written: dict[str, lv.Written], frames: tuple[lv.Layout, ...]) -> dict[str, list]:
    """Per view: size, mtime_ns, inode, edges digest, offset of its first fragment."""
    starts = {f.name: f.start for f in frames}
    return {name: [w.size, w.mtime_ns, w.ino, w.edges, starts[name]]
            for name, w in written.items()}


def _old(pieces: list, a: int, b: int) -> None:
    """Old fragments ``[a, b)``, merged into the run before them when it ends at ``a``."""
    if pieces and isinstance(pieces[-1], range) and pieces[-1].stop == a:
        pieces[-1] = range(pieces[-1].start, b)
    else:
        pieces.append(range(a, b))


def _items(pieces: list, column: int, fd: int, start: int, lengths: array,
           sep: int) -> list:
    """Per view: new fragments as bytes, each run of old ones as one span of the old file
    (the separators between them included)."""
    from itertools import accumulate

    at = list(accumulate(lengths, initial=0))   # fragment i starts at start + at[i] + i*sep
    items: list = []
    for piece in pieces:
        if isinstance(piece, range):
            first, last = piece.start, piece.stop - 1
            offset = at[first] + first * sep
            items.append(lv.Span(fd, start + offset,
                                 at[last] + last * sep + lengths[last] - offset))
        else:
            items.append(piece.piece(column))
    return items


def _close_later(fds: Iterable[int]) -> None:
    """Close the old views' descriptors in a thread: the last close of a replaced file frees
    its blocks (tens of ms for 90 MB with online discard), which nobody needs to wait for."""
    import threading

    fds = list(fds)

    def close() -> None:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    threading.Thread(target=close, name="views-close", daemon=True).start()
