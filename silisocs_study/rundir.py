"""A run's folder holds exactly one attempt's output.

Before an attempt starts, whatever an earlier attempt left in the folder is moved aside to
``<folder>.attempts/<n>/`` beside it (a rename: atomic, nothing copied, nothing deleted;
outside the folder, so no evaluator reads it), so a forced or retried run starts empty and
evaluators never sum two attempts. After the attempt,
a folder that holds nothing but Hydra's own bookkeeping means the app wrote its output
elsewhere (e.g. it ignored the injected output key): that is a warning on the record.
"""
from __future__ import annotations

import os
from pathlib import Path

ATTEMPTS_SUFFIX = ".attempts"


def move_aside(folder: str | os.PathLike, protect: tuple = ()) -> str | None:
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


def wrote_nothing(folder: str | os.PathLike, ignore: set[str]) -> bool:
    """True when ``folder`` is missing or holds only names in ``ignore``."""
    try:
        with os.scandir(folder) as entries:
            return all(e.name in ignore for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return True


DONE_NAME = ".silisocs-done"   # written the moment an attempt's app or command finishes


def write_done(folder: str | os.PathLike, *, attempt_id: str | None, status: str,
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


def read_done(folder: str | os.PathLike) -> dict | None:
    import json

    try:
        with open(Path(folder) / DONE_NAME, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

