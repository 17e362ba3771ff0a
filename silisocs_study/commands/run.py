"""``run``: open the study's workspace, then the launch session."""
from __future__ import annotations

import sys

from ..launch.runner import run_study
from ..options import LaunchOptions
from ..workspace import Workspace


def ask_on_terminal(count: int, launcher: str) -> bool:
    """The CLI's confirmation before launching many runs (only on a terminal)."""
    if not sys.stdin.isatty():
        return True
    answer = input(f"Launch {count} run(s) with the {launcher} launcher? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run(workspace: Workspace, options: LaunchOptions, *, dry_run: bool = False,
        yes: bool = False, wait: bool = False) -> int:
    return run_study(workspace, options, dry_run=dry_run,
                     confirm=None if yes else ask_on_terminal, wait=wait)
