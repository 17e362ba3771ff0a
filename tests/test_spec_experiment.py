"""Experiment specs: !ref, axes, iterate/sample, zip, exclude/include, names, {date}/{seq}."""
from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import textwrap
import threading
from pathlib import Path

import pytest

from silisocs_study.errors import StudyError
from silisocs_study.plan import argv, build_plan, job_overrides
from silisocs_study.spec import load_study
from silisocs_study.spec.experiment import allocate_path, singular
from silisocs_study.spec.yamlload import parse_document

PY = "/opt/py/bin/python"
ROOT = Path(__file__).resolve().parents[1]

HEAD = """
scenario.base:
  runner_module: examples.benchmark
  overrides:
    num_rounds: 40
"""


def write(tmp_path: Path, body: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + textwrap.dedent(body), encoding="utf-8")
    return path


def plan_of(tmp_path: Path, body: str, spec: str = "exp.yaml"):
    write(tmp_path, body)
    return build_plan(load_study(tmp_path / spec, tmp_path))


def points(plan) -> list[dict]:
    return [r.axes for r in plan.runs]


def test_singular():
    assert [singular(n) for n in ("agents", "seeds", "strategies", "top_p", "temperature",
                                  "loss", "s")] == ["agent", "seed", "strategy", "top_p",
                                                    "temperature", "loss", "s"]


def test_ref_iterate_cross_product_in_written_order(tmp_path):
    plan = plan_of(tmp_path, """
        experiment.mutualism:
          scenario: !ref base
          name: "{agent}_s{seed}"
          axes:
            agents: [random, greedy, cooperative]
            seeds: 4
          mode: iterate
          post_actions: [report, report --show, {shell: python analyze.py}]
        """)
    assert len(plan.runs) == 12
    assert points(plan) == [{"agent": a, "seed": s} for a in ("random", "greedy", "cooperative")
                            for s in range(4)]
    assert [r.run_id for r in plan.runs[:5]] == ["random_s0", "random_s1", "random_s2",
                                                 "random_s3", "greedy_s0"]
    study = plan.study
    assert study.kind == "experiment" and study.name == "mutualism"
    assert study.post_actions == (("report", False), ("report", True),
                                  ("shell", "python analyze.py"))
    run = plan.runs[5]
    assert run.scenario == "base" and run.seed == 1 and run.run_name == "greedy_s1"
    assert run.output_dir == f"{study.workspace}/runs/greedy_s1"
    assert argv(run, PY) == [PY, "-m", "examples.benchmark", "num_rounds=40", "agent=greedy",
                             "seed=1", "run_name=greedy_s1", f"++output_dir={run.output_dir}"]


def test_seeds_list_and_explicit_axis_override_keys(tmp_path):
    plan = plan_of(tmp_path, """
        experiment.x:
          scenario: !ref base
          name: "{agent}_{replicate}_s{seed}"
          axes:
            agents: {values: [a, b], override: +policy.name}
            replicates: {values: [1, 2], override: null}
            seeds: [7, 3]
        """)
    assert len(plan.runs) == 8
    run = plan.runs[0]
    assert run.run_id == "a_1_s7"
    assert job_overrides(run)[1:3] == ["+policy.name=a", "seed=7"]
    assert not any(a.startswith("replicate") for a in job_overrides(run))
    # the name-only axis does not change what runs: same fingerprint for replicates 1 and 2
    fps = {(r.axes["agent"], r.axes["seed"]): set() for r in plan.runs}
    for r in plan.runs:
        fps[(r.axes["agent"], r.axes["seed"])].add(r.fingerprint)
    assert all(len(v) == 1 for v in fps.values())
    assert len({r.fingerprint for r in plan.runs}) == 4


def test_default_name_joins_singular_axes(tmp_path):
    plan = plan_of(tmp_path, """
        experiment.x:
          scenario: !ref base
          axes:
            agents: [a, b]
            temperature: [0.5, -1.0]
        """)
    assert [r.run_id for r in plan.runs] == ["a_0.5", "a_-1.0", "b_0.5", "b_-1.0"]


def test_experiment_placeholder_in_name(tmp_path):
    plan = plan_of(tmp_path, """
        experiment.search:
          scenario: !ref base
          name: "{experiment}-{agent}"
          axes:
            agents: [a, b]
        """)
    assert [r.run_id for r in plan.runs] == ["search-a", "search-b"]


def test_zip_varies_axes_together(tmp_path):
    plan = plan_of(tmp_path, """
        experiment.x:
          scenario: !ref base
          name: "{agent}_t{temperature}_p{top_p}_s{seed}"
          axes:
            agents: [a, b]
            temperature: [0.1, 0.2, 0.3]
            top_p: [0.8, 0.9, 1.0]
            seeds: 2
          zip:
            - [temperature, top_p]
        """)
    assert len(plan.runs) == 2 * 3 * 2
    assert {(p["temperature"], p["top_p"]) for p in points(plan)} == {
        (0.1, 0.8), (0.2, 0.9), (0.3, 1.0)}
    assert points(plan)[:3] == [
        {"agent": "a", "temperature": 0.1, "top_p": 0.8, "seed": 0},
        {"agent": "a", "temperature": 0.1, "top_p": 0.8, "seed": 1},
        {"agent": "a", "temperature": 0.2, "top_p": 0.9, "seed": 0}]


def test_exclude_and_include_partial_assignments(tmp_path):
    plan = plan_of(tmp_path, """
        experiment.x:
          scenario: !ref base
          name: "{agent}_s{seed}"
          axes:
            agents: [a, b, c]
            seeds: 3
          exclude:
            - {agent: b}
            - {agents: c, seed: 0}
          include:
            - {agent: b, seed: 1}
            - {agent: extra}
        """)
    got = [(p["agent"], p["seed"]) for p in points(plan)]
    assert got == [("a", 0), ("a", 1), ("a", 2), ("c", 1), ("c", 2), ("b", 1),
                   ("extra", 0), ("extra", 1), ("extra", 2)]


def _sample_spec(seed: int | None, samples: int = 30) -> str:
    seed_line = f"  seed: {seed}\n" if seed is not None else ""
    return ("experiment.hypersearch:\n  scenario: !ref base\n"
            "  name: \"{agent}_t{temperature}_p{top_p}_s{seed}\"\n"
            "  axes:\n    agents: [cooperative, random]\n    seeds: [0, 1, 2]\n"
            "    temperature: [0.0, 0.25, 0.5, 0.75, 1.0]\n    top_p: [0.8, 0.9, 0.95, 1.0]\n"
            f"  mode: sample\n  samples: {samples}\n{seed_line}")


def _sampled(tmp_path: Path, seed: int | None, name: str, samples: int = 30) -> list[tuple]:
    (tmp_path / name).write_text(HEAD + _sample_spec(seed, samples))
    plan = build_plan(load_study(tmp_path / name, tmp_path))
    return [(p["agent"], p["seed"], p["temperature"], p["top_p"]) for p in points(plan)]


def test_sample_mode_is_distinct_reproducible_and_seed_dependent(tmp_path):
    grid = list(itertools.product(["cooperative", "random"], [0, 1, 2],
                                  [0.0, 0.25, 0.5, 0.75, 1.0], [0.8, 0.9, 0.95, 1.0]))
    first = _sampled(tmp_path, 7, "a.yaml")
    again = _sampled(tmp_path, 7, "b.yaml")       # an independent load of the same spec
    other = _sampled(tmp_path, 8, "c.yaml")
    assert len(first) == 30 and len(set(first)) == 30
    assert set(first) <= set(grid)
    assert first == again
    assert set(first) != set(other) and len(set(other)) == 30
    # written (cross-product) order is kept among the chosen points
    assert first == sorted(first, key=grid.index)
    # pinned: what seed 7 picks must not change between versions (plans get re-made)
    assert first[:3] == [("cooperative", 0, 0.0, 1.0), ("cooperative", 0, 0.25, 0.8),
                         ("cooperative", 0, 0.25, 1.0)]
    # the whole grid is reachable, and no seed means seed 0
    assert sorted(_sampled(tmp_path, 3, "e.yaml", samples=120)) == sorted(grid)
    assert _sampled(tmp_path, None, "f.yaml") == _sampled(tmp_path, 0, "g.yaml")


def test_hypersearch_example_plans_30_distinct_points():
    plan = build_plan(load_study(ROOT / "examples/experiments/hypersearch.yaml", ROOT))
    keys = [tuple(sorted(r.axes.items())) for r in plan.runs]
    assert len(keys) == 30 and len(set(keys)) == 30
    assert {r.axes["agent"] for r in plan.runs} <= {"cooperative", "random"}
    assert plan.study.meta["mode"] == "sample"
    again = build_plan(load_study(ROOT / "examples/experiments/hypersearch.yaml", ROOT))
    assert [r.run_id for r in again.runs] == [r.run_id for r in plan.runs]


def test_mutualism_example_plans_30_runs():
    plan = build_plan(load_study(ROOT / "examples/experiments/mutualism.yaml", ROOT))
    assert len(plan.runs) == 30
    assert plan.runs[0].run_id == "random_s0" and plan.runs[-1].run_id == "cooperative_s9"
    assert argv(plan.runs[0], PY)[:4] == [PY, "-m", "examples.benchmark", "num_rounds=40"]
    assert plan.study.post_actions == (("report", False),)


def test_two_experiments_select_by_name(tmp_path):
    path = write(tmp_path, """
        experiment.first:
          scenario: !ref base
          axes: {agents: [a]}
        experiment:
          second:
            scenario: !ref scenario.base
            axes: {agents: [b, c]}
        """)
    assert [r.run_id for r in build_plan(load_study(f"{path}#second", tmp_path)).runs] == [
        "b", "c"]
    assert [r.run_id for r in build_plan(load_study(f"{path}#first", tmp_path)).runs] == ["a"]


def test_inline_scenario_and_exact_command(tmp_path):
    (tmp_path / "exp.yaml").write_text(textwrap.dedent("""
        experiment.x:
          scenario:
            command: [./sim, --agent, "{agent}", --out, "{run_id}", --seed, "{seed}"]
            working_directory: "work/{agent}"
          name: "{agent}_s{seed}"
          axes:
            agents: [a, b]
            seeds: 1
        """))
    plan = build_plan(load_study(tmp_path / "exp.yaml", tmp_path))
    run = plan.runs[1]
    assert argv(run, PY) == ["./sim", "--agent", "b", "--out", "b_s0", "--seed", "0"]
    assert run.working_directory == f"{tmp_path}/work/b"
    assert run.scenario == "inline"


def test_only_ref_tag_is_accepted():
    doc = parse_document("a: !ref thing\nb: [1, 2]\n", "x.yaml")
    assert doc.data["a"].name == "thing"
    for bad in ("a: !!python/object/apply:os.system ['true']\n",
                "a: !!python/name:os.system\n", "a: !include other.yaml\n",
                "a: !!binary aGk=\n", "a: !!set {x, y}\n"):
        with pytest.raises(StudyError, match="unsupported YAML tag"):
            parse_document(bad, "x.yaml")


# -- {date} and {seq} ---------------------------------------------------------------------------

def test_date_and_next_free_seq(tmp_path):
    today = dt.date.today().isoformat()
    (tmp_path / f"data/experiments/mutualism_{today}_001").mkdir(parents=True)
    (tmp_path / f"data/experiments/mutualism_{today}_002").mkdir()
    (tmp_path / "data/experiments/mutualism_1999-01-01_007").mkdir()  # another day
    (tmp_path / f"data/experiments/other_{today}_009").mkdir()           # another name
    study = load_study(ROOT / "examples/experiments/mutualism.yaml", tmp_path)
    assert study.workspace == tmp_path / f"data/experiments/mutualism_{today}_003"
    assert not study.workspace.exists()          # planning allocates nothing


def test_allocate_path_fixed_date_and_no_seq(tmp_path):
    day = dt.date(2026, 1, 9)
    assert allocate_path(tmp_path, "out/{name}_{date}/", "m", today=day, create=False) == \
        tmp_path / "out/m_2026-01-09"
    assert allocate_path(tmp_path, "/abs/{name}_{seq}", "m", today=day, create=False) == \
        Path("/abs/m_001")


def test_allocate_path_races_between_threads(tmp_path):
    template = "data/exp_{date}_{seq}"
    barrier = threading.Barrier(8)
    results: list[Path] = []

    def claim():
        barrier.wait()
        results.append(allocate_path(tmp_path, template, "x", create=True))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 8 and all(p.is_dir() for p in results)
    assert sorted(p.name[-3:] for p in results) == [f"{i:03d}" for i in range(1, 9)]


def _claim_in_process(root: str, barrier) -> str:
    barrier.wait()
    return str(allocate_path(Path(root), "data/exp_{date}_{seq}", "x", create=True))


def test_allocate_path_races_between_processes(tmp_path):
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(8)
        with ctx.Pool(8) as pool:
            results = pool.starmap(_claim_in_process, [(str(tmp_path), barrier)] * 8)
    assert len(set(results)) == 8
    assert len(list((tmp_path / "data").iterdir())) == 8


# -- limits and references (refusals are in tests/bad_studies) --------------------------------

def test_ref_is_read_only_as_the_scenario_and_aliases_of_it_work(tmp_path):
    plan = plan_of(tmp_path, """
        experiment.a:
          scenario: &s !ref base
          axes: {agents: [x]}
        """)
    assert plan.study.meta["scenario"] == "base"
    write(tmp_path, """
        experiment.a:
          scenario: !ref base
          description: !ref base
          axes: {agents: [x]}
        """)
    with pytest.raises(StudyError, match=r"experiment\.a\.description: !ref base: a reference "
                                         r"is only read as an experiment's scenario"):
        load_study(tmp_path / "exp.yaml", tmp_path)


def test_grid_is_counted_before_it_is_built(tmp_path, monkeypatch):
    monkeypatch.setenv("SILISOCS_STUDY_MAX_RUNS", "1000")
    body = """
        experiment.a:
          scenario: !ref base
          name: "{a}_{b}"
          axes:
            a: [%s]
            b: [%s]
          include:
            - {a: 0}
        """ % (", ".join(map(str, range(30))), ", ".join(map(str, range(33))))
    write(tmp_path, body)
    with pytest.raises(StudyError, match=r"experiment\.a\.axes: the axes define 1,023 points "
                                         r"\(a 30 × b 33 \+ 33 included\), more than the run "
                                         r"limit of 1,000"):
        load_study(tmp_path / "exp.yaml", tmp_path)
    monkeypatch.setenv("SILISOCS_STUDY_MAX_RUNS", "1023")
    assert len(build_plan(load_study(tmp_path / "exp.yaml", tmp_path)).runs) == 990


def test_many_axis_values_and_includes_are_not_quadratic(tmp_path):
    import time

    values = ", ".join(map(str, range(20_000)))
    write(tmp_path, f"""
        experiment.a:
          scenario: !ref base
          name: "{{a}}"
          axes:
            a: [{values}]
          include:
            - {{a: 5}}
        """)
    start = time.perf_counter()
    plan = build_plan(load_study(tmp_path / "exp.yaml", tmp_path))
    assert len(plan.runs) == 20_000
    assert time.perf_counter() - start < 5
