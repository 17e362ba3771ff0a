"""Expansion of a Study into Runs, filters and fingerprints (plan.json: :mod:`.planfile`).

This is the only planner: the CLI, the Hydra sweeper and the Slurm verbs all call
:func:`build_plan`. It must stay fast (50,000 runs in well under a second), so per-run work
is limited to template rendering, one hash and a few set look-ups; everything a condition's
runs share lives once on its :class:`~silisocs_study.model.Group`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

from . import overrides as ov
from . import templates
from .errors import StudyError, did_you_mean
from .model import AUTO_OUTPUT, AppFacts, Group, Run, Study

PLAN_SCHEMA_VERSION = 1


@dataclass
class Filters:
    """``--only-*`` filters: comma lists, ANDed; naming an unknown id is an error."""

    hypotheses: frozenset[str] = frozenset()
    conditions: frozenset[str] = frozenset()
    sub_experiments: frozenset[str] = frozenset()
    seeds: frozenset[int] = frozenset()
    run_ids: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, *, hypothesis: str | Sequence[str] | None = None,
              condition: str | Sequence[str] | None = None,
              sub_experiment: str | Sequence[str] | None = None,
              seed: str | Sequence[str] | None = None,
              run_id: str | Sequence[str] | None = None) -> "Filters":
        seeds = set()
        for item in _split(seed):
            try:
                seeds.add(int(item))
            except ValueError:
                raise StudyError(f"--only-seed must be a comma-separated list of integers, "
                                 f"got '{item}'") from None
        return cls(frozenset(_split(hypothesis)), frozenset(_split(condition)),
                   frozenset(_split(sub_experiment)), frozenset(seeds),
                   frozenset(_split(run_id)))

    def __bool__(self) -> bool:
        return bool(self.hypotheses or self.conditions or self.sub_experiments or self.seeds
                    or self.run_ids)

    def as_args(self) -> list[str]:
        """The same filters as CLI flags (for commands the orchestrator builds)."""
        out: list[str] = []
        for flag, values in (("--only-hypothesis", self.hypotheses),
                             ("--only-condition", self.conditions),
                             ("--only-sub-experiment", self.sub_experiments),
                             ("--only-seed", {str(s) for s in self.seeds}),
                             ("--only-run-id", self.run_ids)):
            if values:
                out += [flag, ",".join(sorted(values, key=_natural_key))]
        return out

    def to_json(self) -> dict:
        return {"hypotheses": sorted(self.hypotheses), "conditions": sorted(self.conditions),
                "sub_experiments": sorted(self.sub_experiments), "seeds": sorted(self.seeds),
                "run_ids": sorted(self.run_ids)}


def _split(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _natural_key(text: str):
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]


natural_key = _natural_key


COMMAND_APP = "silisocs_study.launch.command_app"


def app_key(run: Run) -> tuple[str, str | None]:
    """(app module, config path) of the Hydra app that runs ``run``: one multirun each."""
    if run.command is not None:
        return COMMAND_APP, None
    return run.group.runner_module or "", run.config_path


@dataclass
class Plan:
    """The expanded, filtered runs of one study, in authored order."""

    study: Study
    runs: list[Run]
    total: int                      # runs before filtering
    filters: Filters = field(default_factory=Filters)

    def groups(self) -> list[Group]:
        seen: dict[str, Group] = {}
        for run in self.runs:
            seen.setdefault(run.group.key, run.group)
        return list(seen.values())

    def apps(self) -> dict[tuple[str, str | None], list[Run]]:
        """Runs to launch, by the app (module, config path) that runs them, in plan order."""
        out: dict[tuple[str, str | None], list[Run]] = {}
        for run in self.runs:
            if run.reuse is None:
                out.setdefault(app_key(run), []).append(run)
        return out

    def set_app_facts(self, facts: dict[tuple[str, str | None], AppFacts | None]) -> None:
        """Attach what each app's composed config says (output key, checkpoint) to its runs."""
        for run in self.runs:
            if run.reuse is None:
                run.app = facts.get(app_key(run), run.app)


def build_plan(study: Study, filters: Filters | None = None, *, python: str | None = None
               ) -> Plan:
    """Expand every group, check uniqueness, then apply filters (validated against the plan)."""
    check_run_count(study)
    runs: list[Run] = []
    for group in study.groups:
        runs.extend(_expand(study, group, len(runs)))
    _check_unique(study, runs)
    filters = filters or Filters()
    total = len(runs)
    if filters:
        _check_filters(runs, filters)
        runs = [r for r in runs if keeps(r, filters)]
    return Plan(study=study, runs=runs, total=total, filters=filters)


def group_size(group: Group) -> int:
    """How many runs ``group`` expands to, counted without expanding it."""
    if group.mode == "reuse_existing":
        return len(group.reuse or ())
    if group.points:
        return len(group.points)
    return len(group.scenarios) * len(group.seeds)


def check_run_count(study: Study) -> None:
    """Refuse a study that expands past the run limit before anything is allocated; the
    count is arithmetic (scenarios × seeds per condition; experiments count their points
    when their spec is read). The error points at the largest condition."""
    from .numeric import run_limit, run_limit_hint

    sizes = [(group_size(g), g) for g in study.groups]
    total = sum(size for size, _ in sizes)
    limit = run_limit()
    if total <= limit:
        return
    size, group = max(sizes, key=lambda item: item[0])
    shape = (f"{len(group.scenarios):,} scenario(s) × {len(group.seeds):,} seed(s)"
             if not group.points and group.mode != "reuse_existing" else f"{size:,} runs")
    message = (f"the study expands to {total:,} runs, more than the run limit of {limit:,} "
               f"(largest: {group.key}, {shape}); {run_limit_hint()}")
    doc = study.doc
    if doc is not None and group.path:
        raise doc.error(group.path, message)
    raise StudyError(message, file=study.display_file)


def keeps(run: Run, f: Filters) -> bool:
    g = run.group
    return ((not f.run_ids or run.run_id in f.run_ids)
            and (not f.hypotheses or g.hypothesis in f.hypotheses)
            and (not f.conditions or g.condition in f.conditions)
            and (not f.sub_experiments or g.sub_experiment in f.sub_experiments)
            and (not f.seeds or run.seed in f.seeds))


def _check_filters(runs: list[Run], f: Filters) -> None:
    known: dict[str, tuple[set[Any], frozenset[Any]]] = {
        "--only-hypothesis": ({r.group.hypothesis for r in runs}, f.hypotheses),
        "--only-condition": ({r.group.condition for r in runs}, f.conditions),
        "--only-sub-experiment": ({r.group.sub_experiment for r in runs}, f.sub_experiments),
        "--only-seed": ({r.seed for r in runs}, f.seeds),
        "--only-run-id": ({r.run_id for r in runs}, f.run_ids),
    }
    for flag, (existing, wanted) in known.items():
        for value in sorted(wanted, key=str):
            if value not in existing:
                hint = did_you_mean(str(value), [str(e) for e in existing])
                raise StudyError(f"{flag}: no run has '{value}'{hint}")


# -- expansion ----------------------------------------------------------------------------------

def _expand(study: Study, group: Group, start: int) -> list[Run]:
    root = str(study.repo_root)
    base = {"study_name": study.name, "study_id": study.study_id,
            "hypothesis_id": group.hypothesis, "condition_id": group.condition,
            "sub_experiment": group.sub_experiment, "experiment": group.study_name,
            "python": "{python}"}  # kept literal: argv() substitutes the interpreter
    if group.mode == "reuse_existing":
        return _expand_reuse(study, group, start, base)
    out_template = group.output_template
    clean = _is_clean(out_template, group)
    per_run_cfg = group.config_path is not None and "{" in group.config_path
    static_cfg = None if per_run_cfg or group.config_path is None else \
        absolute_path(root, group.config_path, study=study, group=group, what="config_path")
    wd_template = group.working_directory
    static_wd = absolute_path(root, wd_template, study=study, group=group,
                          what="working_directory") \
        if wd_template and "{" not in wd_template else (root if wd_template is None else None)
    shared = _fingerprint_prefix(group)
    if group.config_path is not None and not per_run_cfg and group.command is None:
        shared = f"{shared[:-1]},{json.dumps(group.config_path, ensure_ascii=False)}]"
    runs: list[Run] = []
    index = start
    hyp_cond = f"{group.hypothesis}__{group.condition}__"
    points = _points(group)
    for scenario, seed, axes in points:
        if axes is None:
            run_id = f"{hyp_cond}{scenario}__seed{seed}"
        values = dict(base, scenario=scenario, seed=seed)
        if axes is not None:
            values.update(axes)
            run_id = _render(study, group, "name", group.run_name_template, values)
            values["run_id"] = run_id
            run_name = run_id
        else:
            values["run_id"] = run_id
            run_name = _render(study, group, "run_name_template", group.run_name_template, values)
        rendered = _render(study, group, "output_root_override", out_template, values)
        output_dir = absolute_path(root, rendered, check=not clean, study=study, group=group,
                               what="output_root_override")
        cfg_rendered = group.config_path
        config_path = static_cfg
        if per_run_cfg:
            assert group.config_path is not None   # per_run_cfg: a template holding '{'
            cfg_rendered = _render(study, group, "config_path", group.config_path, values)
            config_path = absolute_path(root, cfg_rendered, study=study, group=group,
                                        what="config_path")
        if static_wd is not None:
            workdir = static_wd
        else:
            assert wd_template is not None   # no static folder: the folder is a template
            workdir = absolute_path(
                root, _render(study, group, "working_directory", wd_template, values),
                study=study, group=group, what="working_directory")
        command = None
        if group.command is not None:   # {run_dir}: the folder the run writes into
            values["run_dir"] = output_dir
            command = tuple(_render(study, group, "execution.command", t, values)
                            for t in group.command)
        fingerprint = _fingerprint(shared, group, scenario, seed, axes,
                                   cfg_rendered if per_run_cfg and command is None else None,
                                   command)
        runs.append(Run(run_id, group, index, scenario, seed, run_name, output_dir,
                        config_path, workdir, command, fingerprint, axes))
        index += 1
    return runs


def _points(group: Group):
    if group.points:
        scenario = group.scenarios[0] if group.scenarios else "default"
        return [(scenario, p.get("seed"), p) for p in group.points]
    return [(sc, seed, None) for sc in group.scenarios for seed in group.seeds]


def _expand_reuse(study: Study, group: Group, start: int, base: dict) -> list[Run]:
    runs = []
    for i, (ref, scenario, seed) in enumerate(group.reuse):
        run_id = f"{group.hypothesis}__{group.condition}__reuse_{i}"
        payload = json.dumps({"reuse": ref.source, "eval": ref.eval, "scenario": scenario,
                              "seed": seed}, sort_keys=True)
        fingerprint = hashlib.sha256(payload.encode()).hexdigest()[:32]
        runs.append(Run(run_id, group, start + i, scenario, seed, run_id, ref.source, None,
                        str(study.repo_root), None, fingerprint, None, ref))
    return runs


def _render(study: Study, group: Group, what: str, template: str, values: dict) -> str:
    try:
        return templates.render(template, values)
    except templates.TemplateError as exc:
        raise _template_error(study, group, what, str(exc)) from None


def _template_error(study: Study, group: Group, what: str, message: str) -> StudyError:
    """A per-run template failure, located at the template's line when the spec says where
    it was written (the condition, its execution block, run_defaults, the scenario block)."""
    doc = study.doc
    key = what.rsplit(".", 1)[-1]
    if doc is not None:
        candidates = [group.path + (key,), group.path + ("execution", key),
                      ("study", "run_defaults", key)]
        if group.points:   # an experiment: its block, then its scenario block
            scenario = group.scenarios[0] if group.scenarios else ""
            candidates += [group.path + ("scenario", key), (f"scenario.{scenario}", key),
                           ("scenario", scenario, key)]
        for path in candidates:
            if path in doc.value_marks:
                return doc.error(path, message)
    return StudyError(f"{group.key}: {what}: {message}", file=study.display_file)


def _is_clean(template: str, group: Group) -> bool:
    """True when rendering can't introduce '..', '//' or separators: id-like placeholders only."""
    safe = {"run_id", "hypothesis_id", "condition_id", "sub_experiment", "scenario", "seed",
            "study_id"} | {a for a, _ in group.axis_keys}
    try:
        names = templates.fields(template)
    except templates.TemplateError:
        return False
    if not set(names) <= safe or group.axis_keys:
        return False
    dummy = templates.render(template, {n: "x" for n in names})
    return os.path.normpath(dummy) == dummy.rstrip("/") and not dummy.startswith("..")


def absolute_path(root: str, value: str, *, check: bool = True, study: Study | None = None,
              group: Group | None = None, what: str = "") -> str:
    if value.startswith("~"):
        value = os.path.expanduser(value)
    if value.startswith("/"):
        return os.path.normpath(value) if check else value
    if not check:
        return f"{root}/{value}"
    norm = os.path.normpath(value)
    if norm == ".." or norm.startswith("../"):
        where = (f"{group.key}: " if group else "") + (f"{what}: " if what else "")
        raise StudyError(f"{where}path '{value}' climbs out of the repo root {root} "
                         f"(use an absolute path to write outside it)",
                         file=study.display_file if study else None)
    return root if norm == "." else f"{root}/{norm}"


def _fingerprint_prefix(group: Group) -> str:
    """Canonical JSON of what a group's runs share and what determines their result.

    An exact command gets neither the overrides nor the config path: only its rendered
    tokens (hashed per run) count, so changing a shared override doesn't make it stale."""
    if group.command is not None:
        return json.dumps([None, group.mode, [], None, None])
    inject = group.inject
    return json.dumps([group.runner_module, group.mode, sorted(group.override_args),
                       inject.get("seed"), inject.get("scenario")],
                      ensure_ascii=False, separators=(",", ":"))


def _fingerprint(prefix: str, group: Group, scenario: str, seed, axes, config_path, command
                 ) -> str:
    """sha256 of [shared, scenario, seed, config_path, command, axis overrides] (canonical JSON).

    Built by concatenation because it runs once per run: the shared part is encoded once.
    """
    tail = "null"
    if axes is not None:
        tail = json.dumps(sorted(ov.format_override(key, axes[axis])
                                 for axis, key in group.axis_keys if key),
                          ensure_ascii=False, separators=(",", ":"))
    variable = "null" if config_path is None and command is None else json.dumps(
        [config_path, command], ensure_ascii=False, separators=(",", ":"))
    payload = (f"[{prefix},{json.dumps(scenario, ensure_ascii=False)},"
               f"{json.dumps(seed)},{variable},{tail}]")
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


MAX_RUN_ID = 200   # a run id names files (records/<run_id>.json): file names stop at 255 bytes


def _check_unique(study: Study, runs: list[Run]) -> None:
    ids: dict[str, Run] = {}
    outputs: dict[str, Run] = {}
    for run in runs:
        if len(run.run_id) > MAX_RUN_ID:
            raise study.error(run.group.path, f"run id '{run.run_id[:40]}...' is "
                                              f"{len(run.run_id)} characters; run ids name "
                                              f"files and may have at most {MAX_RUN_ID}")
        other = ids.get(run.run_id)
        if other is not None:
            raise StudyError(f"duplicate run id '{run.run_id}' (from {other.group.key} and "
                             f"{run.group.key})", file=study.display_file)
        ids[run.run_id] = run
        if run.reuse is not None:
            continue
        key = run.output_dir.rstrip("/")
        other = outputs.get(key)
        if other is not None:
            lacks = "{seed} or {scenario}" if other.group is run.group else \
                "{hypothesis_id} or {condition_id}"
            raise StudyError(f"runs '{other.run_id}' and '{run.run_id}' share the output "
                             f"directory {key} (does the output template lack {lacks}?)",
                             file=study.display_file)
        outputs[key] = run


# -- commands -----------------------------------------------------------------------------------

def job_overrides(run: Run) -> list[str]:
    """The Hydra overrides that make ``run`` (runner mode): study overrides + injections."""
    group = run.group
    return overrides_from(group.override_args, group.axis_keys, group.inject, run.axes,
                          run.seed, run.scenario, run.run_name, group.study_name,
                          run.output_dir, group.checkpoint_default, run.app)


def output_key(inject: dict, app: AppFacts | None) -> str | None:
    """The override key that puts a run in its folder (None: the study turned it off).
    ``auto`` follows the app's config; unknown app (no check yet): ``++output_dir``."""
    key = inject.get("output_dir")
    if key != AUTO_OUTPUT:
        return key
    return app.output_key if app is not None else AppFacts().output_key


def overrides_from(override_args, axis_keys, inject, axes, seed, scenario, run_name,
                   study_name, output_dir, checkpoint_default=None, app=None) -> list[str]:
    """Shared by :func:`job_overrides` and :func:`argv_from_plan_row` so they can't drift.

    The checkpoint cadence comes first (lowest precedence, as in silisocs' own runner) and
    only when the app has ``sim.checkpoint``; the study can turn it off or set it."""
    args = []
    if checkpoint_default and app is not None and app.checkpoint:
        args.append(f"sim.checkpoint.every_n_steps={int(checkpoint_default)}")
    args += override_args
    if axes is not None:
        for axis, key in axis_keys:
            if key:
                args.append(ov.format_override(key, axes[axis]))
    elif inject.get("seed"):
        args.append(f"{inject['seed']}={seed}")
    if inject.get("scenario"):
        args.append(ov.format_override(inject["scenario"], scenario))
    if inject.get("run_name"):
        args.append(ov.format_override(inject["run_name"], run_name))
    if inject.get("experiment_name"):
        args.append(ov.format_override(inject["experiment_name"], study_name))
    key = output_key(inject, app)
    if key:
        args.append(ov.format_override(key, output_dir))
    return args


def argv(run: Run, python: str) -> list[str]:
    """The exact, re-runnable command of a run (None-free); reuse runs have none."""
    if run.reuse is not None:
        return []
    if run.command is not None:
        return [tok.replace("{python}", python) for tok in run.command]
    cmd = [python, "-m", run.group.runner_module or ""]
    if run.config_path:
        cmd += ["--config-path", run.config_path]
    return cmd + job_overrides(run)
