"""The JSON Schema of both formats: structure, no drift from the parser, and it validates.

`jsonschema` is not a dependency, so a small validator for exactly the keywords the schema
uses lives here; a test makes sure the schema uses no keyword it does not understand.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from silisocs_study.spec import analysis as analysis_block
from silisocs_study.spec import adaptive as adaptive_block
from silisocs_study.spec import evaluations, experiment, study_v1
from silisocs_study.spec.fields import ID_RE
from silisocs_study.spec.schema import ID_PATTERN, json_schema
from silisocs_study.spec.yamlload import Ref, load_document

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "bad_studies"

ANNOTATIONS = {"$schema", "title", "description", "default"}
ASSERTIONS = {"$ref", "$defs", "type", "properties", "patternProperties", "additionalProperties",
              "required", "enum", "const", "anyOf", "oneOf", "not", "items", "minItems",
              "uniqueItems", "minProperties", "propertyNames", "pattern", "minLength",
              "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}


# -- a minimal draft 2020-12 validator for the keywords above -------------------------------------

def _type_ok(value: Any, name: str) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "null": value is None,
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[name]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def errors(schema: Any, value: Any, root: dict, path: str = "$") -> list[str]:
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{path}: not allowed"]
    out: list[str] = []
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        out += errors(target, value, root, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            return out + [f"{path}: expected {types}, got {value!r}"]
    if "enum" in schema and _canon(value) not in {_canon(v) for v in schema["enum"]}:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if "const" in schema and _canon(value) != _canon(schema["const"]):
        out.append(f"{path}: {value!r} != {schema['const']!r}")
    for sub in ("anyOf", "oneOf"):
        if sub in schema:
            ok = sum(1 for s in schema[sub] if not errors(s, value, root, path))
            if ok == 0 or (sub == "oneOf" and ok > 1):
                out.append(f"{path}: {sub} matched {ok}")
    if "not" in schema and not errors(schema["not"], value, root, path):
        out.append(f"{path}: matches 'not'")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {value!r} !~ {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            out.append(f"{path}: too short")
    if _type_ok(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} < minimum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            out.append(f"{path}: {value} <= exclusiveMinimum")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} > maximum")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            out.append(f"{path}: {value} >= exclusiveMaximum")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{path}: too few items")
        if schema.get("uniqueItems") and len({_canon(v) for v in value}) != len(value):
            out.append(f"{path}: items not unique")
        if "items" in schema:
            for i, item in enumerate(value):
                out += errors(schema["items"], item, root, f"{path}[{i}]")
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0):
            out.append(f"{path}: too few properties")
        for key in schema.get("required", ()):
            if key not in value:
                out.append(f"{path}: missing {key}")
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key, item in value.items():
            sub = f"{path}.{key}"
            if "propertyNames" in schema:
                out += errors(schema["propertyNames"], key, root, sub + "<key>")
            matched = key in props
            if matched:
                out += errors(props[key], item, root, sub)
            for pattern, pschema in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    out += errors(pschema, item, root, sub)
            if not matched and "additionalProperties" in schema:
                out += errors(schema["additionalProperties"], item, root, sub)
    return out


def load_yaml(path: Path) -> Any:
    """A spec as a JSON document: `!ref X` becomes the string X."""
    def plain(v):
        if isinstance(v, Ref):
            return v.name
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    return plain(load_document(path).data)


def valid(which: str, data: Any) -> list[str]:
    schema = json_schema(which)
    return errors(schema, data, schema)


# -- structure ----------------------------------------------------------------------------------

def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key in ("properties", "patternProperties", "$defs"):
                for sub in value.values():
                    yield from _walk(sub)
            else:
                yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


@pytest.mark.parametrize("which", ["study", "experiment", "both"])
def test_schema_is_json_and_uses_only_known_keywords(which):
    schema = json_schema(which)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(json.dumps(schema)) == schema
    used = set().union(*(node.keys() for node in _walk(schema)))
    assert used <= ASSERTIONS | ANNOTATIONS, used - ASSERTIONS - ANNOTATIONS
    for node in _walk(schema):          # every $ref resolves
        if "$ref" in node:
            assert node["$ref"].removeprefix("#/$defs/") in schema["$defs"]


def test_bad_which_and_independent_copies():
    with pytest.raises(ValueError):
        json_schema("yaml")
    one = json_schema("both")
    one["$defs"]["condition"]["properties"].clear()
    assert json_schema("both")["$defs"]["condition"]["properties"]


DEFS = json_schema("both")["$defs"]


@pytest.mark.parametrize("schema_props, parser_keys", [
    (DEFS["study_file"]["properties"], study_v1.TOP_KEYS),
    (DEFS["study_section"]["properties"], study_v1.STUDY_KEYS),
    (DEFS["run_defaults"]["properties"], study_v1.DEFAULTS_KEYS),
    (DEFS["hypothesis"]["properties"], study_v1.HYPOTHESIS_KEYS),
    (DEFS["condition"]["properties"], study_v1.CONDITION_KEYS),
    (DEFS["execution"]["properties"], study_v1.EXECUTION_KEYS),
    (DEFS["reuse"]["properties"]["runs"]["items"]["properties"], study_v1.REUSE_RUN_KEYS),
    (DEFS["inject"]["properties"], study_v1.INJECT_ROLES),
    (DEFS["evaluator"]["properties"], evaluations.EVAL_KEYS),
    (DEFS["evaluator"]["properties"]["explicit_args"]["properties"],
     tuple(evaluations.EXPLICIT_DEFAULTS)),
    (DEFS["experiment"]["properties"], experiment.EXPERIMENT_KEYS),
    (DEFS["scenario"]["properties"], experiment.SCENARIO_KEYS),
    (DEFS["experiment"]["properties"]["axes"]["properties"]["seeds"]["anyOf"][1]["properties"],
     experiment.AXIS_KEYS),
    (DEFS["analysis"]["properties"], analysis_block.STUDY_KEYS),
    (DEFS["analysis_hypothesis"]["properties"], analysis_block.HYPOTHESIS_KEYS),
    (DEFS["experiment_analysis"]["properties"], analysis_block.EXPERIMENT_KEYS),
    (DEFS["adaptive"]["properties"], adaptive_block.STUDY_KEYS),
    (DEFS["adaptive_hypothesis"]["properties"], adaptive_block.HYPOTHESIS_KEYS),
    (DEFS["experiment_adaptive"]["properties"], adaptive_block.VALUE_KEYS),
], ids=["top", "study", "run_defaults", "hypothesis", "condition", "execution", "reuse_run",
        "inject", "evaluator", "explicit_args", "experiment", "scenario", "axis", "analysis",
        "analysis_hypothesis", "experiment_analysis", "adaptive", "adaptive_hypothesis",
        "experiment_adaptive"])
def test_schema_keys_equal_parser_keys(schema_props, parser_keys):
    """The parser's accepted keys and the schema's properties can't drift apart."""
    assert set(schema_props) == set(parser_keys)


def test_strict_objects_forbid_other_keys():
    for name in ("study_file", "study_section", "run_defaults", "hypothesis", "condition",
                 "execution", "reuse", "inject", "evaluator", "experiment", "scenario",
                 "experiment_file"):
        assert DEFS[name]["additionalProperties"] is False, name
    ids = DEFS["study_file"]["properties"]["hypotheses"]
    assert ids["additionalProperties"] is False and list(ids["patternProperties"]) == [ID_PATTERN]
    conds = DEFS["hypothesis"]["properties"]["conditions"]
    assert conds["additionalProperties"] is False and list(conds["patternProperties"]) == [
        ID_PATTERN]


@pytest.mark.parametrize("text", ["h1", "a.b-c_d", "9", "x__y", "__x", "_x", ".x", "-x", "a/b",
                                  "a b", "", "a_", "a_-_b", "ünï", "a__", "A.B"])
def test_id_pattern_matches_the_parser(text):
    assert bool(re.search(ID_PATTERN, text)) == bool(ID_RE.match(text) and "__" not in text)


# -- validation ---------------------------------------------------------------------------------

STUDIES = [ROOT / "examples/studies/recsys_behavior_sweep/study.yaml",
           CORPUS / "filters/study.yaml"]
EXPERIMENTS = [ROOT / "examples/experiments/mutualism.yaml",
               ROOT / "examples/experiments/hypersearch.yaml"]


@pytest.mark.parametrize("path", STUDIES + EXPERIMENTS, ids=lambda p: p.parent.name + "/" + p.name)
def test_examples_are_valid_for_their_format_only(path):
    data = load_yaml(path)
    mine, other = ("study", "experiment") if path in STUDIES else ("experiment", "study")
    assert valid(mine, data) == []
    assert valid("both", data) == []
    assert valid(other, data) != []


def test_a_full_study_is_valid():
    data = {
        "schema_version": 1,
        "study": {"name": "Full", "study_id": "full", "scenarios": ["a"],
                  "parent_studies": ["p"], "derived_from_runs": [{"source_study_id": "p",
                                                                  "run_id": "r"}],
                  "run_defaults": {"seeds": [1, 2], "sim.inline": 3, "+x": 1,
                                   "checkpoint_every_n_steps": False,
                                   "inject": {"scenario": "scenario", "seed": None}}},
        "evaluations": [{"preset": "builtin.activity_summary"},
                        {"command": ["{python}", "x.py"], "static_args": [1, True, "s"],
                         "explicit_args": {"metrics": "--m"}}],
        "hypotheses": {"h1": {"statement": "s", "seed_repeats": 2, "conditions": {
            "c1": {"execution": {"mode": "reuse_existing", "command": "x y"},
                   "reuse": {"runs": [{"source": "r", "seed": 3}]},
                   "evaluation_mode": "Replace", "sub_experiment": "s1"}}}},
    }
    assert valid("study", data) == []


@pytest.mark.parametrize("case", [
    "unknown_top_key", "unknown_study_key", "unknown_run_defaults_key", "unknown_hypothesis_key",
    "unknown_condition_key", "unknown_execution_key", "schema_version_missing",
    "schema_version_wrong", "schema_version_bool", "seeds_not_a_list", "seeds_with_bool",
    "seed_bool", "seed_repeats_zero", "seeds_duplicate", "seed_start_float", "hypotheses_empty",
    "hypotheses_missing", "conditions_empty", "conditions_missing", "hypothesis_id_slash",
    "hypothesis_id_double_underscore", "condition_id_leading_underscore", "scenario_id_invalid",
    "execution_mode_bad", "evaluation_mode_bad", "overrides_not_mapping",
    "evaluator_without_command", "evaluator_output_subpath_absolute", "reuse_runs_empty",
    "checkpoint_negative", "inject_unknown_role", "study_name_missing", "condition_not_mapping",
    "run_defaults_not_mapping", "hypothesis_scenarios_string", "overrides_bad_key",
    "exp_unknown_key", "exp_axes_missing", "exp_seeds_string", "exp_seeds_zero",
    "exp_seeds_bool", "exp_mode_unknown", "exp_post_action_unknown",
    "exp_post_action_shell_empty", "exp_scenario_unknown_key", "exp_name_invalid",
    "exp_unknown_top_key", "exp_axis_duplicate_value",
])
def test_schema_rejects_what_the_parser_rejects_by_shape(case):
    assert valid("both", load_yaml(CORPUS / f"{case}.yaml")) != []
