"""Running a run's evaluators: builtin presets in-process, commands as subprocesses.

An evaluator never fails its run: each outcome is an entry on the run's record
(``success`` | ``failed`` | ``disabled``), with the error and log path when it failed.
"""
from __future__ import annotations

import os
import subprocess
import time
import traceback
from pathlib import Path
from typing import Any

from . import templates
from .jobs import eval_dir
from .model import EvaluatorSpec

DEFAULT_TIMEOUT = 3600.0
_EXPLICIT_FILES = {"checkpoint": None, "effective_config": "effective_config.yaml",
                   "metrics": "sim_metrics.json", "prompts": "prompts_and_responses.jsonl",
                   "run_stats": "run_stats.log"}


def run_evaluators(job: dict, run_dir: str | Path) -> list[dict]:
    """Evaluate ``run_dir`` with every evaluator of ``job``; returns record entries."""
    out = []
    base = eval_dir(job["generated"], job)
    for data in job.get("evaluators") or []:
        spec = EvaluatorSpec.from_json(data) if isinstance(data, dict) else data
        output = base / spec.id / spec.output_subpath
        if not spec.enabled:
            out.append({"id": spec.id, "status": "disabled", "path": str(output)})
            continue
        start = time.perf_counter()
        if spec.builtin:
            entry = _builtin(spec, job, Path(run_dir), output)
        else:
            entry = _command(spec, job, Path(run_dir), output)
        entry["duration_ms"] = round((time.perf_counter() - start) * 1000, 1)
        out.append(entry)
    return out


def _values(job: dict, run_dir: Path, output: Path) -> dict[str, Any]:
    return {"run_id": job["run_id"], "study_name": job["study"], "study_id": job["study_id"],
            "hypothesis_id": job["hypothesis"], "condition_id": job["condition"],
            "sub_experiment": job["sub_experiment"], "scenario": job["scenario"],
            "seed": job["seed"], "run_dir": str(run_dir), "output_path": str(output),
            "python": job.get("python") or "python", **(job.get("axes") or {})}


def _builtin(spec: EvaluatorSpec, job: dict, run_dir: Path, output: Path) -> dict:
    from .evaluators.registry import run_builtin

    assert spec.builtin is not None   # only called for an in-process (builtin) evaluator
    values = _values(job, run_dir, output)
    args = [templates.render(a, values) for a in spec.static_args]
    entry = {"id": spec.id, "status": "success", "path": str(output), "preset": spec.preset,
             "command": [templates.render(t, values) for t in spec.command]
             + ["--run-dir", str(run_dir), "--output", str(output)] + args}
    try:
        payload = run_builtin(spec.builtin, run_dir, output, args,
                              {"run_id": job["run_id"], "scenario": job["scenario"],
                               "seed": job["seed"]})
        if isinstance(payload, dict) and isinstance(payload.get("aggregated"), dict):
            entry["aggregated"] = payload["aggregated"]
    except Exception as exc:  # an evaluator failure is data, not a crash
        entry.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                     tail=traceback.format_exc().splitlines()[-8:])
    return entry


def command_argv(spec: EvaluatorSpec, job: dict, run_dir: Path, output: Path) -> list[str]:
    values = _values(job, run_dir, output)
    argv = [templates.render(t, values) for t in spec.command]
    argv += [templates.render(a, values) for a in spec.static_args]
    if spec.manage_io_args:
        if spec.input_mode == "explicit_paths":
            flags = dict(spec.explicit_args)
            for key, name in _EXPLICIT_FILES.items():
                # checkpoint (name None): the latest one
                path = _latest_checkpoint(run_dir) if name is None else run_dir / name
                if path is not None and path.exists():
                    argv += [flags[key], str(path)]
            if spec.include_run_dir_in_explicit:
                argv += [spec.run_dir_arg, str(run_dir)]
        else:
            argv += [spec.run_dir_arg, str(run_dir)]
        argv += [spec.output_arg, str(output)]
    return argv


def _latest_checkpoint(run_dir: Path) -> Path | None:
    import re

    best = None
    for p in (run_dir / "checkpoints").glob("step_*_checkpoint.json"):
        m = re.match(r"step_(\d+)_checkpoint\.json", p.name)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), p)
    return best[1] if best else None


def _command(spec: EvaluatorSpec, job: dict, run_dir: Path, output: Path) -> dict:
    argv = command_argv(spec, job, run_dir, output)
    output.parent.mkdir(parents=True, exist_ok=True)
    log_path = output.parent / (output.name + ".log")
    entry: dict[str, Any] = {"id": spec.id, "status": "failed", "path": str(output),
                             "preset": spec.preset, "command": argv, "log_path": str(log_path)}
    code, timed_out = run_logged(argv, cwd=job.get("repo_root") or ".", log_path=log_path,
                                 timeout=spec.timeout_seconds or DEFAULT_TIMEOUT)
    entry["return_code"] = code
    if timed_out:
        entry["error"] = f"timed out after {spec.timeout_seconds or DEFAULT_TIMEOUT:g}s"
    elif code != 0:
        entry["error"] = f"exit code {code}"
    elif not output.exists():
        entry["error"] = f"exit code 0 but no output at {output}"
    else:
        entry["status"] = "success"
        try:
            import json

            payload = json.loads(output.read_text(encoding="utf-8"))
            if isinstance(payload, dict) and isinstance(payload.get("aggregated"), dict):
                entry["aggregated"] = payload["aggregated"]
        except (OSError, ValueError) as exc:
            entry.update(status="failed", error=f"output is not JSON: {exc}")
    if entry["status"] == "failed":
        entry["tail"] = tail(log_path)
    return entry


def run_logged(argv: list[str], *, cwd: str | Path, log_path: Path, timeout: float | None,
               env: dict | None = None, done: str | Path | None = None) -> tuple[int, bool]:
    """Run argv in its own process group with output to ``log_path``, through the guard
    (:mod:`silisocs_study.procs`): it dies with this process, however this process
    dies, and takes argv's whole process group with it.

    On timeout the whole group gets SIGTERM, then SIGKILL after a grace period, so that
    grandchildren (shell wrappers, ``uv run``) die too. Returns (exit code, timed_out).
    """
    from .procs import guarded, kill_group

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(guarded(list(argv), done=str(done) if done else None),
                                    cwd=str(cwd), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=env)
        except OSError as exc:
            log.write(f"cannot start {argv[0]!r}: {exc}\n".encode())
            return 127, False
        try:
            return proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            kill_group(proc)
            log.write(f"\nTIMEOUT after {timeout:g}s: process group killed\n".encode())
            return proc.returncode if proc.returncode is not None else -9, True
        except BaseException:
            kill_group(proc)
            raise


def tail(path: Path, lines: int = 40) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
