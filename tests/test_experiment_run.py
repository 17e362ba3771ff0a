"""Experiment specs end to end: real benchmark runs through the real CLI, in tmp repo roots.

Covers the folder layout (_spec_.yaml, runs/, generated/, results.yaml, reports/), {seq}
allocation, --workspace resume, sample mode, post actions (report, report --show, shell)
and the full 30-run mutualism example with its ranking and confidence intervals.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MUTUALISM = REPO / "examples" / "experiments" / "mutualism.yaml"
MUTUALISM_FALLBACK = """
scenario.mutualism_baseline:
  runner_module: examples.benchmark
  overrides:
    num_rounds: 40
experiment.mutualism:
  scenario: !ref mutualism_baseline
  path: data/experiments/mutualism_{date}_{seq}
  name: "{agent}_s{seed}"
  axes:
    agents: [random, greedy, cooperative]
    seeds: 10
  post_actions: [report]
"""


def spec(tmp: Path, body: str, *, rounds: int = 12, name: str = "exp.yaml") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(f"""
        scenario.base:
          runner_module: examples.benchmark
          overrides:
            num_rounds: {rounds}
        """) + textwrap.dedent(body), encoding="utf-8")
    return path


def cli(tmp: Path, spec_path: Path, *extra: str, env: dict | None = None
        ) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "silisocs_study", "--study", str(spec_path),
            "--repo-root", str(tmp), "run", "--no-progress", *extra]
    return subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=300,
                          env=env)


def folders(tmp: Path, prefix: str) -> list[Path]:
    return sorted((tmp / "data" / "experiments").glob(f"{prefix}_*"))


def read_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def no_display_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


# -- one 3 agents × 4 seeds experiment, inspected by several tests -----------------------------

@pytest.fixture(scope="module")
def agents_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agents")
    path = spec(tmp, """
        experiment.agents:
          description: "Agents compared on four seeds"
          scenario: !ref base
          path: data/experiments/agents_{date}_{seq}
          name: "{agent}_s{seed}"
          axes:
            agents: [random, greedy, cooperative]
            seeds: 4
          post_actions:
            - report
            - shell: >-
                echo "cwd=$PWD"; echo "dir=$SILISOCS_EXPERIMENT_DIR";
                echo "res=$SILISOCS_RESULTS";
                python -c "import yaml, os;
                print(len(yaml.safe_load(open(os.environ['SILISOCS_RESULTS']))))" > count.txt
        """)
    proc = cli(tmp, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = folders(tmp, "agents")
    return tmp, path, folder, proc


def test_folder_layout(agents_run):
    tmp, _, folder, proc = agents_run
    assert folder.name.endswith("_001")
    for name in ("_spec_.yaml", "results.yaml", "runs", "generated", "reports/summary.md",
                 "reports/comparison.png", "reports/results.xlsx"):
        assert (folder / name).exists(), name
    runs = sorted(p.name for p in (folder / "runs").iterdir())
    assert runs == sorted(f"{a}_s{s}" for a in ("random", "greedy", "cooperative")
                          for s in range(4))
    assert all((folder / "runs" / r / "result.json").is_file() for r in runs)
    assert len(list((folder / "generated" / "records").glob("*.json"))) == 12
    assert f"Experiment folder: {folder} (new)" in proc.stdout


def test_results_yaml_shape_and_plan_order(agents_run):
    _, _, folder, _ = agents_run
    results = read_yaml(folder / "results.yaml")
    assert isinstance(results, list) and len(results) == 12
    assert [r["run_id"] for r in results] == [f"{a}_s{s}" for a in
                                              ("random", "greedy", "cooperative")
                                              for s in range(4)]
    first = results[0]
    assert list(first)[:2] == ["agent", "seed"]
    assert first["agent"] == "random" and first["seed"] == 0
    for r in results:
        assert r["status"] == "success"
        assert set(r["scores"]) == {"score", "efficiency", "sustainability"}
        assert all(isinstance(v, float) for v in r["scores"].values())
        assert isinstance(r["success"], bool)
        assert r["final_state"]["round"] == 12
        assert len(r["timeline"]) == 12
        assert r["run_dir"] == str(folder / "runs" / r["run_id"])
        assert "error" not in r


def test_spec_copy_is_resolved(agents_run):
    _, path, folder, _ = agents_run
    doc = read_yaml(folder / "_spec_.yaml")
    assert doc["experiment"] == "agents"
    assert doc["spec_file"] == str(path.resolve())
    assert doc["folder"] == str(folder)
    assert doc["spec"]["scenario"] == {"name": "base", "runner_module": "examples.benchmark",
                                       "overrides": {"num_rounds": 12}}
    assert doc["scenario"]["runner_module"] == "examples.benchmark"
    assert doc["axes"] == {"agent": ["random", "greedy", "cooperative"], "seed": [0, 1, 2, 3]}
    assert len(doc["points"]) == 12
    assert doc["points"][0] == {"run_id": "random_s0", "agent": "random", "seed": 0}
    assert doc["post_actions"][0] == "report"


def test_summary_md(agents_run):
    _, _, folder, _ = agents_run
    text = (folder / "reports" / "summary.md").read_text(encoding="utf-8")
    assert text.startswith("# Experiment `agents`")
    assert "Agents compared on four seeds" in text
    assert "## Leaderboard (by `score`)" in text
    assert "## By agent" in text
    assert "12 recorded (success 12)" in text
    assert "95% CI" in text
    board = [line for line in text.splitlines() if line.startswith("| 1 |")]
    assert board and "| 4 |" in board[0]   # n = 4 seeds
    for agent in ("random", "greedy", "cooperative"):
        assert f"| {agent} | 4 |" in text


def test_workbook_one_row_per_run(agents_run):
    from openpyxl import load_workbook

    _, _, folder, _ = agents_run
    wb = load_workbook(folder / "reports" / "results.xlsx", read_only=True)
    rows = list(wb["runs"].iter_rows(values_only=True))
    wb.close()
    head = rows[0]
    assert head[:6] == ("run_id", "agent", "seed", "status", "success", "score")
    assert {"efficiency", "sustainability"} <= set(head)
    assert len(rows) == 13
    assert rows[1][:4] == ("random_s0", "random", 0, "success")
    assert all(isinstance(r[5], float) for r in rows[1:])


def test_comparison_png_is_a_real_figure(agents_run):
    import matplotlib.image as mpimg
    import numpy as np

    _, _, folder, _ = agents_run
    png = folder / "reports" / "comparison.png"
    width, height = png_size(png)
    assert width >= 600 and height >= 400
    pixels = mpimg.imread(png)
    assert pixels.shape[:2] == (height, width)
    assert float(np.std(pixels[..., :3])) > 0.05
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50   # text, markers, error bars, jittered seeds: not a blank image


def test_shell_post_action_runs_in_folder_with_env(agents_run):
    _, _, folder, proc = agents_run
    assert "Post action: shell:" in proc.stdout
    assert f"  | cwd={folder}" in proc.stdout
    assert f"  | dir={folder}" in proc.stdout
    assert f"  | res={folder / 'results.yaml'}" in proc.stdout
    assert (folder / "count.txt").read_text().strip() == "12"
    # post actions run after the last run: the report is written before the shell action
    out = proc.stdout
    assert out.index("Done in") < out.index("Post action: report") < out.index("Post action: shell")


# -- {seq} allocation and --workspace resume ---------------------------------------------------

def test_seq_allocation_then_workspace_resume(tmp_path):
    path = spec(tmp_path, """
        experiment.tiny:
          scenario: !ref base
          path: data/experiments/tiny_{date}_{seq}
          name: "{agent}_s{seed}"
          axes: {agents: [cooperative, greedy], seeds: 2}
        """, rounds=5)
    first = cli(tmp_path, path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = cli(tmp_path, path)
    assert second.returncode == 0, second.stdout + second.stderr
    one, two = folders(tmp_path, "tiny")
    assert one.name.endswith("_001") and two.name.endswith("_002")
    assert "new 4" in second.stdout   # a fresh folder: everything runs again
    records = {p.name: p.read_bytes() for p in (one / "generated" / "records").glob("*.json")}
    results_before = read_yaml(one / "results.yaml")

    resumed = cli(tmp_path, path, "--workspace", str(one))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Experiment folder: {one} (resuming)" in resumed.stdout
    assert "new 0" in resumed.stdout and "skip (complete) 4" in resumed.stdout
    assert "Launching" not in resumed.stdout
    assert folders(tmp_path, "tiny") == [one, two]           # no _003
    after = {p.name: p.read_bytes() for p in (one / "generated" / "records").glob("*.json")}
    assert after == records                                  # nothing re-ran
    assert read_yaml(one / "results.yaml") == results_before

    # a relative --workspace resolves against the cwd, and a filter still sees all records
    rel = cli(tmp_path, path, "--workspace", str(one.relative_to(tmp_path)),
              "--only-run-id", "greedy_s1", "--force")
    assert rel.returncode == 0, rel.stdout + rel.stderr
    assert "1 run(s) selected of 4" in rel.stdout
    assert len(read_yaml(one / "results.yaml")) == 4


def test_workspace_is_rejected_for_study_yaml(tmp_path):
    (tmp_path / "study.yaml").write_text(textwrap.dedent("""
        schema_version: 1
        study: {name: s, scenarios: [a], run_defaults: {runner_module: examples.benchmark}}
        hypotheses: {h1: {conditions: {c1: {}}}}
        """))
    proc = cli(tmp_path, tmp_path / "study.yaml", "--workspace", str(tmp_path / "x"),
               "--dry-run")
    assert proc.returncode == 2
    assert "--workspace pins an experiment folder" in proc.stderr


# -- sample mode --------------------------------------------------------------------------------

def test_sample_mode_runs_exactly_n_points(tmp_path):
    path = spec(tmp_path, """
        experiment.sampled:
          scenario: !ref base
          path: data/experiments/sampled_{seq}
          name: "{agent}_t{temperature}_s{seed}"
          axes:
            agents: [random, cooperative]
            seeds: [0, 1]
            temperature: [0.0, 0.5, 1.0]
          mode: sample
          samples: 5
          seed: 3
        """, rounds=5)
    proc = cli(tmp_path, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = folders(tmp_path, "sampled")
    assert folder.name == "sampled_001"
    results = read_yaml(folder / "results.yaml")
    assert len(results) == 5
    assert len(list((folder / "runs").iterdir())) == 5
    assert len(list((folder / "generated" / "records").glob("*.json"))) == 5
    points = {(r["agent"], r["temperature"], r["seed"]) for r in results}
    assert len(points) == 5
    spec_copy = read_yaml(folder / "_spec_.yaml")
    assert [p["run_id"] for p in spec_copy["points"]] == [r["run_id"] for r in results]
    assert not (folder / "reports").exists()   # no `report` post action


# -- failures: failed runs, report --show without display, failing shell action ------------------

def test_failed_runs_show_and_failing_shell(tmp_path):
    path = spec(tmp_path, """
        experiment.mixed:
          scenario: !ref base
          path: data/experiments/mixed_{seq}
          name: "{agent}_s{seed}"
          axes: {agents: [cooperative, bogus], seeds: 2}
          post_actions:
            - report --show
            - shell: "echo boom; exit 3"
            - shell: "echo still-ran > after.txt"
        """, rounds=5)
    proc = cli(tmp_path, path, env=no_display_env())
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    (folder,) = folders(tmp_path, "mixed")
    results = read_yaml(folder / "results.yaml")
    by_id = {r["run_id"]: r for r in results}
    assert [r["run_id"] for r in results] == ["cooperative_s0", "cooperative_s1",
                                              "bogus_s0", "bogus_s1"]
    bad = by_id["bogus_s0"]
    assert bad["status"] == "failed" and bad["success"] is False and bad["scores"] == {}
    assert bad["error"] and bad["timeline"] is None
    assert by_id["cooperative_s0"]["status"] == "success"
    # report --show without a display: prints where the reports are
    assert "Reports (no display; open them yourself):" in out
    assert f"  {folder / 'reports' / 'summary.md'}" in out
    assert f"  {folder / 'reports' / 'results.xlsx'}" in out
    summary = (folder / "reports" / "summary.md").read_text()
    assert "## Failed or incomplete runs" in summary and "`bogus_s0` [failed]" in summary
    # the failing shell action is reported, results stay, later actions still run
    assert "  | boom" in out
    assert "post action 'shell: echo boom; exit 3' failed with exit code 3" in out
    assert (folder / "results.yaml").is_file()
    assert (folder / "after.txt").read_text().strip() == "still-ran"


# -- the real example: 3 agents × 10 seeds -------------------------------------------------------

@pytest.mark.slow
def test_mutualism_example_ranks_agents_with_separated_cis(tmp_path):
    from silisocs_study.ledger import Ledger
    from silisocs_study.report.experiment import build_results, experiment_stats
    from silisocs_study.workspace import open_plan

    spec_path = MUTUALISM
    if not spec_path.is_file():   # written by another part of the project; keep the test useful
        spec_path = tmp_path / "mutualism.yaml"
        spec_path.write_text(MUTUALISM_FALLBACK)
    proc = cli(tmp_path, spec_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = folders(tmp_path, "mutualism")
    results = read_yaml(folder / "results.yaml")
    assert len(results) == 30 and all(r["status"] == "success" for r in results)

    study = open_plan(str(spec_path), tmp_path, require_records=True).study
    assert study.workspace == folder                     # the latest folder is found
    records = list(Ledger(study.generated).all().values())
    assert build_results(study, records) == results
    stats = experiment_stats(study, results)
    board = stats["leaderboard"]
    assert [c["values"]["agent"] for c in board] == ["cooperative", "random", "greedy"]
    assert all(c["scores"]["score"]["n"] == 10 for c in board)
    for upper, lower in zip(board, board[1:]):
        hi, lo = upper["scores"]["score"], lower["scores"]["score"]
        assert hi["mean"] > lo["mean"]
        assert hi["ci_low"] > lo["ci_high"], (upper["values"], lower["values"])
        assert upper["overlaps"] == [] or lower["rank"] not in upper["overlaps"]

    text = (folder / "reports" / "summary.md").read_text()
    board_rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
                  for line in text.split("## Leaderboard")[1].split("##")[0].splitlines()
                  if line.startswith("| ")}
    ranked = [board_rows[k] for k in ("1", "2", "3")]
    assert ranked == ["cooperative", "random", "greedy"]
    assert "#1 cooperative > #2 random: the 95% CIs do not overlap" in text
    assert "#2 random > #3 greedy: the 95% CIs do not overlap" in text
    w, h = png_size(folder / "reports" / "comparison.png")
    assert w >= 600 and h >= 400
