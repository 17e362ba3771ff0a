"""Building and writing a run's record: at job start ("running"), at job end, for reuse.

Called from the job's own process by the callback, and from the orchestrator for runs that
never report (a process killed hard) and for reused runs. The "running" record written at
start is what lets a crash be told apart from a run that never started.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, cast

from ..errors import StorageError
from .lockfile import append_line
from .provenance import environment, process_ids
from .records import Ledger, generator, peer_record, peer_time, utc_now

COMPLETE_MARKER = "RUN_COMPLETE.json"

_IDENTITY = ("run_id", "study", "study_id", "hypothesis", "condition", "sub_experiment",
             "scenario", "seed", "axes", "mode", "run_name", "fingerprint", "config_path",
             "working_directory", "runner_module", "session", "resolved_overrides",
             "overrides", "previous_attempt_dir", "adaptive_round")


def base_record(job: dict, attempt_id: str) -> dict[str, Any]:
    rec = {k: job.get(k) for k in _IDENTITY}
    rec.update(schema_version=1, execution_mode=job.get("mode"), attempt_id=attempt_id,
               command=job.get("argv"), output_dir=job.get("output_dir"),
               planned_output_dir=job.get("output_dir"), kind=job.get("kind"))
    return rec


def record_start(job: dict, launcher: str | None = None) -> dict:
    attempt_id = uuid.uuid4().hex
    rec = base_record(job, attempt_id)
    rec.update(status="running", started_at=utc_now(), _t0=time.time(), launcher=launcher,
               **process_ids())
    _clear_marker(job)
    _write(job, {k: v for k, v in rec.items() if k != "_t0"})
    return rec


def record_finish(job: dict, started: dict | None, *, status: str, error: str | None = None,
                  tail: list[str] | None = None, exit_code: int | None = None,
                  launcher: str | None = None, evaluate: bool = True,
                  warnings: list[str] | None = None) -> dict:
    """Write the final record of an attempt (evaluating first when it succeeded).
    ``warnings``: what the attempt did that deserves a look (e.g. it wrote nothing into its
    run folder), shown by the sweeper and ``status``."""
    from ..evaluate import run_evaluators

    rec = dict(started) if started else base_record(job, uuid.uuid4().hex)
    t0 = rec.pop("_t0", None)
    if not started:
        rec.update(started_at=None, launcher=launcher, **process_ids())
    run_dir = job.get("output_dir")
    if status == "success":
        manifest_error = _manifest_failure(run_dir)
        if manifest_error:
            status, error = "failed", manifest_error
    rec.update(status=status, finished_at=utc_now(), exit_code=exit_code, error=error,
               error_tail=tail or [], run_dir=run_dir if status == "success" or (
                   run_dir and Path(run_dir).exists()) else None,
               simulation_output_path=run_dir)
    if t0 is not None:
        rec["duration_ms"] = round((time.time() - t0) * 1000, 1)
    rec["warnings"] = list(warnings or [])
    rec["log_path"] = _log_path(run_dir)
    rec["provenance"] = {**environment(job.get("repo_root") or "."), **process_ids()}
    if launcher:
        rec["launcher"] = launcher
    evaluations: list[dict] = []
    if status == "success" and evaluate and job.get("evaluators"):
        evaluations = run_evaluators(job, cast(str, run_dir))   # a job names its output_dir
    rec["evaluations"] = evaluations
    rec["eval_paths"] = {e["id"]: e.get("path") for e in evaluations}
    _effective_config(rec, run_dir)
    _write(job, rec)
    if status == "success":   # after the record: a marker never claims an unrecorded success
        _write_marker(job, rec, run_dir)
    _append_lock_line(job, rec)
    return rec


def record_reuse(job: dict) -> dict:
    """A reused run: adopted without launching; evaluated when ``re_evaluate`` (the default
    when its condition lists evaluators), beside the ``reused_eval`` it was given."""
    from ..evaluate import run_evaluators

    rec = base_record(job, uuid.uuid4().hex)
    source = job["reuse"]["source"]
    rec.update(status="reused", started_at=utc_now(), run_dir=source, output_dir=source,
               reused=job["reuse"], command=[], **process_ids())
    evaluations: list[dict] = []
    if job["reuse"].get("eval"):
        evaluations.append({"id": "reused_eval", "status": "reused",
                            "path": job["reuse"]["eval"]})
    if job.get("re_evaluate") and job.get("evaluators"):
        evaluations += run_evaluators(job, source)
    rec["evaluations"] = evaluations
    rec["eval_paths"] = {e["id"]: e.get("path") for e in evaluations}
    rec["finished_at"] = utc_now()
    rec["provenance"] = {**environment(job.get("repo_root") or "."), **process_ids()}
    _effective_config(rec, source)
    _write(job, rec)
    _append_lock_line(job, rec)
    return rec


def _write(job: dict, rec: dict) -> None:
    """Write the record (a damaged file in its place is moved aside first). A storage
    failure raises StorageError naming the run: the CLI prints it as one line; in a job's
    process Hydra prints the callback's exception as a warning on the job's console."""
    Ledger(job["generated"]).write(rec)


def _append_lock_line(job: dict, rec: dict) -> None:
    """The attempt's line in repro_lock.jsonl. A view: the record is already written, and
    every views rebuild rewrites the file from all records, so a failure here (disk full,
    a symlink planted in its place) is a warning, never a failed run."""
    generated = Path(job["generated"])
    try:
        append_line(generated / "repro_lock.jsonl", _lock_line(rec, job),
                    what="the lock log repro_lock.jsonl", below=generated)
    except StorageError as exc:
        print(f"warning: {exc.format()} (the record of {rec.get('run_id')} is written; the "
              f"next views rebuild or `organize` rewrites repro_lock.jsonl)", file=sys.stderr)


def _lock_line(rec: dict, job: dict | None = None) -> dict:
    """A repro_lock.jsonl line: our marker first, then the record as the views show it."""
    shaped = peer_record({k: v for k, v in rec.items() if k != "history"},
                         (job or {}).get("repo_root"))
    return {"generator": generator(), **shaped}


# -- RUN_COMPLETE.json: the silisocs runner's completion marker, in each successful run dir --

def _write_marker(job: dict, rec: dict, run_dir: str | None) -> None:
    """Written after the evaluators (whatever they reported), for successes only, atomically;
    silisocs' ``load_study(...).progress`` and its runner's resume read it."""
    if not run_dir or job.get("kind") == "experiment" or not Path(run_dir).is_dir():
        return
    from ..atomic import atomic_write_bytes

    exit_code = rec.get("exit_code")
    marker = {"run_id": rec["run_id"], "finished_at": peer_time(rec.get("finished_at")),
              "effective_config_sha256": (rec.get("lock") or {}).get("effective_config_sha256"),
              "return_code": exit_code if exit_code is not None else 0,
              "generator": generator(), "finished_at_iso": rec.get("finished_at"),
              "fingerprint": rec.get("fingerprint"), "attempt_id": rec.get("attempt_id")}
    try:
        atomic_write_bytes(Path(run_dir) / COMPLETE_MARKER,
                           (json.dumps(marker, indent=2) + "\n").encode())
    except OSError:   # a read-only run dir must not fail the run: the record is the truth
        pass


def _clear_marker(job: dict) -> None:
    """A new attempt in a run dir that an earlier attempt completed: until this one succeeds
    the old marker would claim a completion that is no longer there."""
    out = job.get("output_dir")
    if out and job.get("kind") != "experiment":
        try:
            (Path(out) / COMPLETE_MARKER).unlink()
        except OSError:
            pass


def _manifest_failure(run_dir: str | None) -> str | None:
    """Apps that write run_manifest.json can report failure even when the job returned."""
    if not run_dir:
        return None
    try:
        manifest = json.loads((Path(run_dir) / "run_manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if isinstance(manifest, dict) and manifest.get("status") == "failed":
        return f"run_manifest.json reports status failed: {manifest.get('error')}"
    return None


def _log_path(run_dir: str | None) -> str | None:
    if not run_dir:
        return None
    for name in ("command.log",):
        if (Path(run_dir) / name).exists():
            return str(Path(run_dir) / name)
    logs = sorted(Path(run_dir).glob("*.log")) if Path(run_dir).is_dir() else []
    return str(logs[0]) if logs else None


def _effective_config(rec: dict, run_dir: str | None) -> None:
    import hashlib

    path = Path(run_dir) / "effective_config.yaml" if run_dir else None
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path else None
    except OSError:
        digest = None
    rec["lock"] = {"effective_config_sha256": digest,
                   "effective_config_path": str(path) if digest else None}
