"""``generated/organized/``: a notebook-friendly tree rebuilt from ALL records of a study.

Layout::

    organized/
      study_summary.yaml            name, study_id, question, scenarios, hypotheses, counts
      summary.json                  statistics and contrasts (see report.contrasts.analyze)
      <hyp>/hypothesis.yaml         id, statement, independent_variable, prediction, status,
                                    conditions, reference, statistics, contrasts
      <hyp>/runs.json               one entry per record, metrics kept per evaluator
      <hyp>/<cond>/<scenario>/seed_<seed>/
          config.yaml               the record's identity; run metadata under run_metadata
          run -> ../…/run           relative symlink to the run directory (if it exists)
          eval.json -> …            relative symlink to the first evaluator output that exists
          eval/<eval_id>/<file>     relative symlinks to each evaluator output (+ its plots)

The tree is built in a temporary directory beside ``organized/`` and swapped in (an atomic
exchange where the kernel offers one, else rename-away/rename-in), under a lock file, so a
reader never sees half a tree and concurrent rebuilds never interleave. Because every build
re-reads the record files under that lock, the last rebuild always reflects every record
written before it, and running h1 then only h2 keeps both.

A tree we did not build (the silisocs runner's: its ``summary.json`` lacks our ``generator``
marker) is always rebuilt, never used as a source of hard links, and moved whole into
``generated/preserved_originals/<UTC time>/organized`` instead of being deleted.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..atomic import make_dirs, storage_failure
from ..errors import StorageError
from ..ledger.lockfile import exclusive
from .contrasts import analyze
from .tree import TreeCache, write_tree

@dataclass(frozen=True)
class Organized:
    """What :func:`organize` did."""
    analysis: dict | None   # analyze() computed for the tree (None: tree current, experiment)
    error: str | None       # why it failed (a warning was printed); None when fine


def organize(study, records, *, force: bool = False, analysis: dict | None = None
             ) -> Organized:
    """The organized tree (study.yaml) or results.yaml (experiments) for ``records``, the
    records the views were just built from (stale-flagged).

    Raises only a StorageError (disk full, read-only: the user's to fix, like the views
    before it): records are the source of truth and ``organize`` rebuilds this view at any
    time, so any other failure is a warning line and comes back as ``error``.
    """
    try:
        if getattr(study, "kind", "study") == "experiment":
            try:
                from .experiment import after_run
            except ImportError:
                return Organized(None, None)
            after_run(study, records)
            return Organized(None, None)
        _, computed = build_tree(study, records, force=force, analysis=analysis)
        return Organized(computed, None)
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken view must not fail the runs
        error = f"{type(exc).__name__}: {exc}"
        print(f"warning: organized view not rebuilt ({error}); "
              f"`silisocs-study --study {getattr(study, 'display_file', '')} organize` "
              f"retries", file=sys.stderr)
        return Organized(None, error)


# -- building -------------------------------------------------------------------------------

def current_records(study, given=None) -> list[dict]:
    """All records of the study, read now, with ``stale`` flags against the current plan.

    Reuses ``given`` (records the caller just read and flagged) when nothing changed since.
    """
    from ..ledger.records import Ledger
    from ..ledger.views import mark_stale, sorted_records

    fresh = sorted_records(Ledger(study.generated).all())
    if given is not None:
        given = list(given.values()) if isinstance(given, dict) else list(given)
        sig = {(r.get("run_id"), r.get("attempt_id"), r.get("status"), r.get("finished_at"))
               for r in given}
        if sig == {(r.get("run_id"), r.get("attempt_id"), r.get("status"),
                    r.get("finished_at")) for r in fresh} and len(given) == len(fresh):
            return given
    try:
        from ..plan import build_plan

        fingerprints = {r.run_id: r.fingerprint for r in build_plan(study).runs}
    except Exception:  # noqa: BLE001 - a plan that no longer builds: nothing is stale
        fingerprints = {}
    mark_stale(fresh, fingerprints)
    return fresh


def build_organized(study, records=None, *, force: bool = False,
                    analysis: dict | None = None) -> Path:
    """Rebuild ``generated/organized``; returns its path (:func:`build_tree` also returns
    the analysis it computed)."""
    return build_tree(study, records, force=force, analysis=analysis)[0]


def build_tree(study, records=None, *, force: bool = False, analysis: dict | None = None
               ) -> tuple[Path, dict | None]:
    """Rebuild ``generated/organized`` from ``records`` (every record, stale-flagged; None:
    read them now); returns its path and the analysis the tree was built from (``analysis``
    when given, computed from ``records`` otherwise; None when the build was skipped).

    Skipped (unless ``force``) when neither the records nor the study file changed since the
    last build, so the second views rebuild of one ``run`` costs nothing.
    """
    generated = Path(study.generated)
    make_dirs(generated, "the organized tree")
    final = generated / "organized"
    try:
        return _build(study, records, force, analysis, generated, final)
    except OSError as exc:   # disk full, read-only...: one line naming the tree
        raise storage_failure(exc, final, "the organized tree", missing=False) from None


def _build(study, records, force: bool, analysis: dict | None, generated: Path,
           final: Path) -> tuple[Path, dict | None]:
    from ..ledger.adopt import foreign_organized, preserve_tree

    with exclusive(generated / ".organized.lock", what="the organized tree's lock file "
                                                      ".organized.lock"):
        _sweep(generated)
        if records is None:
            records = current_records(study)
        else:   # the records the views were just built from: not read a second time
            records = list(records.values()) if isinstance(records, dict) else list(records)
        cache = TreeCache(generated, final)
        foreign = foreign_organized(generated)
        if foreign:
            cache.forget_files()
        signature = _signature(study, records)
        if not force and cache.signature == signature and (final / "summary.json").is_file():
            return final, None
        if analysis is None:
            analysis = analyze(study, records)
        tmp = Path(tempfile.mkdtemp(prefix=".organized.tmp-", dir=generated))
        try:
            os.chmod(tmp, 0o755)
            write_tree(tmp, final, study, records, analysis, cache)
            if foreign and foreign_organized(generated):
                # moved aside before ours goes in (not swapped: a swapped-out tree is
                # deleted by a later build if this process dies before moving it)
                preserve_tree(generated, final, "organized",
                              reason="the silisocs runner's organized tree, replaced by the "
                                     "silisocs-study organized tree (records adopted)")
            old = _swap(tmp, final)
            cache.save(signature)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if old is not None:
        _remove(old, background=len(records) >= BACKGROUND_REMOVAL)
    return final, analysis


def _sweep(generated: Path) -> None:
    """Remove what crashed or interrupted builds left behind (we hold the lock)."""
    import time

    for leftover in generated.glob(".organized.*-*"):
        if leftover.is_symlink():   # a link that was planted as organized/: not ours
            leftover.unlink(missing_ok=True)
            continue
        if not leftover.is_dir():
            continue
        if leftover.name.startswith(".organized.tmp-"):
            shutil.rmtree(leftover, ignore_errors=True)      # a builder died mid-way
        else:   # a replaced tree: its remover may still be at work; help only if stalled
            try:
                age = time.time() - leftover.stat().st_ctime
            except OSError:
                continue
            if age > 120:
                _remove(leftover, background=True)


BACKGROUND_REMOVAL = 2000   # records; above this the replaced tree is deleted in background
TREE_VERSION = 2


def _signature(study, records: list[dict]) -> str:
    """What the tree depends on: every record's state, the study file, the tree format."""
    import hashlib

    import orjson

    try:
        spec = hashlib.sha256(Path(study.file).read_bytes()).hexdigest()
    except (OSError, TypeError):
        spec = None
    rows = sorted(
        (str(r.get("run_id")), r.get("attempt_id"), r.get("status"), r.get("finished_at"),
         bool(r.get("stale")), r.get("fingerprint"), r.get("run_dir"),
         [(e.get("id"), e.get("status"), e.get("path")) for e in r.get("evaluations") or []
          if isinstance(e, dict)]) for r in records)
    blob = orjson.dumps([TREE_VERSION, spec, rows], default=str)
    return hashlib.blake2b(blob, digest_size=20).hexdigest()


def _swap(new: Path, final: Path) -> Path | None:
    """Put ``new`` at ``final``; returns where the old tree now is (None if there was none)."""
    if not final.exists() and not final.is_symlink():
        os.rename(new, final)
        return None
    old = final.parent / f".organized.old-{uuid.uuid4().hex[:8]}"
    if _exchange(new, final):      # `new` now holds the old tree
        os.rename(new, old)
        return old
    os.rename(final, old)
    os.rename(new, final)
    return old


def _remove(path: Path, *, background: bool) -> None:
    """Delete a replaced tree; big ones in a detached process (the next build also sweeps).
    A symlink planted as ``organized`` is only unlinked: what it points at is not ours."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
        return
    if background:
        import subprocess

        try:
            subprocess.Popen([sys.executable, "-c", "import shutil, sys; "
                              "shutil.rmtree(sys.argv[1], ignore_errors=True)", str(path)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
            return
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
