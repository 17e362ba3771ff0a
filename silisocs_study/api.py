"""Python API: ``silisocs_study.run(...)`` → list of dicts, ``load(...)`` → pandas DataFrame,
``analyze(...)`` → verdicts and contrasts as DataFrames, ``re_evaluate(...)`` → what the
evaluators said, for finished runs (nothing is run again).

All go through the same core as the CLI: ``run`` opens the workspace
(:func:`silisocs_study.workspace.open_workspace`) with typed
:class:`~silisocs_study.options.LaunchOptions` and calls
:func:`silisocs_study.launch.runner.run_study` (one Hydra multirun per app, records, views,
post actions); ``load`` reads the records.

What ``run``/``load`` accept as the study (``path_or_name``):

* an experiment spec file: ``"examples/experiments/mutualism.yaml"``, or ``FILE#NAME`` to
  pick one experiment of a file that defines several;
* ``"experiments.<name>"`` or ``"experiments/<name>"``: ``<repo_root>/experiments/<name>.yaml``,
  else ``<repo_root>/examples/experiments/<name>.yaml``, else the ``.yaml`` file in one of
  those two directories that defines ``experiment.<name>``;
* a ``study.yaml`` file or the directory holding it;
* ``load`` also accepts an experiment folder (one holding ``_spec_.yaml``) and a loaded
  :class:`~silisocs_study.model.Study`.

Relative paths are tried against the current directory first, then ``repo_root``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import StudyError

SEARCH_DIRS = ("experiments", "examples/experiments")
FILTER_NAMES = ("hypothesis", "condition", "sub_experiment", "seed", "run_id")


def run(path_or_name: str | os.PathLike, *, repo_root: str | os.PathLike | None = None,
        launcher: str = "basic", max_concurrent: int | None = None,
        workspace: str | os.PathLike | None = None, force: bool = False,
        retry_failed: bool = False, overrides: Sequence[str] = (), new: bool = False,
        **filters: Any) -> list[dict]:
    """Run a study or experiment spec (resuming: finished runs are skipped) and return results.

    Experiments return their ``results.yaml`` entries for the runs this call selected, in
    plan order: the axis values (``agent``, ``seed`` …), ``scores``, ``success``,
    ``final_state``, ``timeline``, ``run_id``, ``status``, ``run_dir`` (and ``error`` for a
    failed run). Experiments continue their latest folder while its runs are not all
    complete; a new ``{seq}`` folder is claimed when it is complete, its spec changed, or
    ``new`` is true; ``workspace`` pins a folder.
    study.yaml studies return one dict per run: ``run_id``, ``hypothesis``, ``condition``,
    ``sub_experiment``, ``scenario``, ``seed``, ``status``, ``run_dir``, ``error`` and
    ``metrics`` = ``{eval_id: {metric: value}}`` (the evaluators' aggregated numbers).

    ``filters``: ``hypothesis``, ``condition``, ``sub_experiment``, ``seed``, ``run_id``
    (a value or a list; the ``only_`` prefix is accepted too). ``overrides``: extra Hydra
    overrides for every run. A failed run is reported in its dict (``status``); a user
    error (bad spec, unknown filter value) raises :class:`~silisocs_study.errors.StudyError`.
    """
    from .launch.runner import run_study
    from .ledger import Ledger
    from .options import LaunchOptions
    from .workspace import open_workspace

    options = LaunchOptions(launcher=launcher, max_concurrent=max_concurrent, force=force,
                            retry_failed=retry_failed, extra_overrides=tuple(overrides))
    root = Path(repo_root).resolve() if repo_root is not None else Path.cwd()
    ws = open_workspace(resolve_spec(path_or_name, root), root, filters=_filters(filters),
                        workspace=Path(workspace).expanduser().resolve()
                        if workspace is not None else None,
                        extra_overrides=options.extra_overrides, new=new)
    run_study(ws, options)
    plan, study = ws.plan, ws.study
    records = Ledger(study.generated).all()
    if study.kind == "experiment":
        from .report.experiment import build_results

        results = build_results(study, list(records.values()))
        wanted = {r.run_id for r in plan.runs}
        return [r for r in results if r.get("run_id") in wanted]
    return [study_result(records[r.run_id]) for r in plan.runs if r.run_id in records]


def load(study_or_path, *, workspace: str | os.PathLike | None = None,
         repo_root: str | os.PathLike | None = None):
    """A pandas DataFrame, one row per recorded run, for notebooks.

    Columns: ``run_id``, ``status``, then the axes (experiments: ``agent``, ``seed`` …) or
    ``hypothesis``, ``condition``, ``sub_experiment``, ``scenario``, ``seed`` (study.yaml),
    ``success`` (experiments), ``run_dir``, ``error``, then numeric columns:
    ``score.<name>`` for each score in result.json, ``<eval_id>.<metric>`` for each
    evaluator's aggregated metric.

    Experiments are read from ``workspace`` if given, else from the latest folder of that
    spec: the folders matching its ``path`` template (``{date}`` = a date, ``{seq}`` =
    digits) whose ``_spec_.yaml`` names this experiment and spec file, ordered by
    (date, seq) — the newest one that holds records wins. An experiment folder itself may
    be passed as ``study_or_path``.
    """
    import pandas as pd

    from .ledger import Ledger
    from .plan import build_plan

    study = _reading_study(study_or_path, workspace, repo_root)
    records = Ledger(study.generated).all()
    if study.kind == "experiment":
        from .report.experiment import build_results

        rows = [_experiment_row(r, records.get(r["run_id"]))
                for r in build_results(study, list(records.values()))]
    else:
        order = [r.run_id for r in build_plan(study).runs]
        known = set(order)
        from .plan import natural_key

        order += sorted((k for k in records if k not in known), key=natural_key)
        rows = [_study_row(records[k]) for k in order if k in records]
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["run_id", "status"])
    return frame


@dataclass(frozen=True)
class StudyAnalysis:
    """What :func:`analyze` returns: the verdicts and contrasts as DataFrames, and the
    whole analysis (statistics per condition × scenario, decisions) as a dict."""
    verdicts: Any      # pandas DataFrame: one row per hypothesis (report.decisions.VERDICT_COLUMNS)
    contrasts: Any     # pandas DataFrame: one row per primary contrast, pooled and per scenario
    raw: dict
    # pandas DataFrame: one row per adaptive arm (state, seeds done / cap, saved, interval);
    # empty when no hypothesis stops its seeds adaptively
    arms: Any = None

    def verdict(self, hypothesis: str) -> str:
        """The verdict word of one hypothesis ('supported', 'refuted', ...)."""
        hyps = (self.raw.get("decisions") or {}).get("hypotheses") or {}
        if hypothesis not in hyps:
            raise StudyError(f"no hypothesis '{hypothesis}' in this analysis; hypotheses: "
                             f"{', '.join(hyps) or '(none)'}")
        return hyps[hypothesis]["verdict"]


def analyze(study_or_path, *, workspace: str | os.PathLike | None = None,
            repo_root: str | os.PathLike | None = None) -> StudyAnalysis:
    """The study's decisions from all its records — the same numbers as summary.md and
    report.html: ``.verdicts`` (per hypothesis: verdict, reason, primary metrics, δ, seeds
    used/needed), ``.contrasts`` (per contrast: estimate, t and bootstrap intervals, TOST p,
    the anytime-valid interval of an adaptive hypothesis, verdict), ``.arms`` (adaptive
    studies: one row per arm) and ``.raw`` (the full analysis dict). Accepts what :func:`load` accepts."""
    import pandas as pd

    from .ledger import Ledger
    from .report.decisions import CONTRAST_COLUMNS, VERDICT_COLUMNS, contrast_rows, verdict_rows

    study = _reading_study(study_or_path, workspace, repo_root)
    if study.kind == "experiment":
        from .report.experiment import build_results
        from .report.experiment_decisions import experiment_analysis

        records = list(Ledger(study.generated).all().values())
        results = build_results(study, records)
        raw: dict = {**(experiment_analysis(study, records, results)[0] or {}),
                     "results": results}
    else:
        from .report.contrasts import analyze as analyze_records
        from .report.organize import current_records

        raw = analyze_records(study, current_records(study))
    decisions = raw.get("decisions")
    from .report.adaptive_state import ARM_COLUMNS, adaptive_blocks, arm_rows

    arms = arm_rows(adaptive_blocks(study, [], analysis=raw))
    return StudyAnalysis(
        verdicts=pd.DataFrame(verdict_rows(decisions), columns=list(VERDICT_COLUMNS)),
        contrasts=pd.DataFrame(contrast_rows(decisions), columns=list(CONTRAST_COLUMNS)),
        raw=raw, arms=pd.DataFrame(arms, columns=list(ARM_COLUMNS)))


def _reading_study(study_or_path, workspace, repo_root):
    """The Study to read records of (an experiment: its pinned or latest run folder)."""
    from .model import Study

    study = study_or_path if isinstance(study_or_path, Study) else None
    if study is None:
        return _load_for_reading(study_or_path, workspace, repo_root)
    if study.kind == "experiment" and (workspace is not None or not (
            study.generated / "records").is_dir()):   # pinned, or not a run folder: latest
        from .workspace import open_plan

        return open_plan(f"{study.file}#{study.name}", study.repo_root, workspace=workspace,
                         require_records=True).study
    return study


def re_evaluate(path_or_name: str | os.PathLike, evaluators: str | Sequence[str] | None = None,
                *, repo_root: str | os.PathLike | None = None,
                workspace: str | os.PathLike | None = None, wait: bool = False,
                **filters: Any):
    """Run the study's evaluators again on its finished runs (success and reused) without
    running them; records, views and reports are updated as ``silisocs-sweep re-evaluate``
    does (the same code path).

    ``evaluators``: an id or a list of ids (default: each run's evaluators as the plan says).
    ``filters`` as for :func:`run`. Returns a
    :class:`~silisocs_study.launch.reevaluate.ReEvaluation`: ``records`` (the updated records
    of the re-evaluated runs), ``failures``, ``not_finished``, ``stale``, ``exit_code`` and
    ``summary()``. An unknown evaluator id, filter value or a study another process is
    running raises :class:`~silisocs_study.errors.StudyError` (nothing written); a failing
    evaluator does not raise (it is in ``failures`` and on the run's record).
    """
    from .commands.evaluate import re_evaluate_plan
    from .workspace import open_plan

    root = Path(repo_root).resolve() if repo_root is not None else Path.cwd()
    plan = open_plan(resolve_spec(path_or_name, root), root, filters=_filters(filters),
                     workspace=Path(workspace).expanduser().resolve()
                     if workspace is not None else None, require_records=True)
    names = [evaluators] if isinstance(evaluators, str) else list(evaluators or ())
    return re_evaluate_plan(plan, names or None, wait=wait)


# -- helpers ------------------------------------------------------------------------------------

def resolve_spec(value: str | os.PathLike, repo_root: Path) -> str:
    """The ``--study`` argument for ``value`` (see the module docstring for what is accepted)."""
    text = os.fspath(value)
    base, _, name = text.partition("#")
    for candidate in (Path(base).expanduser(), repo_root / base):
        if candidate.exists():
            return str(candidate.resolve()) + (f"#{name}" if name else "")
    import re

    m = re.fullmatch(r"experiments[./]([A-Za-z0-9][A-Za-z0-9._-]*?)(?:\.ya?ml)?", base)
    if m:
        stem = m.group(1)
        tried = []
        for d in SEARCH_DIRS:
            for ext in (".yaml", ".yml"):
                path = repo_root / d / f"{stem}{ext}"
                tried.append(str(path))
                if path.is_file():
                    return str(path) + (f"#{name}" if name else _pick(path, stem))
        for d in SEARCH_DIRS:
            for path in sorted((repo_root / d).glob("*.y*ml")):
                if stem in _experiments_in(path):
                    return f"{path}#{stem}"
        raise StudyError(f"no experiment spec for '{text}': tried {', '.join(tried)} and "
                         f"the experiment.{stem} blocks of the .yaml files there")
    raise StudyError(f"study or experiment spec not found: '{text}' (relative to "
                     f"{Path.cwd()} or {repo_root})")


def _experiments_in(path: Path) -> list[str]:
    from .spec.experiment import experiment_names
    from .spec.yamlload import load_document

    try:
        return experiment_names(load_document(path, str(path)).data)
    except Exception:  # an unrelated broken file must not stop the search
        return []


def _pick(path: Path, stem: str) -> str:
    """``#stem`` when the file defines several experiments and one is named like the file."""
    names = _experiments_in(path)
    return f"#{stem}" if len(names) > 1 and stem in names else ""


def _filters(filters: dict):
    """``hypothesis=...`` keywords (a value or a list; ``only_`` prefix accepted) → Filters."""
    from .plan import Filters

    given: dict[str, list[str]] = {}
    for key, value in filters.items():
        name = key.removeprefix("only_")
        if name not in FILTER_NAMES:
            raise TypeError(f"unknown keyword '{key}' (filters: {', '.join(FILTER_NAMES)})")
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        given[name] = [",".join(str(v) for v in values)]
    return Filters.parse(**given)


def _load_for_reading(value, workspace, repo_root):
    from .workspace import SPEC_COPY, open_plan, read_spec_copy

    root = Path(repo_root).resolve() if repo_root is not None else Path.cwd()
    folder = Path(os.fspath(value)).expanduser()
    if folder.is_dir() and (folder / SPEC_COPY).is_file():  # an experiment folder
        spec = read_spec_copy(folder) or {}
        if not spec.get("spec_file"):
            raise StudyError(f"{folder / SPEC_COPY} does not name its spec file")
        return open_plan(f"{spec['spec_file']}#{spec['experiment']}",
                         repo_root or spec.get("repo_root"), workspace=folder,
                         require_records=True).study
    return open_plan(resolve_spec(value, root), root, workspace=workspace,
                     require_records=True).study


def study_result(rec: dict) -> dict:
    """A study.yaml run as a plain dict (what ``run`` returns for study.yaml studies)."""
    metrics = {e["id"]: dict(e["aggregated"]) for e in rec.get("evaluations") or []
               if isinstance(e.get("aggregated"), dict)}
    out = {k: rec.get(k) for k in ("run_id", "hypothesis", "condition", "sub_experiment",
                                   "scenario", "seed", "status")}
    out["run_dir"] = rec.get("run_dir")
    out["error"] = rec.get("error")
    failed = [e["id"] for e in rec.get("evaluations") or [] if e.get("status") == "failed"]
    if failed:
        out["failed_evaluators"] = failed
    out["metrics"] = metrics
    return out


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _experiment_row(entry: dict, rec: dict | None) -> dict:
    skip = ("scores", "final_state", "timeline", "run_dir", "error", "success", "status",
            "run_id", "stale", "in_plan")
    row = {"run_id": entry.get("run_id"), "status": entry.get("status")}
    row.update({k: v for k, v in entry.items() if k not in skip})
    row["success"] = bool(entry.get("success"))
    row["run_dir"] = entry.get("run_dir")
    row["error"] = entry.get("error")
    for k, v in (entry.get("scores") or {}).items():
        row[f"score.{k}"] = float(v) if _numeric(v) else None
    for e in (rec or {}).get("evaluations") or []:
        for k, v in (e.get("aggregated") or {}).items():
            if _numeric(v):
                row[f"{e['id']}.{k}"] = float(v)
    return row


def _study_row(rec: dict) -> dict:
    row = {k: rec.get(k) for k in ("run_id", "status", "hypothesis", "condition",
                                   "sub_experiment", "scenario", "seed")}
    row["run_dir"] = rec.get("run_dir")
    row["error"] = rec.get("error")
    for e in rec.get("evaluations") or []:
        for k, v in (e.get("aggregated") or {}).items():
            if _numeric(v):
                row[f"{e['id']}.{k}"] = float(v)
    return row


__all__ = ["run", "load", "re_evaluate", "resolve_spec"]
