"""``re-evaluate``: run a study's evaluators again on finished runs, never the runs themselves.

Adding an evaluator to a study (or fixing one) must not cost a re-run of every simulation.
This evaluates the folder each finished run left — a successful run's output folder, a
reused run's source — with the evaluators the plan gives its condition (all of them, or the
ones named), through the same evaluator runner the job's callback uses
(:func:`silisocs_study.evaluate.run_evaluators`), so outputs land where a run's own
evaluation puts them (``generated/eval/<h>/<c>/<scenario>/seed_<seed>/<eval_id>/``).

Each record keeps its status, fingerprint, attempt and timings: only the entries of the
evaluators re-run are replaced (the others, e.g. ``reused_eval`` or an evaluator since
removed from the study, stay), and ``re_evaluated`` says when and which. The record is
rewritten atomically in place (:meth:`Ledger.update`), after checking it did not change
meanwhile. The study lock is held throughout, like ``run``, so no orchestrator of the same
study decides or records anything at the same time; then the views and reports are rebuilt
as at the end of ``run``.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..constants import COMMAND
from ..errors import StudyError, did_you_mean
from ..model import EvaluatorSpec, Run
from ..status import COMPLETE_VALUES

_EVAL_OK = ("success", "disabled")   # what a selected evaluator may report without failing
_PREVIOUS = ".{id}.previous"   # an evaluator's earlier output, kept until its new one succeeds


@dataclass
class ReEvaluation:
    """What a re-evaluation did, computed from the records written (not from counters)."""

    study_id: str
    evaluators: list[str]                        # the ids asked for ([] = each run's own)
    records: list[dict] = field(default_factory=list)   # the re-evaluated runs' records
    failures: list[tuple[str, dict]] = field(default_factory=list)  # (run_id, entry)
    missing_folder: list[tuple[str, str]] = field(default_factory=list)  # (run_id, folder)
    not_finished: dict[str, str] = field(default_factory=dict)   # run_id → its status
    stale: list[str] = field(default_factory=list)
    no_evaluators: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)   # record changed while evaluating
    post_actions_failed: bool = False                   # experiments: a post action failed

    @property
    def ok(self) -> int:
        """Re-evaluated runs whose selected evaluators all succeeded (or are disabled)."""
        bad = {run_id for run_id, _ in self.failures}
        return sum(1 for r in self.records if r["run_id"] not in bad)

    @property
    def exit_code(self) -> int:
        """0: every selected evaluator of every re-evaluated run succeeded; 1 otherwise."""
        return 1 if self.failures or self.missing_folder or self.changed or \
            self.post_actions_failed else 0

    def summary(self) -> str:
        """One line: what was re-evaluated and what was left alone, and why."""
        runs_failed = len({run_id for run_id, _ in self.failures})
        skipped = []
        if self.not_finished:
            counts: dict[str, int] = {}
            for status in self.not_finished.values():
                counts[status] = counts.get(status, 0) + 1
            skipped.append(f"{len(self.not_finished)} not finished (" + ", ".join(
                f"{n} {s}" for s, n in sorted(counts.items())) + ")")
        if self.stale:
            skipped.append(f"{len(self.stale)} stale (their plan changed: `run` runs them "
                           f"again)")
        if self.no_evaluators:
            skipped.append(f"{len(self.no_evaluators)} without "
                           f"{'those evaluators' if self.evaluators else 'evaluators'}")
        if self.missing_folder:
            skipped.append(f"{len(self.missing_folder)} whose run folder is missing")
        if self.changed:
            skipped.append(f"{len(self.changed)} recorded again meanwhile")
        which = f" with {', '.join(self.evaluators)}" if self.evaluators else ""
        return (f"Re-evaluated {len(self.records)} run(s){which}: {self.ok} ok; "
                f"{len(self.failures)} evaluator failure(s)"
                + (f" in {runs_failed} run(s)" if runs_failed else "")
                + "; skipped " + (", ".join(skipped) if skipped else "none"))


def known_evaluators(runs: Iterable[Run]) -> list[str]:
    """Evaluator ids the plan gives these runs, in first-seen order."""
    seen: dict[str, None] = {}
    for run in runs:
        for spec in run.group.evaluators:
            seen.setdefault(spec.id, None)
    return list(seen)


def check_evaluators(plan, wanted: Iterable[str] | None, full_plan=None) -> list[str]:
    """The evaluator ids asked for, checked against the study's (an unknown one is a
    StudyError naming the known ones: exit 2, before anything is written)."""
    wanted = [w for item in (wanted or ()) for w in str(item).split(",") if w.strip()]
    wanted = list(dict.fromkeys(w.strip() for w in wanted))
    known = known_evaluators((full_plan or plan).runs)
    study = plan.study
    if not known:
        raise StudyError(f"study {study.study_id} has no evaluators: add an `evaluations:` "
                         f"entry to {study.display_file} first", file=None)
    for name in wanted:
        if name not in known:
            raise StudyError(f"unknown evaluator '{name}'{did_you_mean(name, known)}; the "
                             f"evaluators of study {study.study_id} are: {', '.join(known)}")
    return wanted


def re_evaluate(plan, evaluators: Iterable[str] | None = None, *, python: str,
                wait: bool = False, full_plan=None) -> ReEvaluation:
    """Re-evaluate the finished runs of ``plan`` (already filtered) under the study lock,
    then rebuild views and reports. Raises StudyError for bad input or a busy study."""
    from ..ledger.studylock import study_lock

    wanted = check_evaluators(plan, evaluators, full_plan)
    study = plan.study
    with study_lock(study.workspace, study=f"study {study.study_id}", wait=wait):
        if study.kind == "study":
            from ..ledger.adopt import adopt_external

            adopt_external(plan)   # runs silisocs' own runner finished are runs here too
        result = _re_evaluate(plan, wanted, python)
        print_result(result)
        _finish(plan, result)
    return result


def _re_evaluate(plan, wanted: list[str], python: str) -> ReEvaluation:
    from ..ledger import Ledger, lease

    study = plan.study
    ledger = Ledger(study.generated)
    result = ReEvaluation(study.study_id, wanted)
    done: dict[str, list[str]] = {}   # run id → the evaluators re-run on it
    which = ", ".join(wanted) if wanted else "each run's evaluators"
    print(f"Study {study.study_id}: {len(plan.runs)} run(s) selected"
          f"{'' if not plan.filters else f' of {plan.total}'}; re-evaluating the finished "
          f"ones with {which} (nothing is run again)", flush=True)
    for run in plan.runs:
        rec = ledger.read(run.run_id)
        status = rec.get("status") if rec is not None else "pending"
        if rec is None or status not in COMPLETE_VALUES:   # no record: "pending"
            result.not_finished[run.run_id] = str(status)
            continue
        if run.reuse is None and lease.holder(run.output_dir) is not None:
            result.not_finished[run.run_id] = "executing"   # a forced re-run under way
            continue
        if rec.get("fingerprint") != run.fingerprint:
            result.stale.append(run.run_id)
            continue
        specs = _selected(run, wanted)
        if not specs:
            result.no_evaluators.append(run.run_id)
            continue
        folder = _run_folder(run, rec)
        if not folder or not os.path.isdir(folder):
            result.missing_folder.append((run.run_id, str(folder)))
            continue
        if not _evaluate_one(study, run, rec, specs, folder, python, ledger):
            result.changed.append(run.run_id)
            continue
        done[run.run_id] = [s.id for s in specs]
    # the summary is what the records now say, read back from their files
    for run_id, ids in done.items():
        rec = ledger.read(run_id)
        if rec is None:   # pragma: no cover - removed by hand meanwhile
            result.changed.append(run_id)
            continue
        result.records.append(rec)
        entries = {e.get("id"): e for e in rec.get("evaluations") or []}
        result.failures += [(run_id, entries.get(i) or {"id": i, "error": "not recorded"})
                            for i in ids
                            if (entries.get(i) or {}).get("status") not in _EVAL_OK]
    if (damaged := ledger.damaged_warning()):
        print(damaged, file=sys.stderr)
    return result


def _selected(run: Run, wanted: list[str]) -> list[EvaluatorSpec]:
    """The run's evaluators to re-run. A reused run whose condition says
    ``re_evaluate: false`` is never evaluated (the plan says so)."""
    if run.reuse is not None and not run.group.re_evaluate:
        return []
    specs = list(run.group.evaluators)
    return [s for s in specs if s.id in wanted] if wanted else specs


def _run_folder(run: Run, rec: dict) -> str | None:
    """The folder the run's evaluators read: where the record says the run's output is."""
    if run.reuse is not None:
        return rec.get("run_dir") or run.reuse.source
    return rec.get("run_dir") or rec.get("output_dir") or run.output_dir


def _evaluate_one(study, run: Run, rec: dict, specs: list[EvaluatorSpec], folder: str,
                  python: str, ledger) -> bool:
    """Evaluate one run and rewrite its record (False: it was recorded again meanwhile)."""
    from ..evaluate import run_evaluators
    from ..jobs import eval_dir, job_document
    from ..ledger.records import utc_now

    job = job_document(study, run, python, session=rec.get("session") or "re-evaluate")
    job["evaluators"] = [s.to_json() for s in specs]
    base = eval_dir(job["generated"], job)
    recorded = {e.get("id"): e.get("status") for e in rec.get("evaluations") or []}
    kept = {s.id: _move_previous(base, s.id, recorded.get(s.id) == "success") for s in specs}
    entries = run_evaluators(job, folder)
    for entry in entries:
        previous = kept.get(entry["id"])
        if previous is None:
            continue
        if entry.get("status") == "failed":
            entry["previous_output"] = str(previous)   # the last good output stays there
        else:
            shutil.rmtree(previous, ignore_errors=True)
    now = ledger.read(run.run_id)
    if now is None or now.get("attempt_id") != rec.get("attempt_id") or \
            now.get("status") != rec.get("status"):
        return False
    updated = dict(now)
    updated["evaluations"] = merge_evaluations(now.get("evaluations") or [], entries)
    updated["eval_paths"] = {e["id"]: e.get("path") for e in updated["evaluations"]
                             if isinstance(e, dict) and e.get("id")}
    updated["re_evaluated"] = {"at": utc_now(), "evaluators": [s.id for s in specs],
                               "by": f"{COMMAND} re-evaluate", "pid": os.getpid()}
    ledger.update(updated)
    return True


def _move_previous(base: Path, eval_id: str, good: bool) -> Path | None:
    """Move an evaluator's earlier output folder aside, so a failing evaluator can never
    pass off the old output as its own (a command evaluator is judged by its output file).

    ``good``: the record says that output succeeded; it becomes the kept copy. Otherwise a
    copy kept by an earlier failed re-evaluation stays the kept one (the last good output)
    and the failed attempt's leftovers go."""
    current = base / eval_id
    previous = base / _PREVIOUS.format(id=eval_id)
    have_previous = previous.is_dir() and not previous.is_symlink()
    if current.is_symlink() or not current.is_dir():
        return previous if have_previous else None
    if have_previous and not good:
        shutil.rmtree(current)
        return previous
    if previous.is_symlink() or previous.is_file():
        previous.unlink()
    elif previous.exists():
        shutil.rmtree(previous)
    os.replace(current, previous)
    return previous


def merge_evaluations(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` with the entries of ``new``'s evaluators replaced in place; evaluators not in
    ``old`` are appended in ``new``'s order; every other old entry is kept."""
    fresh = {e["id"]: e for e in new}
    out = []
    for entry in old:
        eid = entry.get("id") if isinstance(entry, dict) else None
        out.append(fresh.pop(eid) if eid in fresh else entry)
    return out + [e for e in new if e["id"] in fresh]


def _finish(plan, result: ReEvaluation) -> None:
    """Views and reports (experiments: results.yaml and post actions), as at the end of
    ``run``, from every record of the study."""
    from ..views import refresh
    from ..workspace import Workspace
    from .runner import write_outputs

    views = refresh(plan, only_if_changed=True)
    gen = plan.study.generated
    print(f"Views: {gen / 'repro_lock.json'}, {gen / 'study_index.json'}")
    result.post_actions_failed = bool(write_outputs(Workspace(plan), views))


def print_result(result: ReEvaluation) -> None:
    """The summary line, then what failed and why (at most 20 of each)."""
    print(result.summary())
    for run_id, entry in result.failures[:20]:
        where = f"  log: {entry['log_path']}" if entry.get("log_path") else ""
        print(f"  [evaluator failed] {run_id}: {entry.get('id')}: {entry.get('error')}{where}")
    for run_id, folder in result.missing_folder[:20]:
        print(f"  [run folder missing] {run_id}: {folder} (record left unchanged)")
    for run_id in result.changed[:20]:
        print(f"  [not recorded] {run_id}: its record changed while it was evaluated; "
              f"re-evaluate it again")
    if result.post_actions_failed:
        print("  [post actions] a post action of the experiment failed (see above)")
