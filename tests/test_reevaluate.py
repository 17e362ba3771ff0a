"""``re-evaluate``: a study's evaluators run again on its finished runs, never the runs.

Real runs of the embedded example study (``examples/studies/recsys_behavior_sweep``, copied
into tmp with small simulations), then evaluators are added to the copied study and
re-evaluated: run folders keep every file byte for byte and every mtime, records keep their
status, fingerprint, attempt and timings, and the new metrics reach the records, the views
and the report. Also: ``--evaluator`` runs only that one, an unknown id or a busy study is
exit 2 with nothing written, a failing evaluator is exit 1 and on the record, reused runs
are evaluated (by ``run`` by default, and by ``re-evaluate``), the Python API, the real
silisocs runner's example study, and an experiment spec's folder.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import PY, REPO, assert_ok, cli, load_records, write_study

EXAMPLE = REPO / "examples" / "studies" / "recsys_behavior_sweep" / "study.yaml"
SMALL = {"num_agents": 10, "num_steps": 3}
ACTIVITY = {"id": "activity", "preset": "builtin.activity_summary"}
# a script evaluator: counts the run's action events; fails (exit 3) while FAIL exists
COUNT_SCRIPT = """\
import argparse, json, pathlib, sys
p = argparse.ArgumentParser()
p.add_argument("--run-dir", required=True)
p.add_argument("--output", required=True)
a = p.parse_args()
if (pathlib.Path(__file__).parent / "FAIL").exists():
    print("refusing: FAIL is set", file=sys.stderr)
    sys.exit(3)
lines = (pathlib.Path(a.run_dir) / "action_events.jsonl").read_text().splitlines()
out = pathlib.Path(a.output)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"aggregated": {"action_lines": len(lines)}}))
"""
IDENTITY = ("status", "fingerprint", "attempt_id", "started_at", "finished_at", "session",
            "duration_ms", "history", "run_dir", "command", "exit_code")


def example_doc(folder: Path) -> dict:
    """The example study, small, with its summary files inside ``folder``."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["study"]["run_defaults"]["overrides"].update(SMALL)
    doc["study"]["study_summary_path"] = str(folder / "SUMMARY.md")
    doc["study"]["summary_log_path"] = str(folder / "generated" / "summary_log.jsonl")
    return doc


def edit(study: Path, change) -> None:
    """Change the copied study.yaml in place."""
    path = study / "study.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def tree(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder``: (mtime ns, sha256 of its bytes)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[str(path.relative_to(folder))] = (
                st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def identity(records: dict[str, dict]) -> dict[str, dict]:
    return {k: {f: r.get(f) for f in IDENTITY} for k, r in records.items()}


def by_id(rec: dict) -> dict[str, dict]:
    return {e["id"]: e for e in rec["evaluations"]}


def metrics(study: Path) -> list[str]:
    """The metrics the organized summary (and the reports, from the same analysis) know."""
    return json.loads((study / "generated" / "organized" / "summary.json").read_text())[
        "metrics"]


def run_example(tmp_path: Path, *only: str) -> Path:
    study = write_study(tmp_path / "study", example_doc(tmp_path / "study"))
    proc = cli(study, "run", "--no-progress", *only, timeout=600)
    assert_ok(proc)
    return study


@pytest.fixture
def two_runs(tmp_path) -> Path:
    """The example study with its seed-11 runs done (chronological, recsys)."""
    return run_example(tmp_path, "--only-seed", "11")


def test_an_added_evaluator_is_evaluated_on_finished_runs_without_running_them(tmp_path):
    study = run_example(tmp_path)
    runs = tree(study / "runs")
    before = load_records(study)
    assert len(before) == 6 and all(set(by_id(r)) == {"action_metrics", "probe_metrics"}
                                    for r in before.values())
    logs = sorted(p.name for p in (study / "generated" / "logs").iterdir())

    def add(doc):
        doc["evaluations"].append(ACTIVITY)
        doc["hypotheses"]["h1"]["conditions"]["later"] = {   # planned, never run: 2 pending
            "seeds": [1, 2],
            "overrides": {"env.gm.components.observe.params.timeline_mode": "pure_recsys"}}
    edit(study, add)

    only = cli(study, "re-evaluate", "--evaluator", "activity")
    assert_ok(only)
    assert ("Re-evaluated 6 run(s) with activity: 6 ok; 0 evaluator failure(s); skipped 2 "
            "not finished (2 pending)") in only.stdout
    after = load_records(study)
    assert identity(after) == identity(before)          # status, attempt, timings untouched
    for run_id, rec in after.items():
        old, new = by_id(before[run_id]), by_id(rec)
        assert list(new) == ["action_metrics", "probe_metrics", "activity"]
        assert new["action_metrics"] == old["action_metrics"]    # not re-run: kept as is
        assert new["probe_metrics"] == old["probe_metrics"]
        act = new["activity"]
        assert act["status"] == "success" and act["aggregated"]["total_events"] > 0
        hyp, cond, scenario, seed = run_id.split("__")
        assert Path(act["path"]) == (study / "generated" / "eval" / hyp / cond / scenario
                                     / f"seed_{seed[4:]}" / "activity" / "activity_summary.json")
        assert json.loads(Path(act["path"]).read_text())["aggregated"] == act["aggregated"]
        assert rec["eval_paths"]["activity"] == act["path"]
        assert rec["re_evaluated"]["evaluators"] == ["activity"]

    # everything again: each run's evaluators as the plan says
    every = cli(study, "re-evaluate")
    assert_ok(every)
    assert ("Re-evaluated 6 run(s): 6 ok; 0 evaluator failure(s); skipped 2 not finished "
            "(2 pending)") in every.stdout
    final = load_records(study)
    assert identity(final) == identity(before)
    for run_id, rec in final.items():
        assert rec["re_evaluated"]["evaluators"] == ["action_metrics", "probe_metrics",
                                                     "activity"]
        assert [e["status"] for e in rec["evaluations"]] == ["success"] * 3
        # the same run folder evaluated again gives the same numbers
        assert by_id(rec)["action_metrics"]["aggregated"] == \
            by_id(before[run_id])["action_metrics"]["aggregated"]

    assert tree(study / "runs") == runs                 # no run folder was touched
    assert sorted(p.name for p in (study / "generated" / "logs").iterdir()) == logs  # no multirun
    gen = study / "generated"
    lock = {r["run_id"]: r for r in json.loads((gen / "repro_lock.json").read_text())["records"]}
    index = {r["run_id"]: r for r in json.loads((gen / "study_index.json").read_text())["records"]}
    for run_id, rec in final.items():
        assert [e["id"] for e in lock[run_id]["evaluations"]] == \
            ["action_metrics", "probe_metrics", "activity"]
        assert lock[run_id]["evaluations"][2]["aggregated"] == by_id(rec)["activity"]["aggregated"]
        assert index[run_id]["attempt_id"] == rec["attempt_id"]
    summary = (gen / "reports" / "summary.md").read_text()
    assert "`activity." in summary
    status = cli(study, "status")
    assert "pending" in status.stdout


@pytest.mark.slow
def test_an_unknown_evaluator_or_a_busy_study_is_exit_2_with_nothing_written(two_runs, tmp_path):
    study = two_runs
    edit(study, lambda doc: doc["evaluations"].append(ACTIVITY))
    everything = tree(study)
    proc = cli(study, "re-evaluate", "--evaluator", "activty")
    assert_ok(proc, 2)
    assert proc.stderr.strip() == (
        "error: unknown evaluator 'activty' (did you mean 'activity'?); the evaluators of "
        "study recsys_behavior_sweep are: action_metrics, probe_metrics, activity")
    assert proc.stdout == ""
    assert tree(study) == everything

    # another orchestrator of this study holds the study lock
    holder = subprocess.Popen(
        [PY, "-c", "import sys, time\n"
                   "from silisocs_study.ledger.studylock import study_lock\n"
                   f"with study_lock({str(study)!r}):\n"
                   "    print('held', flush=True)\n"
                   "    sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = cli(study, "re-evaluate")
        assert_ok(busy, 2)
        assert busy.stderr.startswith("error: study recsys_behavior_sweep is being run by "
                                      f"pid {holder.pid}")
        assert busy.stderr.count("\n") == 1
        assert tree(study) == everything
        # --wait: waits for the holder, then re-evaluates
        waiting = subprocess.Popen(
            [PY, "-m", "silisocs_study", "--study", str(study), "--repo-root", str(REPO),
             "re-evaluate", "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=str(tmp_path))
        time.sleep(2)
        assert waiting.poll() is None                    # still waiting for the lock
        assert tree(study) == everything
    finally:
        holder.communicate("\n", timeout=30)   # the holder ends: the lock is free
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, out + err
    assert "waiting: study recsys_behavior_sweep is being run by" in err
    assert "Re-evaluated 2 run(s): 2 ok; 0 evaluator failure(s)" in out
    assert all("activity" in by_id(r) for r in load_records(study).values())


@pytest.mark.slow
def test_a_failing_evaluator_is_exit_1_and_on_the_record(two_runs):
    study = two_runs
    (study / "count.py").write_text(COUNT_SCRIPT)
    edit(study, lambda doc: doc["evaluations"].append(
        {"id": "count", "command": ["{python}", "./count.py"]}))
    ok = cli(study, "re-evaluate", "--evaluator", "count")
    assert_ok(ok)
    good = load_records(study)
    outputs = {k: Path(by_id(r)["count"]["path"]) for k, r in good.items()}
    for run_id, rec in good.items():
        lines = len((Path(rec["run_dir"]) / "action_events.jsonl").read_text().splitlines())
        assert by_id(rec)["count"]["aggregated"] == {"action_lines": lines}
    assert "count.action_lines" in metrics(study)

    (study / "FAIL").write_text("")
    bad = cli(study, "re-evaluate", "--evaluator", "count")
    assert_ok(bad, 1)
    assert "Re-evaluated 2 run(s) with count: 0 ok; 2 evaluator failure(s) in 2 run(s)" \
        in bad.stdout
    assert "[evaluator failed] h1__chronological__election_recsys_engagement__seed11: count: " \
           "exit code 3" in bad.stdout
    failed = load_records(study)
    assert identity(failed) == identity(good)
    for run_id, rec in failed.items():
        entry = by_id(rec)["count"]
        assert entry["status"] == "failed" and entry["error"] == "exit code 3"
        assert entry["return_code"] == 3
        assert any("refusing: FAIL is set" in line for line in entry["tail"])
        # the failed evaluator cannot pass the old output off as its own; the old one is kept
        assert not outputs[run_id].exists()
        kept = Path(entry["previous_output"]) / outputs[run_id].name
        assert json.loads(kept.read_text())["aggregated"]["action_lines"] > 0
        assert by_id(rec)["action_metrics"] == by_id(good[run_id])["action_metrics"]
    assert "count.action_lines" not in metrics(study)    # a failed evaluator counts for nothing
    assert "action_metrics.actions_per_agent" in metrics(study)

    # failing again keeps the last good output; succeeding again replaces it
    assert_ok(cli(study, "re-evaluate", "--evaluator", "count"), 1)
    for run_id, rec in load_records(study).items():
        kept = Path(by_id(rec)["count"]["previous_output"]) / outputs[run_id].name
        assert json.loads(kept.read_text()) == json.loads(
            Path(by_id(failed[run_id])["count"]["previous_output"], kept.name).read_text())
        assert json.loads(kept.read_text())["aggregated"] == \
            by_id(good[run_id])["count"]["aggregated"]
    (study / "FAIL").unlink()
    assert_ok(cli(study, "re-evaluate", "--evaluator", "count"))
    for run_id, rec in load_records(study).items():
        entry = by_id(rec)["count"]
        assert entry["status"] == "success" and "previous_output" not in entry
        assert entry["aggregated"] == by_id(good[run_id])["count"]["aggregated"]
        assert not outputs[run_id].parent.with_name(".count.previous").exists()
    assert "count.action_lines" in metrics(study)


def make_source_run(tmp_path: Path) -> Path:
    """An earlier socialsim run outside the study (what reuse_existing adopts)."""
    src = tmp_path / "earlier" / "run"
    proc = subprocess.run([PY, "-m", "examples.socialsim", "num_agents=10", "num_steps=3",
                           "seed=7", f"output_dir={src}",
                           f"hydra.run.dir={tmp_path / 'earlier' / 'hydra'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert_ok(proc)
    return src


@pytest.mark.slow
def test_reused_runs_carry_their_evaluations(tmp_path):
    src = make_source_run(tmp_path)
    source_files = tree(src)
    study = tmp_path / "study"
    doc = example_doc(study)
    doc["hypotheses"]["h1"]["conditions"] = {"archived": {
        "execution": {"mode": "reuse_existing", "re_evaluate": False},
        "reuse": {"runs": [{"source": str(src), "seed": 7}]}}}
    doc.pop("analysis", None)   # its reference condition is gone with the others
    write_study(study, doc)
    run_id = "h1__archived__reuse_0"

    # opted out: recorded without metrics, and the report says so instead of staying empty
    first = cli(study, "run")
    assert_ok(first)
    assert load_records(study)[run_id]["evaluations"] == []
    summary = (study / "generated" / "reports" / "summary.md").read_text()
    assert "**No metrics:** 1 usable run(s) carry no evaluator metrics — archived " \
           "(election_recsys_engagement); 1 of them reused." in summary
    assert f"`silisocs-sweep --study {study / 'study.yaml'} re-evaluate`" in summary
    skipped = cli(study, "re-evaluate")
    assert_ok(skipped)
    assert "Re-evaluated 0 run(s)" in skipped.stdout and "1 without evaluators" in skipped.stdout

    # by default a reused run is evaluated with its condition's evaluators
    edit(study, lambda d: d["hypotheses"]["h1"]["conditions"]["archived"]["execution"].pop(
        "re_evaluate"))
    second = cli(study, "run")
    assert_ok(second)
    assert "reuse 1" in second.stdout and "Launching" not in second.stdout
    rec = load_records(study)[run_id]
    assert rec["status"] == "reused" and rec["run_dir"] == str(src)
    assert [(e["id"], e["status"]) for e in rec["evaluations"]] == \
        [("action_metrics", "success"), ("probe_metrics", "success")]
    assert Path(by_id(rec)["action_metrics"]["path"]).is_relative_to(
        study / "generated" / "eval" / "h1" / "archived" / "reuse_0" / "action_metrics")
    summary = (study / "generated" / "reports" / "summary.md").read_text()
    assert "No metrics" not in summary and "`action_metrics." in summary
    assert_ok(again := cli(study, "run"))
    assert "skip (complete) 1" in again.stdout and "reuse 0" in again.stdout

    # an evaluator added later: re-evaluate evaluates the reused run's source folder
    edit(study, lambda d: d["evaluations"].append(ACTIVITY))
    reeval = cli(study, "re-evaluate", "--evaluator", "activity")
    assert_ok(reeval)
    assert "Re-evaluated 1 run(s) with activity: 1 ok" in reeval.stdout
    after = load_records(study)[run_id]
    assert identity({run_id: after}) == identity({run_id: rec})
    assert by_id(after)["action_metrics"] == by_id(rec)["action_metrics"]
    act = by_id(after)["activity"]
    assert act["status"] == "success" and act["aggregated"]["total_events"] > 0
    assert Path(act["path"]).is_relative_to(
        study / "generated" / "eval" / "h1" / "archived" / "reuse_0" / "activity")
    assert tree(src) == source_files                     # the adopted run is never written
    assert "activity.total_events" in metrics(study)


@pytest.mark.slow
def test_python_api(two_runs):
    import silisocs_study
    from silisocs_study.errors import StudyError

    study = two_runs
    edit(study, lambda doc: doc["evaluations"].append(ACTIVITY))
    before = load_records(study)
    with pytest.raises(StudyError, match="unknown evaluator 'nope'.*action_metrics, "
                                         "probe_metrics, activity"):
        silisocs_study.re_evaluate(study, "nope", repo_root=REPO)
    assert load_records(study) == before
    result = silisocs_study.re_evaluate(study, ["activity"], repo_root=REPO,
                                        condition="recsys")
    assert result.exit_code == 0 and result.ok == 1 and not result.failures
    assert result.summary().startswith("Re-evaluated 1 run(s) with activity: 1 ok")
    [rec] = result.records
    assert rec["run_id"] == "h1__recsys__election_recsys_engagement__seed11"
    assert by_id(rec)["activity"]["status"] == "success"
    after = load_records(study)
    assert after[rec["run_id"]] == rec
    chrono = "h1__chronological__election_recsys_engagement__seed11"
    assert after[chrono] == before[chrono]               # filtered out: untouched
    frame = silisocs_study.load(study, repo_root=REPO)
    row = frame.set_index("run_id").loc[rec["run_id"]]
    assert row["activity.total_events"] == \
        by_id(rec)["activity"]["aggregated"]["total_events"]


@pytest.mark.slow
def test_the_silisocs_example_study_with_a_script_evaluator(tmp_path):
    from silisocs_runs import silisocs_available

    if not silisocs_available():
        pytest.skip("silisocs needs Python >= 3.11")
    doc = yaml.safe_load((REPO / "examples" / "studies" / "silisocs_timeline" / "study.yaml")
                         .read_text())
    study = write_study(tmp_path / "study", doc)
    assert_ok(cli(study, "run", "--no-progress", timeout=600))
    runs = tree(study / "runs")
    before = load_records(study)
    assert len(before) == 4
    (study / "eval.py").write_text(COUNT_SCRIPT)        # a script evaluator, a subprocess
    edit(study, lambda d: d["evaluations"].append({"id": "lines",
                                                   "command": ["{python}", "./eval.py"]}))
    proc = cli(study, "re-evaluate", "--only-condition", "recsys", timeout=600)
    assert_ok(proc)
    assert "Re-evaluated 2 run(s): 2 ok; 0 evaluator failure(s); skipped none" in proc.stdout
    after = load_records(study)
    assert identity(after) == identity(before)
    assert tree(study / "runs") == runs
    for run_id, rec in after.items():
        if "__recsys__" not in run_id:
            assert rec == before[run_id]
            continue
        assert [e["id"] for e in rec["evaluations"]] == ["activity", "action_metrics", "lines"]
        lines = len((Path(rec["run_dir"]) / "action_events.jsonl").read_text().splitlines())
        assert by_id(rec)["lines"]["aggregated"] == {"action_lines": lines}
        assert by_id(rec)["lines"]["command"][1] == str(study / "eval.py")
        assert by_id(rec)["activity"]["aggregated"] == \
            by_id(before[run_id])["activity"]["aggregated"]
    index = json.loads((study / "generated" / "study_index.json").read_text())
    assert sum(1 for r in index["records"]
               if "lines" in [e["id"] for e in r["evaluations"]]) == 2


@pytest.mark.slow
def test_an_experiment_spec_folder_is_re_evaluated(tmp_path):
    """Experiment specs: the latest folder (or --workspace), results.yaml and the post
    actions afterwards, as at the end of ``run``."""
    import silisocs_study

    spec = tmp_path / "exp.yaml"
    spec.write_text(f"""\
scenario.base:
  runner_module: examples.benchmark
  overrides: {{num_rounds: 5}}
  evaluations:
    - {{id: score, command: ["{{python}}", "./score.py"]}}
experiment.tiny:
  scenario: !ref base
  path: {tmp_path}/out_{{date}}_{{seq}}
  name: "{{agent}}_s{{seed}}"
  axes: {{agents: [random, greedy], seeds: 1}}
  post_actions: [report]
""")
    script = """\
import argparse, json, pathlib
p = argparse.ArgumentParser(); p.add_argument("--run-dir"); p.add_argument("--output")
a = p.parse_args()
r = json.loads((pathlib.Path(a.run_dir) / "result.json").read_text())
pathlib.Path(a.output).write_text(json.dumps({"aggregated": {%s}}))
"""
    (tmp_path / "score.py").write_text(script % '"n": len(r["scores"])')
    proc = subprocess.run([PY, "-m", "silisocs_study", "--study", str(spec), "--repo-root",
                           str(REPO), "run", "--no-progress"], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert_ok(proc)
    [folder] = tmp_path.glob("out_*")
    runs = tree(folder / "runs")
    results = (folder / "results.yaml").read_bytes()
    before = load_records(folder)
    (tmp_path / "score.py").write_text(
        script % '"n": len(r["scores"]), "twice": 2 * r["scores"]["score"]')
    proc = subprocess.run([PY, "-m", "silisocs_study", "--study", str(spec), "--repo-root",
                           str(REPO), "re-evaluate"], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert_ok(proc)
    assert "Re-evaluated 2 run(s): 2 ok; 0 evaluator failure(s); skipped none" in proc.stdout
    assert f"Results: {folder / 'results.yaml'}" in proc.stdout and "Post action: report" \
        in proc.stdout
    after = load_records(folder)
    assert identity(after) == identity(before) and tree(folder / "runs") == runs
    assert (folder / "results.yaml").read_bytes() == results   # the runs' results: unchanged
    frame = silisocs_study.load(spec, repo_root=REPO).set_index("run_id")
    for run_id, rec in after.items():
        score = json.loads((folder / "runs" / run_id / "result.json").read_text())["scores"]
        assert by_id(rec)["score"]["aggregated"] == {"n": len(score),
                                                     "twice": 2 * score["score"]}
        assert frame.loc[run_id, "score.twice"] == pytest.approx(2 * score["score"])
