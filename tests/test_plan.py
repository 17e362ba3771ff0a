"""The planner: fingerprints, filters, uniqueness, plan.json rows, Hydra-exact job overrides."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from silisocs_study.errors import StudyError
from silisocs_study.plan import Filters, argv, build_plan, job_overrides
from silisocs_study.planfile import (argv_from_plan_row, cwd_from_plan_row, load_plan_json,
                                     write_plan_json)
from silisocs_study.spec import load_study

PY = "/opt/py/bin/python"

BASE = """
schema_version: 1
study:
  name: fp
  scenarios: [a, b]
  run_defaults:
    runner_module: app.main
    config_path: conf
    seeds: [1, 2]
    overrides: {num_agents: 10}
hypotheses:
  h1:
    conditions:
      c1:
        overrides: {sim.mode: fast}
      c2:
        overrides: {sim.mode: slow}
      c3:
        execution: {command: [./run.sh, --seed, "{seed}", --scenario, "{scenario}"]}
  h2:
    conditions:
      c1:
        config_path: "per/{scenario}"
"""


def plan_text(tmp_path: Path, text: str, name: str = "study.yaml", filters=None):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return build_plan(load_study(path, tmp_path), filters)


def fingerprints(tmp_path: Path, text: str) -> dict[str, str]:
    return {r.run_id: r.fingerprint for r in plan_text(tmp_path, text).runs}


# -- fingerprints -------------------------------------------------------------------------------

def test_fingerprint_is_stable_and_distinct(tmp_path):
    one = fingerprints(tmp_path, BASE)
    two = fingerprints(tmp_path / ".." / tmp_path.name, BASE)
    assert one == two
    assert len(set(one.values())) == len(one) == 16


def _changed(before: dict, after: dict) -> set[str]:
    assert before.keys() <= after.keys() or after.keys() <= before.keys()
    return {k for k in before.keys() & after.keys() if before[k] != after[k]}


@pytest.mark.parametrize("old, new, affected", [
    # an override of one condition: exactly that condition's runs
    ("sim.mode: fast}", "sim.mode: faster}", {"h1__c1__"}),
    # a shared override: every runner run (the exact-command runs don't use overrides)
    ("num_agents: 10}", "num_agents: 11}", {"h1__c1__", "h1__c2__", "h2__c1__"}),
    # a prefix is part of what runs: '+key' differs from 'key'
    ("{sim.mode: slow}", "{+sim.mode: slow}", {"h1__c2__"}),
    # static config path: every runner run; templated config path: that condition's runs
    ("config_path: conf", "config_path: conf2", {"h1__c1__", "h1__c2__"}),
    ('config_path: "per/{scenario}"', 'config_path: "per2/{scenario}"', {"h2__c1__"}),
    # the command of an exact-command condition
    ("--scenario, \"{scenario}\"]", "--scenario, \"{scenario}\", -v]", {"h1__c3__"}),
    # the runner
    ("runner_module: app.main", "runner_module: app.other", {"h1__c1__", "h1__c2__", "h2__c1__"}),
])
def test_fingerprint_changes_exactly_for_affected_runs(tmp_path, old, new, affected):
    assert old in BASE
    before = fingerprints(tmp_path, BASE)
    after = fingerprints(tmp_path, BASE.replace(old, new))
    expected = {k for k in before if any(k.startswith(a) for a in affected)}
    assert _changed(before, after) == expected


def test_fingerprint_of_seed_and_scenario(tmp_path):
    before = fingerprints(tmp_path, BASE)
    after = fingerprints(tmp_path, BASE.replace("seeds: [1, 2]", "seeds: [1, 2, 3]"))
    assert _changed(before, after) == set()
    assert len(after) == 24 and len(set(after.values())) == 24
    # same runner, overrides, config: scenario and seed still tell runs apart
    assert before["h1__c1__a__seed1"] != before["h1__c1__a__seed2"]
    assert before["h1__c1__a__seed1"] != before["h1__c1__b__seed1"]


@pytest.mark.parametrize("extra", [
    '    run_name_template: "{run_id}_named"\n',
    '    output_root_override: "elsewhere/{hypothesis_id}/{condition_id}/{scenario}/{seed}"\n',
    '    working_directory: "wd"\n',
])
def test_fingerprint_ignores_names_and_places(tmp_path, extra):
    before = fingerprints(tmp_path, BASE)
    text = BASE.replace("    seeds: [1, 2]\n", "    seeds: [1, 2]\n" + extra)
    assert text != BASE
    assert fingerprints(tmp_path, text) == before


def test_fingerprint_ignores_evaluators_and_metadata(tmp_path):
    before = fingerprints(tmp_path, BASE)
    text = BASE.replace("hypotheses:\n  h1:\n",
                        "evaluations: [{preset: builtin.activity_summary}]\n"
                        "hypotheses:\n  h1:\n    statement: changed\n")
    assert fingerprints(tmp_path, text) == before


# -- filters ------------------------------------------------------------------------------------

def test_filters_are_comma_lists_repeatable_and_anded(tmp_path):
    f = Filters.parse(hypothesis=["h1", "h2"], condition="c1, c2", seed=["2"])
    plan = plan_text(tmp_path, BASE, filters=f)
    assert plan.total == 16
    assert [r.run_id for r in plan.runs] == ["h1__c1__a__seed2", "h1__c1__b__seed2",
                                             "h1__c2__a__seed2", "h1__c2__b__seed2",
                                             "h2__c1__a__seed2", "h2__c1__b__seed2"]
    plan = plan_text(tmp_path, BASE, filters=Filters.parse(
        run_id="h2__c1__b__seed1,h1__c3__a__seed2", hypothesis="h2"))
    assert [r.run_id for r in plan.runs] == ["h2__c1__b__seed1"]
    assert [r.run_id for r in plan_text(tmp_path, BASE, filters=Filters.parse(
        sub_experiment="c3")).runs][:1] == ["h1__c3__a__seed1"]


def test_filters_that_match_nothing_together_are_not_an_error(tmp_path):
    plan = plan_text(tmp_path, BASE, filters=Filters.parse(hypothesis="h2", condition="c2"))
    assert plan.runs == [] and plan.total == 16


@pytest.mark.parametrize("kwargs, message", [
    ({"hypothesis": "h1,h9"}, "--only-hypothesis: no run has 'h9'"),
    ({"condition": ["c1", "c4"]}, "--only-condition: no run has 'c4'"),
    ({"seed": "1,3"}, "--only-seed: no run has '3'"),
    ({"seed": "one"}, "--only-seed must be a comma-separated list of integers, got 'one'"),
    ({"sub_experiment": "x"}, "--only-sub-experiment: no run has 'x'"),
    ({"run_id": "h1__c1__a__seed"}, "--only-run-id: no run has 'h1__c1__a__seed'"),
])
def test_filter_naming_an_unknown_id_is_an_error(tmp_path, kwargs, message):
    with pytest.raises(StudyError) as info:
        plan_text(tmp_path, BASE, filters=Filters.parse(**kwargs))
    assert info.value.format().startswith(message)


def test_filters_round_trip_as_cli_flags():
    f = Filters.parse(hypothesis="h2,h1", seed=["10", "2"], run_id="x")
    assert f.as_args() == ["--only-hypothesis", "h1,h2", "--only-seed", "2,10",
                           "--only-run-id", "x"]
    assert Filters.parse(hypothesis=f.as_args()[1], seed=f.as_args()[3], run_id="x") == f


# -- plan.json rows are enough to run ---------------------------------------------------------

HOSTILE = ["it's", 'say "hi"', "$(touch PWNED)", "`touch PWNED2`", "line1\nline2",
           "ünïcødé ✓ 日本", "a; rm -rf /tmp/x", "a && b || c", "*.py", "?[ab]", "${HOME}",
           "--flag", "", "back\\slash\\", "tab\there", "~user", "100", "true", "null",
           "1e-3", "a=b,c", "[1, 2]", "{k: v}", "#comment", "'", '"', "\\", "$", " lead"]


def hostile_study(root: Path) -> str:
    overrides = "".join(f"          sim.v{i}: {json.dumps(v)}\n" for i, v in enumerate(HOSTILE))
    head = textwrap.dedent("""\
        schema_version: 1
        study:
          name: "Hostile 'study' $(x) ✓"
          study_id: hostile
          scenarios: [a, b.c]
          run_defaults:
            runner_module: app.main
            config_path: conf dir
            seeds: [1, -2]
            inject: {scenario: scenario}
            overrides:
              sim.list: [1, "two", null, true, 2.5, "it's"]
              sim.map: {k: "v w", n: 3, "x.y": ["$(z)"]}
              +sim.added: "a b"
              ~sim.removed: null
        hypotheses:
          h1:
            conditions:
              runner:
                overrides:
        """)
    tail = textwrap.dedent("""\
              per_scenario:
                config_path: "cfg/{scenario}"
                working_directory: "wd/{scenario}"
                run_name_template: "{study_name} {seed}"
              exact:
                working_directory: "somewhere else"
                execution:
                  command: [python3, -c, "import sys; print(sys.argv)", "$(x) {run_id} {{lit}}",
                            "it's \\"q\\"", 3]
              outside:
                output_root_override: "/tmp/silisocs outside/{run_id}"
              adopted:
                execution: {mode: reuse_existing}
                reuse:
                  runs: [{source: old run}]
        """)
    return head + overrides + textwrap.indent(tail, "      ")


@pytest.fixture
def hostile_plan(tmp_path):
    root = tmp_path / "repo with 'quotes' and $dollar"
    (root / "old run").mkdir(parents=True)
    return plan_text(root, hostile_study(root))


def test_hostile_study_plans(hostile_plan):
    assert len(hostile_plan.runs) == 4 * 4 + 1
    assert hostile_plan.runs[-1].run_id == "h1__adopted__reuse_0"


def test_plan_json_rows_rebuild_argv_and_cwd(hostile_plan, tmp_path):
    out = tmp_path / "plan.json"
    write_plan_json(hostile_plan, out, PY)
    doc = load_plan_json(out)
    assert len(doc["runs"]) == len(hostile_plan.runs) == doc["selected_runs"]
    for run, row in zip(hostile_plan.runs, doc["runs"], strict=True):
        assert row["run_id"] == run.run_id
        assert argv_from_plan_row(doc, row) == argv(run, PY)
        assert argv_from_plan_row(doc, row, "/other/python") == argv(run, "/other/python")
        assert cwd_from_plan_row(doc, row) == run.working_directory
    # and it is a real rebuild: the study file is not needed
    assert any(a for a in argv(hostile_plan.runs[0], PY) if "ünïcødé" in a)


def test_plan_json_rows_rebuild_argv_for_experiments(tmp_path):
    root = Path(__file__).resolve().parents[1]
    for spec in ("mutualism", "hypersearch"):
        plan = build_plan(load_study(root / f"examples/experiments/{spec}.yaml", tmp_path))
        out = tmp_path / f"{spec}.json"
        write_plan_json(plan, out, PY)
        doc = json.loads(out.read_text())
        rebuilt = [argv_from_plan_row(doc, row) for row in doc["runs"]]
        assert rebuilt == [argv(r, PY) for r in plan.runs]
        assert doc["groups"][plan.runs[0].group.key]["axis_keys"]


def test_job_overrides_parse_back_to_the_authored_values(hostile_plan):
    """Every job override, through Hydra's own parser (and OmegaConf), is what was written."""
    parser = OverridesParser.create()
    run = hostile_plan.runs[0]
    group = run.group
    parsed = parser.parse_overrides(job_overrides(run))
    assert len(parsed) == len(job_overrides(run))

    def value(o):
        if o.is_delete():
            return None
        cfg = OmegaConf.create({"v": o.value()})
        return OmegaConf.to_container(cfg, resolve=True)["v"]

    got = {o.input_line.split("=", 1)[0]: value(o) for o in parsed}
    want = dict(group.overrides)
    want.update({"seed": run.seed, "scenario": run.scenario, "run_name": run.run_name,
                 "experiment_name": "Hostile 'study' $(x) ✓", "++output_dir": run.output_dir})
    assert got == want
    for i, v in enumerate(HOSTILE):
        assert got[f"sim.v{i}"] == v and type(got[f"sim.v{i}"]) is str
    kinds = {o.input_line.split("=", 1)[0]: o.type.name for o in parsed}
    assert (kinds["+sim.added"], kinds["~sim.removed"], kinds["++output_dir"]) == (
        "ADD", "DEL", "FORCE_ADD")


def test_runs_with_output_outside_root_keep_absolute_dirs(hostile_plan):
    outside = [r for r in hostile_plan.runs if r.group.condition == "outside"]
    assert outside[0].output_dir == "/tmp/silisocs outside/h1__outside__a__seed1"


# -- uniqueness ---------------------------------------------------------------------------------

def test_two_conditions_sharing_output_dirs_is_an_error(tmp_path):
    with pytest.raises(StudyError, match=r"runs 'h1__c1__a__seed1' and 'h1__c2__a__seed1' "
                                         r"share the output directory .*/shared/a/1 "):
        plan_text(tmp_path, """
            schema_version: 1
            study:
              name: s
              scenarios: [a]
              run_defaults: {output_root_override: "shared/{scenario}/{seed}"}
            hypotheses: {h1: {conditions: {c1: {}, c2: {}}}}
            """)


def test_absolute_output_templates_may_leave_the_repo(tmp_path):
    plan = plan_text(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults: {output_root_override: "/var/tmp/x/../runs/{run_id}"}
        hypotheses: {h1: {conditions: {c1: {}}}}
        """)
    assert plan.runs[0].output_dir == "/var/tmp/runs/h1__c1__a__seed1"


def test_relative_template_staying_inside_with_dotdot_is_fine(tmp_path):
    plan = plan_text(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults: {output_root_override: "x/../runs/{run_id}"}
        hypotheses: {h1: {conditions: {c1: {}}}}
        """)
    assert plan.runs[0].output_dir == f"{tmp_path}/runs/h1__c1__a__seed1"


def test_climbing_working_directory_of_an_experiment_is_an_error(tmp_path):
    (tmp_path / "exp.yaml").write_text(textwrap.dedent("""
        experiment.x:
          scenario:
            runner_module: app
            working_directory: "{agent}/../.."
          axes: {agents: [a]}
        """))
    with pytest.raises(StudyError, match=r"x/x: working_directory: path 'a/\.\./\.\.' climbs "
                                         r"out of the repo root"):
        build_plan(load_study(tmp_path / "exp.yaml", tmp_path))
