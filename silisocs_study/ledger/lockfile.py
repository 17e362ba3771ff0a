"""``repro_lock.jsonl``: an append-only log, one line per finished attempt, from many processes.

Appends take an exclusive ``flock`` and write the whole line with one ``write`` on an
O_APPEND descriptor, so lines from concurrent jobs never interleave. On filesystems where
flock is unsupported the O_APPEND single write still keeps lines whole on local disks; the
per-run record files remain the source of truth either way.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None


def append_line(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
            ).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                pass
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing) for the ``with`` block.

    Rebuilders of a view take it around read-all-records + write, so a slower rebuild that
    read older records can never overwrite a newer view.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # pragma: no cover - no flock here: best effort
                pass
        yield
    finally:
        os.close(fd)
