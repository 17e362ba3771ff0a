"""Job hooks around a study command: setup → server → readiness → command → stop server.

The same semantics as the bash templates (slurm_scripts/*-template.sh):

* setup: ``bash -c SETUP`` in the repo root; it must exit 0, else the job fails before
  anything else starts.
* server: ``bash -c SERVER`` started in a new session (its own process group), so the whole
  group (the shell and everything it started) can be signalled at once.
* readiness: HTTP GET of the ready URL every second (5 s per request) until the deadline.
  **Any HTTP answer with a status from 200 to 499 counts as ready**: the server is up and
  routing (a 404 on a bare URL still means it serves); connection errors and 5xx (e.g. 503
  while a model loads) mean not yet. A server that exits before it is ready fails the job at
  once; missing the deadline fails it too.
* stop: always (even when setup of the command fails, or on SIGTERM from ``scancel``):
  SIGTERM to the server's process group, wait up to ``grace`` seconds, then SIGKILL.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Sequence

from ..procs import stop_group

READY_POLL_SECONDS = 1.0
READY_REQUEST_TIMEOUT = 5.0
STOP_GRACE_SECONDS = 10.0


class HookError(RuntimeError):
    """A hook failed (setup exit code, server died, server never ready)."""


@dataclass
class Hooks:
    setup_command: str | None = None
    server_command: str | None = None
    server_ready_url: str | None = None
    server_timeout_seconds: float = 600.0

    def to_json(self) -> dict:
        return {"setup_command": self.setup_command, "server_command": self.server_command,
                "server_ready_url": self.server_ready_url,
                "server_timeout_seconds": self.server_timeout_seconds}

    @classmethod
    def from_json(cls, data: dict | None) -> "Hooks":
        data = data or {}
        return cls(data.get("setup_command"), data.get("server_command"),
                   data.get("server_ready_url"),
                   float(data.get("server_timeout_seconds") or 600.0))

    def env(self) -> dict[str, str]:
        """The SILISOCS_HPC_* variables the bash templates read."""
        out = {}
        for key, value in (("SILISOCS_HPC_SETUP_COMMAND", self.setup_command),
                           ("SILISOCS_HPC_SERVER_COMMAND", self.server_command),
                           ("SILISOCS_HPC_SERVER_READY_URL", self.server_ready_url)):
            if value:
                out[key] = value
        out["SILISOCS_HPC_SERVER_TIMEOUT_SECONDS"] = _num(self.server_timeout_seconds)
        return out


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _log(msg: str) -> None:
    print(f"[silisocs-hpc] {msg}", file=sys.stderr, flush=True)


def is_ready(url: str, timeout: float = READY_REQUEST_TIMEOUT) -> bool:
    """True when ``url`` answers with an HTTP status from 200 to 499."""
    import urllib.error  # here, not at the top: every CLI verb imports this module
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (user URL)
            return 200 <= resp.status < 500
    except urllib.error.HTTPError as exc:
        return 200 <= exc.code < 500
    except (urllib.error.URLError, OSError, ValueError):
        return False


def run_setup(command: str, cwd: str | None) -> None:
    _log(f"setup: {command}")
    rc = subprocess.run(["bash", "-c", command], cwd=cwd, check=False).returncode
    if rc != 0:
        raise HookError(f"setup command exited with code {rc}: {command}")


def start_server(command: str, cwd: str | None) -> subprocess.Popen:
    _log(f"server: {command}")
    return subprocess.Popen(["bash", "-c", command], cwd=cwd, start_new_session=True,
                            stdin=subprocess.DEVNULL)


def wait_ready(server: subprocess.Popen, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if is_ready(url):
            _log(f"server ready: {url}")
            return
        rc = server.poll()
        if rc is not None:
            raise HookError(f"server command exited with code {rc} before {url} was ready")
        if time.monotonic() >= deadline:
            raise HookError(f"server not ready at {url} after {timeout:g}s")
        time.sleep(READY_POLL_SECONDS)


class _Terminated(BaseException):
    pass


def run_with_hooks(cmd: Sequence[str], *, cwd: str | None, hooks: Hooks,
                   env: dict[str, str] | None = None) -> int:
    """Run ``cmd`` between the hooks; its exit code (hook failures raise HookError)."""
    server = None
    previous = None
    if hooks.server_command and _main_thread():
        def _on_term(signum, frame):  # scancel: make sure `finally` stops the server
            raise _Terminated()
        previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        if hooks.setup_command:
            run_setup(hooks.setup_command, cwd)
        if hooks.server_command:
            server = start_server(hooks.server_command, cwd)
            if hooks.server_ready_url:
                wait_ready(server, hooks.server_ready_url, hooks.server_timeout_seconds)
        _log("run: " + " ".join(cmd))
        return subprocess.run(list(cmd), cwd=cwd, env=env, check=False).returncode
    except _Terminated:
        _log("terminated (SIGTERM): stopping")
        return 143
    finally:
        if server is not None:
            _log(f"stopping server process group {server.pid}")
            stop_group(server, STOP_GRACE_SECONDS)
            _log(f"server process group {server.pid} stopped")
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
