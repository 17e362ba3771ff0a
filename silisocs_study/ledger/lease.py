"""One live execution per run: the process that executes a run holds a lease on it.

The lease is an ``flock`` on ``.silisocs-lease`` in the run's folder, taken by the job's
process before the app starts (the study callback's ``on_job_start``) and released when that
process ends, however it ends. Before (re)launching a run, an orchestrator asks
:func:`holder`: a live holder means the run is still executing somewhere — a Slurm task, an
orphan of a killed orchestrator, another machine sharing the folder — and it is not started
a second time. The lease file names its holder (pid, host, since, session) for the message.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no leases
    fcntl = None  # type: ignore[assignment]  # optional module: None off POSIX

LEASE_NAME = ".silisocs-lease"


def _open(run_dir: Path, create: bool) -> int | None:
    flags = os.O_RDWR | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    try:
        return os.open(Path(run_dir) / LEASE_NAME, flags, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        return None


def take(run_dir: str | Path, *, run_id: str, session: str | None) -> tuple[int | None, dict | None]:
    """Take the lease of ``run_dir`` for this process: ``(fd, None)`` when taken (keep ``fd``
    open for the life of the execution), ``(None, holder)`` when a live process holds it,
    ``(None, None)`` when leases are not available here."""
    if fcntl is None:
        return None, None
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    fd = _open(Path(run_dir), create=True)
    if fd is None:
        return None, None
    for attempt in range(10):   # a checker's shared lock lasts microseconds: retry briefly
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == 9:
                os.close(fd)
                return None, holder(run_dir) or {"pid": None}
            time.sleep(0.02)
        except OSError:   # no flock on this filesystem
            os.close(fd)
            return None, None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
            "run_id": run_id, "session": session}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd, None


def release(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def holder(run_dir: str | Path) -> dict | None:
    """The live holder of ``run_dir``'s lease (None: nobody executes it now)."""
    if fcntl is None:
        return None
    fd = _open(Path(run_dir), create=False)
    if fd is None:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                data = json.loads(os.pread(fd, 4096, 0) or b"null")
            except (OSError, ValueError):
                data = None
            return data if isinstance(data, dict) else {"pid": None}
        except OSError:
            return None
        return None
    finally:
        os.close(fd)


def describe(info: dict) -> str:
    since = info.get("since")
    when = time.strftime("%H:%M:%S", time.localtime(since)) if since else "?"
    return f"pid {info.get('pid')} on {info.get('host', '?')} since {when}"
