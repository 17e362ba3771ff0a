"""``python -m tests.apps.hijack``: a job that changes every process-global thing it can and
restores none of it, like silisocs' runner does with ``sys.stdout``.

Each job first writes ``seen.json`` (into ``output_dir``) describing the state it found, so a
test can tell whether an earlier job in the same process leaked into it. Then it hijacks:
``sys.stdout``/``sys.stderr`` become logger adapters (so the next job's console handler
recurses, exactly the silisocs failure), a root logging handler is added, the cwd changes,
an environment variable is set, SIGTERM/SIGUSR1 handlers are installed, a warning filter
is added.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import tempfile
import warnings
from pathlib import Path

import hydra

MARK = "HIJACK_LEFTOVER"


class LoggerStream:
    """stdout → logger (what silisocs.runtime.io.stdout does, never undone)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def write(self, text: str) -> None:
        for line in text.rstrip().splitlines():
            self.logger.info(line)

    def flush(self) -> None:
        return None


class Leftover(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - trivial
        pass


def seen() -> dict:
    return {
        "stdout": type(sys.stdout).__name__, "stderr": type(sys.stderr).__name__,
        "cwd": os.getcwd(), "env": os.environ.get(MARK),
        "sigterm": getattr(signal.getsignal(signal.SIGTERM), "__name__",
                           str(signal.getsignal(signal.SIGTERM))),
        "sigusr1": getattr(signal.getsignal(signal.SIGUSR1), "__name__",
                           str(signal.getsignal(signal.SIGUSR1))),
        "leftover_handlers": sum(isinstance(h, Leftover) for h in logging.getLogger().handlers),
        "hijack_filter": any(f[2] is ResourceWarning and f[0] == "error"
                             for f in warnings.filters),
        "pid": os.getpid(),
    }


def _handler(signum, frame):  # pragma: no cover - never delivered
    pass


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg) -> int:
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "seen.json").write_text(json.dumps(seen()))
    print(f"job {cfg.seed} starts")           # goes through the console handler
    logging.getLogger(__name__).info("job %s logs", cfg.seed)
    logger = logging.getLogger("hijack")
    sys.stdout = LoggerStream(logger)
    sys.stderr = LoggerStream(logger)
    logging.getLogger().addHandler(Leftover())
    os.chdir(tempfile.gettempdir())
    os.environ[MARK] = str(cfg.seed)
    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGUSR1, _handler)
    warnings.filterwarnings("error", category=ResourceWarning)
    print("after the hijack")                  # into the logger, as silisocs does
    return 0


if __name__ == "__main__":
    main()
