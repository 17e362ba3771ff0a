"""``repro_lock.jsonl``: an append-only log, one line per finished attempt, from many processes.

Appends take an exclusive ``flock`` and write the whole line with one ``write`` on an
O_APPEND descriptor, so lines from concurrent jobs never interleave. On filesystems where
flock is unsupported the O_APPEND single write still keeps lines whole on local disks; the
per-run record files remain the source of truth either way.

Links: appends and lock files are opened with ``O_NOFOLLOW`` (and ``O_NONBLOCK``, so a FIFO
planted in their place cannot hang us). A symlink there is refused with a one-line
StorageError, never followed: an appended log keeps its history in whatever the link points
at, and a lock taken on a replaced link would not exclude a process that opened the link
before, so neither can be replaced safely; the user removes the link.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from pathlib import Path
from typing import Iterator

from ..atomic import link_refused, make_dirs, refuse_links, storage_failure
from ..errors import StorageError, note_written

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]  # optional module: None off POSIX

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def open_no_follow(path: Path, flags: int, what: str) -> int:
    """Open (creating) ``path`` without following a symlink or blocking on a FIFO; only a
    regular file is accepted. Failures are StorageErrors naming ``what``."""
    try:
        fd = os.open(path, flags | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise link_refused(path, what) from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):   # a FIFO without reader, a folder
            raise _not_regular(path, what, exc.errno) from None
        raise storage_failure(exc, path, what) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, what, errno.EINVAL)
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _not_regular(path: Path, what: str, code: int) -> StorageError:
    return StorageError(path, what, "it is not a regular file (a folder, FIFO, socket or "
                        "device stands there)", errno=code, hint="move it away")


def append_line(path: Path, obj: dict, *, what: str | None = None,
                below: Path | str | None = None) -> None:
    """Append one JSON line to ``path`` under an exclusive lock; never through a symlink
    (``below``: no folder between it and ``path`` may be a link either)."""
    path = Path(path)
    what = what or f"the log {path.name}"
    line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
            ).encode("utf-8")
    append_bytes(path, lambda fd: line, what=what, below=below)


def append_bytes(path: Path, make, *, what: str, below: Path | str | None = None) -> None:
    """Append ``make(fd)`` (bytes, computed under the lock) to ``path`` in one write."""
    path = Path(path)
    if below is not None:
        refuse_links(path, below, what)
    make_dirs(path.parent, what)
    fd = open_no_follow(path, os.O_WRONLY | os.O_APPEND, what)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                pass
        view = memoryview(make(fd))
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as exc:
            raise storage_failure(exc, path, what) from None
    finally:
        os.close(fd)  # closing releases the lock
    note_written()


@contextlib.contextmanager
def exclusive(path: Path, *, what: str | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing) for the ``with`` block.

    Rebuilders of a view take it around read-all-records + write, so a slower rebuild that
    read older records can never overwrite a newer view. A symlink at ``path`` (dangling or
    not) is refused, never followed: no file is ever created outside the study.
    """
    path = Path(path)
    what = what or f"the lock file {path.name}"
    make_dirs(path.parent, what)
    fd = open_no_follow(path, os.O_RDWR, what)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # pragma: no cover - no flock here: best effort
                pass
        yield
    finally:
        os.close(fd)
