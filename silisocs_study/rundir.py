"""A run's folder holds exactly one attempt's output.

Before an attempt starts, whatever an earlier attempt left in the folder is moved aside to a
sibling ``<folder>.attempt-<UTC time>`` (a rename: atomic, nothing copied, nothing deleted), so
a forced or retried run starts empty and evaluators never sum two attempts. After the attempt,
a folder that holds nothing but Hydra's own bookkeeping means the app wrote its output
elsewhere (e.g. it ignored the injected output key): that is a warning on the record.
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

ATTEMPT_SUFFIX = ".attempt-"


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
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    for n in range(1000):
        target = path.with_name(f"{path.name}{ATTEMPT_SUFFIX}{stamp}" + (f".{n}" if n else ""))
        if not target.exists():
            os.rename(path, target)
            return str(target)
    raise FileExistsError(f"no free name to move {path} aside")


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
