"""Job files: everything the job's process needs to record and evaluate one run.

The sweeper writes ``generated/jobs/<run_id>.json`` (atomically) before launching, and passes
its path to the job through ``hydra.job.env_set``. The job's process — local, a joblib worker
or a Slurm compute node — then needs neither the study file nor the planner.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes
from .model import Run, Study
from .plan import argv, job_overrides

JOB_ENV = "SILISOCS_STUDY_JOB"


def eval_dir(generated: Path | str, job: dict) -> Path:
    """``generated/eval/<hyp>/<cond>/<scenario>/seed_<seed>`` (reuse and experiments: by id)."""
    base = Path(generated) / "eval"
    if job.get("kind") == "experiment":
        return base / job["run_id"]
    if job.get("mode") == "reuse_existing":
        return base / job["hypothesis"] / job["condition"] / job["run_id"].rsplit("__", 1)[-1]
    seed = job.get("seed")
    return (base / job["hypothesis"] / job["condition"] / job["scenario"]
            / f"seed_{seed if seed is not None else 'default'}")


def job_document(study: Study, run: Run, python: str, *, session: str,
                 timeout_seconds: float | None = None,
                 previous_attempt: str | None = None,
                 adaptive_round: int | None = None) -> dict[str, Any]:
    group = run.group
    timeout = group.timeout_seconds or timeout_seconds
    return {
        "schema_version": 1, "kind": study.kind, "session": session,
        "run_id": run.run_id, "study": study.name, "study_id": study.study_id,
        "hypothesis": group.hypothesis, "condition": group.condition,
        "sub_experiment": group.sub_experiment, "scenario": run.scenario, "seed": run.seed,
        "axes": run.axes, "mode": group.mode, "run_name": run.run_name,
        "output_dir": run.output_dir, "config_path": run.config_path,
        "working_directory": run.working_directory,
        "runner_module": group.runner_module if run.command is None else None,
        "command": [t.replace("{python}", python) for t in run.command]
        if run.command is not None else None,
        "argv": argv(run, python), "overrides": job_overrides(run) if run.command is None
        else [], "resolved_overrides": group.overrides, "fingerprint": run.fingerprint,
        "evaluators": [e.to_json() for e in group.evaluators],
        "reuse": {"source": run.reuse.source, "eval": run.reuse.eval} if run.reuse else None,
        "re_evaluate": group.re_evaluate, "timeout_seconds": timeout,
        "repo_root": str(study.repo_root), "generated": str(study.generated),
        "python": python, "previous_attempt_dir": previous_attempt,
        "adaptive_round": adaptive_round,
    }


def write_job(study: Study, run: Run, python: str, *, session: str,
              timeout_seconds: float | None = None, previous_attempt: str | None = None,
              adaptive_round: int | None = None) -> Path:
    path = study.generated / "jobs" / f"{run.run_id}.json"
    doc = job_document(study, run, python, session=session, timeout_seconds=timeout_seconds,
                       previous_attempt=previous_attempt, adaptive_round=adaptive_round)
    atomic_write_bytes(path, json.dumps(doc, ensure_ascii=False, default=str).encode(),
                       what=f"the job file of {run.run_id}", below=study.generated)
    return path


@lru_cache(maxsize=256)
def _read(path: str, mtime_ns: int) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_job(path: str | Path) -> dict:
    p = Path(path)
    return dict(_read(str(p), p.stat().st_mtime_ns))
