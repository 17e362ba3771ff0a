"""One Hydra multirun subprocess per app a study needs.

A study may need several apps: runner modules, per-scenario config paths
(``config_path: scenarios/{scenario}/conf``) and exact commands (through the command app).
One Hydra process composes with one search path, so each app's runs go to their own
``python -m <app> [--config-path P] --multirun hydra/sweeper=study ...`` with the sweeper in
``scope=unit``. ``silisocs-sweep run`` starts them, and so does the sweeper itself under the
design line for runs of other apps. A multirun that dies hard (a job calling ``os._exit``
under the basic launcher) is started again for the runs it never attempted.

The plan-time composition check starts the same command in check mode: the app composes
each group's overrides once and reports, launching nothing.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import overrides as ov
from ..errors import StudyError
from ..model import AppFacts, Run, Study
from ..plan import COMMAND_APP, app_key
from .settings import SweepSettings

CRASH_MARK = "job process ended without reporting"


@dataclass
class AppCommand:
    """How to start the multirun of one app (module + config path) for a study."""

    python: str
    module: str
    config_path: str | None
    hydra_args: list[str]                   # sweeper + launcher overrides, same for every app
    extra: list[str] = field(default_factory=list)   # the user's overrides for the runner

    def argv(self, *more: str) -> list[str]:
        cmd = [self.python, "-m", self.module]
        if self.config_path:
            cmd += ["--config-path", self.config_path]
        cmd += ["--multirun", *self.hydra_args, "hydra.sweeper.scope=unit",
                ov.format_override("hydra.sweeper.unit_config_path", self.config_path or ""),
                *more]
        if self.module != COMMAND_APP:   # the command app's config has none of the app's keys
            cmd += self.extra
        return cmd

    def label(self) -> str:
        return self.module + (f" --config-path {self.config_path}" if self.config_path else "")

    def tag(self) -> str:
        """A file-name-safe name of this app (module + a hash of the config path)."""
        import hashlib

        tag = self.module.replace(".", "_")
        if self.config_path:
            tag += "_" + hashlib.sha1(self.config_path.encode()).hexdigest()[:8]
        return tag


def study_settings(plan, **settings: Any) -> SweepSettings:
    """The sweeper settings that name the study and its selection, plus ``settings``."""
    study = plan.study
    f = plan.filters
    selection: dict[str, Any] = {key: sorted(values) or None for key, values in (
        ("only_hypothesis", f.hypotheses), ("only_condition", f.conditions),
        ("only_sub_experiment", f.sub_experiments), ("only_seed", [str(v) for v in f.seeds]),
        ("only_run_id", f.run_ids))}
    return SweepSettings(study=str(study.file), repo_root=str(study.repo_root),
                         workspace=str(study.workspace), **selection, **settings)


def study_args(plan) -> list[str]:
    """The sweeper overrides that name the study and its selection (every app's multirun)."""
    return ["hydra/sweeper=study", *study_settings(plan).as_overrides()]


def session_args(plan, session: str, *, stale: str = "rerun", force: bool = False,
                 retry_failed: bool = False, fail_fast: bool = False, max_retries: int = 0,
                 timeout_seconds: float | None = None, views: str = "here") -> list[str]:
    """``study_args`` plus one invocation's session and resume settings (``views``: who
    rebuilds the views after the multirun)."""
    settings = study_settings(plan, session=session, stale=stale, force=force,
                              retry_failed=retry_failed, fail_fast=fail_fast,
                              max_retries=int(max_retries), views=views,
                              timeout_seconds=float(timeout_seconds) if timeout_seconds
                              else None)
    return ["hydra/sweeper=study", *settings.as_overrides(),
            ov.format_override("hydra.sweep.dir", str(plan.study.generated / "hydra" / session))]


def check_plan(plan, python: str, extra: list[str], *, warnings: list[str]) -> str:
    """The plan-time composition check of every app the plan needs; attaches each app's
    facts to its runs (output key, checkpoint). Returns a one-line summary."""
    commands = app_commands([r for r in plan.runs if r.reuse is None], python,
                            study_args(plan) + ["hydra/launcher=basic"], extra)
    facts = check_apps(plan.study, list(commands.values()), cwd=str(plan.study.repo_root),
                       warnings=warnings)
    plan.set_app_facts(facts)
    groups = len({r.group.key for r in plan.runs if r.reuse is None})
    if len(facts) == len(commands):
        return (f"Config check: every condition composes ({len(commands)} app(s), "
                f"{groups} condition(s))")
    return (f"Config check: {len(facts)} of {len(commands)} app(s) checked; the others did "
            f"not start here (see the warnings)")


def app_commands(runs: list[Run], python: str, hydra_args: list[str], extra: list[str]
                 ) -> dict[tuple[str, str | None], AppCommand]:
    """One AppCommand per app the runs need, in plan order."""
    out: dict[tuple[str, str | None], AppCommand] = {}
    for run in runs:
        key = app_key(run)
        if key not in out:
            out[key] = AppCommand(python, key[0], key[1], hydra_args, extra)
    return out


# -- plan-time composition check ---------------------------------------------------------------

def check_apps(study: Study, commands: list[AppCommand], *, cwd: str,
               warnings: list[str] | None = None) -> dict[tuple, AppFacts | None]:
    """Compose every group of every app once (in parallel, one process per app) and return
    each app's facts; a group that does not compose is a StudyError at its study.yaml line.
    An app that cannot start here (not installed on this machine) is not checked: a note in
    ``warnings``, no facts."""
    if not commands:
        return {}
    workers = max(1, min(len(commands), os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="silisocs-check-") as tmp:
        jobs = [(c, Path(tmp) / f"check_{i}.json") for i, c in enumerate(commands)]
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda job: _check_one(*job, cwd=cwd), jobs))
    facts: dict[tuple, AppFacts | None] = {}   # None: the report had no facts
    groups = {g.key: g for g in study.groups}
    from ..appconfig import locate

    for command, (report, output) in zip(commands, results):
        if report is None:
            bad = _refused_extra(command, output)
            if bad is not None:   # Hydra refused an override after -- before the check ran
                raise StudyError(f"override '{bad}' after -- does not compose with "
                                 f"{command.label()}: {_last_error(output)}")
            if warnings is not None:
                warnings.append(f"config check skipped for {command.label()}: it did not "
                                f"start here ({_last_error(output)})")
            continue
        for error in report.get("errors") or []:
            group = groups.get(error["group"])
            if group is None:   # pragma: no cover - the child planned the same study
                raise StudyError(f"config check: {error['group']}: {error['message']}")
            raise locate(study, group, error["message"], prefix="does not compose with "
                         f"{command.label()}: ")
        facts[(command.module, command.config_path)] = AppFacts.from_json(report["facts"])
    return facts


def _check_one(command: AppCommand, report_path: Path, *, cwd: str):
    argv = command.argv(ov.format_override("hydra.sweeper.check", str(report_path)))
    env = dict(os.environ, HYDRA_FULL_ERROR="1")
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:   # no such interpreter here ($RUN_STUDY_PYTHON of another machine)
        return None, f"{argv[0]}: {exc.strerror or exc}"
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode == 2:   # the child's own one-line StudyError (same study file)
        raise StudyError(_last_error(output).removeprefix("error: "))
    try:
        return json.loads(report_path.read_text()), output
    except (OSError, ValueError):
        return None, output


def _refused_extra(command: AppCommand, output: str) -> str | None:
    """The override after `--` a multirun's own start refused (Hydra names its key), if any:
    the app started, so it is a bad override, not an app missing on this machine."""
    if command.module == COMMAND_APP:
        return None
    error = _last_error(output)
    for item in command.extra:
        key = item.split("=", 1)[0].lstrip("+~")
        if key and (key in error or f"'{key.rsplit('.', 1)[-1]}'" in error):
            return item
    return None


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:") or "Error" in line]
    return (errors[-1] if errors else (lines[-1] if lines else "no output"))[:500]


# -- running an app's runs ---------------------------------------------------------------------

def run_app(command: AppCommand, *, cwd: str, ledger, ids: set[str], session: str,
            log_dir: Path, progress: bool = True, plain: bool = False, log_tag: str = ""
            ) -> list[str]:
    """Run one app's multirun, restarting it after a hard crash until every run has a record
    from this session. Returns the runs it could not get run (none when all went through).
    ``log_tag``: part of the log file names (an adaptive round: one log per round)."""
    from ..atomic import make_dirs

    make_dirs(log_dir, "the logs folder")
    pending_before = set(ids)
    pending = pending_before
    tag = command.tag() + (f"_{log_tag}" if log_tag else "")
    log_path = log_dir / f"run_{session}_{tag}_1.log"
    for attempt in range(1, len(ids) + 2):
        log_path = log_dir / f"run_{session}_{tag}_{attempt}.log"
        if progress:
            print(f"Launching {len(pending)} run(s): {command.label()} (log: {log_path})",
                  flush=True)
        rc = _watch(command.argv(), cwd=cwd, log_path=log_path, ledger=ledger, ids=ids,
                    session=session, progress=progress, plain=plain)
        if rc == 2:
            raise StudyError(f"the multirun of {command.label()} rejected its input (exit 2): "
                             f"{_tail_text(log_path)}")
        pending = {i for i in ids if not _attempted(ledger.read(i), session)}
        if len(pending) < len(ids):
            from ..errors import note_written

            note_written()   # runs were recorded: a later storage error is partial work
        if rc not in (0, 1):
            crashed = _mark_crashed(ledger, ids, session, rc)
            print(f"  the multirun process ended with exit code {rc}; {len(crashed)} run(s) "
                  f"recorded as failed; {len(pending)} not yet attempted", flush=True)
        if not pending:
            return []
        if pending == ids:   # e.g. no such runner module, or the app failed at start-up
            raise StudyError(f"the multirun of {command.label()} exited with code {rc} before "
                             f"running any run; see {log_path}: {_tail_text(log_path)}")
        if rc in (0, 1) or pending == pending_before:
            break   # it ended without running these: report them, don't loop
        pending_before = pending
    print(f"  {len(pending)} run(s) were not run by the multirun ({_tail_text(log_path)}); "
          f"see {log_path}", flush=True)
    return sorted(pending)


def _attempted(rec: dict | None, session: str) -> bool:
    return rec is not None and rec.get("session") == session


def _mark_crashed(ledger, ids, session: str, rc: int) -> list[str]:
    from ..jobs import read_job
    from ..ledger.recorder import record_finish
    from ..rundir import read_done

    out = []
    for run_id in ids:
        rec = ledger.read(run_id)
        if rec and rec.get("session") == session and rec.get("status") == "running":
            job = read_job(Path(ledger.generated) / "jobs" / f"{run_id}.json")
            done = read_done(job["output_dir"])
            if done and done.get("attempt_id") == rec.get("attempt_id"):
                # it finished before the process died: record it as it ended (evaluated)
                record_finish(job, rec, status=str(done.get("status") or "failed"),
                              exit_code=done.get("exit_code"), error=done.get("error"))
                continue
            record_finish(job, rec, status="failed", evaluate=False, exit_code=rc,
                          error=f"{CRASH_MARK} (the multirun process died with exit code {rc})")
            out.append(run_id)
    return out


def _watch(cmd, *, cwd: str, log_path: Path, ledger, ids: set, session: str, progress: bool,
           plain: bool) -> int:
    """Run the multirun with output to a log; show progress from the records meanwhile."""
    from .progress import Progress

    env = dict(os.environ)
    env.setdefault("HYDRA_FULL_ERROR", "1")
    from ..procs import guarded

    from ..atomic import storage_failure

    try:
        log = open(log_path, "wb")
        log.write(("$ " + shlex.join(cmd) + "\n").encode())
        log.flush()
    except OSError as exc:
        raise storage_failure(exc, log_path, "the multirun log") from None
    with log:
        # through the guard: if this process dies (even by SIGKILL), the multirun and
        # everything it started (joblib workers, exact commands) die with it
        proc = subprocess.Popen(guarded(cmd), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        shown = Progress(ledger, ids, session, plain=plain or not sys.stdout.isatty()) \
            if progress else None
        try:
            while proc.poll() is None:
                if shown is not None:
                    shown.update()
                try:
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            proc.terminate()   # the guard stops the multirun's whole process group
            proc.wait()
            raise
        finally:
            if shown is not None:
                shown.update()
                shown.close()
    return proc.returncode


def _tail_text(path: Path) -> str:
    from ..evaluate import tail

    lines = [line for line in tail(path, 20) if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1] if errors else (lines[-1] if lines else "")).strip()
