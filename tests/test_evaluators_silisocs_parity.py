"""Our builtin evaluators against silisocs' own, on real silisocs run directories.

Three real runs (``silisocs_runs``, made once per session, in parallel): a plain 4-agent run, the
same with one probe of each type answered by silisocs' tutorial behaviour (binary answers stay
null), and a 4-step ``pure_recsys`` run whose probes are answered like a respondent would, with
per-probe schedules and ``hold_last_response`` (carry-forward). A fourth directory is the last
run with odd rows appended (undeclared probe, text episodes, odd ``event_index``, " System ",
"ACTION", blank-padded labels) to reach the rules real runs rarely touch.

For every preset and its silisocs counterpart, silisocs runs as a subprocess and ours in this
process; ``compare`` then walks silisocs' payload: every key it writes must be in ours with an
equal value of the same JSON type (int vs float, list vs object, pairs vs mapping), floats equal to
1e-12. Keys only we write must be in ``OUR_KEYS``, so an extra label in ``action_counts`` fails.
Two things are not compared: where plots were written (``plots.plot_dir``/``generated_files``,
they follow the output path), and one deliberate difference, ``system_is_no_agent`` below.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from silisocs_runs import PLAIN, PROBES_ANSWERS, PROBES_TUTORIAL, silisocs_available, silisocs_runs

from silisocs_study.evaluators import run_builtin

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not silisocs_available(), reason="the real silisocs package is not installed (it needs Python >= 3.11)")]

ACTIVITY = "silisocs.evaluations.activity_summary"
DEFAULT = "silisocs.evaluations.default_evaluators"
COUNTERPARTS = {  # our preset → silisocs module and mode
    "activity_summary": (ACTIVITY, "activity"),
    "probe_summary": (ACTIVITY, "probes"),
    "action_metrics_detailed": (DEFAULT, "action_metrics"),
    "probe_metrics_detailed": (DEFAULT, "probe_metrics"),
    "probe_binary_detailed": (DEFAULT, "probe_binary"),
    "probe_numeric_detailed": (DEFAULT, "probe_numeric"),
    "probe_choice_detailed": (DEFAULT, "probe_choice"),
    "probe_freetext_detailed": (DEFAULT, "probe_freetext"),
}
ACTION_PRESETS = ("activity_summary", "action_metrics_detailed")
RUNS = {"plain": PLAIN, "tutorial_probes": PROBES_TUTORIAL, "answered_probes": PROBES_ANSWERS}
CASES = [(run, preset) for run in (*RUNS, "odd_rows") for preset in COUNTERPARTS
         if run != "plain" or preset in ACTION_PRESETS]  # silisocs' probe modes fail without probe_events

# keys only our payloads have (at any depth); everything else we write must also be silisocs'
OUR_KEYS = frozenset("""
    aggregated warnings evaluator mode source_files game_masters bad_lines bad_lines_by_file bad_line_samples
    lines_read per_game_master label_counts agent_events num_probe_episodes responses_answered responses_missing
    num_respondents non_action_events num_transitions num_agents num_agents_source num_active_episodes
    non_probe_events carry_forward_source imputed_responses declared_probe_types resolved_probe_type_by_label
    per_episode_detail per_agent_detail per_agent_per_episode_detail labels resolved_probe_type probe_type_source
    declared_probe_type response_rate num_episodes choice_counts choice_shares answer_yes answer_no answer_other
    numeric_values_parsed numeric_values_unparsed numeric_value_counts free_text_top_content_tokens enabled errors
""".split())
OUR_TOP_KEYS = {"probe_summary": frozenset({"total_events"})}  # silisocs' probe summary has no row total
NOT_COMPARED = {("plots", "plot_dir"), ("plots", "generated_files")}


def compare(ours: object, theirs: object, path: tuple = (), top_keys: frozenset = frozenset()) -> list[str]:
    """Every difference between our payload and silisocs' (see the module docstring); ``top_keys``
    are further keys only ours has, at the top level."""
    where = ".".join(map(str, path)) or "<payload>"
    if path[-2:] in NOT_COMPARED:
        return []
    if isinstance(theirs, dict) and isinstance(ours, dict):
        allowed = OUR_KEYS | top_keys if not path else OUR_KEYS
        out = [f"{where}.{k}: missing (silisocs: {_short(v)})" for k, v in theirs.items() if k not in ours]
        out += [f"{where}.{k}: extra key (ours: {_short(v)})" for k, v in ours.items()
                if k not in theirs and k not in allowed]
        for key in theirs.keys() & ours.keys():
            out += compare(ours[key], theirs[key], (*path, key))
        return out
    if isinstance(theirs, list) and isinstance(ours, list):
        if len(ours) != len(theirs):
            return [f"{where}: {len(ours)} items vs silisocs' {len(theirs)}: ours={_short(ours)} "
                    f"silisocs={_short(theirs)}"]
        return [m for i, (a, b) in enumerate(zip(ours, theirs)) for m in compare(a, b, (*path, i))]
    if type(ours) is not type(theirs):
        return [f"{where}: type {type(ours).__name__} vs silisocs' {type(theirs).__name__}: "
                f"ours={_short(ours)} silisocs={_short(theirs)}"]
    if isinstance(theirs, float) and math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-12):  # type: ignore[arg-type]
        return []
    return [] if ours == theirs else [f"{where}: ours={_short(ours)} silisocs={_short(theirs)}"]


def _short(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def system_is_no_agent(theirs: dict, run_dir: Path) -> dict:
    """silisocs' action_metrics counts the ``system`` pseudo-user as an agent; we never do.

    This rewrites its payload to what it is without that: no ``per_agent``/``per_agent_per_episode``
    entry for system, system out of each episode's ``active_agents`` and the average over agents'
    own actions. Everything else (event totals, label counts, transitions) stays as silisocs has it.
    """
    is_system = lambda name: name.strip().lower() == "system"  # noqa: E731
    out = json.loads(json.dumps(theirs))
    for block in ("per_agent", "per_agent_per_episode"):
        if isinstance(out.get(block), dict):
            out[block] = {k: v for k, v in out[block].items() if not is_system(k)}
    if out.get("summary_type") == "action_metrics":
        system_actions: Counter = Counter()
        for row in _rows(run_dir / "action_events.jsonl"):
            if str(row.get("event_type", "")).lower() == "action" and is_system(str(row.get("source_user", ""))):
                system_actions[str(_int(row.get("episode")))] += 1
        for ep, block in out["per_episode"].items():
            agents = [a for a in block["active_agents"] if not is_system(a)]
            own = block["total_actions"] - system_actions[ep]
            block.update(active_agents=agents, num_active_agents=len(agents),
                         avg_actions_per_active_agent=own / len(agents) if agents else 0.0)
    return out


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _rows(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


# ---------------------------------------------------------------- the runs and both sides' payloads
def add_odd_rows(run_dir: Path) -> None:
    """Rows real runs rarely have, appended to a real run (see the module docstring)."""
    probes, actions = [], []

    def probe(label: str, user: str, episode: object, answer: object, **extra: object) -> None:
        probes.append({"source_user": user, "label": label, "episode": episode, "event_type": "probe",
                       "event_index": 900 + len(probes), "anchor": "pre_step",
                       "data": {"probe_return": answer, "probe_mode": "single_probe"}, **extra})

    answers = ["Yes", "3", "Technology", "I think it is a long story really", None, "", 5, True, "1", "nope",
               "7/10", " Economy ", "economy", "I do not know", "4.5 maybe", "Sports", " blue sky "]
    for i, answer in enumerate(answers):  # undeclared: typed answer by answer
        probe("undeclared_q", ["Alex", "Blair", "Casey", "Devon"][i % 4], [1, "2", 3, 2.7, " 3 "][i % 5], answer)
    probe(" trust ", "Alex", 2, "Yes")
    probe("trust", " System ", 2, "No")
    probe("mood", "Casey", 3, "4", event_type="Probe")
    probe("diary", "Devon", 3, "  padded   text,  with spaces  and-hyphens ")
    probes.append({"source_user": "Devon", "label": "mood", "episode": 3, "data": {"probe_return": "2"}})

    def act(label: str, user: str, episode: object, index: object, **extra: object) -> None:
        actions.append({"source_user": user, "label": label, "data": {}, "episode": episode,
                        "event_type": "action", "event_index": index, **extra})

    act("like", " System ", 1, 100)
    act(" like ", "Alex", 1, 5)
    act("post", "Alex", "2", 101)
    act("post", "Blair", "x", 102)
    act("like", "Devon", 2, "7")
    act("like", "Devon", 2, 3.5)
    act("repost", "Alex", 1, None)
    act("post", "Alex", 2, 104, event_type="ACTION")
    actions.append({"source_user": "Alex", "label": "like", "episode": 2, "event_index": 105})
    for name, rows in (("probe_events.jsonl", probes), ("action_events.jsonl", actions)):
        with (run_dir / name).open("a", encoding="utf-8") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in rows))
            fh.write("not json\n")


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("silisocs_runs")
    made = dict(zip(RUNS, silisocs_runs(root, list(RUNS.values()))))
    odd = root / "odd_rows" / "run"
    shutil.copytree(made["answered_probes"], odd)
    add_odd_rows(odd)
    return {**made, "odd_rows": odd}


# runs silisocs' evaluator modules as ``python -m <module> ...`` would, one after another in one
# interpreter (their imports cost ~5 s per process); each case's exit status goes to a JSON file
_DRIVER = """
import json, runpy, sys, traceback
cases, status = json.loads(sys.argv[1]), {}
for key, module, args in cases:
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        status[key] = "ok"
    except BaseException:
        status[key] = traceback.format_exc()[-2000:]
json.dump(status, open(STATUS, "w"))
"""


def _silisocs_side(run: str, run_dir: Path, out: Path) -> dict[str, tuple[dict | None, str]]:
    """silisocs' payload (or None) and error text for every preset of ``run``."""
    cases = []
    for preset in (p for r, p in CASES if r == run):
        module, mode = COUNTERPARTS[preset]
        args = ["--run-dir", str(run_dir), "--output", str(out / f"silisocs_{run}_{preset}.json"), "--mode", mode]
        cases.append([preset, module, args])
    status_file = out / f"silisocs_{run}_status.json"
    driver = _DRIVER.replace("STATUS", repr(str(status_file)))
    proc = subprocess.run([sys.executable, "-c", driver, json.dumps(cases)], capture_output=True, text=True,
                          timeout=600)
    status = json.loads(status_file.read_text()) if status_file.is_file() else {}
    result = {}
    for preset, _, args in cases:
        ok = status.get(preset) == "ok"
        result[preset] = (json.loads(Path(args[3]).read_text()) if ok else None,
                          status.get(preset) or proc.stderr[-2000:])
    return result


@pytest.fixture(scope="module")
def payloads(run_dirs, tmp_path_factory) -> dict[tuple[str, str], tuple[dict, dict | None, str]]:
    """(ours, silisocs', silisocs' error) for every case; silisocs' side runs two run dirs at a time."""
    out = tmp_path_factory.mktemp("payloads")
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = {run: pool.submit(_silisocs_side, run, run_dirs[run], out) for run in run_dirs}
        ours = {case: run_builtin(case[1], run_dirs[case[0]], out / f"ours_{case[0]}_{case[1]}.json")
                for case in CASES}
        return {case: (ours[case], *theirs[case[0]].result()[case[1]]) for case in CASES}


# ---------------------------------------------------------------- every shared key path
@pytest.mark.parametrize(("run", "preset"), CASES)
def test_every_shared_metric_equals_silisocs(payloads, run_dirs, run, preset) -> None:
    ours, theirs, stderr = payloads[(run, preset)]
    assert theirs is not None, f"silisocs' evaluator failed on {run}:\n{stderr}"
    mismatches = compare(ours, system_is_no_agent(theirs, run_dirs[run]), top_keys=OUR_TOP_KEYS.get(preset, frozenset()))
    assert not mismatches, f"{preset} on {run}: {len(mismatches)} differences from silisocs:\n" + "\n".join(mismatches)


def test_the_runs_cover_what_they_are_for(payloads, run_dirs) -> None:
    """Every probe type answered, null answers, carry-forward and system rows really are in the runs."""
    answered = payloads[("answered_probes", "probe_metrics_detailed")][1]
    assert set(answered["per_type"]) == {"BinaryProbe", "NumericRatingProbe", "ChoiceProbe", "FreeTextProbe"}
    assert answered["carry_forward_enabled"] and answered["total_probe_events"] > answered["total_probe_events_raw"]
    assert {"answer_Yes", "answer_No"} <= set(answered["per_type"]["BinaryProbe"])
    assert len(answered["per_label"]["diary"]["free_text_top_tokens"]) == 30  # ties at the cut-off decide
    for run in ("tutorial_probes", "answered_probes", "odd_rows"):
        for preset in ("probe_binary_detailed", "probe_numeric_detailed", "probe_choice_detailed",
                       "probe_freetext_detailed"):
            assert payloads[(run, preset)][1]["filtered_probe_events"] > 0, (run, preset)
    ours_odd, odd, _ = payloads[("odd_rows", "probe_metrics_detailed")]
    assert odd["probe_type_by_label"]["undeclared_q"] == "inferred"  # typed answer by answer:
    assert {t for t, block in ours_odd["per_type"].items() if "undeclared_q" in block["labels"]} == {
        "BinaryProbe", "NumericRatingProbe", "ChoiceProbe", "FreeTextProbe", "Unknown"}
    for run in RUNS:
        users = {row.get("source_user") for row in _rows(run_dirs[run] / "action_events.jsonl")}
        assert "system" in users


# ---------------------------------------------------------------- the differences a user found, one by one
def test_system_is_not_an_agent(payloads, run_dirs) -> None:
    for run in RUNS:
        activity, _, _ = payloads[(run, "activity_summary")]
        metrics, theirs, _ = payloads[(run, "action_metrics_detailed")]
        assert activity["num_unique_users"] == 4 and "system" not in activity["unique_users"]
        assert "system" in theirs["per_agent"]  # silisocs' own action_metrics does count it
        assert "system" not in metrics["per_agent"] and "system" not in metrics["per_agent_per_episode"]
        assert all("system" not in e["active_agents"] for e in metrics["per_episode"].values())
        assert metrics["num_agents"] == 4 and metrics["aggregated"]["num_agents"] == 4
        interactive = sum(metrics["label_counts"].get(label, 0) for label in ("reply", "like", "repost"))
        assert metrics["aggregated"]["interactive_actions_per_agent"] == interactive / 4


def test_action_counts_has_every_label_an_agent_committed(payloads, run_dirs) -> None:
    for run in RUNS:
        rows = _rows(run_dirs[run] / "action_events.jsonl")
        by_agents = Counter(str(r["label"]) for r in rows
                            if r.get("label") is not None and str(r.get("source_user", "")).strip().lower()
                            not in ("", "system"))
        ours = payloads[(run, "activity_summary")][0]
        assert ours["action_counts"] == dict(by_agents)
        assert "timeline_retrieval" in ours["action_counts"] and "initialize" not in ours["action_counts"]


def test_top_labels_are_label_count_pairs(payloads) -> None:
    for run in RUNS:
        ours, theirs, _ = payloads[(run, "activity_summary")]
        assert ours["top_labels"] == theirs["top_labels"]
        assert all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int)
                   for p in ours["top_labels"])
        assert [n for _, n in ours["top_labels"]] == sorted((n for _, n in ours["top_labels"]), reverse=True)


def test_episodes_seen_leave_out_the_init_episode(payloads, run_dirs) -> None:
    for run, options in RUNS.items():
        assert any(r.get("episode") == 0 for r in _rows(run_dirs[run] / "action_events.jsonl"))
        ours = payloads[(run, "activity_summary")][0]
        assert ours["episodes_seen"] == list(range(1, options.num_steps)) and 0 not in ours["episodes_seen"]


def test_responses_present_counts_rows_with_a_probe_return_key(payloads, run_dirs) -> None:
    for run in ("tutorial_probes", "answered_probes"):
        rows = [r for r in _rows(run_dirs[run] / "probe_events.jsonl") if r.get("event_type") == "probe"]
        with_key = sum(isinstance(r.get("data"), dict) and "probe_return" in r["data"] for r in rows)
        answered = sum(r["data"].get("probe_return") not in (None, "") for r in rows)
        ours = payloads[(run, "probe_summary")][0]
        assert ours["responses_present"] == with_key == len(rows)
        assert ours["responses_answered"] == answered < with_key  # null answers: present, not answered


def test_comparison_catches_shape_type_and_key_differences() -> None:
    theirs = {"top_labels": [["like", 2]], "n": 1.0, "per": {"a": 1}, "plots": {"plot_dir": "/x"}}
    assert compare(dict(theirs), theirs) == []
    assert compare({**theirs, "plots": {"plot_dir": "/elsewhere"}}, theirs) == []
    found = compare({"top_labels": [{"label": "like", "count": 2}], "n": 1, "per": {"a": 1, "b": 2}}, theirs)
    assert len(found) == 4 and any("plots: missing" in m for m in found)
    assert any("type dict vs silisocs' list" in m for m in found) and any("type int" in m for m in found)
    assert any("per.b: extra key" in m for m in found)
