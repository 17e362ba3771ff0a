"""What an invocation ends with: its summary line and exit code, from the records alone.

Read after every multirun has returned and the views are rebuilt, for *every* run the
invocation selected (not only the ones it launched, and never from counters): exit 0 only
when each selected run is complete (success or reused, no failed evaluator); 1 when any is
failed, timed out, left failed, never run, or still executing elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Run
from ..status import COMPLETE_VALUES as COMPLETE


@dataclass
class Outcome:
    """The selected runs' final state, split by what this invocation did."""

    states: dict[str, str] = field(default_factory=dict)      # run id → status / "pending"
    ran: dict[str, str] = field(default_factory=dict)         # launched here → status
    eval_failed: dict[str, list[str]] = field(default_factory=dict)   # run id → evaluator ids
    records: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, runs: list[Run], records: dict[str, dict], session: str) -> "Outcome":
        """From ``records`` (run id → record, as the ledger read them after the last run)."""
        out = cls()
        for run in runs:
            rec = records.get(run.run_id)
            status = "pending" if rec is None else str(rec.get("status") or "unknown")
            out.states[run.run_id] = status
            if rec is None:
                continue
            out.records[run.run_id] = rec
            if rec.get("session") == session:
                out.ran[run.run_id] = status
            bad = [str(e.get("id")) for e in rec.get("evaluations") or []
                   if isinstance(e, dict) and e.get("status") == "failed"]
            if bad and status in COMPLETE:
                out.eval_failed[run.run_id] = bad
        return out

    @property
    def incomplete(self) -> list[str]:
        return [r for r, s in self.states.items() if s not in COMPLETE]

    @property
    def exit_code(self) -> int:
        return 1 if self.incomplete or self.eval_failed else 0

    def line(self, elapsed: float) -> str:
        """``Done in 2.1s: ran 3 (success 2, failed 1); selected 6: success 5, failed 1``."""
        ran = _counts(self.ran.values())
        head = f"ran {len(self.ran)} ({ran})" if self.ran else "ran nothing"
        selected = _counts(self.states.values()) or "none"
        extra = f", evaluator failed {len(self.eval_failed)}" if self.eval_failed else ""
        return f"Done in {elapsed:.1f}s: {head}; selected {len(self.states)}: {selected}{extra}"


def _counts(statuses) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
