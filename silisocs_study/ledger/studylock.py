"""One orchestrator per study: an OS lock held for the life of the process that runs it.

``run``, ``submitit``, ``slurm-array`` and the study sweeper (design line) ``flock`` the
study's workspace folder (the folder of its study.yaml, or the experiment's folder) before they
decide anything, so a killed holder releases it at once and nothing is written to take it. A
second one says who holds it — pid, since when, its command, found in ``/proc/locks`` — and
exits 2, or waits with ``--wait``. The multiruns a holder starts inherit the lock (an
environment variable names the folder), so they do not ask again. Read-only verbs never
take it.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Iterator

from ..errors import StudyError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no study lock
    fcntl = None  # type: ignore[assignment]  # optional module: None off POSIX

HELD_ENV = "SILISOCS_STUDY_LOCK"   # the workspace whose lock a parent process holds for us


class StudyBusy(StudyError):
    """Another live process runs this study."""


def holder(folder: Path | str) -> dict | None:
    """The local process holding ``folder``'s flock (from /proc/locks), or None."""
    try:
        st = os.stat(folder)
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    me = os.getpid()
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts:
            continue
        try:
            pid = int(parts[4])
            major_minor, inode = parts[5].rsplit(":", 1)
        except ValueError:
            continue
        device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
        if int(inode) != st.st_ino or major_minor != device or pid == me:
            continue
        return {"pid": pid, "command": _cmdline(pid), "since": _started(pid)}
    return None


def _cmdline(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return None


def _started(pid: int) -> float | None:
    """Start time of ``pid`` (epoch seconds), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        ticks = int(stat[stat.rfind(b")") + 2:].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _describe(info: dict | None) -> str:
    if not info:
        return "another process"
    since = info.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "?"
    return f"pid {info['pid']} since {when}: {info.get('command') or '?'}"


@contextlib.contextmanager
def study_lock(folder: Path | str, *, wait: bool = False, study: str = "this study"
               ) -> Iterator[None]:
    """Hold the lock of the study whose workspace is ``folder`` for the ``with`` block (a
    no-op if a parent process holds it for us, or where flock is not available)."""
    folder = Path(folder).resolve()
    if fcntl is None or os.environ.get(HELD_ENV) == str(folder):
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)   # a study.yaml's own folder exists already
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            info = holder(folder)
            if not wait:
                raise StudyBusy(f"{study} is being run by {_describe(info)}; wait for it "
                                f"with --wait") from None
            print(f"waiting: {study} is being run by {_describe(info)}", file=sys.stderr,
                  flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:   # no flock on this filesystem: run without the lock
            locked = False
        previous = os.environ.get(HELD_ENV)
        if locked:
            os.environ[HELD_ENV] = str(folder)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = previous
    finally:
        os.close(fd)   # releases the lock
