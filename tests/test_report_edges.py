"""The statistics, the report and the figures tell the truth at the edges (issue 11).

Zero variance and tiny samples give an undefined effect size (never 5e15); p-values read
"Holm p < 0.001" / "p = 0.034"; table counts agree with what is listed; a reference without
runs says so; a study without numeric metrics says why (and its figure too); warnings are
listed; per-run probe figures name their run, keep one colour per label everywhere and clip
nothing. Records are real record files in a real study folder (the example study, copied),
reports are written by the real code, figures are real matplotlib figures and PNGs.
"""
from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import pytest
import yaml
from evaluator_fixtures import make_run, probe, probe_config_yaml
from openpyxl import load_workbook
from PIL import Image

from silisocs_study.evaluators import run_builtin
from silisocs_study.evaluators.plots import (choice_figure, label_color, label_styles,
                                             run_identity, wordcount_figure)
from silisocs_study.ledger.records import Ledger
from silisocs_study.plan import build_plan
from silisocs_study.report.colors import condition_colors
from silisocs_study.report.contrasts import analyze
from silisocs_study.report.plots import comparison_figure
from silisocs_study.report.reports import write_reports
from silisocs_study.report.stats import contrast, describe
from silisocs_study.report.summary_md import p_phrase
from silisocs_study.spec import load_study

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "studies" / "recsys_behavior_sweep" / "study.yaml"
KEY = "interactive_actions_per_agent"


# -- helpers ----------------------------------------------------------------------------------

def make_study(folder: Path, *, evaluations: bool = True, long_names: bool = False):
    """The example study in ``folder`` (h1: chronological vs recsys, seeds 11–13)."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["study"]["study_summary_path"] = str(folder / "SUMMARY.md")
    doc["study"]["summary_log_path"] = str(folder / "generated" / "summary_log.jsonl")
    if not evaluations:
        del doc["evaluations"]
    if long_names:
        conds = doc["hypotheses"]["h1"]["conditions"]
        conds["a_very_long_condition_name_for_the_chronological_timeline"] = \
            conds.pop("chronological")
        refs = (doc.get("analysis") or {}).get("hypotheses") or {}
        for ref in refs.values():        # the example's analysis: block names the reference
            if ref.get("reference") == "chronological":
                ref["reference"] = "a_very_long_condition_name_for_the_chronological_timeline"
        doc["study"]["scenarios"] = ["an_equally_long_scenario_name_about_an_election_day"]
        doc["study"]["question"] = ("How do timeline settings shift engagement when the "
                                    "question is long enough to need two lines or more?")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_study(str(folder), str(REPO))


def write_records(study, metrics, *, status=None, warnings=None, evaluations=True) -> list:
    """One record per planned run; ``metrics(cond, seed)`` gives its ``aggregated`` block
    (None: no record for that run); ``status(cond, seed)`` overrides "success"."""
    ledger = Ledger(study.generated)
    written = []
    for run in build_plan(study).runs:
        agg = metrics(run.condition, run.seed)
        if agg is None:
            continue
        rec = {"run_id": run.run_id, "hypothesis": run.hypothesis, "condition": run.condition,
               "scenario": run.scenario, "seed": run.seed,
               "status": status(run.condition, run.seed) if status else "success",
               "fingerprint": run.fingerprint,
               "evaluations": [{"id": "action_metrics", "status": "success",
                                "aggregated": agg}] if evaluations else []}
        if warnings and run.run_id in warnings:
            rec["warnings"] = [warnings[run.run_id]]
        ledger.write(rec)
        written.append(rec)
    return written


def report(study) -> tuple[str, dict]:
    paths = write_reports(study)
    return paths["summary"].read_text(encoding="utf-8"), paths


def figure_texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def assert_nothing_clipped(fig) -> None:
    """Everything drawn (titles, labels, legends, annotations) lies inside the figure once
    the layout ran: the tight bounding box of the drawing fits in the canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())
    page = fig.bbox_inches
    eps = 0.01   # inches
    assert drawn.x0 >= page.x0 - eps and drawn.x1 <= page.x1 + eps, (drawn, page)
    assert drawn.y0 >= page.y0 - eps and drawn.y1 <= page.y1 + eps, (drawn, page)


def png_title(path: Path) -> str:
    with Image.open(path) as img:
        return img.info.get("Title", "")


def png_colors(path: Path) -> set[str]:
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        return {"#%02x%02x%02x" % c for _, c in rgb.getcolors(maxcolors=1 << 22)}


# -- 1. effect sizes at zero variance and tiny samples ----------------------------------------

def test_rounding_noise_is_zero_variance_not_a_huge_effect() -> None:
    # 0.3-0.1, 0.5-0.3, 0.7-0.5 are 0.2 up to rounding: their sd is ~3e-17, not 0
    a, b = {1: 0.3, 2: 0.5, 3: 0.7}, {1: 0.1, 2: 0.3, 3: 0.5}
    assert statistics.stdev([a[k] - b[k] for k in a]) > 0
    r = contrast(a, b)
    assert r["effect_size"] is None and r["p"] is None and r["t"] is None
    assert r["effect_size_note"] == "undefined (zero variance)"
    assert r["difference"] == pytest.approx(0.2) and "constant" in r["note"]
    # equal up to rounding: identical, difference 0, not a d_z of 0.58 with p = 0.42
    same = contrast({1: 0.1 + 0.2, 2: 0.6, 3: 0.9}, {1: 0.3, 2: 0.6, 3: 0.9})
    assert same["difference"] == 0.0 and same["p"] is None and same["effect_size"] is None
    assert "identical values" in same["note"]


def test_welch_and_small_samples_say_why_the_effect_size_is_undefined() -> None:
    flat = contrast({1: 0.3, 2: 0.1 + 0.2}, {7: 0.1, 8: 0.1})      # unpaired, sd ~ 1e-17
    assert flat["design"] == "unpaired" and flat["p"] is None and flat["effect_size"] is None
    assert flat["effect_size_note"] == "undefined (zero variance)"
    small = contrast({1: 2.0}, {1: 1.0, 2: 1.5})
    assert small["effect_size"] is None
    assert small["effect_size_note"] == "undefined (fewer than 2 runs in an arm)"
    ok = contrast({1: 1.0, 2: 2.0, 3: 4.0}, {1: 0.5, 2: 0.9, 3: 1.1})
    assert ok["effect_size_note"] is None and math.isfinite(ok["effect_size"])
    assert describe([0.1 + 0.2, 0.3, 0.3])["sd"] == 0.0


def test_report_never_prints_a_huge_effect_for_zero_variance(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s")
    base = {"chronological": (0.1, 0.3, 0.5), "recsys": (0.3, 0.5, 0.7)}
    write_records(study, lambda c, seed: {KEY: base[c][seed - 11],
                                          "noise": seed * (2.0 if c == "recsys" else 1.0)})
    text, paths = report(study)
    analysis = analyze(study, list(Ledger(study.generated).all().values()))
    row = next(r for r in analysis["hypotheses"]["h1"]["contrasts"]
               if r["metric"] == f"action_metrics.{KEY}")
    assert row["effect_size"] is None and row["effect_size_note"] == "undefined (zero variance)"
    assert not re.search(r"e\+\d\d|inf\b", text), text
    assert "the effect size is undefined" in text
    wb = load_workbook(paths["workbook"], read_only=True)
    rows = list(wb["h1"].iter_rows(values_only=True))
    head = rows[0]
    ours = [r for r in rows[1:] if r[head.index("metric")] == f"action_metrics.{KEY}"
            and r[head.index("role")] == "condition"]
    assert ours[0][head.index("effect_size")] is None
    assert "effect size undefined (zero variance)" in ours[0][head.index("note")]
    wb.close()


# -- 2. p-value wording -------------------------------------------------------------------------

def test_p_phrase() -> None:
    assert p_phrase(0.0004, "Holm p") == "Holm p < 0.001"
    assert p_phrase(0.0341) == "p = 0.034"
    assert p_phrase(0.001) == "p = 0.001"


# -- 3. counts agree with the table -------------------------------------------------------------

def strong_study(tmp_path: Path, n_metrics: int = 15):
    """``n_metrics`` clearly different metrics, the key metric extremely so, and 2 identical."""
    study = make_study(tmp_path / "s")
    jitter = {11: 0.0, 12: 0.1, 13: -0.1}

    def metrics(cond, seed):
        up = cond == "recsys"
        out = {KEY: 20.0 + (20.0 + jitter[seed] / 100 if up else 0.0)}
        for i in range(n_metrics - 1):
            out[f"m{i:02d}"] = 5.0 + i + ((10.0 + jitter[seed] * (1 + i / 10)) if up else 0.0)
        out["same_a"] = out["same_b"] = 3.0
        return out
    write_records(study, metrics)
    return study


def test_counts_say_what_is_shown_of_the_same_population(tmp_path: Path) -> None:
    text, _ = report(strong_study(tmp_path))
    head = next(line for line in text.splitlines() if line.startswith("**Contrasts against"))
    assert ("15 of 15 tested contrast(s) have Holm p < 0.05. The table shows the first 12 of "
            "these 15") in head, head
    assert "3 more significant one(s) are not shown" in head
    assert "2 more could not be tested" in head and "All 17 contrasts" in head
    table = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(table) == 12 and sum("**" in line for line in table) == 12
    assert "same_a" in text and "same_b" in text       # the untested ones are listed below


def test_holm_p_below_0001_is_written_as_a_bound(tmp_path: Path) -> None:
    text, _ = report(strong_study(tmp_path, n_metrics=2))
    reading = next(line for line in text.splitlines() if line.startswith("- In "))
    assert "Holm p < 0.001" in reading
    assert "= <" not in text and "p = —" not in text
    assert "The table shows all 2" in text


# -- 4. a reference without runs ----------------------------------------------------------------

@pytest.mark.parametrize("ref_status, expected", [
    (None, "no runs yet for the reference condition chronological"),
    ("running", "the reference condition chronological has no finished runs yet (3 running)"),
    ("failed", "the reference condition chronological has no usable runs yet (3 failed)"),
])
def test_reference_without_runs_says_so(tmp_path: Path, ref_status, expected) -> None:
    study = make_study(tmp_path / "s")

    def metrics(cond, seed):
        if cond == "chronological" and ref_status is None:
            return None
        return {KEY: float(seed), "other": 1.0 + seed}
    write_records(study, metrics, status=lambda c, s: ref_status if c == "chronological"
                  else "success")
    text, _ = report(study)
    rows = analyze(study, list(Ledger(study.generated).all().values()))["hypotheses"]["h1"][
        "contrasts"]
    assert rows and all(r["note"] == expected for r in rows)
    assert "metric missing" not in text
    assert f"no comparison possible ({expected})" in text
    assert f"2 metrics not tested — {expected}." in text     # said once, not per metric


# -- 6. no numeric metrics, warnings ------------------------------------------------------------

def test_no_numeric_metrics_says_why_in_report_and_figure(tmp_path: Path, capsys) -> None:
    study = make_study(tmp_path / "s")
    write_records(study, lambda c, s: {"label": "text only", "phase": "done"},
                  warnings={"h1__recsys__election_recsys_engagement__seed12":
                            "the run wrote nothing into its folder /x/run"})
    text, paths = report(study)
    assert "## No numeric metrics" in text
    assert "no evaluator returned a number (action_metrics succeeded on 6 usable run(s)" in text
    assert '`aggregated` object of numbers' in text
    assert "![comparison]" not in text and "comparison.png` has no data to plot" in text
    assert "no data for" not in text and "for None" not in text
    assert "No numeric metrics" in capsys.readouterr().err
    with Image.open(paths["plot"]) as img:
        assert img.info["Description"].startswith("No numeric metrics: no evaluator returned")
    analysis = analyze(study, list(Ledger(study.generated).all().values()))
    fig = comparison_figure(analysis, [], {"h1": None}, title="t")
    texts = " ".join(figure_texts(fig))
    assert "no evaluator returned a number" in texts.replace("\n", " ")
    assert "no data for" not in texts and "None" not in texts
    assert_nothing_clipped(fig)
    # the warning of the run that wrote nothing is listed
    warn = text.split("## Warnings", 1)[1]
    assert "`h1__recsys__election_recsys_engagement__seed12` (success): the run wrote nothing" \
        in warn


def test_study_without_evaluators_says_so(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s", evaluations=False)
    write_records(study, lambda c, s: {}, evaluations=False)
    text, _ = report(study)
    assert "the study configures no evaluator (`evaluations:` is empty or missing)" in text
    assert "## Warnings" not in text


def test_hypothesis_panel_without_its_metric_names_it(tmp_path: Path) -> None:
    study = make_study(tmp_path / "s")
    write_records(study, lambda c, s: {KEY: float(s) + (c == "recsys")})
    analysis = analyze(study, list(Ledger(study.generated).all().values()))
    fig = comparison_figure(analysis, [], {"h1": "action_metrics.not_there"})
    texts = " ".join(figure_texts(fig)).replace("\n", " ")
    assert "usable run(s) reports action_metrics.not_there" in texts
    assert "no data for" not in texts


# -- 5. figures: identity, fixed colours, nothing clipped ---------------------------------------

def choice_rows(order: list[str], agents: int = 10, episodes: int = 4) -> list[dict]:
    """Answers whose frequency follows ``order`` (most frequent first; each one appears)."""
    rows, i = [], 0
    weights = list(range(len(order), 0, -1))
    for ep in range(episodes):
        pool = [a for a, w in zip(order, weights) for _ in range(w)]
        for a in range(agents):
            rows.append(probe("top_issue", f"agent_{a}", ep, i, pool[(a + ep) % len(pool)]))
            rows.append(probe("diary", f"agent_{a}", ep, i + 1, "ten words " * 5))
            i += 2
    return rows


def evaluate_in_study_layout(root: Path, cond: str, seed: int, order: list[str]) -> Path:
    """A real probe evaluation whose output sits where the orchestrator puts it, with the job
    file the orchestrator writes; returns the plot folder."""
    gen = root / "generated"
    run_id = f"h1__{cond}__town_hall__seed{seed}"
    (gen / "jobs").mkdir(parents=True, exist_ok=True)
    (gen / "jobs" / f"{run_id}.json").write_text(json.dumps(
        {"run_id": run_id, "study": "edge_study", "hypothesis": "h1", "condition": cond,
         "scenario": "town_hall", "seed": seed}), encoding="utf-8")
    config = probe_config_yaml([("top_issue", "ChoiceProbe"), ("diary", "FreeTextProbe")])
    run = make_run(root / "runs" / run_id, probes=choice_rows(order), config=config)
    out = gen / "eval" / "h1" / cond / "town_hall" / f"seed_{seed}" / "probe_metrics" / "p.json"
    payload = run_builtin("probe_metrics_detailed", run, out)
    assert payload["plots"]["errors"] == []
    return out.parent / "p_plots"


def test_probe_figures_name_their_run_and_keep_label_colours(tmp_path: Path) -> None:
    answers = ["economy", "security", "climate", "health"]
    a = evaluate_in_study_layout(tmp_path, "recsys", 11, answers)
    b = evaluate_in_study_layout(tmp_path, "chronological", 12, answers[::-1])
    assert run_identity(a)["study"] == "edge_study"
    for folder, cond, seed in ((a, "recsys", 11), (b, "chronological", 12)):
        for png in folder.glob("*.png"):
            title = png_title(png)
            assert (f"study edge_study · condition {cond} (h1) · scenario town_hall · "
                    f"seed {seed}") in title, (png.name, title)
    colors_a, colors_b = png_colors(a / "choice_top_issue.png"), png_colors(b / "choice_top_issue.png")
    for answer in answers:                       # the same colour in both runs' figures
        assert label_color(answer) in colors_a and label_color(answer) in colors_b, answer
    assert len({label_color(x) for x in answers}) == len(answers)


def test_label_colours_are_fixed_and_collisions_stay_apart() -> None:
    fig1 = choice_figure("q", "ChoiceProbe", [0, 1], [{"x": 1, "y": 3}, {"x": 2, "y": 2}],
                         ["y", "x"])
    fig2 = choice_figure("q", "ChoiceProbe", [0, 1], [{"x": 3, "y": 1}, {"x": 3, "z": 2}],
                         ["x", "z", "y"])
    of = [{ln.get_label(): ln.get_color() for ln in f.axes[0].get_lines()} for f in (fig1, fig2)]
    assert of[0]["x"] == of[1]["x"] == label_color("x")
    assert of[0]["y"] == of[1]["y"] == label_color("y")
    assert label_color(" Economy ") == label_color("economy")
    assert label_color("Yes") == "#2a9d4b" and label_color("No") == "#d1495b"
    # two labels of one figure with one colour: both keep it, the later one is dashed
    seen: dict[str, str] = {}
    pair = None
    for i in range(200):
        c = label_color(f"label{i}")
        if c in seen:
            pair = (seen[c], f"label{i}")
            break
        seen[c] = f"label{i}"
    styles = label_styles(list(pair))
    assert styles[pair[0]][0] == styles[pair[1]][0]
    assert {styles[pair[0]][1], styles[pair[1]][1]} == {"-", "--"}


def test_comparison_and_experiment_figures_use_the_label_colours(tmp_path: Path) -> None:
    from silisocs_study.report.experiment_figures import comparison_figure as exp_figure
    from silisocs_study.report.experiment_summary import experiment_stats

    study = make_study(tmp_path / "s", long_names=True)
    write_records(study, lambda c, s: {KEY: s + (5.0 if c == "recsys" else 0.0)})
    records = list(Ledger(study.generated).all().values())
    analysis = analyze(study, records)
    fig = comparison_figure(analysis, records, {"h1": f"action_metrics.{KEY}"},
                            title=f"{study.name}: {study.meta['question']}")
    scen = "an_equally_long_scenario_name_about_an_election_day"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"scenario: {scen[:49]}…" in legend          # scenarios: by marker and place
    # every seed's dot in its condition's colour, the same as in report.html
    conds = analysis["hypotheses"]["h1"]["conditions"]
    colors = condition_colors(conds)
    assert colors == {c: label_color(c) for c in conds}
    dots = {conds[round(float(c.get_offsets()[0][0]))]: "#%02x%02x%02x" % tuple(
        round(255 * v) for v in c.get_facecolor()[0][:3])
        for c in fig.axes[0].collections if len(c.get_offsets()) == 3}
    assert dots == colors
    assert_nothing_clipped(fig)

    results = [{"agent": a, "seed": s, "run_id": f"{a}_s{s}", "status": "success",
                "success": True, "scores": {"score": 0.1 * i + 0.01 * s}}
               for i, a in enumerate(["random", "greedy", "cooperative"]) for s in range(3)]
    exp = exp_figure(None, results, experiment_stats(None, results))
    dots = [c for c in exp.axes[0].collections if len(c.get_offsets()) == 3]
    got = ["#%02x%02x%02x" % tuple(round(255 * v) for v in c.get_facecolor()[0][:3])
           for c in dots]
    assert got == [label_color(a) for a in ("random", "greedy", "cooperative")]
    assert_nothing_clipped(exp)


def test_wordcount_line_never_touches_the_frame() -> None:
    fig = wordcount_figure([{"label": "one_sentence_view", "episodes": list(range(10)),
                             "mean_words": [10.05, 9.9, 9.8, 9.7, 9.5, 9.5, 9.8, 9.6, 9.7, 9.6]}],
                           list(range(10)), run_title="study s · condition c · scenario x · "
                                                      "seed 1 " + "and a long tail " * 6)
    top = fig.axes[0].get_ylim()[1]
    assert top >= 10.05 * 1.1
    assert_nothing_clipped(fig)
