"""Experiment folders: ``_spec_.yaml``, ``results.yaml``, reports and post actions.

An experiment folder (the rendered ``path`` of an ``experiment.<name>`` spec) holds::

    _spec_.yaml        the resolved spec (experiment block with !ref resolved, axes, points)
    runs/<name>/       one run directory per point (written by the app: result.json ...)
    generated/         records and the other views, as for any study
    results.yaml       one dict per run, in plan order: axis values + result.json + status
    reports/           summary.md, comparison.png, results.xlsx (the ``report`` post action)

Everything here is a view rebuilt from *all* records of the folder, never only from the
runs of the current invocation. The runner calls :func:`pin_workspace` before launching
and :func:`finish_experiment` after the last run; the views hook calls :func:`after_run`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

from ..atomic import atomic_write_text
from ..errors import StudyError
from ..yamlout import dump_yaml, plain
from .experiment_summary import (_number, _ranks, cell_label, experiment_stats,  # noqa: F401
                                 fmt, primary_score, score_names, summary_markdown)

SPEC_COPY = "_spec_.yaml"
RESULTS = "results.yaml"
REPORTS = "reports"
RESULT_FILE = "result.json"
_OK = ("success", "reused")
_written: dict[str, tuple] = {}   # workspace → fingerprint of the records results.yaml shows


# -- folders ------------------------------------------------------------------------------------

def pin_workspace(args, plan):
    """Give an experiment run its folder; returns the plan re-loaded for that folder.

    ``--workspace DIR`` (or a ``_spec_.yaml`` given as the study) pins that folder. Otherwise
    the latest folder of this experiment is continued while its runs are not all complete
    under the current spec; a new ``{seq}`` folder is claimed atomically (``mkdir``) when the
    latest is complete, its spec changed, or ``--new`` asks for one. The folder name is
    recorded on ``args.allocated_workspace`` when this call created it.
    """
    from ..cli import filters_from
    from ..plan import build_plan
    from ..spec import load_study
    from ..spec.experiment import allocate_path

    study = plan.study
    pinned = getattr(args, "workspace", None) or study.meta.get("pinned_folder")
    args.allocated_workspace = None
    value = f"{study.file}#{study.name}"
    there = None
    if pinned:
        folder = Path(os.path.expanduser(str(pinned))).resolve()
        if folder.exists() and not folder.is_dir():
            raise StudyError(f"--workspace {pinned}: not a directory")
        state = "resuming" if (folder / "generated" / "records").is_dir() else "new"
    else:
        folder, state = None, "new"
        if not getattr(args, "new", False):
            folder, state, there = _continuable(study, filters_from(args))
        if folder is None:
            folder = allocate_path(study.repo_root, study.meta["path_template"], study.name,
                                   create=True)
            args.allocated_workspace = str(folder)
    if there is None:   # not the latest folder _continuable already loaded
        there = load_study(value, study.repo_root, workspace=folder)
        _refold(there, plan.study)
    study = there
    study.extra_overrides, study.warnings = plan.study.extra_overrides, plan.study.warnings
    print(f"Experiment folder: {folder} ({state})")
    return build_plan(study, filters_from(args))


def _refold(study, planned) -> None:
    """The overrides given after `--`, folded into the re-loaded study too."""
    if planned.extra_overrides:
        from ..extra_overrides import fold_extra_overrides

        fold_extra_overrides(study, planned.extra_overrides)


def _continuable(study, filters) -> tuple[Path | None, str, Any]:
    """(the latest folder, why, the study loaded for it) when a plain ``run`` should
    continue it, else (None, why, None)."""
    from ..ledger import Ledger
    from ..plan import build_plan
    from ..spec import load_study

    folders = experiment_folders(study)
    if not folders:
        return None, "new", None
    latest = folders[-1]
    there = load_study(f"{study.file}#{study.name}", study.repo_root, workspace=latest)
    _refold(there, study)
    full = build_plan(there)
    wanted = {r.run_id: r.fingerprint for r in full.runs}
    records = Ledger(there.generated).all()
    if any(wanted.get(run_id) != rec.get("fingerprint") for run_id, rec in records.items()):
        return None, f"new: the spec changed since {latest.name}", None
    selected = build_plan(there, filters).runs if filters else full.runs
    if all((records.get(r.run_id) or {}).get("status") in _OK for r in selected):
        return None, f"new: {latest.name} is complete", None
    return (latest, "continuing: its runs are not all complete (--new starts a new folder)",
            there)


def release_workspace(args) -> None:
    """Remove a folder :func:`pin_workspace` created when nothing was written into it."""
    folder = getattr(args, "allocated_workspace", None)
    if folder:
        try:
            os.rmdir(folder)
        except OSError:
            pass


def experiment_folders(study) -> list[Path]:
    """Existing folders of this experiment (its ``path`` template), oldest first.

    ``{date}`` matches YYYY-MM-DD and ``{seq}`` digits; folders are ordered by their
    (date, seq) values in template order, then by modification time. A folder counts when
    it has ``_spec_.yaml`` naming this experiment and spec file, or (no ``_spec_.yaml``)
    a ``generated/`` directory.
    """
    from .. import templates

    template = study.meta.get("path_template") or ""
    marks = {"date": "\x01", "seq": "\x02"}
    try:
        rendered = templates.render(template, {**marks, "name": study.name})
    except templates.TemplateError:
        return []
    path = Path(os.path.expanduser(rendered.rstrip("/") or "."))
    if not path.is_absolute():
        path = Path(study.repo_root) / path
    parts = path.parts
    found: list[tuple[Path, tuple]] = [(Path(parts[0]), ())]
    for part in parts[1:]:
        if "\x01" not in part and "\x02" not in part:
            found = [(p / part, key) for p, key in found if (p / part).is_dir()]
            continue
        kinds = [c for c in part if c in "\x01\x02"]
        regex = re.compile("".join(
            r"(\d{4}-\d{2}-\d{2})" if c == "\x01" else r"(\d+)" if c == "\x02" else re.escape(c)
            for c in part))
        nxt = []
        for parent, key in found:
            try:
                children = list(os.scandir(parent))
            except OSError:
                continue
            for child in children:
                m = regex.fullmatch(child.name)
                if m and child.is_dir():
                    vals = tuple(int(g) if k == "\x02" else g for k, g in zip(kinds, m.groups()))
                    nxt.append((Path(child.path), key + vals))
        found = nxt
    out = []
    for folder, key in found:
        if not folder.is_dir():
            continue
        spec = _read_spec_copy(folder)
        if spec is not None:
            if spec.get("experiment") != study.name or (
                    spec.get("spec_file") and Path(spec["spec_file"]) != Path(study.file)):
                continue
        elif not (folder / "generated").is_dir():
            continue
        out.append((key, folder.stat().st_mtime, folder))
    return [f for _, _, f in sorted(out, key=lambda t: (t[0], t[1]))]


def latest_folder(study) -> Path | None:
    """The newest folder of this experiment that holds records (None if none)."""
    for folder in reversed(experiment_folders(study)):
        if (folder / "generated" / "records").is_dir():
            return folder
    return None


def load_experiment(value, repo_root=None, *, workspace=None, cwd: Path | None = None):
    """Load an experiment spec pinned to ``workspace`` or, if None, its latest folder.

    For the ``report`` verb and :func:`silisocs_study.load`. Raises StudyError when no
    folder exists yet.
    """
    from ..spec import load_study

    if workspace is not None:
        return load_study(value, repo_root, cwd=cwd, workspace=Path(workspace).resolve())
    study = load_study(value, repo_root, cwd=cwd)
    if study.kind != "experiment":
        return study
    folder = latest_folder(study)
    if folder is None:
        raise StudyError(f"experiment '{study.name}' has no folder with records yet "
                         f"(looked for {study.meta.get('path_template')} under "
                         f"{study.repo_root}); run it first or name the folder",
                         file=study.display_file)
    return load_study(value, repo_root, cwd=cwd, workspace=folder)


def _read_spec_copy(folder: Path) -> dict | None:
    import yaml

    try:
        data = yaml.load((folder / SPEC_COPY).read_text(encoding="utf-8"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


# -- _spec_.yaml --------------------------------------------------------------------------------

def resolved_spec(study, plan=None) -> dict:
    """The experiment as it ran: its block with ``!ref`` resolved, the scenario, axes, points."""
    from ..ledger.records import utc_now
    from ..plan import build_plan
    from ..spec.yamlload import Ref

    raw = study.raw or {}
    block = raw.get(f"experiment.{study.name}")
    if block is None and isinstance(raw.get("experiment"), dict):
        block = raw["experiment"].get(study.name)
    block = dict(block or {})
    scen_name = study.meta.get("scenario")
    scenario = raw.get(f"scenario.{scen_name}")
    if scenario is None and isinstance(raw.get("scenario"), dict):
        scenario = raw["scenario"].get(scen_name)
    if isinstance(block.get("scenario"), Ref):
        block["scenario"] = {"name": scen_name, **dict(scenario or {})}
    elif isinstance(block.get("scenario"), dict):
        scenario = block["scenario"]
    group = study.groups[0]
    runs = (plan if plan is not None and not plan.filters else build_plan(study)).runs
    return plain({
        "experiment": study.name,
        "spec_file": str(study.file),
        "folder": str(study.workspace),
        "repo_root": str(study.repo_root),
        "written_at": utc_now(),
        "description": study.meta.get("description"),
        "spec": block,
        "scenario": {"name": scen_name, **dict(scenario or {})},
        "mode": study.meta.get("mode"),
        "axes": study.meta.get("axes"),
        "axis_overrides": {a: k for a, k in group.axis_keys},
        "post_actions": [("report --show" if arg else "report") if kind == "report"
                         else {"shell": arg} for kind, arg in study.post_actions],
        "points": [{"run_id": r.run_id, **(r.axes or {})} for r in runs],
    })


def write_spec_copy(study, plan=None) -> Path:
    target = Path(study.workspace) / SPEC_COPY
    text = ("# The resolved spec of this experiment folder (written by `silisocs-study run`).\n"
            + dump_yaml(resolved_spec(study, plan), flow=None))
    atomic_write_text(target, text)
    return target


# -- results.yaml -------------------------------------------------------------------------------

def build_results(study, records: Iterable[dict], *, plan=None) -> list[dict]:
    """One dict per recorded run, in plan order (records of runs no longer planned last)."""
    from ..plan import build_plan, natural_key

    by_id = {r["run_id"]: r for r in records if isinstance(r, dict) and "run_id" in r}
    order: list[str] = []
    if study is not None:
        runs = (plan if plan is not None and not plan.filters else build_plan(study)).runs
        order = [r.run_id for r in runs if r.run_id in by_id]
    planned = set(order)
    order += sorted((k for k in by_id if k not in planned), key=natural_key)
    return [result_entry(by_id[k], in_plan=k in planned or study is None) for k in order]


def result_entry(rec: dict, *, in_plan: bool = True) -> dict:
    """A run's results.yaml entry: axis values, result.json contents, run status."""
    import json

    axes = rec.get("axes") or {}
    entry: dict[str, Any] = dict(axes) if axes else {"seed": rec.get("seed")}
    status = rec.get("status")
    run_dir = rec.get("run_dir") or rec.get("output_dir")
    result, error = None, rec.get("error")
    if run_dir:
        try:
            result = json.loads((Path(run_dir) / RESULT_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            if status in _OK:
                error = f"{RESULT_FILE} missing in {run_dir}"
        except (OSError, ValueError) as exc:
            error = f"{RESULT_FILE} unreadable: {exc}"
    if not isinstance(result, dict):
        result = None
    entry["run_id"] = rec.get("run_id")
    entry["status"] = status
    scores = result.get("scores") if result else None
    entry["scores"] = {k: v for k, v in scores.items()} if isinstance(scores, dict) else {}
    entry["success"] = bool(result.get("success")) if result and status in _OK else False
    if status not in _OK and not error:
        error = "the run has not finished" if status == "running" else f"status {status}"
    if error:
        entry["error"] = error
    if rec.get("stale"):
        entry["stale"] = True
    if not in_plan:
        entry["in_plan"] = False
    entry["run_dir"] = run_dir
    entry["final_state"] = result.get("final_state") if result else None
    entry["timeline"] = result.get("timeline") if result else None
    return entry


def write_results(study, records, *, plan=None) -> tuple[Path, list[dict]]:
    results = build_results(study, records, plan=plan)
    target = Path(study.workspace) / RESULTS
    atomic_write_text(target, dump_yaml(results, flow=None) if results else "[]\n")
    _written[str(study.workspace)] = _records_key(records)
    return target, results


def after_run(study, records) -> None:
    """Views hook (called after every records rebuild): rewrite results.yaml."""
    if getattr(study, "kind", None) != "experiment":
        return
    write_results(study, records)


def _records_key(records) -> tuple:
    return tuple(sorted((r.get("run_id"), r.get("attempt_id"), r.get("status"),
                         bool(r.get("stale"))) for r in records if isinstance(r, dict)))


def ensure_results(study, records, *, plan=None) -> list[dict]:
    """results.yaml for these records (rewritten unless this process just wrote it)."""
    target = Path(study.workspace) / RESULTS
    if _written.get(str(study.workspace)) == _records_key(records) and target.is_file():
        return build_results(study, records, plan=plan)
    return write_results(study, records, plan=plan)[1]


# -- all reports --------------------------------------------------------------------------------

def write_experiment_reports(study, records) -> list[Path]:
    """results.yaml + reports/summary.md, reports/comparison.png, reports/results.xlsx.

    ``records``: every record of the folder (e.g. ``Ledger(study.generated).all().values()``
    or what ``rebuild_study_views`` returns). Returns the written paths in that order.
    """
    from ..plan import build_plan
    from .experiment_figures import write_comparison_png, write_workbook

    plan = build_plan(study)
    records = list(records.values()) if isinstance(records, dict) else list(records)
    results = ensure_results(study, records, plan=plan)
    stats = experiment_stats(study, results)
    folder = Path(study.workspace) / REPORTS
    folder.mkdir(parents=True, exist_ok=True)
    png = write_comparison_png(folder / "comparison.png", study, results, stats)
    xlsx = write_workbook(folder / "results.xlsx", study, results, stats)
    summary = folder / "summary.md"
    atomic_write_text(summary, summary_markdown(study, results, stats, planned=len(plan.runs),
                                                figure=png.name, workbook=xlsx.name) + "\n")
    return [Path(study.workspace) / RESULTS, summary, png, xlsx]


def has_display() -> bool:
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY")
                                            or os.environ.get("WAYLAND_DISPLAY"))


def show_reports(paths: list[Path]) -> None:
    """Open the summary and workbook when a display exists; otherwise print where they are."""
    wanted = [p for p in paths if p.suffix in (".md", ".xlsx")]
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if has_display() and shutil.which(opener):
        import threading

        for p in wanted:  # don't block on the viewer; reap the opener in the background
            proc = subprocess.Popen([opener, str(p)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            threading.Thread(target=proc.wait, daemon=True).start()
        print(f"Opened {', '.join(str(p) for p in wanted)}")
        return
    why = "no display" if not has_display() else f"{opener} not found"
    print(f"Reports ({why}; open them yourself):")
    for p in paths:
        print(f"  {p}")


# -- post actions -------------------------------------------------------------------------------

def run_post_actions(study, records, actions=None) -> int:
    """Run ``post_actions`` in the experiment folder; 1 if any failed, else 0.

    ``report`` writes the reports (``--show``: open or print them); ``shell: CMD`` runs
    ``bash -c CMD`` in the folder with SILISOCS_EXPERIMENT_DIR and SILISOCS_RESULTS set,
    its output shown line by line. A failing action is reported and the next one still
    runs; nothing already written is removed.
    """
    actions = study.post_actions if actions is None else actions
    folder = Path(study.workspace)
    failed = 0
    for action in actions:
        kind, arg = action
        if kind == "report":
            label = "report --show" if arg else "report"
            print(f"Post action: {label}")
            try:
                paths = write_experiment_reports(study, records)
            except Exception as exc:  # a report bug must not hide the results
                print(f"  post action '{label}' failed: {type(exc).__name__}: {exc}")
                failed += 1
                continue
            if arg:
                show_reports(paths)
            else:
                for p in paths:
                    print(f"  wrote {p}")
        elif kind == "shell":
            print(f"Post action: shell: {arg}  (in {folder})")
            rc = _shell(arg, study, folder)
            if rc != 0:
                print(f"  post action 'shell: {arg}' failed with exit code {rc} "
                      f"(results are kept in {folder / RESULTS})")
                failed += 1
        else:  # pragma: no cover - the spec parser rejects other actions
            print(f"  unknown post action {action!r}")
            failed += 1
        sys.stdout.flush()
    return 1 if failed else 0


def _shell(cmd: str, study, folder: Path) -> int:
    env = dict(os.environ)
    env.update(SILISOCS_EXPERIMENT_DIR=str(folder), SILISOCS_RESULTS=str(folder / RESULTS),
               SILISOCS_SPEC=str(study.file), SILISOCS_REPO_ROOT=str(study.repo_root))
    sys.stdout.flush()
    try:
        proc = subprocess.Popen(["bash", "-c", cmd], cwd=folder, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"  cannot start bash: {exc}")
        return 127
    assert proc.stdout is not None
    for line in iter(proc.stdout.readline, b""):
        print("  | " + line.decode("utf-8", "replace").rstrip("\n"))
    proc.stdout.close()
    return proc.wait()


def finish_experiment(plan, records: list[dict]) -> int:
    """After the last run: results.yaml from all records, then the post actions."""
    study = plan.study
    ensure_results(study, records, plan=plan)
    print(f"Results: {Path(study.workspace) / RESULTS}")
    sys.stdout.flush()
    if not study.post_actions:
        return 0
    return run_post_actions(study, records)


__all__ = ["after_run", "write_experiment_reports", "run_post_actions", "show_reports",
           "build_results", "experiment_stats", "pin_workspace", "finish_experiment",
           "write_spec_copy", "experiment_folders", "latest_folder", "load_experiment"]
