"""A study the silisocs runner ("the peer", ``python -m silisocs.studies.run_study``) ran:
every verb of ours adopts its runs and never clobbers its files.

The module fixture runs the real peer once on a 4-run real-silisocs study (scripted model,
3 agents × 2 steps, two timeline modes × seeds 1, 2; ~15 s): ``run --dry-run`` (its
plan.json) then ``run --max-concurrent 2``. Its single evaluator is silisocs' own
``activity_summary`` called with this interpreter (the peer's presets call ``uv run``, which
would build a project environment from the network here).

silisocs' runner changes directory to the first folder above its own package that holds a
``pyproject.toml`` — for this checkout's .venv, the repository itself — before it resolves
the run folder the peer passes (relative to the repo root). A pip-installed silisocs has no
such folder and stays in the peer's working directory (the repo root ``R``), so the fixture
imports silisocs from a copy under ``R`` (``PYTHONPATH``), as a pip install would place it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import assert_ok

pytestmark = pytest.mark.slow   # runs silisocs' own study runner first (~40 s)

STUDY_ID = "peer_adopt"
FLAT = ("repro_lock.json", "repro_lock.jsonl", "study_index.json", "study_enriched.yaml",
        "plan.json", "run_study.sh")
RUN_IDS = [f"h1__{c}__tutorial__seed{s}" for c in ("chrono", "recsys") for s in (1, 2)]


def peer_doc() -> dict:
    return {
        "schema_version": 1,
        "study": {"name": STUDY_ID, "study_id": STUDY_ID,
                  "question": "Does the timeline mode change activity?",
                  "scenarios": ["tutorial"],
                  "run_defaults": {"seeds": [1, 2], "overrides": {
                      "sim.llm.provider": "scripted", "sim.llm.name": "scripted",
                      "+sim.llm.extra_kwargs.behavior_class_path":
                          "silisocs.runtime.tutorial.TutorialBehavior",
                      "num_agents": 3, "num_steps": 2}}},
        "evaluations": [{"id": "activity", "preset": "builtin.activity_summary",
                         "command": [sys.executable, "-m",
                                     "silisocs.evaluations.activity_summary"]}],
        "hypotheses": {"h1": {
            "statement": "A recommender timeline changes activity.",
            "conditions": {
                "chrono": {"overrides": {
                    "env.gm.components.observe.params.timeline_mode": "follower_chronological"}},
                "recsys": {"overrides": {
                    "env.gm.components.observe.params.timeline_mode": "pure_recsys"}}}}},
    }


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every symlink's text under ``root`` (relative paths)."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes()
    return out


def env_for(repo: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo / ".peer_site"),
                                                       env.get("PYTHONPATH")]))
    env.pop("RUN_STUDY_PYTHON", None)
    return env


def ours(repo: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "silisocs_study", "--study",
                           str(repo / "experiments" / "studies" / STUDY_ID),
                           "--repo-root", str(repo), *args], cwd=str(repo),
                          capture_output=True, text=True, timeout=300, env=env_for(repo))
    if ok:
        assert_ok(proc)
    return proc


@pytest.fixture(scope="module")
def peer(tmp_path_factory) -> dict:
    """The peer's study, run once; returns paths and snapshots of everything it wrote."""
    import silisocs

    repo = tmp_path_factory.mktemp("peer") / "R"
    site = repo / ".peer_site"
    site.mkdir(parents=True)
    shutil.copytree(Path(silisocs.__file__).parent, site / "silisocs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    work = repo / "experiments" / "studies" / STUDY_ID
    work.mkdir(parents=True)
    (work / "study.yaml").write_text(yaml.safe_dump(peer_doc(), sort_keys=False))
    base = [sys.executable, "-m", "silisocs.studies.run_study", "--study", str(work),
            "--repo-root", str(repo), "run"]
    for extra in (["--dry-run"], ["--max-concurrent", "2"]):
        proc = subprocess.run(base + extra, cwd=str(repo), capture_output=True, text=True,
                              timeout=600, env=env_for(repo))
        assert_ok(proc)
    gen = work / "generated"
    lock = json.loads((gen / "repro_lock.json").read_text())
    assert sorted(r["run_id"] for r in lock["records"]) == RUN_IDS
    assert {r["status"] for r in lock["records"]} == {"success"}
    for r in lock["records"]:          # the runs landed where the peer planned them
        assert Path(r["run_dir"]) == work / "runs" / r["hypothesis"] / r["condition"] / \
            "tutorial" / f"seed_{r['seed']}" / "run"
        assert (Path(r["run_dir"]) / "RUN_COMPLETE.json").is_file()
    pristine = repo.parent / "pristine"
    shutil.copytree(repo, pristine, symlinks=True)
    return {"repo": repo, "work": work, "gen": gen, "pristine": pristine,
            "files": {n: (gen / n).read_bytes() for n in FLAT},
            "organized": snapshot(gen / "organized"), "runs": snapshot(work / "runs"),
            "lock": lock}


def fresh(peer: dict, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the peer's repo as it was right after the peer ran: (repo, workspace)."""
    repo = tmp_path / "R"
    shutil.copytree(peer["pristine"], repo, symlinks=True)
    return repo, repo / "experiments" / "studies" / STUDY_ID


def load(repo: Path):
    from silisocs_study.plan import build_plan
    from silisocs_study.spec import load_study

    return build_plan(load_study(repo / "experiments" / "studies" / STUDY_ID, repo))


# -- every verb, in order, on the peer's own study --------------------------------------------

@pytest.fixture(scope="module")
def verbs(peer) -> dict:
    repo, gen = peer["repo"], peer["gen"]
    out: dict = {}
    out["status"] = ours(repo, "status")
    out["status_json"] = json.loads(ours(repo, "status", "--json").stdout)
    out["records_after_status"] = snapshot(gen / "records")
    out["plan"] = ours(repo, "plan")
    logs_before = set(os.listdir(gen / "logs"))
    out["run"] = ours(repo, "run")
    out["new_logs"] = set(os.listdir(gen / "logs")) - logs_before
    out["records_after_run"] = snapshot(gen / "records")
    out["organize"] = ours(repo, "organize")
    out["report"] = ours(repo, "report")
    out["organize_again"] = ours(repo, "organize")
    return out


def test_status_counts_the_peer_runs_as_complete(peer, verbs) -> None:
    assert "Adopted 4 run(s)" in verbs["status"].stdout
    assert "Study peer_adopt: success 4" in verbs["status"].stdout
    assert verbs["status_json"]["totals"] == {"success": 4}
    assert verbs["status_json"]["groups"] == {"h1/chrono": {"success": 2},
                                              "h1/recsys": {"success": 2}}
    assert "Runs: 4" in verbs["plan"].stdout


def test_adopted_records_keep_the_peers_record(peer, verbs) -> None:
    from silisocs_study.ledger.records import Ledger, iso_from_peer

    plan = load(peer["repo"])
    fingerprints = {r.run_id: r.fingerprint for r in plan.runs}
    theirs = {r["run_id"]: r for r in peer["lock"]["records"]}
    records = Ledger(peer["gen"]).all()
    assert sorted(records) == RUN_IDS
    for run_id, rec in records.items():
        src = theirs[run_id]
        assert rec["status"] == "success" and rec["fingerprint"] == fingerprints[run_id]
        assert rec["adopted_from"]["source"] in ("repro_lock.jsonl", "repro_lock.json")
        assert rec["adopted_from"]["status"] == "success"
        assert rec["peer_record"] == src                       # kept whole
        assert rec["run_dir"] == src["run_dir"] and rec["command"] == src["command"]
        assert rec["evaluations"] == src["evaluations"] and rec["lock"] == src["lock"]
        assert rec["started_at"] == iso_from_peer(src["started_at"])
        assert rec["session"] is None and rec["attempt_id"].startswith("adopted-")


def test_run_launches_nothing(peer, verbs) -> None:
    out = verbs["run"].stdout
    assert "new 0, retry 0, stale 0, forced 0, skip (complete) 4" in out, out
    assert "Launching" not in out
    assert not verbs["new_logs"], verbs["new_logs"]
    assert verbs["records_after_run"] == verbs["records_after_status"]   # no new attempt
    assert snapshot(peer["work"] / "runs") == peer["runs"]    # run dirs, markers untouched
    assert not (peer["gen"] / "hydra").exists()


def test_decisions_skip_every_adopted_run(peer, tmp_path) -> None:
    """What `run` decides, from adoption alone (no launcher involved)."""
    from silisocs_study.launch.decide import decide
    from silisocs_study.ledger.adopt import adopt_external
    from silisocs_study.ledger.records import Ledger

    repo, work = fresh(peer, tmp_path)
    plan = load(repo)
    assert adopt_external(plan, dry_run=True) == RUN_IDS
    assert not (work / "generated" / "records").exists()     # dry run: nothing written
    assert sorted(adopt_external(plan)) == RUN_IDS
    assert adopt_external(plan) == []                          # idempotent
    d = decide(plan.runs, Ledger(work / "generated").all())
    assert d.launch == [] and sorted(d.skipped) == RUN_IDS


def test_every_peer_record_is_in_our_views(peer, verbs) -> None:
    gen = peer["gen"]
    lock = json.loads((gen / "repro_lock.json").read_text())
    assert lock["generator"].startswith("silisocs-study")
    assert sorted(r["run_id"] for r in lock["records"]) == RUN_IDS
    lines = [json.loads(x) for x in (gen / "repro_lock.jsonl").read_text().splitlines()]
    assert sorted(r["run_id"] for r in lines) == RUN_IDS
    index = json.loads((gen / "study_index.json").read_text())
    assert sorted(r["run_id"] for r in index["records"]) == RUN_IDS
    enriched = yaml.safe_load((gen / "study_enriched.yaml").read_text())
    assert sorted(r["run_id"] for r in enriched["generated"]["records"]) == RUN_IDS
    rows = json.loads((gen / "organized" / "h1" / "runs.json").read_text())
    assert sorted(r["run_id"] for r in rows) == RUN_IDS
    summary = json.loads((gen / "organized" / "summary.json").read_text())
    assert summary["counts"]["by_status"] == {"success": 4}
    for rec in lock["records"]:
        links = gen / "organized" / "h1" / rec["condition"] / "tutorial" / f"seed_{rec['seed']}"
        assert (links / "run").resolve() == Path(rec["run_dir"]).resolve()
        assert (links / "eval" / "activity" / "activity_summary.json").is_file()
    report = (gen / "reports" / "summary.md").read_text()
    assert "peer_adopt" in report and (gen / "reports" / "study.xlsx").is_file()


def test_the_peers_originals_are_preserved_byte_for_byte(peer, verbs) -> None:
    from silisocs_study.ledger.adopt import MANIFEST, PRESERVED_DIR

    root = peer["gen"] / PRESERVED_DIR
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    kept: dict[str, list[Path]] = {}
    for folder in folders:
        manifest = json.loads((folder / MANIFEST).read_text())
        for entry in manifest["files"]:
            kept.setdefault(entry["path"], []).append(folder / entry["path"])
    assert sorted(kept) == sorted(FLAT + ("organized",))
    assert all(len(v) == 1 for v in kept.values()), kept     # once each, over five verbs
    for name in FLAT:
        assert kept[name][0].read_bytes() == peer["files"][name], name
        assert (peer["gen"] / name).read_bytes() != peer["files"][name] or name in (
            "plan.json", "run_study.sh"), name       # ours now (the peer's plan stays: no run)
    assert snapshot(kept["organized"][0]) == peer["organized"]   # files and link texts
    told = verbs["run"].stderr + verbs["organize"].stderr   # whichever rebuilt it first
    assert told.count("note: kept the silisocs runner's organized/") == 1, told
    assert "note: kept" not in verbs["organize_again"].stderr


def test_silisocs_loaders_still_work_afterwards(peer, verbs) -> None:
    from test_silisocs_compat import notebook

    nb = notebook(peer["work"], expect_metrics=False)
    assert len(nb.names) >= 24
    assert not nb.failures, "\n".join(nb.failures)


# -- variants, each on a fresh copy of the peer's study ---------------------------------------

def test_adopting_from_run_complete_markers_alone(peer, tmp_path) -> None:
    """The lock files gone (only RUN_COMPLETE.json in each run dir): still complete, with the
    evaluator outputs at their deterministic paths re-attached, as the peer does."""
    from silisocs_study.ledger.adopt import adopt_external
    from silisocs_study.ledger.records import Ledger

    repo, work = fresh(peer, tmp_path)
    for name in ("repro_lock.json", "repro_lock.jsonl", "study_index.json"):
        (work / "generated" / name).unlink()
    assert sorted(adopt_external(load(repo))) == RUN_IDS
    for run_id, rec in Ledger(work / "generated").all().items():
        assert rec["status"] == "success" and rec["adopted_from"]["source"] == \
            "RUN_COMPLETE.json"
        assert rec["complete_marker"]["run_id"] == run_id
        assert [e["id"] for e in rec["evaluations"]] == ["activity"]
        assert rec["evaluations"][0]["status"] == "reused"
        assert rec["lock"]["effective_config_sha256"] == \
            rec["complete_marker"]["effective_config_sha256"]


def test_a_later_failed_attempt_stays_failed_and_unplanned_runs_are_kept(peer, tmp_path):
    """The peer's latest word wins: a failed --force attempt after the success (its marker is
    older) is adopted as failed. A run no longer in the study is adopted by the views."""
    from silisocs_study.ledger.records import Ledger

    repo, work = fresh(peer, tmp_path)
    gen = work / "generated"
    lines = (gen / "repro_lock.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    failed = dict(first, status="failed", return_code=3, tail=["boom"],
                  started_at="2099-01-01T00-00-00Z", finished_at="2099-01-01T00-00-05Z")
    gone = dict(first, run_id="h0__old__tutorial__seed1", hypothesis="h0", condition="old")
    with open(gen / "repro_lock.jsonl", "a") as fh:
        fh.write(json.dumps(failed) + "\n" + json.dumps(gone) + "\n")
    status = json.loads(ours(repo, "status", "--json").stdout)
    assert status["totals"] == {"success": 3, "failed": 1}
    rec = Ledger(gen).read(first["run_id"])
    assert rec["status"] == "failed" and rec["error_tail"] == ["boom"]
    assert rec["exit_code"] == 3 and "failed" in rec["error"]
    ours(repo, "organize")
    lock = json.loads((gen / "repro_lock.json").read_text())
    assert "h0__old__tutorial__seed1" in {r["run_id"] for r in lock["records"]}
    assert Ledger(gen).read("h0__old__tutorial__seed1")["fingerprint"] is None


def test_a_peer_file_written_again_is_preserved_again_never_over_the_first(peer, tmp_path):
    from silisocs_study.ledger.adopt import PRESERVED_DIR

    repo, work = fresh(peer, tmp_path)
    gen = work / "generated"
    ours(repo, "organize")
    root = gen / PRESERVED_DIR
    before = snapshot(root)
    again = dict(json.loads(peer["files"]["repro_lock.json"]))   # the peer runs once more
    again["records"] = again["records"][:1]
    (gen / "repro_lock.json").write_text(json.dumps(again, indent=2))
    ours(repo, "organize")
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before   # nothing overwritten
    new = [k for k in after if k not in before and k.endswith("/repro_lock.json")]
    assert len(new) == 1 and json.loads(after[new[0]]) == again


def test_run_alone_adopts_before_it_decides(peer, tmp_path) -> None:
    """`run` as the very first verb (dry run: nothing is launched even without adoption)."""
    repo, work = fresh(peer, tmp_path)
    out = ours(repo, "run", "--dry-run").stdout
    assert "new 0, retry 0, stale 0, forced 0, skip (complete) 4" in out, out
    kept = list((work / "generated" / "preserved_originals").glob("*/plan.json"))
    assert len(kept) == 1 and kept[0].read_bytes() == peer["files"]["plan.json"]
