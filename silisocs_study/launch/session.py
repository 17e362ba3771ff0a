"""One launch session: prepare (adopt, recover, read the ledger once, decide) → summarize →
launch. ``run``, the study sweeper and Slurm array tasks all open their runs through here,
so they resume, skip and retry by the same rules.
"""
from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field

from ..ledger import Ledger
from ..model import Run
from ..plan import Plan, app_key
from ..spec.study_v1 import python_executable
from .decide import Decisions, decide
from .multirun import app_commands, run_app
from .recover import recover_finished
from .reuse import record_reuse_run


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Session:
    """What one invocation found and decided for its plan."""

    plan: Plan
    ledger: Ledger
    records: dict[str, dict]     # read once, after adoption and recovery
    decisions: Decisions
    id: str
    python: str = field(default_factory=python_executable)

    def summary_line(self) -> str:
        s = self.decisions.summary()
        plan = self.plan
        return (f"Study {plan.study.study_id}: {len(plan.runs)} run(s) selected"
                f"{'' if not plan.filters else f' of {plan.total}'} — new {s['new']}, "
                f"retry {s['retry']}, stale {s['stale']}, forced {s['forced']}, "
                f"skip (complete) {s['skip']}, failed left {s['failed_left']}, "
                f"reuse {s['reuse']}")

    def record_reuse(self) -> None:
        """Record the reuse_existing runs (nothing is launched for them)."""
        for run in self.decisions.reuse:
            record_reuse_run(self.plan.study, run, self.python, self.id)

    def launch_apps(self, runs: list[Run], hydra_args: list[str], extra: list[str], *,
                    cwd: str, progress: bool = True, live: bool = True,
                    fail_fast: bool = False, log_tag: str = "") -> list[str]:
        """One multirun subprocess per app for ``runs``; returns the ids never attempted.
        ``progress``: show it (``live``: a live display on a terminal, else plain lines)."""
        study = self.plan.study
        unrun: list[str] = []
        for key, command in app_commands(runs, self.python, hydra_args, extra).items():
            ids = {r.run_id for r in runs if app_key(r) == key}
            unrun += run_app(command, cwd=cwd, ledger=self.ledger, ids=ids, session=self.id,
                             log_dir=study.generated / "logs", progress=progress,
                             plain=not live, log_tag=log_tag)
            if fail_fast and self.failed_in(ids):
                break
        return unrun

    def failed_in(self, ids: set[str]) -> bool:
        from ..status import COMPLETE, Status

        for run_id in ids:
            rec = self.ledger.read(run_id)
            if rec is not None and rec.get("session") == self.id and \
                    Status.of(rec.get("status")) not in COMPLETE | {Status.RUNNING}:
                return True
        return False


def prepare(plan: Plan, *, force: bool = False, retry_failed: bool = False,
            stale: str = "rerun", session: str | None = None, adopt: bool = True,
            whole_ledger: bool = True, python: str | None = None,
            attempted_in: str | None = None) -> Session:
    """Adopt the silisocs runner's finished runs (``adopt``), record attempts that finished
    but were not recorded, read the records once (all of them, or only the plan's with
    ``whole_ledger=False``), and decide. ``attempted_in``: runs this session already tried
    are not relaunched (a resumed sweep)."""
    from ..ledger.adopt import adopt_external

    study = plan.study
    python = python or python_executable()
    ledger = Ledger(study.generated)
    if adopt:
        adopt_external(plan)   # runs silisocs' own study runner finished are complete here
    recover_finished(study, plan.runs, ledger, python)   # finished, then orchestrator died
    records = ledger.all() if whole_ledger else {
        r.run_id: rec for r in plan.runs if (rec := ledger.read(r.run_id)) is not None}
    if (damaged := ledger.damaged_warning()):
        print(damaged, file=sys.stderr)
    decisions = decide(plan.runs, records, force=force, retry_failed=retry_failed,
                       stale=stale, session=attempted_in)
    return Session(plan, ledger, records, decisions, session or new_session_id(), python)
