"""The organized tree and summary.json, from real records of the example study.

The module fixture copies examples/studies/recsys_behavior_sweep/study.yaml into a temp dir
(20 agents, 5 steps), adds a hypothesis h2 whose conditions use different seeds (so its
contrasts are Welch, h1's are paired), runs h1 through the CLI, keeps a snapshot of the
organized tree, then runs only h2. Statistics are checked against numpy/scipy directly.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats as st

from silisocs_study.ledger.records import Ledger
from silisocs_study.spec import load_study

pytestmark = pytest.mark.slow   # the module fixture runs the 20-agent example study twice (~45 s)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "studies" / "recsys_behavior_sweep" / "study.yaml"
KEY = "action_metrics.interactive_actions_per_agent"


def make_study(folder: Path) -> Path:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["study"]["run_defaults"]["overrides"].update(num_agents=20, num_steps=5)
    doc["study"]["study_summary_path"] = str(folder / "SUMMARY.md")
    doc["study"]["summary_log_path"] = str(folder / "generated" / "summary_log.jsonl")
    doc["hypotheses"]["h2"] = {
        "statement": "A shorter timeline changes activity.",
        "independent_variable": "env.gm.components.observe.params.timeline_size",
        "prediction": "short < long on actions per agent",
        "reference": "long",
        "conditions": {
            "short": {"seeds": [21, 22, 23],
                      "overrides": {"env.gm.components.observe.params.timeline_size": 2}},
            "long": {"seeds": [31, 32, 33],
                     "overrides": {"env.gm.components.observe.params.timeline_size": 8}},
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder


def cli(study: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "silisocs_study", "--study", str(study),
                           "--repo-root", str(REPO), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = os.readlink(p) if p.is_symlink() else (
                "dir" if p.is_dir() else "file")
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    folder = make_study(tmp_path_factory.mktemp("organize") / "study")
    cli(folder, "run", "--only-hypothesis", "h1")
    organized = folder / "generated" / "organized"
    after_h1 = tree(organized)
    h1_runs = json.loads((organized / "h1" / "runs.json").read_text())
    cli(folder, "run", "--only-hypothesis", "h2")
    records = Ledger(folder / "generated").all()
    return {"dir": folder, "organized": organized, "after_h1": after_h1, "h1_runs": h1_runs,
            "records": records,
            "summary": json.loads((organized / "summary.json").read_text())}


def values(records: dict, hyp: str, cond: str, scen: str, metric: str) -> dict[int, float]:
    ev, _, name = metric.partition(".")
    out = {}
    for r in records.values():
        if (r["hypothesis"], r["condition"], r["scenario"]) == (hyp, cond, scen) and \
                r["status"] == "success":
            for e in r["evaluations"]:
                if e["id"] == ev and name in (e.get("aggregated") or {}):
                    out[r["seed"]] = float(e["aggregated"][name])
    return out


def test_tree_layout_and_relative_symlinks(study) -> None:
    org = study["organized"]
    summary = yaml.safe_load((org / "study_summary.yaml").read_text())
    assert summary["name"] == summary["study_id"] == "recsys_behavior_sweep"
    assert summary["question"] and summary["scenarios"] == ["election_recsys_engagement"]
    assert summary["hypotheses"] == ["h1", "h2"]
    assert summary["counts"]["records"] == 12 and summary["counts"]["usable"] == 12
    assert summary["counts"]["by_status"] == {"success": 12}
    for rec in study["records"].values():
        d = org / rec["hypothesis"] / rec["condition"] / rec["scenario"] / f"seed_{rec['seed']}"
        assert (d / "config.yaml").is_file()
        link = d / "run"
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert link.resolve() == Path(rec["run_dir"]).resolve()
        assert (link / "effective_config.yaml").is_file()
        first = rec["evaluations"][0]
        assert not os.path.isabs(os.readlink(d / "eval.json"))
        assert (d / "eval.json").resolve() == Path(first["path"]).resolve()
        for ev in rec["evaluations"]:
            p = d / "eval" / ev["id"] / Path(ev["path"]).name
            assert p.is_symlink() and not os.path.isabs(os.readlink(p))
            assert json.loads(p.read_text())["aggregated"] == ev["aggregated"]
        plots = d / "eval" / "probe_metrics" / "probe_metrics_detailed_plots"
        assert plots.is_symlink() and any(plots.glob("*.png"))
    # the whole tree still resolves after being moved: every link is relative
    moved = study["dir"].parent / "moved_copy"
    shutil.copytree(study["dir"], moved, symlinks=True)
    try:
        some = next((moved / "generated" / "organized" / "h1").glob("*/*/seed_*/run"))
        assert some.resolve().is_relative_to(moved)
    finally:
        shutil.rmtree(moved)


def test_config_yaml_keeps_record_identity_and_metadata_apart(study) -> None:
    rec = study["records"]["h1__recsys__election_recsys_engagement__seed12"]
    d = study["organized"] / "h1" / "recsys" / "election_recsys_engagement" / "seed_12"
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    for key in ("run_id", "hypothesis", "condition", "scenario", "seed", "status",
                "fingerprint", "run_dir"):
        assert cfg[key] == rec[key], key
    meta = cfg["run_metadata"]
    assert meta["seed"] == 12 and meta["num_agents"] == 20 and meta["num_steps"] == 5
    assert meta["scenario"] == "election_recsys_engagement"    # from scenario.scenario_name
    assert meta["source"].endswith("effective_config.yaml")
    assert "examples.socialsim" in meta["run_command"]
    assert [e["id"] for e in cfg["evaluations"]] == ["action_metrics", "probe_metrics"]


def test_h1_then_h2_keeps_both(study) -> None:
    before = study["after_h1"]
    assert "h1/hypothesis.yaml" in before and "h1/recsys/election_recsys_engagement" in before
    assert not any(k.startswith(("h2/short", "h2/long")) for k in before)  # h2 not run yet
    now = tree(study["organized"])
    for key, value in before.items():          # every h1 entry survived the h2 run
        assert now.get(key) == value, key
    assert "h2/hypothesis.yaml" in now and "h2/short/election_recsys_engagement/seed_21/run" \
        in now
    h1_runs = json.loads((study["organized"] / "h1" / "runs.json").read_text())
    assert [r["run_id"] for r in h1_runs] == [r["run_id"] for r in study["h1_runs"]]
    assert set(study["summary"]["hypotheses"]) == {"h1", "h2"}
    assert not list(study["organized"].parent.glob(".organized.*-*"))   # no leftovers


def test_runs_json_keeps_evaluators_apart(study) -> None:
    runs = json.loads((study["organized"] / "h2" / "runs.json").read_text())
    assert len(runs) == 6
    for entry in runs:
        rec = study["records"][entry["run_id"]]
        assert entry["condition"] == rec["condition"] and entry["seed"] == rec["seed"]
        assert entry["status"] == "success" and entry["usable"] is True
        # the silisocs runner's flat `aggregated`, every metric named <eval_id>.<metric>
        assert {k.split(".")[0] for k in entry["aggregated"]} == {"action_metrics",
                                                                 "probe_metrics"}
        assert set(entry["metrics_by_evaluator"]) == {"action_metrics", "probe_metrics"}
        for ev in rec["evaluations"]:
            assert entry["metrics_by_evaluator"][ev["id"]] == pytest.approx(ev["aggregated"])
            for name, value in ev["aggregated"].items():
                if isinstance(value, (int, float)):
                    assert entry["aggregated"][f"{ev['id']}.{name}"] == pytest.approx(value)
        assert entry["eval_paths"] == rec["eval_paths"]
        assert entry["run_dir"] == rec["run_dir"]
        for key in ("agents", "aggregated_stats", "summary"):
            assert isinstance(entry[key], dict), key


def test_statistics_match_numpy(study) -> None:
    summary = study["summary"]
    assert summary["schema_version"] == 1 and summary["study"]["study_id"]
    checked = 0
    for hyp, block in summary["hypotheses"].items():
        for cond, per_scen in block["statistics"].items():
            for scen, cell in per_scen.items():
                assert cell["n_runs"] == 3 and len(cell["seeds"]) == 3
                for metric, d in cell["metrics"].items():
                    xs = np.array(list(values(study["records"], hyp, cond, scen,
                                              metric).values()))
                    assert d["n"] == len(xs) == 3
                    assert d["mean"] == pytest.approx(xs.mean())
                    sd = xs.std(ddof=1)
                    assert d["sd"] == pytest.approx(sd, abs=1e-12)
                    half = st.t.ppf(0.975, 2) * sd / math.sqrt(3)
                    assert d["ci_low"] == pytest.approx(xs.mean() - half, abs=1e-9)
                    assert d["ci_high"] == pytest.approx(xs.mean() + half, abs=1e-9)
                    checked += 1
    assert checked > 100
    # metric keys never mix evaluators
    assert all("." in m for m in summary["metrics"])
    assert {m.split(".")[0] for m in summary["metrics"]} == {"action_metrics", "probe_metrics"}


def _holm(ps: list[float]) -> list[float]:
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def test_contrasts_paired_for_shared_seeds_welch_otherwise(study) -> None:
    recs = study["records"]
    scen = "election_recsys_engagement"
    h1 = study["summary"]["hypotheses"]["h1"]
    assert h1["reference"] == "chronological" and h1["key_metric"] == KEY
    row = next(r for r in h1["contrasts"] if r["metric"] == KEY)
    a = values(recs, "h1", "recsys", scen, KEY)
    b = values(recs, "h1", "chronological", scen, KEY)
    seeds = sorted(a)
    ref = st.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds])
    assert row["design"] == "paired" and row["seeds"] == seeds == [11, 12, 13]
    assert row["p"] == pytest.approx(ref.pvalue)
    assert row["difference"] == pytest.approx(np.mean([a[s] - b[s] for s in seeds]))
    assert row["difference"] > 0 and row["effect_size_kind"] == "d_z"

    h2 = study["summary"]["hypotheses"]["h2"]
    assert h2["reference"] == "long" and "reference:" in h2["reference_source"]
    metric = "action_metrics.actions_per_agent"
    row2 = next(r for r in h2["contrasts"] if r["metric"] == metric)
    a2 = list(values(recs, "h2", "short", scen, metric).values())
    b2 = list(values(recs, "h2", "long", scen, metric).values())
    ref2 = st.ttest_ind(a2, b2, equal_var=False)
    assert row2["design"] == "unpaired" and row2["test"] == "welch_t"
    assert row2["condition"] == "short" and row2["reference"] == "long"
    assert row2["p"] == pytest.approx(ref2.pvalue)
    assert row2["difference"] == pytest.approx(np.mean(a2) - np.mean(b2))

    for block in (h1, h2):   # Holm over every tested contrast of the hypothesis
        tested = [r for r in block["contrasts"] if r["p"] is not None]
        assert block["holm_family_size"] == len(tested)
        for r, adj in zip(tested, _holm([r["p"] for r in tested])):
            assert r["p_holm"] == pytest.approx(adj)
        for r in block["contrasts"]:
            if r["p"] is None:
                assert r["p_holm"] is None and r["note"]


def test_hypothesis_yaml(study) -> None:
    doc = yaml.safe_load((study["organized"] / "h1" / "hypothesis.yaml").read_text())
    assert doc["id"] == "h1" and doc["status"] == "testing"
    assert doc["statement"].startswith("Recommendation-heavy")
    assert doc["independent_variable"] == "env.gm.components.observe.params.timeline_mode"
    assert doc["prediction"].startswith("recsys > chronological")
    assert doc["conditions"] == ["chronological", "recsys"]
    assert doc["reference"] == "chronological"
    cell = doc["statistics"]["recsys"]["election_recsys_engagement"]
    assert cell["metrics"][KEY]["n"] == 3
    assert any(r["metric"] == KEY for r in doc["contrasts"])


def test_stale_failed_and_unknown_records_are_listed_not_counted(study, tmp_path) -> None:
    from silisocs_study.report.organize import build_organized

    folder = tmp_path / "copy"
    shutil.copytree(study["dir"], folder, symlinks=True)
    ledger = Ledger(folder / "generated")
    stale = ledger.read("h1__recsys__election_recsys_engagement__seed11")
    stale["fingerprint"] = "0" * 32
    ledger.update(stale)
    failed = ledger.read("h1__recsys__election_recsys_engagement__seed12")
    failed.update(status="failed", evaluations=[], error="boom")
    ledger.update(failed)
    ledger.write({"run_id": "h0__old__election_recsys_engagement__seed1", "hypothesis": "h0",
                  "condition": "old", "scenario": "election_recsys_engagement", "seed": 1,
                  "status": "success", "evaluations": []})
    s = load_study(str(folder), str(REPO))
    build_organized(s)
    org = folder / "generated" / "organized"
    runs = {r["run_id"]: r for r in json.loads((org / "h1" / "runs.json").read_text())}
    assert runs[stale["run_id"]]["stale"] is True and runs[stale["run_id"]]["usable"] is False
    assert runs[failed["run_id"]]["status"] == "failed"
    summary = json.loads((org / "summary.json").read_text())
    h1 = summary["hypotheses"]["h1"]
    cell = h1["statistics"]["recsys"]["election_recsys_engagement"]
    assert cell["n_runs"] == 1 and cell["metrics"][KEY]["n"] == 1
    assert cell["metrics"][KEY]["ci_low"] is None            # n < 2: no interval
    reasons = {e["run_id"]: e["reason"] for e in h1["excluded"]}
    assert reasons[failed["run_id"]] == "status failed" and "stale" in reasons[stale["run_id"]]
    row = next(r for r in h1["contrasts"] if r["metric"] == KEY)
    assert row["p"] is None and row["difference"] is not None and "fewer than 2" in row["note"]
    assert summary["counts"]["by_status"]["stale"] == 1
    assert (org / "h0" / "hypothesis.yaml").is_file()        # records outlive the spec
    assert "no longer in the study" in (org / "h0" / "hypothesis.yaml").read_text()


def test_handmade_records_missing_metrics_and_duplicate_seeds(tmp_path) -> None:
    from silisocs_study.report.organize import build_organized

    folder = make_study(tmp_path / "hand")
    ledger = Ledger(folder / "generated")
    evals = tmp_path / "evals"
    evals.mkdir()
    from silisocs_study.plan import build_plan

    planned = {r.run_id: r.fingerprint for r in build_plan(load_study(str(folder),
                                                                      str(REPO))).runs}

    def rec(cond, seed, metrics, run_id=None, path=True):
        rid = run_id or f"h1__{cond}__election_recsys_engagement__seed{seed}"
        ev_path = evals / f"{rid}.json"
        if path:
            ev_path.write_text(json.dumps({"aggregated": metrics}))
        ledger.write({"run_id": rid, "hypothesis": "h1", "condition": cond,
                      "scenario": "election_recsys_engagement", "seed": seed,
                      "status": "success", "eval_paths": {"m": str(ev_path)},
                      "fingerprint": planned.get(rid),   # current, so not stale
                      "evaluations": [{"id": "m", "status": "success", "path": str(ev_path),
                                       "aggregated": metrics},
                                      {"id": "other", "status": "success",
                                       "aggregated": {"x": 100.0 + seed}}]})

    rec("chronological", 11, {"x": 1.0, "only_ref": 3.0})
    rec("chronological", 12, {"x": 2.0, "only_ref": 3.0})
    rec("chronological", 13, {"x": 3.0})
    rec("recsys", 11, {"x": 4.0}, path=False)
    rec("recsys", 12, {"x": 4.0}, run_id="h1__recsys__reuse_0")
    rec("recsys", 12, {"x": 6.0}, run_id="h1__recsys__reuse_1")
    s = load_study(str(folder), str(REPO))
    build_organized(s)
    org = folder / "generated" / "organized"
    summary = json.loads((org / "summary.json").read_text())
    h1 = summary["hypotheses"]["h1"]
    # same metric name under two evaluators: two metrics, never averaged together
    cell = h1["statistics"]["chronological"]["election_recsys_engagement"]["metrics"]
    assert cell["m.x"]["mean"] == pytest.approx(2.0)
    assert cell["other.x"]["mean"] == pytest.approx(112.0)
    assert cell["m.only_ref"]["n"] == 2 and "missing in 1 of 3" in cell["m.only_ref"]["note"]
    rows = {r["metric"]: r for r in h1["contrasts"]}
    assert rows["m.x"]["design"] == "unpaired"        # duplicate seeds cannot be paired
    assert rows["m.only_ref"]["difference"] is None
    assert "has 3 usable run(s) but none reports this metric" in rows["m.only_ref"]["note"]
    # two records with the same scenario and seed get two directories
    seeds = sorted(p.name for p in (org / "h1" / "recsys" / "election_recsys_engagement")
                   .iterdir())
    assert seeds == ["seed_11", "seed_12", "seed_12-h1__recsys__reuse_1"]
    d = org / "h1" / "recsys" / "election_recsys_engagement" / "seed_11"
    assert not (d / "eval.json").exists() and not (d / "run").exists()   # nothing to link
    assert yaml.safe_load((d / "config.yaml").read_text())["run_metadata"] == {}


def test_hook_is_a_noop_tree_for_experiments(tmp_path, monkeypatch) -> None:
    import silisocs_study.report.experiment as experiment
    from silisocs_study.report import organize

    calls = []
    monkeypatch.setattr(experiment, "after_run", lambda s, r: calls.append((s, r)))

    class Fake:
        kind = "experiment"
        generated = tmp_path / "generated"

    done = organize.organize(Fake(), [{"run_id": "a"}])
    assert len(calls) == 1 and not (tmp_path / "generated" / "organized").exists()
    assert done == organize.Organized(None, None)


def test_hook_failure_is_a_warning(tmp_path, capsys) -> None:
    from silisocs_study.report import organize

    class Broken:
        kind = "study"
        display_file = "x"

        @property
        def generated(self):
            raise RuntimeError("no workspace")

    done = organize.organize(Broken(), [])
    assert done.analysis is None and "no workspace" in done.error
    assert "organized view not rebuilt" in capsys.readouterr().err


def test_concurrent_rebuilds_never_expose_a_half_tree(study, tmp_path) -> None:
    from silisocs_study.report.organize import build_organized

    folder = tmp_path / "conc"
    shutil.copytree(study["dir"], folder, symlinks=True)
    s = load_study(str(folder), str(REPO))
    build_organized(s)
    org = folder / "generated" / "organized"
    errors: list[BaseException] = []
    stop = threading.Event()
    missing: list[str] = []

    def builder():
        try:
            for _ in range(3):
                build_organized(s)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def reader():
        while not stop.is_set():
            for rel in ("study_summary.yaml", "summary.json", "h1/hypothesis.yaml",
                        "h2/runs.json"):
                if not (org / rel).is_file():
                    missing.append(rel)

    threads = [threading.Thread(target=builder) for _ in range(3)]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    r.join()
    assert not errors and not missing
    assert not list(org.parent.glob(".organized.*-*"))


def test_organize_verb_rebuilds_every_view(study, tmp_path, capsys) -> None:
    from silisocs_study.cli import main

    folder = tmp_path / "verb"
    shutil.copytree(study["dir"], folder, symlinks=True)
    gen = folder / "generated"
    shutil.rmtree(gen / "organized")
    (gen / "repro_lock.json").unlink()
    assert main(["--study", str(folder), "--repo-root", str(REPO), "organize",
                 "--dry-run"]) == 0
    assert "Would organize 12 record(s)" in capsys.readouterr().out
    assert not (gen / "organized").exists()
    assert main(["--study", str(folder), "--repo-root", str(REPO), "organize"]) == 0
    out = capsys.readouterr().out
    assert "Organized:" in out
    assert (gen / "repro_lock.json").is_file() and (gen / "organized" / "summary.json").is_file()
    lock = json.loads((gen / "repro_lock.json").read_text())
    assert len(lock["records"]) == 12


def test_unchanged_records_skip_the_rebuild_force_rebuilds_and_reuses_files(study,
                                                                            tmp_path) -> None:
    from silisocs_study.report.organize import build_organized

    folder = tmp_path / "skip"
    shutil.copytree(study["dir"], folder, symlinks=True)
    s = load_study(str(folder), str(REPO))
    org = build_organized(s, force=True)
    cfg = org / "h1" / "recsys" / "election_recsys_engagement" / "seed_11" / "config.yaml"
    summary_ino, cfg_ino = (org / "summary.json").stat().st_ino, cfg.stat().st_ino
    build_organized(s)                                   # nothing changed: same files
    assert (org / "summary.json").stat().st_ino == summary_ino
    build_organized(s, force=True)                       # rebuilt, unchanged config reused
    assert (org / "summary.json").stat().st_ino != summary_ino
    assert cfg.stat().st_ino == cfg_ino
    # editing the study (hypothesis metadata) is a change even with the same records
    text = (folder / "study.yaml").read_text().replace(
        "Recommendation-heavy timelines increase interactive actions.", "Edited statement.")
    (folder / "study.yaml").write_text(text)
    build_organized(load_study(str(folder), str(REPO)))
    assert yaml.safe_load((org / "h1" / "hypothesis.yaml").read_text())["statement"] == \
        "Edited statement."
    # a new attempt of one run changes its config.yaml (and only that one)
    ledger = Ledger(folder / "generated")
    rec = ledger.read("h1__recsys__election_recsys_engagement__seed11")
    rec.update(attempt_id="another", finished_at="2030-01-01T00:00:00.000Z")
    ledger.write(rec)
    other = org / "h1" / "recsys" / "election_recsys_engagement" / "seed_12" / "config.yaml"
    other_ino = other.stat().st_ino
    build_organized(load_study(str(folder), str(REPO)))
    changed = yaml.safe_load(cfg.read_text())
    assert changed["finished_at"] == "2030-01-01T00-00-00Z"       # the silisocs runner's format
    assert changed["finished_at_iso"] == "2030-01-01T00:00:00.000Z"
    assert other.stat().st_ino == other_ino
