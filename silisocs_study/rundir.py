"""A run's folder holds exactly one attempt's output.

Before an attempt starts, whatever an earlier attempt left in the folder is moved aside to
``<folder>.attempts/<n>/`` beside it (a rename: atomic, nothing copied, nothing deleted;
outside the folder, so no evaluator reads it), so a forced or retried run starts empty and
evaluators never sum two attempts. After the attempt,
a folder that holds nothing but Hydra's own bookkeeping means the app wrote its output
elsewhere (e.g. it ignored the injected output key): that is a warning on the record, which
also names the files the run changed meanwhile in its working directory (the repo root: every
run there would overwrite the same files).
"""
from __future__ import annotations

import os
from pathlib import Path

ATTEMPTS_SUFFIX = ".attempts"


def move_aside(folder: str | os.PathLike[str], protect: tuple = ()) -> str | None:
    """Rename a non-empty ``folder`` to a fresh sibling; returns the new path (None: nothing
    to move). Never deletes anything, and never moves a folder that holds (or is) one of
    ``protect`` (the repo root, the study's workspace...): such a run folder is left as is."""
    path = Path(folder)
    real = os.path.realpath(path)
    for other in protect:
        other = os.path.realpath(other)
        if other == real or other.startswith(real.rstrip("/") + "/"):
            return None
    try:
        with os.scandir(path) as entries:
            if next(entries, None) is None:
                return None
    except (FileNotFoundError, NotADirectoryError):
        return None
    attempts = path.with_name(path.name + ATTEMPTS_SUFFIX)
    attempts.mkdir(exist_ok=True)
    taken = [int(p.name) for p in attempts.iterdir() if p.name.isdigit()]
    n = max(taken, default=0) + 1
    while True:
        target = attempts / str(n)
        try:
            os.mkdir(target)          # claims the number (two movers never share one)
        except FileExistsError:
            n += 1
            continue
        os.rename(path, target)       # onto the empty folder just made: atomic
        return str(target)


def hydra_entries(job_name: str | None, output_subdir: str | None) -> set[str]:
    """Top-level names Hydra itself writes into a job's folder: its config folder
    (``hydra.output_subdir``, first path part) and the job log ``<job name>.log``."""
    names = {".hydra"}
    if output_subdir:
        names.add(Path(output_subdir).parts[0])
    if job_name:
        names.add(f"{job_name}.log")
    return names


def wrote_nothing(folder: str | os.PathLike[str], ignore: set[str]) -> bool:
    """True when ``folder`` is missing or holds only names in ``ignore``."""
    try:
        with os.scandir(folder) as entries:
            return all(e.name in ignore for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return True


MAX_NAMED = 5   # files named in a warning


def top_files(folder: str | os.PathLike[str]) -> dict[str, tuple[int, int]] | None:
    """The regular files directly in ``folder``: name → (size, mtime_ns). One scandir, no
    recursion (a run's working directory is usually the repo root). None: unreadable."""
    out: dict[str, tuple[int, int]] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        out[entry.name] = (st.st_size, st.st_mtime_ns)
                except OSError:
                    continue
    except OSError:
        return None
    return out


def changed_files(folder: str | os.PathLike[str], before: dict | None) -> list[str]:
    """Names of the files directly in ``folder`` created or rewritten since ``before``
    (a :func:`top_files` snapshot), sorted."""
    if before is None:
        return []
    after = top_files(folder) or {}
    return sorted(name for name, stamp in after.items() if before.get(name) != stamp)


def cwd_note(folder: str | os.PathLike[str], cwd: str | None, before: dict | None) -> str:
    """The part of an empty-folder warning that names what the run changed in its working
    directory instead ('' when nothing, or when the working directory is the run folder)."""
    if not cwd or before is None:
        return ""
    real = os.path.realpath(cwd)
    if real == os.path.realpath(folder):
        return ""
    names = changed_files(cwd, before)
    if not names:
        return ""
    shown = ", ".join(names[:MAX_NAMED]) + (f" (+{len(names) - MAX_NAMED} more)"
                                             if len(names) > MAX_NAMED else "")
    return (f"; meanwhile {len(names)} file(s) in its working directory {cwd} were written: "
            f"{shown} (every run writing there overwrites the same files: write into the "
            f"run folder instead)")


DONE_NAME = ".silisocs-done"   # written the moment an attempt's app or command finishes


def write_done(folder: str | os.PathLike[str], *, attempt_id: str | None, status: str,
               exit_code: int | None, error: str | None = None) -> None:
    """Record, in the run folder, that an attempt finished and how — before anything else
    happens (evaluators, the record): an orchestrator killed in between finds it and records
    the run instead of running it again."""
    import datetime as _dt
    import json

    from .atomic import atomic_write_bytes

    doc = {"attempt_id": attempt_id, "status": status, "exit_code": exit_code, "error": error,
           "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(
               timespec="milliseconds").replace("+00:00", "Z")}
    atomic_write_bytes(Path(folder) / DONE_NAME, json.dumps(doc).encode())


def read_done(folder: str | os.PathLike[str]) -> dict | None:
    import json

    try:
        with open(Path(folder) / DONE_NAME, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

