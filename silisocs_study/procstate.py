"""Process-global state a job may change, captured before it runs and restored after.

Why: the basic launcher runs every job in one process and joblib reuses its workers, so what
one job does to the process leaks into the next. silisocs' runner, for one, replaces
``sys.stdout`` with a logger adapter and never puts it back; Hydra's console log handler of
the next job then writes into that adapter, which logs to the handler again — the second job
dies in a ``RecursionError``. The study callback captures this state when a job starts and
restores it when the job ends, before anything else runs in the process.

Processes a job starts die with it: the job's process becomes a child subreaper (orphaned
grandchildren come back to it instead of init), and when the job ends every descendant that
appeared during the job gets SIGTERM, a short grace, then SIGKILL — after a timeout too.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

# handlers a simulation (or its libraries) may install; SIGKILL/SIGSTOP cannot be caught
_SIGNALS = tuple(getattr(signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD",
    "SIGPIPE") if hasattr(signal, name))


@dataclass
class _LoggerState:
    handlers: list
    level: int
    propagate: bool
    disabled: bool


@dataclass
class ProcessState:
    stdout: Any
    stderr: Any
    cwd: str | None
    environ: dict[str, str]
    loggers: dict[str, _LoggerState]
    logging_disable: int
    warning_filters: list
    signals: dict[int, Any] = field(default_factory=dict)
    processes: frozenset = frozenset()   # descendants alive when the job started
    subreaper: bool = False              # whether this process was a subreaper before

    @classmethod
    def capture(cls) -> "ProcessState":
        try:
            cwd = os.getcwd()
        except OSError:   # the cwd was removed under us: nothing to go back to
            cwd = None
        manager = logging.Logger.manager
        loggers = {"": _of(logging.getLogger())}
        for name, logger in list(manager.loggerDict.items()):
            if isinstance(logger, logging.Logger):
                loggers[name] = _of(logger)
        signals = {}
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                try:
                    signals[sig] = signal.getsignal(sig)
                except (OSError, ValueError):  # pragma: no cover - platform specific
                    pass
        return cls(stdout=sys.stdout, stderr=sys.stderr, cwd=cwd, environ=dict(os.environ),
                   loggers=loggers, logging_disable=manager.disable,
                   warning_filters=list(warnings.filters), signals=signals,
                   processes=frozenset(descendants(os.getpid())),
                   subreaper=set_subreaper(True))

    def restore(self, *, keep_env: Iterable[str] = ()) -> list[str]:
        """Put everything back; returns what the job had changed (for the record).

        ``keep_env``: variables someone else restores (Hydra's ``hydra.job.env_set``, which
        Hydra puts back itself before the callback's ``on_job_end`` runs)."""
        changed: list[str] = []
        if sys.stdout is not self.stdout:
            _flush(sys.stdout)
            sys.stdout = self.stdout
            changed.append("sys.stdout")
        if sys.stderr is not self.stderr:
            _flush(sys.stderr)
            sys.stderr = self.stderr
            changed.append("sys.stderr")
        if self.cwd is not None:
            try:
                if os.getcwd() != self.cwd:
                    os.chdir(self.cwd)
                    changed.append("cwd")
            except OSError:
                os.chdir(self.cwd)
                changed.append("cwd")
        if _restore_environ(self.environ, set(keep_env)):
            changed.append("os.environ")
        if self._restore_logging():
            changed.append("logging")
        if warnings.filters != self.warning_filters:
            # typeshed declares warnings.filters a Sequence; at runtime it is the list to restore
            warnings.filters[:] = self.warning_filters  # type: ignore[index]
            warnings._filters_mutated()  # type: ignore[attr-defined]
        left = kill_new_descendants(self.processes)
        if left:
            changed.append(f"{len(left)} process(es) it started")
        set_subreaper(self.subreaper)
        if self.signals and threading.current_thread() is threading.main_thread():
            for sig, handler in self.signals.items():
                try:
                    if signal.getsignal(sig) is not handler:
                        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
                        changed.append(f"signal {signal.Signals(sig).name}")
                except (OSError, ValueError, TypeError):  # pragma: no cover
                    pass
        return changed

    def _restore_logging(self) -> bool:
        changed = False
        manager = logging.Logger.manager
        if manager.disable != self.logging_disable:
            logging.disable(self.logging_disable)
            changed = True
        current = {"": logging.getLogger()}
        current.update((n, lg) for n, lg in list(manager.loggerDict.items())
                       if isinstance(lg, logging.Logger))
        for name, logger in current.items():
            before = self.loggers.get(name)
            keep = before.handlers if before is not None else []
            for handler in list(logger.handlers):
                if handler not in keep:   # added by the job: it may point into its run dir
                    logger.removeHandler(handler)
                    _close(handler)
                    changed = True
            for handler in keep:
                if handler not in logger.handlers:
                    logger.addHandler(handler)
                    changed = True
            if before is not None and (logger.level, logger.propagate, logger.disabled) != (
                    before.level, before.propagate, before.disabled):
                logger.setLevel(before.level)
                logger.propagate = before.propagate
                logger.disabled = before.disabled
                changed = True
        return changed


PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


def set_subreaper(on: bool) -> bool:
    """Make this process a child subreaper (or not): orphans of its descendants are
    re-parented to it instead of init, so a job's grandchildren stay findable for the length
    of the job (Linux; no-op elsewhere). Returns the previous setting."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        previous = ctypes.c_int(0)
        libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(previous), 0, 0, 0)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)
        return bool(previous.value)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def live_processes() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live process, from /proc; zombies and
    processes that vanish while being read are left out (empty where there is no procfs)."""
    try:
        names = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs
        return []
    out = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()   # the name may hold spaces and ')'
        if len(fields) > 2 and fields[0] not in (b"Z", b"X"):
            out.append((int(name), int(fields[1]), int(fields[2])))
    return out


def descendants(root: int) -> set[int]:
    """Live descendant pids of ``root`` (from /proc; empty where there is none)."""
    children: dict[int, list[int]] = {}
    for pid, parent, _ in live_processes():
        children.setdefault(parent, []).append(pid)
    out: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def kill_new_descendants(before: frozenset, grace: float = 2.0) -> list[int]:
    """SIGTERM every descendant not in ``before``, SIGKILL what is left after ``grace``;
    reap the ones that are our children. Returns the pids it signalled."""
    import time

    new = sorted(descendants(os.getpid()) - before)
    if not new:
        return []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in new:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 1.0)
        while time.monotonic() < deadline:
            _reap(new)
            if not (descendants(os.getpid()) & set(new)):
                return new
            time.sleep(0.05)
    _reap(new)
    return new


def _reap(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        except OSError:  # pragma: no cover
            pass


def _of(logger: logging.Logger) -> _LoggerState:
    return _LoggerState(list(logger.handlers), logger.level, logger.propagate, logger.disabled)


def _restore_environ(saved: dict[str, str], keep: set[str]) -> bool:
    changed = False
    for key in list(os.environ):
        if key not in saved and key not in keep:
            del os.environ[key]
            changed = True
    for key, value in saved.items():
        if key not in keep and os.environ.get(key) != value:
            os.environ[key] = value
            changed = True
    return changed


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except Exception:  # noqa: BLE001 - a broken replacement stream must not stop the restore
        pass


def _close(handler: logging.Handler) -> None:
    try:
        handler.close()
    except Exception:  # noqa: BLE001
        pass
