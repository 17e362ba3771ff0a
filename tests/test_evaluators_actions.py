"""``action_metrics_detailed`` and ``activity_summary`` on small hand-made runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from evaluator_fixtures import action, make_run

from silisocs_study.evaluators import run_builtin

# episode 0: a1 post, a2 like, a1 reply, a3 like | episode 1: a2 post, a1 like, a2 repost, a2 follow
ROWS = [
    action("post", "a1", 0, 0), action("like", "a2", 0, 1), action("reply", "a1", 0, 2), action("like", "a3", 0, 3),
    action("post", "a2", 1, 4), action("like", "a1", 1, 5), action("repost", "a2", 1, 6), action("follow", "a2", 1, 7),
]
SYSTEM_ROW = {"event_type": "system", "label": "tick", "source_user": "gm", "episode": 1, "event_index": 8, "data": {}}


def run_actions(tmp_path: Path, **kw) -> dict:
    run = make_run(tmp_path / "run", **kw)
    return run_builtin("builtin.action_metrics_detailed", run, tmp_path / "eval" / "action_metrics_detailed.json")


def test_action_metrics_flat_run(tmp_path: Path) -> None:
    p = run_actions(tmp_path, actions=[*ROWS[:4], SYSTEM_ROW, *ROWS[4:]], num_agents=4)
    assert p["summary_type"] == "action_metrics" and p["mode"] == "action_metrics"
    assert p["source_files"] == ["action_events.jsonl"] and p["bad_lines"] == 0
    assert p["total_events"] == 9 and p["total_action_events"] == 8 and p["non_action_events"] == 1
    assert p["label_counts"] == {"like": 3, "post": 2, "follow": 1, "reply": 1, "repost": 1}
    assert p["unique_action_labels"] == ["follow", "like", "post", "reply", "repost"]
    assert p["per_episode"] == {
        "0": {"total_actions": 4, "active_agents": ["a1", "a2", "a3"], "num_active_agents": 3,
              "avg_actions_per_active_agent": 4 / 3, "label_counts": {"like": 2, "post": 1, "reply": 1}},
        "1": {"total_actions": 4, "active_agents": ["a1", "a2"], "num_active_agents": 2,
              "avg_actions_per_active_agent": 2.0,
              "label_counts": {"follow": 1, "like": 1, "post": 1, "repost": 1}},
    }
    assert p["per_agent"]["a1"] == {"total_actions": 3, "first_episode": 0, "last_episode": 1,
                                    "num_active_episodes": 2, "label_counts": {"like": 1, "post": 1, "reply": 1}}
    assert p["per_agent"]["a3"] == {"total_actions": 1, "first_episode": 0, "last_episode": 0,
                                    "num_active_episodes": 1, "label_counts": {"like": 1}}
    assert p["per_agent_per_episode"]["a2"] == {
        "0": {"total_actions": 1, "label_counts": {"like": 1}},
        "1": {"total_actions": 3, "label_counts": {"follow": 1, "post": 1, "repost": 1}},
    }
    # a1: post→reply→like; a2: like→post→repost→follow; a3: one action, no transition
    assert p["transition_counts"] == {"like -> post": 1, "post -> reply": 1, "post -> repost": 1,
                                      "reply -> like": 1, "repost -> follow": 1}
    agg = p["aggregated"]
    assert agg["total_actions"] == 8 and agg["num_active_agents"] == 3 and agg["num_agents"] == 4
    assert agg["actions_per_agent"] == 2.0 and agg["actions_per_active_agent"] == pytest.approx(8 / 3)
    assert agg["interactive_actions_per_agent"] == 5 / 4  # reply 1 + like 3 + repost 1, over 4 agents
    assert agg["count_like"] == 3 and agg["share_like"] == 3 / 8
    assert agg["count_unfollow"] == 0 and agg["share_unfollow"] == 0.0  # canonical labels always present
    assert agg["num_episodes"] == 2 and agg["mean_active_agents_per_episode"] == 2.5
    assert agg["num_transitions"] == 5


def test_action_metrics_multi_game_master_and_root(tmp_path: Path) -> None:
    gm0 = [action("post", "a1", 0, 0), action("like", "a1", 0, 1), action("like", "a2", 1, 2)]
    gm1 = [action("reply", "a1", 0, 0), action("reply", "a2", 1, 1), action("repost", "a2", 1, 2)]
    p = run_actions(tmp_path, actions=[action("follow", "a3", 2, 0)], game_masters={"gm_0": gm0, "gm_1": gm1})
    assert p["source_files"] == ["action_events.jsonl", "gm_0/action_events.jsonl", "gm_1/action_events.jsonl"]
    assert p["game_masters"] == ["gm_0", "gm_1", "root"]
    assert p["per_game_master"] == {
        "root": {"total_actions": 1, "label_counts": {"follow": 1}},
        "gm_0": {"total_actions": 3, "label_counts": {"like": 2, "post": 1}},
        "gm_1": {"total_actions": 3, "label_counts": {"reply": 2, "repost": 1}},
    }
    # as silisocs: each agent's rows of all files, by (episode, event_index), file order on ties:
    # a1 post(0,0) reply(0,0) like(0,1); a2 reply(1,1) like(1,2, gm_0) repost(1,2, gm_1)
    assert p["transition_counts"] == {"reply -> like": 2, "post -> reply": 1, "like -> repost": 1}
    assert p["aggregated"]["total_actions"] == 7 and p["aggregated"]["num_agents"] == 3
    assert p["per_episode"]["1"]["active_agents"] == ["a2"]


def test_action_metrics_tolerates_bad_lines_and_odd_rows(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", actions=ROWS)
    with (run / "action_events.jsonl").open("a") as fh:
        fh.write("\n\nnot json\n")
        fh.write(json.dumps({"label": "like", "episode": 1}) + "\n")  # no event_type: not an action (silisocs)
        fh.write(json.dumps({"event_type": "action", "label": "post", "source_user": "a10", "episode": 2}) + "\n")
        fh.write(json.dumps({"event_type": "Action", "label": " like ", "episode": "3"}) + "\n")  # no agent
        fh.write('{"event_type": "action", "label": "li')
    p = run_builtin("action_metrics_detailed", run, tmp_path / "out.json")
    assert p["bad_lines"] == 2 and [s["line"] for s in p["bad_line_samples"]] == [11, 15]
    assert p["total_action_events"] == 10 and p["non_action_events"] == 1
    assert p["per_agent"]["unknown"] == {"total_actions": 1, "first_episode": 3, "last_episode": 3,
                                         "num_active_episodes": 1, "label_counts": {"like": 1}}
    assert list(p["per_agent"]) == ["a1", "a2", "a3", "a10", "unknown"]  # natural order
    assert list(p["per_episode"]) == ["0", "1", "2", "3"]
    assert p["label_counts"][" like "] == 1  # top-level labels as written, blocks stripped (as silisocs)


def test_action_metrics_without_events(tmp_path: Path) -> None:
    p = run_actions(tmp_path, probes=[])
    assert p["source_files"] == [] and p["total_action_events"] == 0 and p["warnings"]
    assert p["aggregated"]["total_actions"] == 0 and "actions_per_agent" not in p["aggregated"]
    assert p["aggregated"]["share_post"] == 0.0


def test_activity_summary(tmp_path: Path) -> None:
    system = [action("initialize", "system", 0, 10), action("recsys_update_skipped", " System ", 1, 11)]
    run = make_run(tmp_path / "run", actions=[*ROWS, action("search", "a4", 3, 9), *system],
                   game_masters={"gm_0": [action("like", "a1", 2, 0)]})
    with (run / "gm_0" / "action_events.jsonl").open("a") as fh:
        fh.write("{oops\n")
    p = run_builtin("activity_summary", run, tmp_path / "activity_summary.json")
    assert p["summary_type"] == "activity" and p["bad_lines"] == 1
    # as silisocs: system is no user, episode 0 (init) is not counted, every agent label is counted
    assert p["total_events"] == 12 and p["num_unique_users"] == 4 and p["unique_users"] == ["a1", "a2", "a3", "a4"]
    assert p["episodes_seen"] == [1, 2, 3] and p["num_episodes_seen"] == 3
    assert p["action_counts"] == {"like": 4, "post": 2, "reply": 1, "repost": 1, "follow": 1, "search": 1}
    assert p["top_labels"][:2] == [["like", 4], ["post", 2]]  # [label, count] pairs, system labels included
    assert ["initialize", 1] in p["top_labels"] and p["agent_events"] == 10
    assert p["per_game_master"] == {"root": 11, "gm_0": 1}
    agg = p["aggregated"]
    assert agg["total_events"] == 12 and agg["events_per_user"] == 2.5 and agg["share_like"] == 0.4
    assert agg["count_inner_actions"] == 1 and agg["count_unfollow"] == 0


def test_system_is_not_an_agent(tmp_path: Path) -> None:
    """``system`` (any case, stripped) acts but is no agent: no per-agent block, never active, not in rates."""
    rows = [*ROWS, action("initialize", "system", 0, 20), action("recsys_update_skipped", " SYSTEM ", 1, 21)]
    p = run_actions(tmp_path, actions=rows, num_agents=3)
    assert set(p["per_agent"]) == set(p["per_agent_per_episode"]) == {"a1", "a2", "a3"}
    assert p["total_action_events"] == 10 and p["label_counts"]["initialize"] == 1  # its rows still count
    assert p["per_episode"]["0"]["active_agents"] == ["a1", "a2", "a3"]
    assert p["per_episode"]["0"]["total_actions"] == 5 and p["per_episode"]["0"]["avg_actions_per_active_agent"] == 4 / 3
    assert p["num_agents"] == 3
    agg = p["aggregated"]
    assert agg["num_agents"] == 3 and agg["num_active_agents"] == 3 and agg["agent_actions"] == 8
    assert agg["interactive_actions_per_agent"] == 5 / 3 and agg["actions_per_agent"] == 8 / 3
    assert agg["mean_active_agents_per_episode"] == 2.5


def test_helper_processes_give_the_same_payloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte-range segments coded by a spawned helper (key tuples, raw event_index, key presence) change nothing."""
    from evaluator_fixtures import probe, write_jsonl

    from silisocs_study.evaluators import segments

    labels = ["post", "like", "reply", "repost", "follow"]
    gm0 = [action(labels[i % 5], f"a{i % 7}", i // 40, i) for i in range(2000)]
    gm1 = [action(labels[(i * 3) % 5], f"a{i % 5}", i // 50, i) for i in range(1500)]
    gm1[10]["event_index"] = "12"  # odd values take the slow path in whichever process reads them
    gm1[20]["event_index"] = 3.5
    run = make_run(tmp_path / "run", actions=[action("initialize", "system", 0, 0)], game_masters={"gm_0": gm0, "gm_1": gm1})
    rows = [probe("q", f"a{i % 9}", i // 30, i, [None, "", "Yes", "No"][i % 4]) for i in range(3000)]
    del rows[5]["data"]["probe_return"]
    write_jsonl(run / "probe_events.jsonl", rows, raw_lines={100: "{torn"})
    monkeypatch.setattr(segments, "MIN_SEGMENT_BYTES", 1)
    real_claim = segments._claim
    # this process claims no segment: the helper codes them all (else it may start after the work is done)
    monkeypatch.setattr(segments, "_claim", lambda claim, from_back: real_claim(claim, from_back) if from_back else None)
    out = {}
    for workers in ("1", "2"):
        monkeypatch.setenv(segments.WORKERS_ENV, workers)
        out[workers] = [run_builtin(name, run, tmp_path / f"{name}.json", ["--no-plots"])
                        for name in ("action_metrics_detailed", "activity_summary", "probe_summary")]
    assert out["1"] == out["2"]
    actions, _, summary = out["2"]
    assert actions["total_action_events"] == 3501 and actions["num_transitions"] == 3501 - 8  # 8 sources
    assert summary["responses_present"] == 2999 and summary["bad_lines"] == 1
