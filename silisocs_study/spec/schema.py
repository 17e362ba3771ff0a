"""JSON Schema (draft 2020-12) of both study formats, for editors and external validators.

The parser (``study_v1``, ``experiment``, ``evaluations``) is the authority; this schema
mirrors it: ``additionalProperties: false`` wherever the parser rejects unknown keys, and
``patternProperties`` for ids. Some rules can't be expressed here and are checked only by
the parser (unknown placeholders, scripts that must exist, ``!ref`` targets, run-id and
output-directory uniqueness, zip lengths, the YAML limits of ``yamlload``, finite numbers,
64-bit integers, the run limit). ``tests/test_schema.py`` checks that the property
lists below equal the parser's key tuples, so the two can't drift apart.

YAML's ``!ref NAME`` tag has no JSON equivalent: validate a YAML file after loading ``!ref X``
as the string ``X`` (the schema accepts a string there).
"""
from __future__ import annotations

import copy
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_PATTERN = r"^(?!.*__)[A-Za-z0-9][A-Za-z0-9._-]*$"
AXIS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
INLINE_OVERRIDE_PATTERN = r"(\.|^[+~])"   # run_defaults keys read as Hydra overrides

_REF = "#/$defs/"


def _ref(name: str) -> dict:
    return {"$ref": _REF + name}


def _obj(properties: dict, *, required: tuple[str, ...] = (), description: str = "",
         **extra: Any) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


_ANY: dict[str, Any] = {}
_STR = {"type": "string", "minLength": 1, "pattern": r"\S"}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer"}
_POS_NUMBER = {"type": "number", "exclusiveMinimum": 0}
_SECONDS = {**_POS_NUMBER, "description": "seconds: a finite number above 0, at most 1e9"}
_MODULE = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
           "description": "a dotted Python module name (python -m MODULE)"}
_STR_OR_NULL = {"type": ["string", "null"]}


def _template(where: str, extra: str = "") -> dict:
    return {"type": "string", "minLength": 1,
            "description": f"{where}; placeholders {{run_id}} {{study_name}} {{study_id}} "
                           f"{{hypothesis_id}} {{condition_id}} {{sub_experiment}} {{scenario}} "
                           f"{{seed}}{extra} (unknown placeholders are errors)"}


def _common_defs() -> dict[str, dict]:
    return {
        "id": {"type": "string", "pattern": ID_PATTERN,
               "description": "letters, digits, '.', '_', '-'; starts with a letter or digit; "
                              "no '__'"},
        "id_list": {"type": "array", "items": _ref("id"), "uniqueItems": True},
        "seed_list": {"type": "array", "items": _INT, "minItems": 1, "uniqueItems": True,
                      "description": "integers only (booleans are not seeds)"},
        "command": {"anyOf": [
            {"type": "string", "minLength": 1, "pattern": r"\S",
             "description": "shell-split into argv"},
            {"type": "array", "minItems": 1,
             "items": {"type": ["string", "integer", "number"]}}]},
        "overrides": {"type": "object",
                      "description": "Hydra overrides: key (x, +x, ++x, ~x name one config "
                                     "key) → value (scalar, list or mapping)",
                      "propertyNames": {"pattern": r"^(\+\+|\+|~)?[^\s=+~]+$"}},
        "inject": _obj({role: {"type": ["string", "null"],
                               "description": f"override key that receives the run's {role}; "
                                              f"null to not pass it"}
                        for role in ("seed", "run_name", "experiment_name", "output_dir",
                                     "scenario")},
                       description="which Hydra keys the planner sets per run"),
        "evaluator": _obj({
            "id": _ref("id"),
            "preset": {"type": "string", "description": "a builtin preset, e.g. "
                                                        "builtin.action_metrics_detailed"},
            "command": _ref("command"),
            "static_args": {"type": "array",
                            "items": {"type": ["string", "integer", "number", "boolean"]}},
            "input_mode": {"enum": ["run_dir", "explicit_paths"]},
            "run_dir_arg": _STR,
            "output_arg": _STR,
            "explicit_args": _obj({k: _STR for k in ("checkpoint", "effective_config",
                                                     "metrics", "prompts", "run_stats")}),
            "include_run_dir_in_explicit": _BOOL,
            "output_subpath": {"type": "string", "minLength": 1,
                               "not": {"pattern": r"(^/|(^|/)\.\.(/|$))"},
                               "description": "relative, inside the evaluator folder"},
            "manage_io_args": _BOOL,
            "enabled": _BOOL,
            "timeout_seconds": _SECONDS,
            "description": _ANY,
            "notes": _ANY,
        }, description="an evaluator: a preset, a command, or a preset with its command "
                       "replaced; commands may also use {run_dir} {output_path} {python}",
           anyOf=[{"required": ["preset"]}, {"required": ["command"]}]),
        "evaluations": {"type": "array", "items": _ref("evaluator")},
    }


def _seed_props() -> dict:
    return {"seeds": _ref("seed_list"), "seed": _INT, "seed_start": _INT,
            "seed_repeats": {"type": "integer", "minimum": 1}}


def _study_defs() -> dict[str, dict]:
    seeds = _seed_props()
    run_defaults = _obj({
        "config_path": _template("Hydra --config-path, relative to the repo root"),
        "runner_module": {**_MODULE, "default": "silisocs.runtime.runner"},
        "run_name_template": {**_template("the run_name passed to the app"),
                              "default": "{study_id}_{hypothesis_id}_{condition_id}_"
                                         "{scenario}_seed{seed}"},
        "output_root_override": _template("run directory"),
        "working_directory": _template("cwd of the run"),
        "overrides": _ref("overrides"),
        "scenario": _ref("id"),
        "scenarios": _ref("id_list"),
        "checkpoint_every_n_steps": {"anyOf": [{"type": "integer", "minimum": 0},
                                               {"const": False}, {"type": "null"}]},
        "max_concurrent": {"type": "integer", "minimum": 1},
        "timeout_seconds": _SECONDS,
        "inject": _ref("inject"),
        **seeds,
    }, description="defaults for every condition; keys containing '.' (or starting with "
                   "'+'/'~') are inline Hydra overrides",
       patternProperties={INLINE_OVERRIDE_PATTERN: _ANY})
    study = _obj({
        "name": _STR,
        "study_id": _ref("id"),
        "question": _ANY,
        "scenarios": _ref("id_list"),
        "base_scenarios": _ref("id_list"),
        "study_version": _ANY,
        "parent_studies": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "derived_from_runs": {"type": "array", "items": {
            "type": "object", "required": ["source_study_id"],
            "anyOf": [{"required": ["run_id"]}, {"required": ["run_path"]}]}},
        "study_summary_path": _STR,
        "summary_log_path": _STR,
        "notes": _ANY,
        "run_defaults": _ref("run_defaults"),
        "description": _ANY,
        "authors": _ANY,
        "tags": _ANY,
    }, required=("name",))
    execution = _obj({
        "mode": {"enum": ["run", "reuse_existing"], "default": "run"},
        "command": {**_ref("command"), "description": "exact command (templated; also "
                                                      "{python} and {run_dir}, the run's "
                                                      "folder); replaces python -m <runner> ..."},
        "re_evaluate": _BOOL,
        "output_root_override": _template("run directory"),
        "timeout_seconds": _SECONDS,
    })
    reuse = _obj({"runs": {"type": "array", "minItems": 1, "items": _obj({
        "source": {**_STR, "description": "an existing run directory"},
        "scenario": _ref("id"),
        "seed": _INT,
        "eval": {**_STR, "description": "an existing evaluator output"},
    }, required=("source",))}}, required=("runs",))
    condition = _obj({
        "overrides": _ref("overrides"),
        "scenarios": _ref("id_list"),
        "sub_experiment": {**_ref("id"), "description": "defaults to the condition id"},
        "config_path": _template("Hydra --config-path"),
        "working_directory": _template("cwd of the run"),
        "run_name_template": _template("the run_name passed to the app"),
        "output_root_override": _template("run directory"),
        "execution": _ref("execution"),
        "reuse": _ref("reuse"),
        "evaluations": _ref("evaluations"),
        "evaluation_mode": {"type": "string",
                            "pattern": "^([Aa][Pp][Pp][Ee][Nn][Dd]|[Rr][Ee][Pp][Ll][Aa][Cc][Ee])$",
                            "default": "append"},
        "description": _ANY,
        "notes": _ANY,
        "analysis": _ANY,
        "metadata": _ANY,
        "label": _ANY,
        **seeds,
    })
    hypothesis = _obj({
        "statement": _ANY,
        "independent_variable": _ANY,
        "prediction": _ANY,
        "status": _ANY,
        "follows_from": _ANY,
        "motivation": _ANY,
        "analysis": _ANY,
        "finding": _ANY,
        "notes": _ANY,
        "metadata": _ANY,
        "description": _ANY,
        "reference": _ANY,
        "overrides": _ref("overrides"),
        "conditions": {"type": "object", "minProperties": 1,
                       "patternProperties": {ID_PATTERN: _ref("condition")},
                       "additionalProperties": False},
        "scenarios": _ref("id_list"),
        **seeds,
    }, required=("conditions",))
    study_file = _obj({
        "schema_version": {"const": 1},
        "study": _ref("study_section"),
        "hypotheses": {"type": "object", "minProperties": 1,
                       "patternProperties": {ID_PATTERN: _ref("hypothesis")},
                       "additionalProperties": False},
        "evaluations": _ref("evaluations"),
        "analysis": _ref("analysis"),
        "adaptive": _ref("adaptive"),
        "notes": _ANY,
        "metadata": _ANY,
    }, required=("schema_version", "study", "hypotheses"),
        title="silisocs study.yaml (schema_version 1)")
    return {"study_file": study_file, "study_section": study, "run_defaults": run_defaults,
            "hypothesis": hypothesis, "condition": condition, "execution": execution,
            "reuse": reuse}


def _analysis_values() -> dict[str, Any]:
    """The value keys of an ``analysis:`` block (spec/analysis.py VALUE_KEYS)."""
    unit = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
    return {
        "metric": {**_STR, "description": "primary metric <eval_id>.<metric> (experiments: a "
                                          "score name)"},
        "metrics": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _STR},
        "direction": {"enum": ["higher", "lower", "two-sided"]},
        "delta": {"anyOf": [_POS_NUMBER, {"type": "string", "pattern": r"^\s*[0-9.eE+-]+\s*%\s*$"}],
                  "description": "smallest effect of interest: absolute, or 'N%' of the "
                                 "reference mean"},
        "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
        "interval": {"enum": ["t", "bootstrap"], "default": "t"},
        "power": unit,
        "half_width": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "resamples": {"type": "integer", "minimum": 100, "maximum": 1000000},
    }


def _analysis_defs() -> dict[str, dict]:
    values = _analysis_values()
    per_hypothesis = _obj({**values, "reference": _STR})
    return {
        "analysis": _obj({**values, "hypotheses": {
            "type": "object", "patternProperties": {ID_PATTERN: _ref("analysis_hypothesis")},
            "additionalProperties": False}},
            description="what each hypothesis claims and what effect matters (verdicts)"),
        "analysis_hypothesis": per_hypothesis,
        "experiment_analysis": _obj({**values, "compare": _STR, "reference": _STR},
                                    description="compare: the axis whose values are "
                                                "compared; reference: one of its values"),
    }


def _adaptive_defs() -> dict[str, dict]:
    """The ``adaptive:`` block (spec/adaptive.py VALUE_KEYS)."""
    seeds = {"type": "integer", "minimum": 2}
    values = {
        "decide": {"const": True, "description": "stop an arm once its contrast is decided"},
        "half_width": {"anyOf": [_POS_NUMBER, {"type": "string",
                                               "pattern": r"^\s*[0-9.eE+-]+\s*%\s*$"}],
                       "description": "stop an arm once its interval is within ±ε (or 'N%' "
                                      "of |mean|)"},
        "metric": _STR, "min_seeds": seeds, "max_seeds": seeds,
        "round_size": {"type": "integer", "minimum": 1},
        "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
        "per_scenario": {"type": "boolean", "default": False,
                         "description": "decide: one arm per condition × scenario"},
    }
    return {
        "adaptive": _obj({**values, "hypotheses": {
            "type": "object", "patternProperties": {ID_PATTERN: _ref("adaptive_hypothesis")},
            "additionalProperties": False}},
            description="adaptive seeds: run each arm until its answer is clear"),
        "adaptive_hypothesis": _obj({**values, "enabled": {"type": "boolean"}}),
        "experiment_adaptive": _obj(values, description="adaptive seeds per axis value"),
    }


def _experiment_defs() -> dict[str, dict]:
    scalar = {"type": ["string", "number", "integer", "boolean", "null"]}
    axis_values = {"type": "array", "minItems": 1, "uniqueItems": True, "items": scalar}
    seeds_axis = {"anyOf": [{"type": "integer", "minimum": 1,
                             "description": "N → seeds 0..N-1"}, _ref("seed_list")]}
    axis_object = _obj({"values": axis_values,
                        "override": {"type": ["string", "null"],
                                     "description": "Hydra key (default: the singular axis "
                                                    "name); null: name-only axis"}},
                       required=("values",))
    scenario = _obj({
        "runner_module": _MODULE,
        "config_path": _template("Hydra --config-path", " and the singular axis names"),
        "overrides": _ref("overrides"),
        "command": _ref("command"),
        "working_directory": _template("cwd of the run", " and the singular axis names"),
        "evaluations": _ref("evaluations"),
        "inject": _ref("inject"),
        "timeout_seconds": _SECONDS,
        "description": _ANY,
        "notes": _ANY,
    }, description="what one run of an experiment executes")
    assignment = {"type": "object", "minProperties": 1, "additionalProperties": scalar,
                  "description": "axis (plural or singular name) → one value"}
    experiment = _obj({
        "scenario": {"anyOf": [
            {"type": "string", "description": "!ref NAME: a scenario.NAME block of this file"},
            _ref("scenario")]},
        "path": {"type": "string", "minLength": 1,
                 "default": "data/experiments/{name}_{date}_{seq}",
                 "description": "output folder; {date} = YYYY-MM-DD, {seq} = next free "
                                "number (3 digits), {name} = experiment name"},
        "name": {"type": "string", "minLength": 1,
                 "description": "run name template over the singular axis names (and "
                                "{experiment}); must render to a unique id per run"},
        "axes": {"type": "object", "minProperties": 1,
                 "propertyNames": {"pattern": AXIS_PATTERN},
                 "properties": {"seeds": {"anyOf": [seeds_axis, axis_object]}},
                 "additionalProperties": {"anyOf": [axis_values, axis_object]}},
        "mode": {"enum": ["iterate", "sample"], "default": "iterate"},
        "samples": {"type": "integer", "minimum": 1},
        "seed": {**_INT, "description": "sampling seed (mode: sample)"},
        "zip": {"type": "array", "items": {"type": "array", "minItems": 2,
                                           "items": {"type": "string"}}},
        "exclude": {"type": "array", "items": assignment},
        "include": {"type": "array", "items": assignment},
        "post_actions": {"type": "array", "items": {"anyOf": [
            {"type": "string", "pattern": r"^\s*report(\s+--show)*\s*$"},
            _obj({"shell": _STR}, required=("shell",))]}},
        "description": _ANY,
        "notes": _ANY,
        "question": _ANY,
        "analysis": _ref("experiment_analysis"),
        "adaptive": _ref("experiment_adaptive"),
    }, required=("scenario", "axes"))
    named = {"type": "object", "propertyNames": {"pattern": ID_PATTERN}}
    experiment_file = {
        "type": "object", "title": "experiment spec (experiment.<name> / scenario.<name>)",
        "properties": {
            "experiment": {**named, "additionalProperties": _ref("experiment")},
            "scenario": {**named, "additionalProperties": _ref("scenario")},
        },
        "patternProperties": {r"^experiment\." + ID_PATTERN[1:]: _ref("experiment"),
                              r"^scenario\." + ID_PATTERN[1:]: _ref("scenario")},
        "additionalProperties": False,
        "minProperties": 1,
    }
    return {"experiment_file": experiment_file, "experiment": experiment,
            "scenario": scenario}


def json_schema(which: str = "both") -> dict:
    """The schema of ``"study"`` files, ``"experiment"`` specs, or ``"both"`` (either one)."""
    if which not in ("study", "experiment", "both"):
        raise ValueError(f"which must be study, experiment or both, got {which!r}")
    defs = {**_common_defs(), **_analysis_defs(), **_adaptive_defs()}
    if which in ("study", "both"):
        defs.update(_study_defs())
    if which in ("experiment", "both"):
        defs.update(_experiment_defs())
    root: dict[str, Any] = {"$schema": DRAFT}
    if which == "study":
        root.update(title=defs["study_file"]["title"], **_ref("study_file"))
    elif which == "experiment":
        root.update(title=defs["experiment_file"]["title"], **_ref("experiment_file"))
    else:
        root.update(title="silisocs study file (study.yaml or experiment spec)",
                    oneOf=[_ref("study_file"), _ref("experiment_file")])
    root["$defs"] = copy.deepcopy(defs)
    return root
