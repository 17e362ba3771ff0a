"""Where a study's files live, and an experiment folder's life cycle.

A study.yaml's workspace is its own directory. An ``experiment.<name>`` spec runs in a
folder rendered from its ``path`` template (``{date}``, ``{seq}``): a run continues the
latest folder while its runs are not all complete, else claims the next ``{seq}`` folder
atomically (``mkdir``); ``--workspace`` (or a ``_spec_.yaml`` given as the study) pins one.
Readers (``status``, ``report``, ``load``) use the pinned folder or the latest one holding
records. The folder keeps ``_spec_.yaml`` (the resolved spec it ran with); results.yaml,
reports and post actions are :mod:`silisocs_study.report.experiment`'s.

The two doors: :func:`open_plan` (read) and :func:`open_workspace` (run: may claim a
folder, which :meth:`Workspace.release` gives back when nothing was written into it).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .atomic import atomic_write_text
from .errors import StudyError
from .model import Study
from .plan import Filters, Plan, build_plan
from .spec import SPEC_COPY, load_study
from .status import COMPLETE_VALUES
from .yamlout import dump_yaml, plain



# -- the doors ----------------------------------------------------------------------------------

def open_plan(study: Any, repo_root: str | os.PathLike[str] | None = None, *,
              filters: Filters | None = None, workspace: str | os.PathLike[str] | None = None,
              extra_overrides: Sequence[str] = (), require_records: bool = False,
              cwd: Path | None = None) -> Plan:
    """The plan of ``study`` (a ``--study`` value or a loaded Study) to read its records.

    Experiments are pinned to ``workspace``, a ``_spec_.yaml``'s own folder, or the latest
    folder holding records; with none yet, the plan as loaded (every run pending) unless
    ``require_records`` (then a StudyError says to run it first)."""
    loaded = _load(study, repo_root, extra_overrides, cwd)
    if loaded.kind != "experiment":
        _no_workspace_for_study(workspace, loaded)
        return build_plan(loaded, filters)
    pinned = workspace or loaded.meta.get("pinned_folder")
    if pinned is None:
        folder = latest_folder(loaded)
        if folder is None:
            if require_records:
                raise StudyError(
                    f"experiment '{loaded.name}' has no folder with records yet (looked for "
                    f"{loaded.meta.get('path_template')} under {loaded.repo_root}); run it "
                    f"first or name the folder", file=loaded.display_file)
            return build_plan(loaded, filters)
        pinned = folder
    return build_plan(_reload(loaded, pinned), filters)


def open_workspace(study: Any, repo_root: str | os.PathLike[str] | None = None, *,
                   filters: Filters | None = None,
                   workspace: str | os.PathLike[str] | None = None,
                   extra_overrides: Sequence[str] = (), new: bool = False,
                   announce: bool = True) -> "Workspace":
    """The workspace a run (or a submission) writes into, with its plan.

    Experiments: ``workspace`` (or a ``_spec_.yaml`` given as the study) pins that folder;
    otherwise the latest folder is continued while its runs are not all complete under the
    current spec, and a new ``{seq}`` folder is claimed when it is complete, its spec
    changed, or ``new`` asks for one."""
    loaded = _load(study, repo_root, extra_overrides, None)
    if loaded.kind != "experiment":
        _no_workspace_for_study(workspace, loaded, "pins")
        return Workspace(build_plan(loaded, filters))
    from .spec.experiment import allocate_path

    build_plan(loaded, filters)   # a bad filter is an error before any folder is claimed
    pinned = workspace or loaded.meta.get("pinned_folder")
    claimed, there = False, None
    folder: Path | None
    if pinned:
        folder = Path(os.path.expanduser(str(pinned))).resolve()
        if folder.exists() and not folder.is_dir():
            raise StudyError(f"--workspace {pinned}: not a directory")
        state = "resuming" if (folder / "generated" / "records").is_dir() else "new"
    else:
        folder, state = None, "new"
        if not new:
            folder, state, there = _continuable(loaded, filters)
        if folder is None:
            folder = allocate_path(loaded.repo_root, loaded.meta["path_template"], loaded.name,
                                   create=True)
            claimed = True
    try:
        if there is None:   # not the latest folder _continuable already loaded
            there = _reload(loaded, folder)
        opened = Workspace(build_plan(there, filters), claimed=claimed, state=state)
    except BaseException:
        if claimed:
            Workspace(build_plan(loaded), claimed=True).release()   # nothing was written
        raise
    if announce:
        print(f"Experiment folder: {folder} ({state})")
    return opened


@dataclass
class Workspace:
    """A study's folder for one invocation: its plan, and whether this process claimed it."""

    plan: Plan
    claimed: bool = False     # an experiment folder this process created
    state: str = ""

    @property
    def study(self) -> Study:
        return self.plan.study

    @property
    def folder(self) -> Path:
        return Path(self.study.workspace)

    @property
    def is_experiment(self) -> bool:
        return self.study.kind == "experiment"

    def write_spec_copy(self) -> Path | None:
        """``_spec_.yaml`` in an experiment folder (what it runs with); None for study.yaml."""
        if not self.is_experiment:
            return None
        target = self.folder / SPEC_COPY
        text = ("# The resolved spec of this experiment folder (written by "
                "`silisocs-sweep run`).\n" + dump_yaml(resolved_spec(self.study, self.plan),
                                                       flow=None))
        atomic_write_text(target, text)
        return target

    def release(self) -> None:
        """Give back a folder this process claimed when nothing was written into it."""
        if self.claimed:
            try:
                os.rmdir(self.folder)
            except OSError:
                pass

    def give_back(self) -> None:
        """Nothing is launched after all: a folder claimed just now is given back (its
        ``_spec_.yaml`` too); a continued or pinned folder keeps its files."""
        if self.claimed:
            (self.folder / SPEC_COPY).unlink(missing_ok=True)
            self.release()

    def finish(self, records: list[dict]) -> int:
        """After the last run: an experiment's results.yaml, then its post actions."""
        if not self.is_experiment:
            return 0
        from .report.experiment import finish_experiment

        return finish_experiment(self.plan, records)


# -- folders ------------------------------------------------------------------------------------

def experiment_folders(study: Study) -> list[Path]:
    """Existing folders of this experiment (its ``path`` template), oldest first.

    ``{date}`` matches YYYY-MM-DD and ``{seq}`` digits; folders are ordered by their
    (date, seq) values in template order, then by modification time. A folder counts when
    it has ``_spec_.yaml`` naming this experiment and spec file, or (no ``_spec_.yaml``)
    a ``generated/`` directory.
    """
    from . import templates

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
        found = _matching_children(found, part)
    out = []
    for folder, key in found:
        if not folder.is_dir():
            continue
        spec = read_spec_copy(folder)
        if spec is not None:
            if spec.get("experiment") != study.name or (
                    spec.get("spec_file") and Path(spec["spec_file"]) != Path(study.file)):
                continue
        elif not (folder / "generated").is_dir():
            continue
        out.append((key, folder.stat().st_mtime, folder))
    return [f for _, _, f in sorted(out, key=lambda t: (t[0], t[1]))]


def _matching_children(found: list[tuple[Path, tuple]], part: str) -> list[tuple[Path, tuple]]:
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
    return nxt


def latest_folder(study: Study) -> Path | None:
    """The newest folder of this experiment that holds records (None if none)."""
    for folder in reversed(experiment_folders(study)):
        if (folder / "generated" / "records").is_dir():
            return folder
    return None


def read_spec_copy(folder: Path) -> dict | None:
    """An experiment folder's ``_spec_.yaml`` as a mapping (None: missing or unreadable)."""
    import yaml

    try:
        data = yaml.load((folder / SPEC_COPY).read_text(encoding="utf-8"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def resolved_spec(study: Study, plan: Plan | None = None) -> dict:
    """The experiment as it ran: its block with ``!ref`` resolved, the scenario, axes, points."""
    from .ledger.records import utc_now
    from .spec.yamlload import Ref

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


# -- helpers ------------------------------------------------------------------------------------

def _load(study: Any, repo_root: Any, extra_overrides: Sequence[str],
          cwd: Path | None) -> Study:
    from .extra_overrides import fold_extra_overrides

    if isinstance(study, Study):
        return study
    if not study:
        raise StudyError("--study PATH is required")
    loaded = load_study(study, repo_root, cwd=cwd)
    loaded.warnings += fold_extra_overrides(loaded, list(extra_overrides))
    return loaded


def _reload(loaded: Study, folder: str | os.PathLike[str]) -> Study:
    """The experiment loaded for ``folder``, keeping the overrides given after ``--``."""
    there = load_study(f"{loaded.file}#{loaded.name}", loaded.repo_root,
                       workspace=Path(folder).resolve())
    if loaded.extra_overrides:
        from .extra_overrides import fold_extra_overrides

        fold_extra_overrides(there, loaded.extra_overrides)
    there.warnings = loaded.warnings
    if loaded.meta.get("pinned_folder"):
        there.meta["pinned_folder"] = loaded.meta["pinned_folder"]
    return there


def _no_workspace_for_study(workspace: Any, study: Study, what: str = "names") -> None:
    """A study.yaml's workspace is its directory: naming another folder is a mistake."""
    if workspace and Path(workspace).resolve() != Path(study.workspace).resolve():
        raise StudyError(f"--workspace {what} an experiment folder; a study.yaml's workspace "
                         f"is its own directory")


def _continuable(study: Study, filters: Filters | None) -> tuple[Path | None, str, Any]:
    """(the latest folder, why, the study loaded for it) when a plain run should continue
    it, else (None, why, None)."""
    from .ledger import Ledger

    folders = experiment_folders(study)
    if not folders:
        return None, "new", None
    latest = folders[-1]
    there = _reload(study, latest)
    full = build_plan(there)
    wanted = {r.run_id: r.fingerprint for r in full.runs}
    records = Ledger(there.generated).all()
    if any(wanted.get(run_id) != rec.get("fingerprint") for run_id, rec in records.items()):
        return None, f"new: the spec changed since {latest.name}", None
    selected = build_plan(there, filters).runs if filters else full.runs
    if all((records.get(r.run_id) or {}).get("status") in COMPLETE_VALUES for r in selected):
        return None, f"new: {latest.name} is complete", None
    return (latest, "continuing: its runs are not all complete (--new starts a new folder)",
            there)


__all__ = ["Workspace", "open_plan", "open_workspace", "experiment_folders", "latest_folder",
           "read_spec_copy", "resolved_spec", "SPEC_COPY"]
