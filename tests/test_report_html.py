"""report.html without a browser: one self-contained page, escaped, robust, small.

The page must make no network request of any kind (checked here on the text; the browser
tests check it for real), escape names that come from study files, survive a study without
decisions, metrics or records, colour each condition as comparison.png does, and stay under
5 MB for 10,000 runs.
"""
from __future__ import annotations

import json
import random
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from silisocs_study.report.colors import condition_colors
from silisocs_study.report.contrasts import analyze
from silisocs_study.report.html import CSP, render_html
from silisocs_study.report.html_runs import delta_code, run_page, tail_text
from silisocs_study.report.plots import comparison_figure
from silisocs_study.report.svg import ForestRow, StripRow, forest, strip
from silisocs_study.report.tree import counts

METRIC = "m.score"
NOW = "2026-12-01T12:00:00.000Z"
HOSTILE = "<script>alert(1)</script>"


def make_study(folder: Path, conditions=("chronological", "recsys"), hyps=("h1",),
               statement: str = "recsys raises the score") -> SimpleNamespace:
    """A loaded-study stand-in: what the report reads (no spec file needed)."""
    return SimpleNamespace(
        kind="study", name="synthetic", study_id="synthetic", display_file="study.yaml",
        workspace=folder, generated=folder / "generated", groups=[], meta={"question": "Q?"},
        hypotheses={h: {"statement": statement, "conditions": {c: {} for c in conditions},
                        "prediction": f"{conditions[-1]} > {conditions[0]} on score"}
                    for h in hyps})


def make_records(study, *, seeds=range(1, 6), scenarios=("election", "town_hall"),
                 failed=(), values: int = 3, evaluations: bool = True) -> list[dict]:
    rng = random.Random(7)
    out = []
    for h, meta in study.hypotheses.items():
        for ci, c in enumerate(meta["conditions"]):
            for s in scenarios:
                for seed in seeds:
                    run_id = f"{h}__{c}__{s}__seed{seed}"
                    bad = run_id in failed
                    agg = {"score": rng.gauss(1 + 0.4 * ci, 0.3)}
                    agg.update({f"extra_{j}": rng.random() for j in range(values - 1)})
                    rec = {"run_id": run_id, "hypothesis": h, "condition": c, "scenario": s,
                           "seed": seed, "status": "failed" if bad else "success",
                           "fingerprint": f"{abs(hash(run_id)):032x}"[:32],
                           "duration_ms": 1000 + rng.random() * 4000,
                           "resolved_overrides": {"timeline": c},
                           "run_dir": str(study.workspace / "runs" / run_id),
                           "log_path": str(study.workspace / "runs" / run_id / "app.log"),
                           "provenance": {"git_commit": "abc123", "python": "3.11", "pid": 1},
                           "evaluations": [] if bad or not evaluations else [
                               {"id": "m", "status": "success", "aggregated": agg,
                                "path": str(study.workspace / "generated" / "eval" / run_id)}]}
                    if bad:
                        rec["error"] = "RuntimeError: injected"
                        rec["error_tail"] = ["Traceback (most recent call last):",
                                             "RuntimeError: injected"]
                    out.append(rec)
    return out


def decisions_for(analysis: dict, verdict: str = "supported") -> dict:
    """A ``decisions`` block of the documented shape, from the analysis' own contrasts."""
    hyps = {}
    for h, block in analysis["hypotheses"].items():
        rows = []
        for r in block["contrasts"]:
            if r["metric"] != METRIC:
                continue
            rows.append({"condition": r["condition"], "reference": r["reference"],
                         "metric": METRIC, "scenario": r["scenario"], "pooled": False,
                         "n": r["n"], "estimate": r["difference"], "ci_low": r["ci_low"],
                         "ci_high": r["ci_high"], "boot_low": None, "boot_high": None,
                         "tost_low": None, "tost_high": None, "p": r["p"], "verdict": verdict,
                         "note": None})
        if rows:
            rows.append(dict(rows[0], scenario="pooled", pooled=True))
        hyps[h] = {"id": h, "claim": block.get("statement"), "metrics": [METRIC],
                   "direction": "higher", "delta": 0.1, "delta_text": "0.1 (absolute)",
                   "alpha": 0.05, "reference": block["reference"], "interval": "t",
                   "verdict": verdict, "reason": "the interval lies above +δ",
                   "seeds_used": {c: 5 for c in block["conditions"]}, "seeds_needed": 8,
                   "seeds_needed_note": "for power 0.8 at δ", "contrasts": rows}
    return {"source": "analysis: block in study.yaml", "verdict_rule": "RULE-TEXT",
            "interval_rule": "INTERVAL-TEXT", "hypotheses": hyps}


def page_for(study, records, *, decisions: dict | None | bool = True) -> str:
    analysis = analyze(study, records)
    if decisions is True:
        analysis["decisions"] = decisions_for(analysis)
    elif decisions is None:
        analysis.pop("decisions", None)
    else:
        analysis["decisions"] = decisions
    return render_html(study, analysis, records, counts(records), NOW, planned=[])


def runs_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="runs-data">(.*?)</script>', page, re.S)
    assert m
    return json.loads(m.group(1))


# -- self-contained -----------------------------------------------------------------------------

class Tags(HTMLParser):
    """Counts tags and collects every attribute that would load something."""

    LOADING = {"src", "href", "srcset", "action", "formaction", "poster", "data", "xlink:href",
               "background", "ping", "manifest"}

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.loads: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name in self.LOADING and not (value or "").startswith(("data:", "#")):
                self.loads.append((tag, name, value))
            if name.startswith("on"):
                self.loads.append((tag, name, value))   # no inline handler either


def assert_self_contained(page: str) -> None:
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in CSP
    for bad in (r"https?://", r"//cdn", r"@import", r"url\(\s*[\"']?(?!data:)", r"<iframe",
                r"<object", r"<embed", r"\bfetch\(", r"XMLHttpRequest", r"<base\b",
                r"\bimport\(", r"new (Worker|WebSocket|EventSource)"):
        hit = re.search(bad, page, re.I)
        assert hit is None, (bad, page[max(0, hit.start() - 80):hit.end() + 80])
    # in real tags (names from study files are escaped text, never tags): nothing to load
    tags = Tags()
    tags.feed(page)
    assert tags.tags["script"] == 2 and not tags.loads, tags.loads


def test_page_is_self_contained_with_every_section(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s", conditions=("chronological", "recsys", "hybrid"))
    records = make_records(study, failed={"h1__recsys__election__seed2"})
    page = page_for(study, records)
    assert_self_contained(page)
    assert page.startswith("<!doctype html>")
    for section in ("verdicts", "effects", "distributions", "coverage", "runs", "failures"):
        assert f'<section id="{section}">' in page
    assert page.count('class="card ') == 1 and "SUPPORTED" not in page   # CSS uppercases it
    assert ">supported</span>" in page and "RULE-TEXT" in page and "INTERVAL-TEXT" in page
    assert page.count("<svg ") == 1 + 2                     # one forest, one strip per scenario
    data = runs_data(page)
    assert len(data["runs"]) == len(records)
    assert "RuntimeError: injected" in page                 # failures panel


def test_paths_are_text_relative_to_the_study_folder(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s")
    records = make_records(study, failed={"h1__recsys__town_hall__seed3"})
    page = page_for(study, records)
    assert 'log: <code>runs/h1__recsys__town_hall__seed3/app.log</code>' in page
    assert str(tmp_path / "s") + "/runs" not in page        # no absolute run paths needed


# -- hostile names ------------------------------------------------------------------------------

def test_hostile_names_are_escaped_everywhere(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s", conditions=("chronological", HOSTILE),
                       statement=f"claim {HOSTILE} & 'quotes' \"double\"")
    records = make_records(study, scenarios=('"><img src=x onerror=alert(2)>',),
                           failed={f"h1__{HOSTILE}__\"><img src=x onerror=alert(2)>__seed1"})
    study.name = f"name {HOSTILE}"
    page = page_for(study, records)
    assert HOSTILE not in page
    assert "<img" not in page and "onerror=alert(2)>" not in page
    assert page.count("<script") == 2                       # the data block and the code
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page    # shown as text
    data = runs_data(page)                                    # the JSON still round-trips
    assert HOSTILE in data["C"] and HOSTILE in data["colors"]
    assert_self_contained(page)


# -- graceful without decisions, metrics or records ---------------------------------------------

def test_without_decisions_a_plain_note_and_the_statistics(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s")
    page = page_for(study, make_records(study), decisions=None)
    assert 'id="no-decisions"' in page and "no decisions yet" in page
    assert 'class="card ' not in page
    assert page.count('<figure class="forest"') == 1        # contrasts of the statistics
    assert page.count('<figure class="strip"') == 2


@pytest.mark.parametrize("bad", [{}, {"hypotheses": None}, {"hypotheses": {"h1": None}},
                                 {"hypotheses": {"h1": {"contrasts": [None, 3, "x"],
                                                        "metrics": None}}},
                                 {"hypotheses": {"h1": {"verdict": "maybe", "delta": "20%",
                                                        "seeds_used": [1], "metrics": 3}}},
                                 {"hypotheses": ["h1"]}, {"hypotheses": {"h1": {
                                     "metrics": "m.score", "contrasts": [{"metric": "m.score",
                                                                          "estimate": "x"}]}}}])
def test_malformed_decisions_never_crash(tmp_path: Path, bad: dict) -> None:
    study = make_study(tmp_path / "s")
    page = page_for(study, make_records(study), decisions=bad)
    assert '<section id="runs">' in page


def test_no_metrics_says_why(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s")
    records = make_records(study, evaluations=False)
    page = page_for(study, records, decisions=None)
    assert "No numeric metrics" in page
    assert "<svg " not in page
    assert len(runs_data(page)["runs"]) == len(records)


def test_no_records_renders(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s")
    page = page_for(study, [], decisions=None)
    assert_self_contained(page)
    assert runs_data(page)["runs"] == []
    assert "No failed, timed-out or crashed runs." in page


def test_an_unplannable_study_still_renders(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s")       # not a real Study: build_plan fails inside
    records = make_records(study)
    analysis = analyze(study, records)
    page = render_html(study, analysis, records, counts(records), NOW)
    assert '<table class="grid">' in page


def test_pending_runs_appear_in_the_coverage_grid(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s")
    records = make_records(study, seeds=(1, 2))
    planned = [SimpleNamespace(hypothesis=r["hypothesis"], condition=r["condition"],
                               scenario=r["scenario"], seed=r["seed"]) for r in records]
    planned.append(SimpleNamespace(hypothesis="h1", condition="recsys", scenario="election",
                                   seed=3))
    analysis = analyze(study, records)
    page = render_html(study, analysis, records, counts(records), NOW, planned=planned)
    assert page.count('<td class="cell p"') == 1 and "pending 1" in page
    assert page.count('<td class="cell d"') == len(records)


# -- colours ------------------------------------------------------------------------------------

def _hex(rgba) -> str:
    return "#%02x%02x%02x" % tuple(round(255 * v) for v in rgba[:3])


def test_condition_colours_agree_between_page_and_comparison_png(tmp_path: Path) -> None:
    conds = ("chronological", "recsys", "hybrid")
    study = make_study(tmp_path / "s", conditions=conds)
    records = make_records(study)
    colors = condition_colors(conds)
    page = page_for(study, records)
    for strip_svg in re.findall(r'<figure class="strip".*?</figure>', page, re.S):
        fills = re.findall(r'<g fill="(#[0-9a-f]{6})" fill-opacity', strip_svg)
        assert fills == [colors[c] for c in conds]
    forest_svg = re.search(r'<figure class="forest".*?</figure>', page, re.S).group(0)
    for c in conds[1:]:
        assert f'stroke="{colors[c]}"' in forest_svg
    assert runs_data(page)["colors"] == colors
    analysis = analyze(study, records)
    fig = comparison_figure(analysis, records, {"h1": METRIC})
    got: dict[str, set] = {}
    for coll in fig.axes[0].collections:
        offsets = coll.get_offsets()
        if len(offsets) != 5:          # the seeds of one cell (the means are single points)
            continue
        cond = conds[round(float(offsets[0][0]))]
        got.setdefault(cond, set()).add(_hex(coll.get_facecolor()[0]))
    assert got == {c: {colors[c]} for c in conds}


# -- pieces -------------------------------------------------------------------------------------

def test_svg_figures_escape_and_mark_what_they_say() -> None:
    svg = forest([ForestRow("a<b", 0.5, 0.1, 0.9, "#112233", title="t&t"),
                  ForestRow("pooled", 0.4, 0.2, 0.6, "#112233", pooled=True),
                  ForestRow("none", None, None, None, "#112233", note="no pairs")], delta=0.2)
    assert "a&lt;b" in svg and "t&amp;t" in svg and "±δ" in svg
    assert svg.count("<path") == 1 and "no estimate: no pairs" in svg   # the pooled diamond
    s = strip([StripRow("c", "#445566", [(1.0, "r1 · seed 1 · 1", 0),
                                         (2.0, "r2 · seed 2 · 2", 1)], 1.5, 0.5, 2.5)])
    assert s.count("<title>r") == 2 and "mean 1.50" in s
    lazy = strip([StripRow("c", "#445566", [(1.0, "x", 7)], 1.0)], lazy=True)
    assert "<title>x" not in lazy and 'data-i="7"' in lazy


def test_log_tails_are_capped_and_only_for_failures(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(5000)))
    tail = tail_text(log)
    assert tail.splitlines()[-1] == "line 4999" and len(tail.splitlines()) == 40
    assert tail_text(tmp_path / "missing.log") == ""
    recs = [{"run_id": f"r{i}", "status": "failed" if i < 2 else "success",
             "log_path": str(log)} for i in range(30)]
    page = run_page(recs, [], {}, tmp_path)
    assert len(page.failures) == 2 and all(f["tail"] for f in page.failures)
    assert sum(1 for r in page.data["runs"] if r.get("t")) == 10      # a few others
    assert all(r.get("tf") == 1 for r in page.data["runs"][:2])


def test_ten_thousand_runs_stay_under_five_megabytes(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s", conditions=("chronological", "recsys", "hybrid",
                                                   "random"), hyps=("h1", "h2"))
    failed = {f"h1__recsys__s{k}__seed{s}" for k in range(5) for s in range(1, 250, 50)}
    records = make_records(study, seeds=range(1, 251), scenarios=[f"s{k}" for k in range(5)],
                           failed=failed, values=12)
    assert len(records) == 10_000
    analysis = analyze(study, records)
    analysis["decisions"] = decisions_for(analysis)
    start = time.perf_counter()
    page = render_html(study, analysis, records, counts(records), NOW, planned=[])
    took = time.perf_counter() - start
    size = len(page.encode("utf-8"))
    print(f"\n10,000-run report.html: {size / 1e6:.2f} MB, rendered in {took:.2f} s")
    assert size <= 5_000_000
    assert len(runs_data(page)["runs"]) == 10_000
    assert_self_contained(page)


def _undelta(prev: str, coded) -> str:
    """What report.js does with a delta-coded value."""
    if not isinstance(coded, list):
        return coded
    k, middle, *j = coded
    return prev[:k] + middle + (prev[len(prev) - j[0]:] if j else "")


def test_delta_coding_round_trips() -> None:
    rng = random.Random(3)
    words = ["runs/h1/chrono/election/seed_", "h1__recsys__town_hall__seed", "/run", "app.log",
             "", "x", "seed_1", "é/ü"]
    prev = ""
    for _ in range(2000):
        value = "".join(rng.choice(words) + str(rng.randint(0, 12))
                        for _ in range(rng.randint(0, 4)))
        coded = delta_code(prev, value)
        assert _undelta(prev, coded) == value, (prev, value, coded)
        prev = value
    assert delta_code("runs/a/seed_7/run", "runs/a/seed_8/run") == [12, "8", 4]


def test_colliding_conditions_get_distinct_colours_on_the_page_and_in_the_png(
        tmp_path: Path) -> None:
    """"chrono" and "crash" hash to the same palette colour; within one study they must not
    share it, and the page and comparison.png must make the same choice."""
    from silisocs_study.evaluators.plots import label_color
    from silisocs_study.report.colors import condition_colors

    conds = ("chrono", "crash", "recsys")
    assert label_color("chrono") == label_color("crash")      # the collision under test
    colors = condition_colors(conds)
    assert len(set(colors.values())) == 3
    assert colors["chrono"] == label_color("chrono")          # the first keeps its own colour
    study = make_study(tmp_path / "s", conditions=conds)
    records = make_records(study)
    page = page_for(study, records)
    for strip_svg in re.findall(r'<figure class="strip".*?</figure>', page, re.S):
        fills = re.findall(r'<g fill="(#[0-9a-f]{6})" fill-opacity', strip_svg)
        assert fills == [colors[c] for c in conds]
    analysis = analyze(study, records)
    fig = comparison_figure(analysis, records, {"h1": METRIC})
    got = {conds[round(float(c.get_offsets()[0][0]))]: _hex(c.get_facecolor()[0])
           for c in fig.axes[0].collections if len(c.get_offsets()) == 5}
    assert got == colors
