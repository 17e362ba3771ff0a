"""Process groups: the guard, and stopping a group with everything it started.

``python -m silisocs_study.procs -- CMD ...`` runs CMD so that it cannot outlive us.
Why: a SIGKILL of the process that started CMD (an orchestrator, a job) leaves CMD running,
together with everything CMD started (``uv run`` wrappers, app processes, joblib workers), and
a child in its own process group is out of reach of whoever kills the parent's group. The guard
is a tiny parent in between. It leads a process group of its own (its caller starts it with
``start_new_session=True``, else it makes one) and runs CMD in that group, so CMD and all it
starts share one group. It asks the kernel to signal the guard when the guard's parent dies
(``PR_SET_PDEATHSIG``, even by SIGKILL), and on that signal, on SIGTERM/SIGINT/SIGHUP, and when
CMD ends, it kills the rest of the group (TERM, a grace period, then KILL). It exits with CMD's
status. A caller that kills the guard's whole group (a timeout) reaches CMD directly
(:func:`kill_group`); a server started by a Slurm job's hooks is stopped by :func:`stop_group`.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 5.0


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux; no-op
    elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def guarded(argv: list[str], python: str | None = None, done: str | None = None) -> list[str]:
    """``argv`` wrapped by the guard (start it with ``start_new_session=True``). ``done``: a
    run folder where the guard marks the attempt finished the moment CMD exits by itself
    (see :func:`silisocs_study.rundir.write_done`)."""
    head = [python or sys.executable, "-m", "silisocs_study.procs",
            "--parent", str(os.getpid())]
    if done:
        head += ["--done", done]
    return [*head, "--", *argv]


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (from /proc), this process excluded."""
    from .procstate import live_processes

    me = os.getpid()
    return [pid for pid, _, group in live_processes() if group == pgid and pid != me]


def kill_members(pgid: int, grace: float = GRACE_SECONDS) -> None:
    """TERM every other member of ``pgid``, wait up to ``grace``, then KILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0)):
        members = group_members(pgid)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_members(pgid):
            try:   # reap CMD if it is among them
                os.waitpid(-pgid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)


def kill_group(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """TERM the process group ``proc`` leads (``start_new_session``); KILL it when ``proc``
    is not gone after ``grace`` s, and KILL what is left of the group once it is."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            try:  # the leader is gone; make sure the rest of the group is too
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        except subprocess.TimeoutExpired:
            continue


def group_alive(pgid: int) -> bool:
    """Some process of group ``pgid`` is alive (or exists but is not ours to signal)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process group of ``proc``; SIGKILL what is left after ``grace`` s."""
    pgid = proc.pid  # start_new_session: the shell leads its own group
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            proc.poll()
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the shell so it doesn't linger as a zombie group member
            if not group_alive(pgid):
                return
            time.sleep(0.1)
    proc.poll()


def main(argv: list[str]) -> int:
    parent = done = None
    if argv[:1] == ["--parent"]:
        parent, argv = int(argv[1]), argv[2:]
    if argv[:1] == ["--done"]:
        done, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m silisocs_study.procs -- CMD ...", file=sys.stderr)
        return 2
    parent = parent or os.getppid()
    die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:   # the parent died before the request took effect
        return 143
    if os.getpgrp() != os.getpid():
        os.setpgid(0, 0)
    pgid = os.getpgrp()
    stopping: list[int] = []

    def stop(signum, frame):  # pragma: no cover - exercised through real signals
        if not stopping:
            stopping.append(signum)
            kill_members(pgid)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        proc = subprocess.Popen(argv)
    except OSError as exc:
        print(f"cannot start {argv[0]!r}: {exc}", file=sys.stderr)
        return 127
    code = proc.wait()
    if done and (not stopping or proc.returncode is not None and not _killed(code)):
        _mark_done(done, code)   # first: an orchestrator killed now must not run it again
    if not stopping:   # CMD ended by itself: nothing it started may outlive it either
        kill_members(pgid, grace=1.0)
    if stopping:
        return 128 + stopping[0]
    return code if code >= 0 else 128 - code


def _killed(code: int) -> bool:
    return code in (-signal.SIGTERM, -signal.SIGKILL)


def _mark_done(folder: str, code: int) -> None:
    try:
        from silisocs_study.rundir import write_done

        write_done(folder, attempt_id=os.environ.get("SILISOCS_ATTEMPT_ID"),
                   status="success" if code == 0 else "failed",
                   exit_code=code if code >= 0 else 128 - code,
                   error=None if code == 0 else f"command exited with code {code}")
    except OSError as exc:  # the folder is gone: the record will say what happened
        print(f"guard: cannot mark {folder} done: {exc}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
