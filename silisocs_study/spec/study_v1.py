"""silisocs ``study.yaml`` (schema_version 1) → Study with one Group per condition.

Strict where the reference runner was lax: unknown keys, wrong types, unsafe ids, seeds and
scenarios at hypothesis level (inherited, not ignored), and ``x``/``+x``/``++x`` as one key.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .. import numeric
from .. import overrides as ov
from .. import templates
from ..model import AUTO_OUTPUT, Group, ReuseRef, Study
from .adaptive import parse_study_adaptive
from .analysis import parse_study_analysis
from .evaluations import merge_evaluations, parse_evaluations
from .fields import Section, check_id, check_value, describe, probe_path
from .yamlload import Document, refs

TOP_KEYS = ("schema_version", "study", "hypotheses", "evaluations", "analysis", "adaptive",
            "notes", "metadata")
STUDY_KEYS = ("name", "study_id", "question", "scenarios", "base_scenarios", "study_version",
              "parent_studies", "derived_from_runs", "study_summary_path", "summary_log_path",
              "notes", "run_defaults", "description", "authors", "tags")
SEED_KEYS = ("seeds", "seed", "seed_start", "seed_repeats")
DEFAULTS_KEYS = ("config_path", "runner_module", "run_name_template", "output_root_override",
                 "working_directory", "overrides", "scenario", "scenarios",
                 "checkpoint_every_n_steps", "max_concurrent", "timeout_seconds", "inject",
                 *SEED_KEYS)
HYPOTHESIS_KEYS = ("statement", "independent_variable", "prediction", "status", "follows_from",
                   "motivation", "analysis", "finding", "notes", "metadata", "description",
                   "reference", "overrides", "conditions", "scenarios", *SEED_KEYS)
CONDITION_KEYS = ("overrides", "scenarios", "sub_experiment", "config_path",
                  "working_directory", "run_name_template", "output_root_override", "execution",
                  "reuse", "evaluations", "evaluation_mode", "description", "notes",
                  "analysis", "metadata", "label", *SEED_KEYS)
EXECUTION_KEYS = ("mode", "command", "re_evaluate", "output_root_override", "timeout_seconds")
REUSE_RUN_KEYS = ("source", "scenario", "seed", "eval")
INJECT_ROLES = ("seed", "run_name", "experiment_name", "output_dir", "scenario")
# output_dir "auto": output_rootname when the app's config has it (silisocs' runner) and no
# output_dir, else ++output_dir — decided from the composed config (see model.AppFacts)
DEFAULT_INJECT = {"seed": "seed", "run_name": "run_name", "experiment_name": "experiment_name",
                  "output_dir": AUTO_OUTPUT, "scenario": None}
AUTO_OUTPUT_KEYS = ("output_dir", "output_rootname")
CHECKPOINT_KEY = "sim.checkpoint.every_n_steps"
DEFAULT_CHECKPOINT = 1   # silisocs' own study runner injects a checkpoint every step
DEFAULT_RUNNER = "silisocs.runtime.runner"
DEFAULT_RUN_NAME = "{study_id}_{hypothesis_id}_{condition_id}_{scenario}_seed{seed}"
HYPOTHESIS_META = ("statement", "independent_variable", "prediction", "status", "follows_from",
                   "motivation", "analysis", "finding", "notes", "metadata", "description",
                   "reference")


def _is_inline_override(key: str) -> bool:
    return "." in key or key.startswith(("+", "~"))


def parse_study(doc: Document, file: Path, repo_root: Path) -> Study:
    top = Section.of(doc, (), doc.data, "a mapping with 'study' and 'hypotheses'")
    if doc.has_refs:
        for path, ref in refs(doc.data):
            raise doc.error(path, f"!ref {ref.name}: references are only read in experiment "
                                  f"specs (experiment.<name>: scenario: !ref NAME)")
    top.check_keys(TOP_KEYS)
    if "schema_version" not in top.data:
        raise top.error(None, "missing required key 'schema_version' (expected 1)")
    if top.data["schema_version"] != 1 or isinstance(top.data["schema_version"], bool):
        raise top.error("schema_version", f"unsupported schema_version "
                                          f"{describe(top.data['schema_version'])}; expected 1")
    study = top.section("study", required=True)
    study.check_keys(STUDY_KEYS)
    name = study.str("name", required=True)
    study_id = study.str("study_id") or name.strip()
    check_id(doc, ("study", "study_id" if "study_id" in study.data else "name"), study_id,
             "study id")
    study_dir = file.parent
    workspace = study_dir if file.name == "study.yaml" else study_dir / study_id

    base_scenarios = (study.str_list("scenarios", ids=True)
                      or study.str_list("base_scenarios", ids=True))
    defaults = study.section("run_defaults") or Section(doc, ("study", "run_defaults"), {})
    defaults.check_keys(DEFAULTS_KEYS, extra_ok=_is_inline_override,
                        hint="; Hydra overrides go under 'overrides'")
    if not base_scenarios:
        single = defaults.id("scenario")
        base_scenarios = defaults.str_list("scenarios", ids=True) or ([single] if single else None)
    inject = _parse_inject(defaults)
    runner = defaults.module("runner_module", DEFAULT_RUNNER)
    run_placeholders = templates.RUN_PLACEHOLDERS

    def template(sec: Section, key: str, default: Any) -> Any:
        value = sec.str(key, default)
        if value is not None and value is not default:
            try:
                templates.check(value, run_placeholders)
            except templates.TemplateError as exc:
                raise sec.error(key, str(exc)) from None
        return value

    d_config = template(defaults, "config_path", None)
    d_workdir = template(defaults, "working_directory", None)
    d_run_name = template(defaults, "run_name_template", DEFAULT_RUN_NAME)
    default_output = _escape(str(workspace)) + \
        "/runs/{hypothesis_id}/{condition_id}/{scenario}/seed_{seed}/run"
    d_output = template(defaults, "output_root_override", default_output)
    d_overrides, d_paths = _overrides_level(defaults, inline=True)
    checkpoint_default: int | None = DEFAULT_CHECKPOINT
    if "checkpoint_every_n_steps" in defaults.data:   # written (null/false/0 turn it off)
        checkpoint_default = None
        checkpoint = defaults.data["checkpoint_every_n_steps"]
        if checkpoint is not None and checkpoint is not False:
            if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 0:
                raise defaults.error("checkpoint_every_n_steps", f"expected a non-negative "
                                                                 f"integer, got {describe(checkpoint)}")
            if checkpoint > 0:   # what the study writes is part of its runs' fingerprints
                d_overrides = ov.merge_levels([{CHECKPOINT_KEY: checkpoint}, d_overrides])
                d_paths = ov.merge_levels([
                    {CHECKPOINT_KEY: defaults.path + ("checkpoint_every_n_steps",)}, d_paths])
    global_evals = parse_evaluations(doc, ("evaluations",), top.data.get("evaluations"),
                                     default_prefix="eval", study_dir=study_dir)

    hyps_value = top.data.get("hypotheses")
    if hyps_value is None:
        raise top.error(None, "missing required key 'hypotheses'")
    hyps = Section.of(doc, ("hypotheses",), hyps_value, "a mapping of hypotheses")
    if not hyps.data:
        raise hyps.error(None, "must define at least one hypothesis")
    groups: list[Group] = []
    hyp_meta: dict[str, dict] = {}
    for hyp_id, hyp_value in hyps.data.items():
        check_id(doc, ("hypotheses", hyp_id), hyp_id, "hypothesis id", at_key=True)
        hyp = Section.of(doc, ("hypotheses", hyp_id), hyp_value, "a hypothesis mapping")
        if "cases" in hyp.data:   # the reference runner's old name
            raise hyp.error("cases", "unknown key 'cases': it is the old name of 'conditions'; "
                                     "rename it to 'conditions'", at_key=True)
        hyp.check_keys(HYPOTHESIS_KEYS)
        hyp_meta[hyp_id] = {k: hyp.data[k] for k in HYPOTHESIS_META if k in hyp.data}
        h_overrides, h_paths = _overrides_level(hyp)
        h_scenarios = hyp.str_list("scenarios", ids=True)
        conds_value = hyp.data.get("conditions")
        if conds_value is None:
            raise hyp.error(None, "missing required key 'conditions'")
        conds = Section.of(doc, hyp.path + ("conditions",), conds_value,
                           "a mapping of conditions")
        if not conds.data:
            raise conds.error(None, "must define at least one condition")
        for cond_id, cond_value in conds.data.items():
            check_id(doc, conds.path + (cond_id,), cond_id, "condition id", at_key=True)
            cond = Section.of(doc, conds.path + (cond_id,), cond_value, "a condition mapping")
            cond.check_keys(CONDITION_KEYS)
            execution = cond.section("execution") or Section(doc, cond.path + ("execution",), {})
            execution.check_keys(EXECUTION_KEYS)
            mode = execution.choice("mode", ("run", "reuse_existing"), "run")
            scenarios = cond.str_list("scenarios", ids=True) or h_scenarios or base_scenarios
            if not scenarios:
                raise cond.error(None, "no scenarios: set study.scenarios, "
                                       "run_defaults.scenario, or scenarios here")
            seeds = _resolve_seeds([defaults, hyp, cond])
            c_overrides, c_paths = _overrides_level(cond)
            merged = _merge_overrides(cond, [d_overrides, h_overrides, c_overrides])
            _check_reserved(cond, merged, inject)
            command = execution.command("command")
            if command is not None:
                for j, token in enumerate(command):
                    try:
                        templates.check(token, run_placeholders + ("python", "run_dir"))
                    except templates.TemplateError as exc:
                        raise execution.error("command", str(exc)) from None
            sub = cond.id("sub_experiment", cond_id)
            output = (template(cond, "output_root_override", None)
                      or template(execution, "output_root_override", None) or d_output)
            local_evals = parse_evaluations(doc, cond.path + ("evaluations",),
                                            cond.data.get("evaluations"),
                                            default_prefix="condition_eval", study_dir=study_dir)
            eval_mode = cond.str("evaluation_mode", "append").lower()
            if eval_mode not in ("append", "replace"):
                raise cond.error("evaluation_mode", f"expected append or replace, got "
                                                    f"{describe(cond.data['evaluation_mode'])}")
            timeout = execution.seconds("timeout_seconds")
            evaluators = merge_evaluations(global_evals, local_evals, eval_mode)
            group = Group(
                key=f"{hyp_id}/{cond_id}", study_name=name, hypothesis=hyp_id, condition=cond_id,
                sub_experiment=sub, mode=mode, runner_module=runner, command=command,
                config_path=template(cond, "config_path", None) or d_config,
                working_directory=template(cond, "working_directory", None) or d_workdir,
                run_name_template=template(cond, "run_name_template", None) or d_run_name,
                output_template=output, overrides=merged,
                override_args=_encode(cond, merged), inject=inject,
                evaluators=evaluators,
                # a reused run is evaluated like any run when its condition has evaluators
                # (silisocs' runner needs re_evaluate: true); re_evaluate: false opts out
                re_evaluate=execution.bool("re_evaluate", bool(evaluators)),
                timeout_seconds=timeout,
                # a range stays a range: the planner counts runs before anything is allocated
                scenarios=tuple(scenarios),
                seeds=seeds if isinstance(seeds, range) else tuple(seeds),
                checkpoint_default=None if any(ov.split_key(k)[1] == CHECKPOINT_KEY
                                               for k in merged) else checkpoint_default,
                path=cond.path,
                override_paths=ov.merge_levels([d_paths, h_paths, c_paths]),
            )
            reuse = cond.section("reuse")
            if mode == "reuse_existing":
                group.reuse = _parse_reuse(cond, reuse, scenarios, seeds, repo_root)
                group.checkpoint_default = None
            elif reuse is not None:
                raise cond.error("reuse", "reuse is only read when execution.mode is "
                                          "reuse_existing")
            else:
                _check_run_templates(group, name, study_id, [
                    ("run_name_template", False, (cond, defaults)),
                    ("output_root_override", True, (cond, execution, defaults)),
                    ("config_path", True, (cond, defaults)),
                    ("working_directory", True, (cond, defaults)),
                    ("command", False, (execution,))])
            groups.append(group)

    meta = {k: study.data.get(k) for k in ("question", "study_version", "description",
                                           "notes")}
    meta["scenarios"] = list(base_scenarios or [])
    meta["parent_studies"] = study.str_list("parent_studies", [])
    meta["derived_from_runs"] = _derived_from_runs(study)
    summary = study.repo_path("study_summary_path", repo_root)
    summary_log = study.repo_path("summary_log_path", repo_root)
    conditions: dict[str, list[str]] = {}
    for g in groups:
        conditions.setdefault(g.hypothesis, []).append(g.condition)
    analysis = parse_study_analysis(top, conditions)
    adaptive = parse_study_adaptive(top, groups, analysis)
    return Study(
        kind="study", name=name, study_id=study_id, file=file, display_file=doc.file,
        repo_root=repo_root, workspace=workspace, groups=groups, meta=meta,
        hypotheses=hyp_meta, raw=doc.data, doc=doc, warnings=doc.warnings, analysis=analysis,
        adaptive=adaptive,
        summary_path=summary or workspace / "SUMMARY.md",
        summary_log_path=summary_log or workspace / "generated" / "summary_log.jsonl",
        defaults={"max_concurrent": defaults.count("max_concurrent"),
                  "timeout_seconds": defaults.seconds("timeout_seconds")},
    )


def _check_run_templates(group: Group, study_name: str, study_id: str, fields) -> None:
    """Render a condition's templates for its first run, so that mistakes the planner would
    only meet per run (format errors, paths climbing out of the repo root with '..', one
    output directory for several seeds/scenarios) are reported at their file and line."""
    scenario, seed = group.scenarios[0], group.seeds[0]
    values = {"study_name": study_name, "study_id": study_id, "hypothesis_id": group.hypothesis,
              "condition_id": group.condition, "sub_experiment": group.sub_experiment,
              "scenario": scenario, "seed": seed,
              "run_id": f"{group.hypothesis}__{group.condition}__{scenario}__seed{seed}"}
    for key, is_path, sections in fields:
        sec = next((s for s in sections if s.has(key)), None)
        if sec is None:  # a default: the run name template or the workspace layout
            continue
        if key == "command":   # an exact command: each token is a template
            for token in group.command or ():
                try:
                    templates.render(token, dict(values, python="{python}", run_dir="/run"))
                except templates.TemplateError as exc:
                    raise sec.error(key, str(exc)) from None
            continue
        value = sec.data[key]
        try:
            rendered = templates.render(value, values)
        except templates.TemplateError as exc:
            raise sec.error(key, str(exc)) from None
        if not is_path:
            continue
        path = os.path.expanduser(rendered)
        norm = os.path.normpath(path)
        if not os.path.isabs(path) and (norm == ".." or norm.startswith("../")):
            raise sec.error(key, f"'{rendered}' climbs out of the repo root (use an "
                                 f"absolute path to write outside it)")
        if key == "output_root_override":
            used = templates.fields(value)
            for axis, count in (("seed", len(group.seeds)), ("scenario", len(group.scenarios))):
                if count > 1 and axis not in used and "run_id" not in used:
                    raise sec.error(key, f"runs with different {axis}s of "
                                         f"{group.hypothesis}/{group.condition} would share one "
                                         f"output directory: add {{{axis}}} or {{run_id}}")


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _parse_inject(defaults: Section) -> dict[str, str | None]:
    inject = dict(DEFAULT_INJECT)
    given = defaults.mapping("inject")
    for role, key in given.items():
        if role not in INJECT_ROLES:
            from ..errors import did_you_mean

            raise defaults.doc.error(defaults.path + ("inject", role),
                                     f"unknown inject role '{role}'"
                                     f"{did_you_mean(role, INJECT_ROLES)}", at_key=True)
        if key is not None:
            if not isinstance(key, str):
                raise defaults.doc.error(defaults.path + ("inject", role),
                                         f"expected an override key or null, got {describe(key)}")
            try:
                ov.split_key(key)
            except ValueError as exc:
                raise defaults.doc.error(defaults.path + ("inject", role), str(exc)) from None
        inject[role] = key
    return inject


def _overrides_level(sec: Section, *, inline: bool = False
                     ) -> tuple[dict[str, Any], dict[str, tuple]]:
    """One level's overrides, each key and value checked where it is written, and the YAML
    path of each (for errors found later, e.g. by the composition check). With ``inline``
    (run_defaults), dotted keys beside ``overrides`` come first and ``overrides`` wins."""
    levels: list[tuple[tuple, dict]] = []
    if inline:
        levels.append(((), {k: v for k, v in sec.data.items() if _is_inline_override(k)}))
    levels.append((("overrides",), sec.mapping("overrides")))
    for under, level in levels:
        for key, value in level.items():
            where = sec.path + under + (key,)
            try:
                ov.split_key(key)
            except ValueError as exc:
                raise sec.doc.error(where, str(exc), at_key=True) from None
            check_value(sec.doc, where, value)
            try:
                ov.format_override(key, value)
            except (ValueError, TypeError) as exc:
                raise sec.doc.error(where, f"cannot pass this value to Hydra: {exc}") from None
    try:
        merged = ov.merge_levels(level for _, level in levels)
    except ValueError as exc:
        raise sec.error("overrides", str(exc)) from None
    paths = ov.merge_levels({k: sec.path + under + (k,) for k in level} for under, level in levels)
    return merged, paths


def _merge_overrides(cond: Section, levels: list[dict]) -> dict[str, Any]:
    try:
        return ov.merge_levels(levels)
    except ValueError as exc:
        raise cond.error("overrides", str(exc)) from None


def _encode(cond: Section, merged: dict[str, Any]) -> tuple[str, ...]:
    out = []
    for key, value in merged.items():
        try:
            out.append(ov.format_override(key, value))
        except ValueError as exc:
            raise cond.error("overrides", f"{key}: {exc}") from None
    return tuple(out)


def reserved_keys(inject: dict[str, str | None]) -> dict[str, str]:
    """Config keys the planner sets per run (bare key → inject role)."""
    out: dict[str, str] = {}
    for role, key in inject.items():
        if key == AUTO_OUTPUT:
            out.update((k, role) for k in AUTO_OUTPUT_KEYS)
        elif key:
            out[ov.split_key(key)[1]] = role
    return out


def _check_reserved(cond: Section, merged: dict[str, Any], inject: dict) -> None:
    reserved = reserved_keys(inject)
    for key in merged:
        role = reserved.get(ov.split_key(key)[1])
        if role is not None:
            hint = ("use seeds / seed_start / seed_repeats" if role == "seed"
                    else "it is set by the planner (see run_defaults.inject)")
            raise cond.error("overrides", f"override '{key}' is reserved: {hint}")


def _resolve_seeds(levels: list[Section]) -> list[int] | range:
    """Nearest level that sets seeds/seed/seed_repeats wins; seed_start is inherited.
    Repeats stay a ``range`` (nothing allocated: the planner checks the run limit first)."""
    chosen = None
    for sec in reversed(levels):
        given = [k for k in ("seeds", "seed", "seed_repeats") if sec.has(k)]
        if given == ["seed", "seed_repeats"]:  # seed is the start of the repeats
            given = ["seed_repeats"]
        if len(given) > 1:
            raise sec.error(given[1], f"set only one of {', '.join(given)}")
        if given:
            chosen = (sec, given[0])
            break
    start = None
    for sec in reversed(levels):
        if sec.has("seed_start"):
            start = sec.int("seed_start")
            break
    if chosen is None:
        return [start if start is not None else 1]
    sec, key = chosen
    if key == "seeds":
        return sec.int_list("seeds")
    if key == "seed":
        return [sec.int("seed")]
    repeats = sec.int("seed_repeats", minimum=1)
    if start is None:
        start = sec.int("seed") if sec.has("seed") else levels[0].int("seed", 1)
    if start + repeats - 1 > numeric.INT64_MAX:
        raise sec.error("seed_repeats", f"seeds {start} .. {start + repeats - 1} do not fit in "
                                        f"64 bits")
    return range(start, start + repeats)


def _parse_reuse(cond: Section, reuse: Section | None, scenarios, seeds, repo_root: Path):
    if reuse is None:
        raise cond.error(None, "execution.mode is reuse_existing but reuse.runs is missing")
    reuse.check_keys(("runs",))
    runs = reuse.data.get("runs")
    if not isinstance(runs, list) or not runs:
        raise reuse.error("runs" if "runs" in reuse.data else None,
                          "reuse.runs must be a non-empty list of {source, scenario, seed, eval}")
    out = []
    for i, item in enumerate(runs):
        sec = Section.of(reuse.doc, reuse.path + ("runs", i), item, "a mapping")
        sec.check_keys(REUSE_RUN_KEYS)
        source = _reuse_path(sec, "source", repo_root, required=True)
        assert source is not None   # required=True: a missing source raised above
        evaluation = _reuse_path(sec, "eval", repo_root, required=False)
        scenario = sec.id("scenario", scenarios[0])
        seed = sec.int("seed", seeds[0])
        out.append((ReuseRef(source=source, eval=evaluation), scenario, seed))
    return tuple(out)


def _reuse_path(sec: Section, key: str, repo_root: Path, *, required: bool) -> str | None:
    """An earlier run's folder or evaluator file. Missing is a plan warning, not an error (a
    study is planned on machines that do not hold every old run); the reuse fails when run."""
    value = sec.str(key, required=required)
    if value is None:
        return None
    path = Path(os.path.expanduser(value))
    path = path if path.is_absolute() else repo_root / path
    resolved, exists = probe_path(sec.doc, sec.path + (key,), path)
    if not exists:
        sec.doc.warn(sec.path + (key,), f"{key} does not exist: {path} (the reuse fails when "
                                        f"run unless it appears)")
    return os.path.normpath(str(resolved))


def _derived_from_runs(study: Section) -> list:
    value = study.data.get("derived_from_runs")
    if value is None:
        return []
    if not isinstance(value, list):
        raise study.error("derived_from_runs", f"expected a list, got {describe(value)}")
    for i, item in enumerate(value):
        sec = Section.of(study.doc, study.path + ("derived_from_runs", i), item, "a mapping")
        sec.str("source_study_id", required=True)
        if not (sec.has("run_id") or sec.has("run_path")):
            raise sec.error(None, "needs run_id or run_path")
    return value


def python_executable() -> str:
    """Interpreter for runs and evaluator commands: $RUN_STUDY_PYTHON or this one."""
    return os.environ.get("RUN_STUDY_PYTHON") or sys.executable
