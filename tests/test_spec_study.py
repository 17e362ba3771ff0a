"""study.yaml (schema_version 1): inheritance, precedence, ordering, ids and rendering."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from silisocs_study.errors import StudyError
from silisocs_study.plan import argv, build_plan
from silisocs_study.spec import load_study
from silisocs_study.spec.study_v1 import DEFAULT_RUN_NAME, DEFAULT_RUNNER

PY = "/opt/py/bin/python"


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def plan_of(tmp_path: Path, text: str, name: str = "study.yaml"):
    return build_plan(load_study(write(tmp_path, text, name), tmp_path))


def by_group(plan) -> dict[str, list]:
    out: dict[str, list] = {}
    for run in plan.runs:
        out.setdefault(run.group.key, []).append(run)
    return out


def seeds_by_group(plan) -> dict[str, list]:
    return {k: sorted({r.seed for r in runs}, key=[r.seed for r in runs].index)
            for k, runs in by_group(plan).items()}


# -- seeds and scenarios ------------------------------------------------------------------------

def test_seeds_inherit_run_defaults_hypothesis_condition_nearest_wins(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults: {seeds: [1, 2]}
        hypotheses:
          h1:
            seeds: [10]
            conditions:
              c1: {seeds: [100, 101]}
              c2: {}
          h2:
            conditions:
              c3: {}
              c4: {seed: 7}
        """)
    assert seeds_by_group(plan) == {"h1/c1": [100, 101], "h1/c2": [10], "h2/c3": [1, 2],
                                    "h2/c4": [7]}


def test_scenarios_inherit_study_hypothesis_condition_nearest_wins(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [base_a, base_b]
        hypotheses:
          h1:
            scenarios: [hyp_s]
            conditions:
              c1: {scenarios: [cond_s, cond_t]}
              c2: {}
          h2:
            conditions:
              c3: {}
        """)
    got = {k: [r.scenario for r in runs] for k, runs in by_group(plan).items()}
    assert got == {"h1/c1": ["cond_s", "cond_t"], "h1/c2": ["hyp_s"],
                   "h2/c3": ["base_a", "base_b"]}


@pytest.mark.parametrize("study_block, expected", [
    ("base_scenarios: [x, y]", ["x", "y"]),
    ("run_defaults: {scenario: only}", ["only"]),
    ("run_defaults: {scenarios: [p, q]}", ["p", "q"]),
    ("scenarios: [s1]\n  base_scenarios: [ignored]", ["s1"]),
])
def test_base_scenario_fallbacks(tmp_path, study_block, expected):
    plan = plan_of(tmp_path, f"""
schema_version: 1
study:
  name: s
  {study_block}
hypotheses:
  h1:
    conditions:
      c1: {{}}
""")
    assert [r.scenario for r in plan.runs] == expected


@pytest.mark.parametrize("defaults, hyp, cond, expected", [
    ("seed_start: 11, seed_repeats: 3", "", "", [11, 12, 13]),
    ("seed_start: 11, seed_repeats: 3", "", "seed_repeats: 2", [11, 12]),
    ("seed_start: 11, seed_repeats: 3", "seed_start: 5", "seed_repeats: 2", [5, 6]),
    ("seed_start: 11, seed_repeats: 3", "seed_start: 5", "", [5, 6, 7]),
    ("seed_start: 11", "", "seed_repeats: 2, seed_start: 0", [0, 1]),
    ("seed: 7", "", "seed_repeats: 2", [7, 8]),    # seed_start defaults to run_defaults.seed
    ("", "", "seed_repeats: 3", [1, 2, 3]),       # ... else 1
    ("seed_start: 11, seed_repeats: 3", "", "seed: 4", [4]),
    ("seed_start: 11, seed_repeats: 3", "", "seeds: [9, -1, 3]", [9, -1, 3]),
    ("seed_repeats: 2", "seeds: [40, 41, 42]", "", [40, 41, 42]),
    ("", "", "", [1]),
    ("seed: 5", "", "", [5]),
    ("seed_start: 3", "", "", [3]),
    ("seed: 11, seed_repeats: 3", "", "", [11, 12, 13]),   # same level: seed starts the repeats
    ("seed: 11, seed_repeats: 3", "", "seed: 20, seed_repeats: 2", [20, 21]),
    ("seed: 11, seed_start: 2, seed_repeats: 2", "", "", [2, 3]),   # seed_start beats seed
])
def test_seed_start_and_repeats_rules(tmp_path, defaults, hyp, cond, expected):
    hyp_line = f"    {hyp}\n" if hyp else ""
    plan = plan_of(tmp_path, "schema_version: 1\nstudy:\n  name: s\n  scenarios: [a]\n"
                             f"  run_defaults: {{{defaults}}}\nhypotheses:\n  h1:\n{hyp_line}"
                             f"    conditions:\n      c1: {{{cond}}}\n")
    assert [r.seed for r in plan.runs] == expected


# -- overrides ----------------------------------------------------------------------------------

def test_override_prefixes_are_one_key_and_later_level_wins_with_its_prefix(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults:
            sim.llm.temperature: 0.7
            +sim.inline_only: on_inline
            overrides:
              +sim.x: 1
              num_agents: 10
              sim.llm.temperature: 0.2
              ~sim.drop: null
        hypotheses:
          h1:
            overrides:
              sim.x: 2
              ++num_agents: 20
            conditions:
              c1:
                overrides:
                  ++sim.x: 3
              c2: {}
              c3:
                overrides:
                  +sim.llm.temperature: 0.9
        """)
    groups = {g.key: g for g in plan.groups()}
    # order of a bare key's first appearance; the winning level's prefix and value
    assert list(groups["h1/c1"].override_args) == [
        "sim.llm.temperature=0.2", "+sim.inline_only=on_inline", "++sim.x=3",
        "++num_agents=20", "~sim.drop"]
    assert list(groups["h1/c2"].override_args) == [
        "sim.llm.temperature=0.2", "+sim.inline_only=on_inline", "sim.x=2",
        "++num_agents=20", "~sim.drop"]
    assert groups["h1/c3"].overrides["+sim.llm.temperature"] == 0.9
    assert "sim.llm.temperature" not in groups["h1/c3"].overrides
    run = next(r for r in plan.runs if r.group.key == "h1/c1")
    assert argv(run, PY)[3:8] == list(groups["h1/c1"].override_args)


def test_inline_dotted_override_with_prefix_then_overrides_mapping(tmp_path):
    """Inline keys are the lower level of run_defaults; `overrides` wins even across prefixes."""
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults:
            +env.size: 3
            overrides:
              env.size: 4
        hypotheses:
          h1: {conditions: {c1: {}}}
        """)
    assert plan.runs[0].group.override_args == ("env.size=4",)


def test_checkpoint_cadence_is_the_lowest_override_level(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults:
            checkpoint_every_n_steps: 5
        hypotheses:
          h1:
            conditions:
              c1: {}
              c2: {overrides: {++sim.checkpoint.every_n_steps: 9}}
        """)
    args = {g.key: g.override_args for g in plan.groups()}
    assert args == {"h1/c1": ("sim.checkpoint.every_n_steps=5",),
                    "h1/c2": ("++sim.checkpoint.every_n_steps=9",)}


def test_runner_command_shape_and_injections(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: My Study
          study_id: my_study
          scenarios: [a]
          run_defaults: {seeds: [3], overrides: {num_agents: 4}}
        hypotheses:
          h1: {conditions: {c1: {}}}
        """)
    run = plan.runs[0]
    out = f"{tmp_path}/runs/h1/c1/a/seed_3/run"
    assert run.output_dir == out
    assert run.run_name == "my_study_h1_c1_a_seed3"
    assert argv(run, PY) == [PY, "-m", DEFAULT_RUNNER, "num_agents=4", "seed=3",
                             "run_name=my_study_h1_c1_a_seed3",
                             "experiment_name='My Study'", f"++output_dir={out}"]
    assert DEFAULT_RUN_NAME == "{study_id}_{hypothesis_id}_{condition_id}_{scenario}_seed{seed}"


# -- ordering and ids ---------------------------------------------------------------------------

def test_order_is_as_written_and_run_ids(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [zeta, alpha]
          run_defaults: {seeds: [3, 1, 2]}
        hypotheses:
          zz:
            conditions:
              b: {}
              a: {seeds: [10, 2]}
          aa:
            conditions:
              only: {scenarios: [m]}
        """)
    assert [r.run_id for r in plan.runs] == [
        "zz__b__zeta__seed3", "zz__b__zeta__seed1", "zz__b__zeta__seed2",
        "zz__b__alpha__seed3", "zz__b__alpha__seed1", "zz__b__alpha__seed2",
        "zz__a__zeta__seed10", "zz__a__zeta__seed2", "zz__a__alpha__seed10",
        "zz__a__alpha__seed2",
        "aa__only__m__seed3", "aa__only__m__seed1", "aa__only__m__seed2"]
    assert [r.index for r in plan.runs] == list(range(13))


def test_reuse_runs_ids_defaults_and_position(tmp_path):
    for d in ("old/one", "old/two", "old/eval.json"):
        (tmp_path / d).mkdir(parents=True)
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a, b]
          run_defaults: {seeds: [5, 6]}
        hypotheses:
          h1:
            conditions:
              before: {seeds: [1]}
              adopted:
                execution: {mode: reuse_existing, re_evaluate: true}
                reuse:
                  runs:
                    - source: old/one
                    - {source: old/two, scenario: b, seed: 9, eval: old/eval.json}
              after: {seeds: [1]}
        """)
    ids = [r.run_id for r in plan.runs]
    assert ids == ["h1__before__a__seed1", "h1__before__b__seed1", "h1__adopted__reuse_0",
                   "h1__adopted__reuse_1", "h1__after__a__seed1", "h1__after__b__seed1"]
    r0, r1 = plan.runs[2], plan.runs[3]
    assert (r0.scenario, r0.seed, r0.reuse.source, r0.reuse.eval) == (
        "a", 5, str(tmp_path / "old/one"), None)
    assert (r1.scenario, r1.seed, r1.reuse.eval) == ("b", 9, str(tmp_path / "old/eval.json"))
    assert r0.run_name == r0.run_id and r0.output_dir == r0.reuse.source
    assert r0.group.re_evaluate is True and r0.mode == "reuse_existing"
    assert argv(r0, PY) == []


def test_sub_experiment_defaults_to_condition_id(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study: {name: s, scenarios: [a]}
        hypotheses:
          h1:
            conditions:
              c1: {}
              c2: {sub_experiment: shared}
              c3: {sub_experiment: shared}
        """)
    assert [g.sub_experiment for g in plan.groups()] == ["c1", "shared", "shared"]


def test_workspace_of_a_study_file_with_another_name(tmp_path):
    study = load_study(write(tmp_path, """
        schema_version: 1
        study: {name: Long Name, study_id: foo_v2, scenarios: [a]}
        hypotheses: {h1: {conditions: {c1: {}}}}
        """, "studies/foo.yaml"), tmp_path)
    assert study.workspace == tmp_path / "studies" / "foo_v2"
    assert study.name == "Long Name" and study.study_id == "foo_v2"
    plan = build_plan(study)
    assert plan.runs[0].output_dir.startswith(str(tmp_path / "studies/foo_v2/runs/h1/c1/a/"))


# -- evaluators ---------------------------------------------------------------------------------

EVAL_STUDY = """
    schema_version: 1
    study: {name: s, scenarios: [a]}
    evaluations:
      - preset: builtin.activity_summary
      - id: probes
        preset: builtin.probe_summary
      - command: "{python} -m my_eval --name {run_id}"
    hypotheses:
      h1:
        conditions:
          plain: {}
          more:
            evaluations:
              - preset: builtin.action_metrics_detailed
              - id: probes
                command: [my-probe-eval, --fast]
          only_local:
            evaluation_mode: REPLACE
            evaluations:
              - command: [x]
              - command: [y]
          none:
            evaluation_mode: replace
    """


def test_evaluation_mode_append_replace_and_default_ids(tmp_path):
    groups = {g.condition: g for g in plan_of(tmp_path, EVAL_STUDY).groups()}
    ids = {c: [e.id for e in g.evaluators] for c, g in groups.items()}
    assert ids == {"plain": ["eval_1", "probes", "eval_3"],
                   "more": ["eval_1", "probes", "eval_3", "condition_eval_1"],
                   "only_local": ["condition_eval_1", "condition_eval_2"],
                   "none": []}
    # a local evaluator with a global's id replaces it in place
    assert groups["more"].evaluators[1].command == ("my-probe-eval", "--fast")
    assert groups["plain"].evaluators[1].preset == "builtin.probe_summary"
    assert groups["plain"].evaluators[2].command == ("{python}", "-m", "my_eval", "--name",
                                                     "{run_id}")


def test_module_presets_run_in_process(tmp_path):
    groups = {g.condition: g for g in plan_of(tmp_path, EVAL_STUDY).groups()}
    first = groups["plain"].evaluators[0]
    assert first.builtin == "builtin.activity_summary"
    assert first.output_subpath == "activity_summary.json"
    assert groups["plain"].evaluators[2].builtin is None   # a command evaluator


def test_study_eval_script_beside_the_study_is_made_absolute(tmp_path):
    (tmp_path / "eval.py").write_text("print('ok')\n")
    plan = plan_of(tmp_path, """
        schema_version: 1
        study: {name: s, scenarios: [a]}
        evaluations:
          - preset: builtin.study_eval
        hypotheses: {h1: {conditions: {c1: {}}}}
        """)
    assert plan.runs[0].group.evaluators[0].command == ("{python}", str(tmp_path / "eval.py"))


# -- templates ----------------------------------------------------------------------------------

def test_templated_config_path_per_scenario(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [alpha, beta]
          run_defaults:
            runner_module: app.main
            config_path: "scenarios/{scenario}/conf"
        hypotheses:
          h1:
            conditions:
              c1: {}
              fixed: {config_path: /etc/app/conf}
        """)
    cfgs = [(r.group.condition, r.config_path) for r in plan.runs]
    assert cfgs == [("c1", f"{tmp_path}/scenarios/alpha/conf"),
                    ("c1", f"{tmp_path}/scenarios/beta/conf"),
                    ("fixed", "/etc/app/conf"), ("fixed", "/etc/app/conf")]
    assert argv(plan.runs[1], PY)[:5] == [PY, "-m", "app.main", "--config-path",
                                          f"{tmp_path}/scenarios/beta/conf"]


def test_working_directory_static_and_templated(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a, b]
          run_defaults: {working_directory: work}
        hypotheses:
          h1:
            conditions:
              c1: {}
              c2: {working_directory: "sandboxes/{scenario}_{seed}"}
              c3: {working_directory: /abs/dir}
          h2:
            conditions:
              default: {}
        """)
    wd = [(r.group.condition, r.working_directory) for r in plan.runs]
    assert wd == [("c1", f"{tmp_path}/work"), ("c1", f"{tmp_path}/work"),
                  ("c2", f"{tmp_path}/sandboxes/a_1"), ("c2", f"{tmp_path}/sandboxes/b_1"),
                  ("c3", "/abs/dir"), ("c3", "/abs/dir"),
                  ("default", f"{tmp_path}/work"), ("default", f"{tmp_path}/work")]


def test_working_directory_defaults_to_repo_root(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study: {name: s, scenarios: [a]}
        hypotheses: {h1: {conditions: {c1: {}}}}
        """)
    assert plan.runs[0].working_directory == str(tmp_path)


def test_exact_command_string_is_shell_split_and_rendered(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: My Study
          study_id: ms
          scenarios: [a]
          run_defaults: {seeds: [4, 5]}
        hypotheses:
          h1:
            conditions:
              str_cmd:
                sub_experiment: subx
                execution:
                  command: >-
                    ./train.sh --name '{run_id} with space' --seed={seed}
                    "{study_name}" {sub_experiment} {{literal}}
              list_cmd:
                execution:
                  command: [python, -c, "print('{scenario}; {seed}')", 3, 0.5]
        """)
    cmds = {r.run_id: argv(r, PY) for r in plan.runs}
    assert cmds["h1__str_cmd__a__seed5"] == [
        "./train.sh", "--name", "h1__str_cmd__a__seed5 with space", "--seed=5", "My Study",
        "subx", "{literal}"]
    assert cmds["h1__list_cmd__a__seed4"] == ["python", "-c", "print('a; 4')", "3", "0.5"]


def test_run_name_and_output_templates(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults:
            seeds: [7]
            run_name_template: "{hypothesis_id}-{condition_id}-{seed:03d}"
            output_root_override: "out/{study_id}/{run_id}"
        hypotheses:
          h1:
            conditions:
              c1: {}
              c2:
                execution: {output_root_override: "/data/{condition_id}/{seed}"}
              c3:
                output_root_override: "cond_out/{seed}"
                execution: {output_root_override: "ignored/{seed}"}
        """)
    got = [(r.run_name, r.output_dir) for r in plan.runs]
    assert got == [("h1-c1-007", f"{tmp_path}/out/s/h1__c1__a__seed7"),
                   ("h1-c2-007", "/data/c2/7"), ("h1-c3-007", f"{tmp_path}/cond_out/7")]


def test_template_errors_are_located(tmp_path):
    with pytest.raises(StudyError) as info:
        load_study(write(tmp_path, """
            schema_version: 1
            study:
              name: s
              scenarios: [a]
            hypotheses:
              h1:
                conditions:
                  c1:
                    run_name_template: "{scenario:>{seed}}"
            """), tmp_path)
    assert info.value.format().startswith(f"{tmp_path}/study.yaml:10:")


def test_hypothesis_metadata_and_study_meta(tmp_path):
    study = load_study(write(tmp_path, """
        schema_version: 1
        study:
          name: s
          question: Why?
          study_version: 3
          parent_studies: [p1]
          derived_from_runs: [{source_study_id: p1, run_id: r1}]
          scenarios: [a]
          study_summary_path: docs/SUMMARY.md
        hypotheses:
          h1:
            statement: more is more
            independent_variable: x
            prediction: up
            status: testing
            follows_from: [h0]
            metadata: {owner: me}
            conditions: {c1: {}}
        """), tmp_path)
    assert study.hypotheses["h1"] == {"statement": "more is more", "independent_variable": "x",
                                      "prediction": "up", "status": "testing",
                                      "follows_from": ["h0"], "metadata": {"owner": "me"}}
    assert study.meta["question"] == "Why?" and study.meta["study_version"] == 3
    assert study.meta["parent_studies"] == ["p1"]
    assert study.summary_path == tmp_path / "docs/SUMMARY.md"
    assert study.summary_log_path == tmp_path / "generated" / "summary_log.jsonl"


def test_example_recsys_study_plans(monkeypatch):
    root = Path(__file__).resolve().parents[1]
    plan = build_plan(load_study(root / "examples/studies/recsys_behavior_sweep", root))
    assert [r.seed for r in plan.runs] == [11, 12, 13, 11, 12, 13]
    assert {g.sub_experiment for g in plan.groups()} == {"bill_bias"}
    cmd = argv(plan.runs[0], PY)
    assert cmd[:5] == [PY, "-m", "examples.socialsim", "--config-path",
                       f"{root}/examples/socialsim/conf"]
    assert "scenario=election_recsys_engagement" in cmd


# -- YAML constructs that are accepted, and the limits (refusals are in tests/bad_studies) ----

def test_merge_keys_anchors_and_standard_tags_keep_their_meaning(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults:
            seeds: &seeds [1, 2]
            overrides: &base {num_agents: !!int "50", temperature: !!float 1, tag: !!str 007}
        hypotheses:
          h1:
            conditions:
              c1:
                overrides: {<<: *base, num_agents: 10}
              c2:
                seeds: *seeds
                overrides:
                  <<: [{x: 1}, {x: 2, y: 3}]
        """)
    groups = {g.key: g for g in plan.groups()}
    assert groups["h1/c1"].overrides == {"num_agents": 10, "temperature": 1.0, "tag": "007"}
    assert groups["h1/c2"].overrides == {"num_agents": 50, "temperature": 1.0, "tag": "007",
                                         "x": 1, "y": 3}   # earlier merge sources win
    assert seeds_by_group(plan)["h1/c2"] == [1, 2]


def test_nesting_and_integer_limits_are_exact(tmp_path):
    from silisocs_study.spec.yamlload import MAX_DEPTH

    def study(value: str) -> str:
        return ("schema_version: 1\nstudy: {name: s, scenarios: [a]}\nhypotheses:\n  h1:\n"
                f"    conditions:\n      c1:\n        overrides:\n          v: {value}\n")

    # the document's own mapping levels: root, hypotheses, h1, conditions, c1, overrides
    room = MAX_DEPTH - 6
    ok = build_plan(load_study(write(tmp_path, study("[" * room + "]" * room)), tmp_path))
    assert ok.runs
    with pytest.raises(StudyError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_study(write(tmp_path, study("[" * (room + 1) + "]" * (room + 1))), tmp_path)
    for value in (2 ** 63 - 1, -2 ** 63):
        plan = build_plan(load_study(write(tmp_path, study(str(value))), tmp_path))
        assert plan.groups()[0].overrides["v"] == value
    for value in (2 ** 63, -2 ** 63 - 1):
        with pytest.raises(StudyError, match="must fit in 64 bits"):
            load_study(write(tmp_path, study(str(value))), tmp_path)


def test_run_limit_counts_before_expanding_and_can_be_raised(tmp_path, monkeypatch):
    text = """
        schema_version: 1
        study:
          name: s
          scenarios: [a, b]
          run_defaults: {seed_repeats: 600}
        hypotheses:
          h1:
            conditions: {c1: {}, c2: {}}
        """
    study = load_study(write(tmp_path, text), tmp_path)
    assert isinstance(study.groups[0].seeds, range)   # nothing allocated per seed
    monkeypatch.setenv("SILISOCS_STUDY_MAX_RUNS", "2000")
    with pytest.raises(StudyError, match=r"the study expands to 2,400 runs, more than the run "
                                         r"limit of 2,000 \(largest: h1/c1, 2 scenario\(s\) × "
                                         r"600 seed\(s\)\); set SILISOCS_STUDY_MAX_RUNS"):
        build_plan(study)
    monkeypatch.setenv("SILISOCS_STUDY_MAX_RUNS", "2400")
    assert len(build_plan(study).runs) == 2400


def test_format_specs_within_the_mini_language_still_render(tmp_path):
    plan = plan_of(tmp_path, """
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          run_defaults:
            seeds: [7]
            run_name_template: "{study_id}_{seed:03d}_{scenario:>3}"
        hypotheses:
          h1:
            conditions: {c1: {}}
        """)
    assert plan.runs[0].run_name == "s_007_  a"


def test_summary_paths_inside_the_repo_or_absolute(tmp_path):
    study = load_study(write(tmp_path, f"""
        schema_version: 1
        study:
          name: s
          scenarios: [a]
          study_summary_path: notes/../docs/SUMMARY.md
          summary_log_path: {tmp_path.parent}/elsewhere/log.jsonl
        hypotheses:
          h1:
            conditions: {{c1: {{}}}}
        """), tmp_path)
    assert study.summary_path == tmp_path / "docs" / "SUMMARY.md"
    assert study.summary_log_path == tmp_path.parent / "elsewhere" / "log.jsonl"
