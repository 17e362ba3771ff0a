"""The example studies' verdicts, checked against a hand calculation from their records.

Each test runs an example for real (socialsim study, mutualism experiment; the silisocs
runner in the slow set), then recomputes the decision from the per-seed values in the
records with plain arithmetic and scipy's t quantiles, applying the verdict rule as the
report states it, and compares with ``silisocs_study.analyze``, summary.md and the workbook.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import yaml
from scipy import stats

import silisocs_study
from silisocs_study.ledger.records import Ledger

from conftest import REPO, assert_ok, cli

RECSYS = REPO / "examples" / "studies" / "recsys_behavior_sweep" / "study.yaml"
MUTUALISM = REPO / "examples" / "experiments" / "mutualism.yaml"
KEY = "action_metrics.interactive_actions_per_agent"


def hand_decision(pairs: dict[str, list[tuple[float, float]]], *, alpha: float, m: int,
                  delta: float | None, direction: str) -> dict:
    """Stratified paired contrast by hand: pairs[scenario] = [(condition, reference), ...]."""
    diffs = {s: [a - b for a, b in p] for s, p in pairs.items()}
    n = sum(len(d) for d in diffs.values())
    k = len(diffs)
    mean = sum(sum(d) for d in diffs.values()) / n
    within = 0.0
    for d in diffs.values():
        centre = sum(d) / len(d)
        within += sum((x - centre) ** 2 for x in d)
    se = math.sqrt(within / (n - k)) / math.sqrt(n)
    t_ci = stats.t.ppf(1 - alpha / m / 2, n - k)
    t_eq = stats.t.ppf(1 - alpha / m, n - k)
    low, high = mean - t_ci * se, mean + t_ci * se
    e_low, e_high = mean - t_eq * se, mean + t_eq * se
    if delta is not None and -delta < e_low and e_high < delta:
        verdict = "equivalent"
    elif low > 0 or high < 0:
        verdict = "supported" if direction == "two-sided" or (low > 0) == (direction == "higher") \
            else "refuted"
    else:
        verdict = "inconclusive"
    return {"estimate": mean, "ci_low": low, "ci_high": high, "verdict": verdict, "n": n}


def _metric(rec: dict, key: str) -> float | None:
    eid, _, name = key.partition(".")
    for ev in rec.get("evaluations") or []:
        if ev.get("id") == eid and isinstance(ev.get("aggregated"), dict):
            return ev["aggregated"].get(name)
    return None


def _study_pairs(records: dict, hyp: str, cond: str, ref: str, key: str) -> dict:
    cells: dict[tuple[str, str], dict] = {}
    for rec in records.values():
        if rec.get("hypothesis") == hyp and rec.get("status") == "success":
            cells.setdefault((rec["condition"], rec["scenario"]), {})[rec["seed"]] = \
                _metric(rec, key)
    out = {}
    for (c, s), values in cells.items():
        if c == cond and (ref, s) in cells:
            other = cells[(ref, s)]
            out[s] = [(values[k], other[k]) for k in sorted(values) if k in other]
    return out


@pytest.fixture(scope="module")
def recsys(tmp_path_factory) -> Path:
    """The recsys example with its analysis: block, small runs, plus a two-scenario h2."""
    folder = tmp_path_factory.mktemp("decide") / "recsys"
    doc = yaml.safe_load(RECSYS.read_text(encoding="utf-8"))
    doc["study"]["run_defaults"]["overrides"].update(num_agents=12, num_steps=4)
    doc["hypotheses"]["h2"] = {
        "statement": "A short timeline raises actions in elections and town halls alike.",
        "prediction": "short > long on interactive actions per agent",
        "scenarios": ["election_recsys_engagement", "town_hall"],
        "seeds": [1, 2, 3],
        "conditions": {
            "long": {"overrides": {"env.gm.components.observe.params.timeline_size": 8}},
            "short": {"overrides": {"env.gm.components.observe.params.timeline_size": 2}}}}
    doc["analysis"]["hypotheses"]["h2"] = {"reference": "long", "direction": "two-sided",
                                           "delta": 50.0}
    folder.mkdir(parents=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    assert_ok(cli(folder, "run", "--launcher", "joblib", "--max-concurrent", "2"))
    return folder


def test_recsys_example_verdicts_match_a_hand_calculation(recsys: Path) -> None:
    records = Ledger(recsys / "generated").all()
    analysis = silisocs_study.analyze(recsys)
    raw = analysis.raw["decisions"]["hypotheses"]
    # h1: one scenario, recsys vs chronological, higher, δ = 20% of chronological's mean
    pairs = _study_pairs(records, "h1", "recsys", "chronological", KEY)
    ref_mean = sum(b for p in pairs.values() for _, b in p) / sum(len(p) for p in pairs.values())
    h1 = hand_decision(pairs, alpha=0.05, m=1, delta=0.2 * ref_mean, direction="higher")
    # h2: two scenarios pooled (seeds paired within scenario), two-sided, δ = 50
    h2 = hand_decision(_study_pairs(records, "h2", "short", "long", KEY), alpha=0.05, m=1,
                       delta=50.0, direction="two-sided")
    for hyp, hand in (("h1", h1), ("h2", h2)):
        pooled = next(r for r in raw[hyp]["contrasts"] if r["pooled"])
        assert pooled["n"] == hand["n"]
        assert pooled["estimate"] == pytest.approx(hand["estimate"], rel=1e-9)
        assert pooled["ci_low"] == pytest.approx(hand["ci_low"], rel=1e-9, abs=1e-12)
        assert pooled["ci_high"] == pytest.approx(hand["ci_high"], rel=1e-9, abs=1e-12)
        assert pooled["verdict"] == hand["verdict"]
        assert analysis.verdict(hyp) == hand["verdict"]   # one contrast: the hypothesis' word
    assert raw["h1"]["delta"] == pytest.approx(0.2 * ref_mean)
    assert raw["h2"]["contrasts"][0]["strata"] == 2
    assert {r["scenario"] for r in raw["h2"]["contrasts"]} == {
        "pooled", "election_recsys_engagement", "town_hall"}
    # the same words in summary.md, the workbook and the DataFrames
    text = (recsys / "generated" / "reports" / "summary.md").read_text(encoding="utf-8")
    assert f"| h1 | **{h1['verdict']}** | {KEY} | higher |" in text
    assert f"| h2 | **{h2['verdict']}** | {KEY} | two-sided | 50 (absolute) |" in text
    assert list(analysis.verdicts["verdict"]) == [h1["verdict"], h2["verdict"]]
    import openpyxl

    sheet = openpyxl.load_workbook(recsys / "generated" / "reports" / "study.xlsx")["verdicts"]
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == \
        [h1["verdict"], h2["verdict"]]


def test_status_and_plan_show_seeds_used_and_needed(recsys: Path) -> None:
    status = cli(recsys, "status")
    assert_ok(status)
    line = next(x for x in status.stdout.splitlines() if x.startswith("  h1: "))
    needed = silisocs_study.analyze(recsys).raw["decisions"]["hypotheses"]["h1"]["seeds_needed"]
    assert "3 seed(s) per condition × scenario" in line and f"needed {needed}" in line
    planned = cli(recsys, "plan", "--seeds-needed")
    assert_ok(planned)
    assert line in planned.stdout


def test_mutualism_experiment_verdicts_match_a_hand_calculation(tmp_path: Path) -> None:
    spec = tmp_path / "mutualism.yaml"
    shutil.copy(MUTUALISM, spec)
    text = spec.read_text(encoding="utf-8").replace("seeds: 10", "seeds: 6").replace(
        "path: data/experiments/", f"path: {tmp_path}/data/")
    spec.write_text(text, encoding="utf-8")
    assert_ok(cli(spec, "run"))
    analysis = silisocs_study.analyze(spec, repo_root=REPO)
    settings = analysis.raw["decisions"]["hypotheses"]["mutualism"]
    assert (settings["delta"], settings["direction"]) == (0.1, "higher")   # as the spec says
    results = analysis.raw["results"]
    score = {(r["agent"], r["seed"]): r["scores"]["score"] for r in results}
    decisions = analysis.raw["decisions"]["hypotheses"]["mutualism"]
    words = []
    for agent in ("greedy", "cooperative"):
        pairs = {"all": [(score[(agent, s)], score[("random", s)]) for s in range(6)]}
        hand = hand_decision(pairs, alpha=0.05, m=2, delta=settings["delta"],
                             direction=settings["direction"])
        row = next(r for r in decisions["contrasts"] if r["condition"] == agent)
        assert row["estimate"] == pytest.approx(hand["estimate"], rel=1e-9)
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(hand["ci_low"], rel=1e-9),
                                                   pytest.approx(hand["ci_high"], rel=1e-9))
        assert row["verdict"] == hand["verdict"]
        words.append(hand["verdict"])
    expected = ("supported" if words == ["supported"] * 2 else "refuted" if "refuted" in words
                else "equivalent" if words == ["equivalent"] * 2 else "inconclusive")
    assert decisions["verdict"] == expected
    summary = next((tmp_path / "data").glob("*/reports/summary.md")).read_text(encoding="utf-8")
    assert f"| mutualism | **{expected}** | scores.score | higher | 0.1 (absolute) |" in summary


def test_silisocs_example_verdicts_match_a_hand_calculation(tmp_path: Path) -> None:
    """The real silisocs runner (scripted model): deterministic, so every seed gives the same
    difference and the interval is the point; the verdict is still computed, not assumed."""
    from silisocs_runs import silisocs_available

    if not silisocs_available():
        pytest.skip("silisocs needs Python >= 3.11")
    source = REPO / "examples" / "studies" / "silisocs_timeline" / "study.yaml"
    folder = tmp_path / "silisocs_timeline"
    folder.mkdir()
    shutil.copy(source, folder / "study.yaml")
    assert_ok(cli(folder, "run", "--launcher", "joblib", "--max-concurrent", "2"))
    records = Ledger(folder / "generated").all()
    assert len(records) == 4 and all(r["status"] == "success" for r in records.values())
    raw = silisocs_study.analyze(folder).raw["decisions"]["hypotheses"]["h1_timeline"]
    words = []
    for key in ("activity.count_like", "activity.count_post"):
        hand = hand_decision(_study_pairs(records, "h1_timeline", "recsys", "chronological",
                                          key), alpha=0.05, m=2, delta=1.0,
                             direction="two-sided")
        row = next(r for r in raw["contrasts"] if r["metric"] == key and r["pooled"])
        assert row["estimate"] == pytest.approx(hand["estimate"])
        assert row["verdict"] == hand["verdict"]
        words.append(hand["verdict"])
    assert raw["verdict"] == ("supported" if words == ["supported"] * 2 else "inconclusive"
                              if "refuted" not in words else "refuted")
    html = (folder / "generated" / "reports" / "report.html").read_text(encoding="utf-8")
    assert "h1_timeline" in html and raw["verdict"] in html.lower()
