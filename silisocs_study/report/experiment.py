"""Experiment folders: ``_spec_.yaml``, ``results.yaml``, reports and post actions.

An experiment folder (the rendered ``path`` of an ``experiment.<name>`` spec) holds::

    _spec_.yaml        the resolved spec (experiment block with !ref resolved, axes, points)
    runs/<name>/       one run directory per point (written by the app: result.json ...)
    generated/         records and the other views, as for any study
    results.yaml       one dict per run, in plan order: axis values + result.json + status
    reports/           summary.md, comparison.png, results.xlsx (the ``report`` post action)

Everything here is a view rebuilt from *all* records of the folder, never only from the
runs of the current invocation. The folder's life cycle (claim, continue, ``_spec_.yaml``)
is :mod:`silisocs_study.workspace`'s; its :meth:`~silisocs_study.workspace.Workspace.finish`
calls :func:`finish_experiment` after the last run; the views call :func:`after_run`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

from ..status import COMPLETE_VALUES
from ..atomic import atomic_write_text
from ..yamlout import dump_yaml
from .experiment_summary import (_ranks, cell_label, experiment_stats,  # noqa: F401
                                 primary_score, score_names, summary_markdown)

SPEC_COPY = "_spec_.yaml"
RESULTS = "results.yaml"
REPORTS = "reports"
RESULT_FILE = "result.json"


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
            if status in COMPLETE_VALUES:
                error = f"{RESULT_FILE} missing in {run_dir}"
        except (OSError, ValueError) as exc:
            error = f"{RESULT_FILE} unreadable: {exc}"
    if not isinstance(result, dict):
        result = None
    entry["run_id"] = rec.get("run_id")
    entry["status"] = status
    scores = result.get("scores") if result else None
    entry["scores"] = {k: v for k, v in scores.items()} if isinstance(scores, dict) else {}
    entry["success"] = bool(result.get("success")) if result and status in COMPLETE_VALUES else False
    if status not in COMPLETE_VALUES and not error:
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
    """results.yaml from these records (replaced only when its text changes)."""
    results = build_results(study, records, plan=plan)
    target = Path(study.workspace) / RESULTS
    text = dump_yaml(results, flow=None) if results else "[]\n"
    try:
        same = target.read_text(encoding="utf-8") == text and not target.is_symlink()
    except (OSError, UnicodeDecodeError):
        same = False
    if not same:
        atomic_write_text(target, text)
    return target, results


def after_run(study, records) -> None:
    """Views hook (called after every records rebuild): rewrite results.yaml."""
    if getattr(study, "kind", None) != "experiment":
        return
    write_results(study, records)


def ensure_results(study, records, *, plan=None) -> list[dict]:
    """results.yaml for these records; returns its entries."""
    return write_results(study, records, plan=plan)[1]


# -- all reports --------------------------------------------------------------------------------

def write_experiment_reports(study, records) -> list[Path]:
    """results.yaml + reports/summary.md, reports/comparison.png, reports/results.xlsx and
    reports/report.html (when an axis has values to compare).

    ``records``: every record of the folder (e.g. ``Ledger(study.generated).all().values()``
    or the records of a views refresh). Returns the written paths in that order.
    """
    from ..plan import build_plan
    from .experiment_decisions import experiment_analysis
    from .experiment_figures import write_comparison_png, write_workbook

    plan = build_plan(study)
    records = list(records.values()) if isinstance(records, dict) else list(records)
    results = ensure_results(study, records, plan=plan)
    stats = experiment_stats(study, results)
    analysis, view = experiment_analysis(study, records, results, plan)
    stats["decisions"] = analysis.get("decisions") if analysis else None
    folder = Path(study.workspace) / REPORTS
    folder.mkdir(parents=True, exist_ok=True)
    png = write_comparison_png(folder / "comparison.png", study, results, stats)
    xlsx = write_workbook(folder / "results.xlsx", study, results, stats)
    summary = folder / "summary.md"
    atomic_write_text(summary, summary_markdown(study, results, stats, planned=len(plan.runs),
                                                figure=png.name, workbook=xlsx.name) + "\n")
    written = [Path(study.workspace) / RESULTS, summary, png, xlsx]
    if analysis is not None and view is not None:
        from ..ledger.records import utc_now
        from .html import render_html
        from .tree import counts

        html = folder / "report.html"
        atomic_write_text(html, render_html(view.study, analysis, view.records,
                                            counts(view.records), utc_now(),
                                            planned=view.planned), what="the report report.html")
        written.append(html)
    return written


def has_display() -> bool:
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY")
                                            or os.environ.get("WAYLAND_DISPLAY"))


def show_reports(paths: list[Path]) -> None:
    """Open report.html (else the summary and workbook) when a display exists; otherwise
    print where they are."""
    wanted = [p for p in paths if p.suffix == ".html"] or \
        [p for p in paths if p.suffix in (".md", ".xlsx")]
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
           "build_results", "experiment_stats", "finish_experiment"]
