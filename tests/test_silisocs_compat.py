"""silisocs' own loaders read our studies as they read the silisocs runner's.

A user's notebook opens a study with ``silisocs.evaluations.run_artifact.load_study`` /
``load_run`` and reads the keys the silisocs runner documents (repro_lock.json records and
environment, RUN_COMPLETE.json, organized summary.json / runs.json / config.yaml, evaluator
entries). :func:`notebook` is that notebook as a list of named checks over *every* run; it
takes a study directory, so the same checks run over a study of our embedded example app
(here), over a study the silisocs runner made and we adopted (test_silisocs_adopt.py), and
later over a real-silisocs study run by us.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from conftest import REPO, assert_ok, socialsim_doc, write_study

PEER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PEER_STATUSES = {"success", "failed", "timeout", "reused", "skipped_complete"}
DONE = ("success", "skipped_complete")
EVAL_KEYS = ("id", "status", "path", "command", "log_path", "return_code", "tail")
ROW_KEYS = ("condition", "scenario", "seed", "run_id", "status", "run_dir", "eval_paths",
            "agents", "aggregated", "aggregated_stats", "summary")
STATS_KEYS = {"n", "mean", "stdev", "ci95_low", "ci95_high"}


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Notebook:
    """Named checks; each records a failure message instead of stopping at the first."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.failures: list[str] = []

    def check(self, name: str, fn: Callable[[], Any]) -> None:
        self.names.append(name)
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - a crash is a failed check
            self.failures.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        if result is not True and result is not None:
            self.failures.append(f"{name}: {result}")


def _first_bad(items, pred) -> Any:
    """True when pred holds for every item, else a message naming the first bad one."""
    for label, item in items:
        ok = pred(item)
        if ok is not True:
            shown = item if ok is False or ok is None else ok
            return f"{label}: {shown!r}"[:400]
    return True


def notebook(study_dir: Path | str, *, expect_metrics: bool = True) -> Notebook:
    """Open ``study_dir`` with silisocs' loaders and check every documented key.

    ``expect_metrics``: the study's evaluators report ``aggregated`` metrics (silisocs' own
    evaluators report none, so a study of them has empty metric tables)."""
    from silisocs.evaluations.run_artifact import load_run, load_study

    nb = Notebook()
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    lock = study.repro_lock or {}
    records = lock.get("records") or []
    recs = [(str(r.get("run_id")), r) for r in records if isinstance(r, dict)]
    done = [(i, r) for i, r in recs if r.get("status") in DONE]
    env = study.provenance
    gen = study_dir / "generated"

    # -- repro_lock.json: environment ------------------------------------------------------
    nb.check("repro_lock.json loads with records", lambda: bool(recs) or "no records")
    nb.check("environment.silisocs_version", lambda: env.get("silisocs_version") ==
             metadata.version("silisocs") or env.get("silisocs_version"))
    nb.check("environment.captured_at is a timestamp", lambda: isinstance(
        datetime.fromisoformat(str(env.get("captured_at")).replace("Z", "+00:00")), datetime))
    nb.check("environment git/python/platform/uv.lock keys", lambda: all(
        k in env for k in ("git_commit", "git_branch", "git_dirty", "python_version",
                           "platform", "uv_lock_sha256")) or sorted(env))

    # -- repro_lock.json: records ----------------------------------------------------------
    nb.check("record status is one of the runner's", lambda: _first_bad(
        recs, lambda r: r.get("status") in PEER_STATUSES))
    nb.check("record return_code (0 for a success)", lambda: _first_bad(
        recs, lambda r: "return_code" in r and (r["return_code"] == 0 or r["status"] not in
                                                 DONE or r.get("execution_mode") != "run")))
    nb.check("record planned_output_rootname names the run folder", lambda: _first_bad(
        [(i, r) for i, r in recs if r.get("execution_mode") == "run"],
        lambda r: str(r.get("planned_output_rootname")).endswith(
            f"runs/{r['hypothesis']}/{r['condition']}/{r['scenario']}/seed_{r['seed']}/run")))
    nb.check("record reused is {source, eval}", lambda: _first_bad(
        recs, lambda r: isinstance(r.get("reused"), dict) and {"source", "eval"} <= set(
            r["reused"])))
    nb.check("record tail is a list", lambda: _first_bad(
        recs, lambda r: isinstance(r.get("tail"), list)))
    nb.check("record started_at in the runner's format", lambda: _first_bad(
        recs, lambda r: bool(PEER_TIME.match(str(r.get("started_at")))) and isinstance(
            datetime.strptime(r["started_at"], "%Y-%m-%dT%H-%M-%SZ"), datetime)))
    nb.check("record finished_at in the runner's format, not before started_at",
             lambda: _first_bad(recs, lambda r: bool(PEER_TIME.match(
                 str(r.get("finished_at")))) and r["finished_at"] >= r["started_at"]))
    nb.check("record run_dir exists for complete runs", lambda: _first_bad(
        done, lambda r: Path(str(r.get("run_dir"))).is_dir()))
    nb.check("record lock hashes effective_config.yaml", lambda: _first_bad(
        done, lambda r: (r.get("lock") or {}).get("effective_config_sha256") == _sha(
            Path(r["run_dir"]) / "effective_config.yaml")))
    nb.check("evaluation entries have the runner's keys", lambda: _first_bad(
        [(f"{i}/{e.get('id')}", e) for i, r in recs for e in r.get("evaluations") or []],
        lambda e: all(k in e for k in EVAL_KEYS) and isinstance(e["command"], list) and
        isinstance(e["tail"], list) or sorted(e)))
    nb.check("successful evaluations: output file, return_code 0", lambda: _first_bad(
        [(f"{i}/{e.get('id')}", e) for i, r in done for e in r.get("evaluations") or []
         if e.get("status") == "success"],
        lambda e: Path(e["path"]).is_file() and e["return_code"] == 0))
    nb.check("eval_paths maps each evaluation to its path", lambda: _first_bad(
        recs, lambda r: r.get("eval_paths") == {str(e["id"]): e["path"] for e in
                                                r.get("evaluations") or [] if e.get("path")}))

    # -- RUN_COMPLETE.json and load_study().progress ---------------------------------------
    def marker(r):
        m = json.loads((Path(r["run_dir"]) / "RUN_COMPLETE.json").read_text())
        return (m.get("run_id") == r["run_id"] and bool(PEER_TIME.match(str(
            m.get("finished_at")))) and m.get("return_code") == 0 and
            m.get("effective_config_sha256") == r["lock"]["effective_config_sha256"]) or m

    nb.check("RUN_COMPLETE.json in every complete run", lambda: _first_bad(
        [(i, r) for i, r in done if r.get("execution_mode") == "run"], marker))
    progress = study.progress
    nb.check("progress lists every planned run", lambda: len(progress) == len(
        [r for r in recs if r[1].get("execution_mode") in ("run", "reuse_existing")]) or
             f"{len(progress)} rows for {len(recs)} records")
    nb.check("progress: complete runs are complete", lambda: sum(
        1 for p in progress if p["status"] == "complete") == len(
        [r for r in done if r[1].get("execution_mode") == "run"]) or progress)

    # -- load_run on each run ----------------------------------------------------------------
    nb.check("load_run reads each complete run", lambda: _first_bad(
        done, lambda r: load_run(r["run_dir"]).status in ("success", "completed")))

    # -- study_index.json and repro_lock.jsonl -------------------------------------------------
    def index_ok():
        doc = json.loads((gen / "study_index.json").read_text())
        ids = [r["run_id"] for r in doc["records"]]
        return (doc["study"]["study_id"] == (study.definition or {}).get("study", {}).get(
            "study_id", doc["study"]["study_id"]) and sorted(ids) == sorted(i for i, _ in recs)
            and bool(PEER_TIME.match(str(doc.get("generated_at"))))) or doc.get("generated_at")

    nb.check("study_index.json: study, records, generated_at", index_ok)
    nb.check("repro_lock.jsonl covers every record", lambda: {
        json.loads(line)["run_id"] for line in (gen / "repro_lock.jsonl").read_text()
        .splitlines() if line.strip()} >= {i for i, _ in recs})

    # -- organized: study_summary.yaml, runs.json, summary.json, config.yaml -----------------
    nb.check("study_summary.yaml: study_id and hypotheses", lambda: (
        study.summary or {}).get("hypotheses") == list((study.definition or {}).get(
            "hypotheses") or {}) or study.summary)
    rows = study.run_records
    nb.check("runs.json rows have the runner's keys", lambda: bool(rows) and _first_bad(
        [(r.get("run_id"), r) for r in rows], lambda r: all(k in r for k in ROW_KEYS) or
        sorted(r)))
    nb.check("runs.json aggregated is flat and numeric", lambda: _first_bad(
        [(r.get("run_id"), r) for r in rows], lambda r: isinstance(r["aggregated"], dict)
        and all(_num(v) for v in r["aggregated"].values())))
    nb.check("runs.json agents/summary/aggregated_stats are mappings", lambda: _first_bad(
        [(r.get("run_id"), r) for r in rows], lambda r: all(isinstance(r[k], dict) for k in (
            "agents", "summary", "aggregated_stats"))))
    nb.check("runs.json covers every record", lambda: {r["run_id"] for r in rows} == {
        i for i, _ in recs})
    if expect_metrics:
        nb.check("runs.json: complete runs have metrics", lambda: _first_bad(
            [(r.get("run_id"), r) for r in rows if r["status"] in DONE],
            lambda r: bool(r["aggregated"])))
    summary = json.loads((gen / "organized" / "summary.json").read_text())
    mbc = summary.get("metrics_by_condition")
    msc = summary.get("metrics_stats_by_condition")

    def means_match():
        want: dict = {}
        for r in rows:
            if r["status"] in ("success", "reused", "skipped_complete") and not r.get("stale"):
                for m, v in r["aggregated"].items():
                    want.setdefault(r["hypothesis"], {}).setdefault(
                        r["condition"], {}).setdefault(m, []).append(v)
        for h, conds in want.items():
            for c, metrics in conds.items():
                for m, vs in metrics.items():
                    got = mbc[h][c][m]
                    if not math.isclose(got, sum(vs) / len(vs), rel_tol=1e-9, abs_tol=1e-12):
                        return f"{h}/{c}/{m}: {got} != mean {vs}"
        return bool(want) or not expect_metrics or "no metrics"

    nb.check("summary.json metrics_by_condition = mean of the runs", means_match)

    def stats_ok():
        for h, conds in (msc or {}).items():
            for c, metrics in conds.items():
                for m, st in metrics.items():
                    if set(st) != STATS_KEYS or st["mean"] != mbc[h][c][m]:
                        return f"{h}/{c}/{m}: {st}"
                    if st["n"] >= 2 and not (st["ci95_low"] <= st["mean"] <= st["ci95_high"]):
                        return f"{h}/{c}/{m}: mean outside its CI {st}"
        return isinstance(msc, dict) and (bool(msc) or not expect_metrics) or msc

    nb.check("summary.json metrics_stats_by_condition {n, mean, stdev, ci95_*}", stats_ok)
    nb.check("summary.json conditions rows", lambda: isinstance(summary.get("conditions"), list)
             and _first_bad([(str(i), c) for i, c in enumerate(summary["conditions"])],
                            lambda c: all(k in c for k in ("hypothesis", "condition",
                                                           "scenario", "aggregated",
                                                           "summary"))))

    def config_ok(r):
        seed_dir = (gen / "organized" / r["hypothesis"] / r["condition"] / r["scenario"]
                    / f"seed_{r['seed']}")
        cfg = yaml.safe_load((seed_dir / "config.yaml").read_text())
        eff = yaml.safe_load((Path(r["run_dir"]) / "effective_config.yaml").read_text())
        llm = ((eff.get("sim") or {}).get("llm") or {}) if isinstance(eff.get("sim"),
                                                                     dict) else {}
        return (cfg["run_id"] == r["run_id"] and "model_name" in cfg and
                cfg["model_name"] == llm.get("name") and cfg["num_agents"] == eff["num_agents"]
                and cfg["max_steps"] == eff["num_steps"] and cfg["status"] == r["status"]
                and bool(PEER_TIME.match(str(cfg["started_at"])))
                and (seed_dir / "run").resolve() == Path(r["run_dir"]).resolve()) or {
            k: cfg.get(k) for k in ("run_id", "model_name", "num_agents", "max_steps",
                                    "started_at")}

    nb.check("organized config.yaml: model_name, num_agents, max_steps at top level",
             lambda: _first_bad(done, config_ok))
    nb.check("load_study().plan is a plan document", lambda: isinstance(study.plan, dict) and
             study.plan.get("schema_version") == 1 or study.plan)
    return nb


# -- our CLI on the embedded example app ----------------------------------------------------

@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Path:
    study = write_study(tmp_path_factory.mktemp("compat") / "study", socialsim_doc())
    proc = subprocess.run([sys.executable, "-m", "silisocs_study", "--study", str(study),
                           "--repo-root", str(REPO), "run"], cwd=str(study.parent),
                          capture_output=True, text=True, timeout=600)
    assert_ok(proc)
    return study


def test_a_notebook_on_our_study(ours) -> None:
    nb = notebook(ours)
    assert len(nb.names) >= 24
    assert not nb.failures, "\n".join(nb.failures)


def test_record_files_keep_iso_and_views_carry_both(ours) -> None:
    from silisocs_study.ledger.records import Ledger, peer_time

    records = Ledger(ours / "generated").all()
    lock = {r["run_id"]: r for r in json.loads(
        (ours / "generated" / "repro_lock.json").read_text())["records"]}
    assert records and set(records) == set(lock)
    for run_id, rec in records.items():
        for key in ("started_at", "finished_at"):
            assert ISO_MS.match(rec[key]), rec[key]               # the record file: ISO
            assert lock[run_id][key] == peer_time(rec[key])       # the view: the runner's
            assert lock[run_id][f"{key}_iso"] == rec[key]         # ... and ours beside it
        assert lock[run_id]["fingerprint"] == rec["fingerprint"]  # our fields stay
        assert lock[run_id]["return_code"] == rec["exit_code"] == 0
        marker = json.loads((Path(rec["run_dir"]) / "RUN_COMPLETE.json").read_text())
        assert marker["finished_at"] == peer_time(rec["finished_at"])
        assert marker["fingerprint"] == rec["fingerprint"]


def test_every_view_starts_with_our_marker(ours) -> None:
    from silisocs_study.ledger.adopt import FLAT_FILES, foreign_files, foreign_organized, is_ours

    gen = ours / "generated"
    for name in ("repro_lock.json", "repro_lock.jsonl", "study_index.json",
                 "study_enriched.yaml"):
        assert is_ours(gen / name) is True, name
    for name in FLAT_FILES:     # plan.json / run_study.sh: ours when the run wrote them
        assert is_ours(gen / name) in (True, None), name
    assert foreign_files(gen) == [] and not foreign_organized(gen)
    assert not (gen / "preserved_originals").exists()     # nothing of ours was "preserved"
    first = (gen / "repro_lock.jsonl").read_text().splitlines()[0]
    assert first.startswith('{"generator":"silisocs-study')


def test_runs_json_keeps_per_evaluator_metrics_beside_the_flat_ones(ours) -> None:
    rows = json.loads((ours / "generated" / "organized" / "h1" / "runs.json").read_text())
    for row in rows:
        flat = {f"{e}.{m}": v for e, ms in row["metrics_by_evaluator"].items()
                for m, v in ms.items()}
        assert flat == row["aggregated"] and flat
        assert all(k.startswith("action_metrics.") for k in row["aggregated"])
        agents = row["agents"]          # our evaluator's per_agent block, numeric only
        assert agents and all(all(_num(v) for v in m.values()) for m in agents.values())


def test_load_study_plan_has_the_runners_rows(ours) -> None:
    from silisocs.evaluations.run_artifact import load_study

    proc = subprocess.run([sys.executable, "-m", "silisocs_study", "--study", str(ours),
                           "--repo-root", str(REPO), "run", "--dry-run"], cwd=str(ours.parent),
                          capture_output=True, text=True, timeout=300)
    assert_ok(proc)                                   # writes generated/plan.json
    rows = load_study(ours).plan.get("plan")
    assert isinstance(rows, list) and len(rows) == 4
    for row in rows:
        for key in ("run_id", "study_id", "hypothesis", "condition", "sub_experiment",
                    "scenario", "seed", "run_name", "planned_output_rootname", "mode",
                    "reused_source", "re_evaluate", "evaluators"):
            assert key in row, key
        assert row["mode"] == "run"
