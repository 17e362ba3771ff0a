"""The socialsim example honours the run-directory contract the orchestrator relies on.

CLI behaviour is checked through real subprocesses (fresh hash seeds, real Hydra); the
engagement statistics are computed in-process on configs composed by Hydra's compose API.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import compose_app

from examples.socialsim.sim import ACTION_LABELS, interactive_per_agent, simulate

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "examples" / "socialsim" / "conf"
MODE_KEY = "env.gm.components.observe.params.timeline_mode"
EVENT_KEYS = ["event_type", "label", "source_user", "episode", "event_index", "data"]


def run_sim(out: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python -m examples.socialsim`` writing everything under ``out``."""
    argv = [sys.executable, "-m", "examples.socialsim", f"output_dir={out}", f"hydra.run.dir={out}"]
    proc = subprocess.run(
        [*argv, *overrides], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def composed(*overrides: str) -> dict[str, Any]:
    return compose_app(CONF, *overrides)


def test_run_dir_contract(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_sim(out, "seed=3", "run_name=r1")
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["status"] == "success"
    assert manifest["error"] is None
    assert (manifest["scenario"], manifest["seed"]) == ("election_recsys_engagement", 3)
    assert (manifest["num_agents"], manifest["num_steps"]) == (50, 10)
    assert (manifest["run_name"], manifest["experiment_name"]) == ("r1", "independent")
    assert manifest["game_masters"] == [{"name": "gm_0"}]
    arts = manifest["artifacts"]
    assert arts["action_events"] == ["action_events.jsonl"]
    assert arts["probe_events"] == ["probe_events.jsonl"]
    for rel in [arts["effective_config"], arts["sim_metrics"], *arts["action_events"]]:
        assert (out / rel).is_file(), rel

    eff = yaml.safe_load((out / "effective_config.yaml").read_text())
    assert "hydra" not in eff and eff["seed"] == 3 and eff["output_dir"] == str(out)
    assert eff["scenario"]["scenario_name"] == "election_recsys_engagement"

    actions = read_jsonl(out / "action_events.jsonl")
    probes = read_jsonl(out / "probe_events.jsonl")
    for row in actions + probes:
        assert list(row) == EVENT_KEYS
        assert row["source_user"].startswith("agent_") and 0 <= row["episode"] < 10
    assert {r["event_type"] for r in actions} == {"action"}
    assert {r["label"] for r in actions} <= set(ACTION_LABELS)
    assert {r["label"] for r in actions} >= {"post", "like", "reply"}
    for rows in (actions, probes):
        idx = [r["event_index"] for r in rows]
        assert idx == sorted(idx) and len(set(idx)) == len(idx)
    assert len(probes) == 50 * 10 * 4
    by_probe: dict[str, set[str]] = {}
    for r in probes:
        assert r["event_type"] == "probe" and r["data"]["probe_mode"] == "scheduled"
        by_probe.setdefault(r["label"], set()).add(r["data"]["probe_return"])
    assert by_probe["vote_intention"] <= {"Yes", "No"}
    assert {int(v) for v in by_probe["candidate_favorability"]} <= set(range(1, 11))
    assert by_probe["top_issue"] <= {"economy", "health", "climate", "security"}
    assert all(v.endswith(".") for v in by_probe["one_sentence_view"])

    metrics = json.loads((out / "sim_metrics.json").read_text())
    meta = metrics["meta"]
    assert (meta["num_agents"], meta["num_steps"], meta["seed"]) == (50, 10, 3)
    assert meta["num_game_masters"] == 1 and meta["output_dir"] == str(out)
    counters = metrics["counters"]
    assert counters["actions_total"] == len(actions)
    assert counters["probes_total"] == len(probes)
    for label in ACTION_LABELS:
        assert counters[label] == sum(r["label"] == label for r in actions)
    assert metrics["wall_seconds"] >= 0


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run_sim(a, "seed=5")
    run_sim(b, "seed=5")
    run_sim(c, "seed=6")
    for name in ("action_events.jsonl", "probe_events.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()


def test_timeline_mode_changes_engagement(tmp_path: Path) -> None:
    per_mode: dict[str, list[float]] = {}
    for mode in ("follower_chronological", "pure_recsys"):
        for seed in (11, 12, 13):
            result = simulate(composed(f"seed={seed}", f"{MODE_KEY}={mode}"))
            per_mode.setdefault(mode, []).append(interactive_per_agent(result.counters, 50))
    chrono, recsys = per_mode["follower_chronological"], per_mode["pure_recsys"]
    assert all(r > c for r, c in zip(recsys, chrono)), per_mode
    assert statistics.mean(recsys) >= 1.2 * statistics.mean(chrono), per_mode

    # The CLI override reaches the simulation: the subprocess counts match in-process ones.
    out = tmp_path / "recsys"
    run_sim(out, "seed=11", f"{MODE_KEY}=pure_recsys")
    counters = json.loads((out / "sim_metrics.json").read_text())["counters"]
    assert interactive_per_agent(counters, 50) == recsys[0]


def test_two_game_masters_split_actions_into_subfolders(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    run_sim(one, "scenario=town_hall", "seed=2")
    run_sim(two, "scenario=town_hall", "seed=2", "env.num_game_masters=2")
    manifest = json.loads((two / "run_manifest.json").read_text())
    assert manifest["scenario"] == "town_hall"
    assert manifest["game_masters"] == [{"name": "gm_0"}, {"name": "gm_1"}]
    assert manifest["artifacts"]["action_events"] == [
        "gm_0/action_events.jsonl",
        "gm_1/action_events.jsonl",
    ]
    assert not (two / "action_events.jsonl").exists()
    assert (two / "probe_events.jsonl").read_bytes() == (one / "probe_events.jsonl").read_bytes()
    gm0 = read_jsonl(two / "gm_0" / "action_events.jsonl")
    gm1 = read_jsonl(two / "gm_1" / "action_events.jsonl")
    assert gm0 and gm1
    assert max(r["source_user"] for r in gm0) < min(r["source_user"] for r in gm1)
    merged = sorted(gm0 + gm1, key=lambda r: r["event_index"])
    assert merged == read_jsonl(one / "action_events.jsonl")


def test_injected_raise_fails_with_failed_manifest(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_sim(out, "debug.fail=raise", check=False)
    assert proc.returncode != 0
    assert "injected failure" in proc.stderr
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "injected failure" in manifest["error"]
    probes = read_jsonl(out / "probe_events.jsonl")
    assert 0 < len(probes) < 50 * 10 * 4  # stopped mid-run
    counters = json.loads((out / "sim_metrics.json").read_text())["counters"]
    assert counters["probes_total"] == len(probes)


def test_injected_exit_dies_hard_without_manifest(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_sim(out, "debug.fail=exit", check=False)
    assert proc.returncode == 3
    assert not (out / "run_manifest.json").exists()
    assert 0 < len(read_jsonl(out / "probe_events.jsonl")) < 50 * 10 * 4


def test_unknown_override_is_rejected(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_sim(out, "no_such_key=1", check=False)
    assert proc.returncode != 0
    assert "no_such_key" in proc.stderr
    assert not (out / "run_manifest.json").exists()


def test_basic_sweeper_multirun(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    argv = [sys.executable, "-m", "examples.socialsim", "--multirun", "seed=1,2"]
    proc = subprocess.run(
        [*argv, f"hydra.sweep.dir={sweep}", "num_steps=3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for job, seed in ((0, 1), (1, 2)):
        manifest = json.loads((sweep / str(job) / "run_manifest.json").read_text())
        assert (manifest["status"], manifest["seed"], manifest["num_steps"]) == ("success", seed, 3)


def test_bad_values_are_rejected_in_process() -> None:
    with pytest.raises(ValueError, match="timeline_mode"):
        simulate(composed(f"{MODE_KEY}=nonsense"))
