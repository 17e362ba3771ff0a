"""``report``: summary.md, report.html, comparison.png and study.xlsx from real records of the
example.

The module fixture copies the example study (20 agents, 5 steps) plus a second hypothesis
with two scenarios, runs it once through the CLI, then runs ``report``.
"""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from silisocs_study.ledger.records import Ledger

pytestmark = pytest.mark.slow   # the module fixture runs the 20-agent example study (~50 s)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "studies" / "recsys_behavior_sweep" / "study.yaml"
KEY = "action_metrics.interactive_actions_per_agent"


def make_study(folder: Path, *, h2: bool = True) -> Path:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["study"]["run_defaults"]["overrides"].update(num_agents=20, num_steps=5)
    doc["study"]["study_summary_path"] = str(folder / "SUMMARY.md")
    doc["study"]["summary_log_path"] = str(folder / "generated" / "summary_log.jsonl")
    if h2:
        doc["hypotheses"]["h2"] = {
            "statement": "Town halls and elections differ under a short timeline.",
            "prediction": "short > long on actions per agent",
            "scenarios": ["election_recsys_engagement", "town_hall"],
            "seeds": [1, 2],
            "conditions": {
                "long": {"overrides": {"env.gm.components.observe.params.timeline_size": 8}},
                "short": {"overrides": {"env.gm.components.observe.params.timeline_size": 2}},
            },
        }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder


def cli(study: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "silisocs_study", "--study", str(study),
                           "--repo-root", str(REPO), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    folder = make_study(tmp_path_factory.mktemp("report") / "study")
    cli(folder, "run")
    proc = cli(folder, "report")
    reports = folder / "generated" / "reports"
    return {"dir": folder, "reports": reports, "stdout": proc.stdout,
            "records": Ledger(folder / "generated").all()}


def test_report_prints_the_paths(study) -> None:
    lines = study["stdout"].split()
    assert lines == [str(study["reports"] / n) for n in ("summary.md", "report.html",
                                                          "comparison.png", "study.xlsx")]


def test_summary_md_covers_each_hypothesis(study) -> None:
    text = (study["reports"] / "summary.md").read_text()
    assert text.startswith("# recsys_behavior_sweep")
    assert "How do timeline settings shift engagement?" in text
    for hyp in ("h1", "h2"):
        assert f"## {hyp} — " in text
    assert "Recommendation-heavy timelines increase interactive actions." in text
    assert "recsys > chronological on interactive actions per agent" in text
    assert "**Contrasts against chronological**" in text and "**Contrasts against long**" in text
    assert f"| `{KEY}` |" in text
    reading = next(line for line in text.splitlines()
                   if line.startswith("- In election_recsys_engagement, recsys has"))
    assert "the interactive actions per agent of chronological" in reading
    assert "paired over 3 seeds" in reading and "Holm p = " in reading
    assert "95% CI [" in reading
    # deterministic sims: recsys is far ahead, but 3 seeds and a Holm family of ~28 metrics
    assert ("consistent with the prediction" in reading
            or "in the predicted direction, but not significant after the Holm" in reading)
    assert "preliminary" in reading
    # h2 has two scenarios: one reading per scenario, never pooled
    assert "- In town_hall, " in text
    assert "comparison.png" in text


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_comparison_png_is_a_real_picture(study) -> None:
    import matplotlib.image as mpimg

    png = study["reports"] / "comparison.png"
    width, height = _png_size(png)
    assert width > 300 and height > 300
    assert width > height            # two panels side by side
    pixels = mpimg.imread(png)
    assert pixels.shape[:2] == (height, width)
    assert float(np.std(pixels)) > 0.05
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50           # text, markers, error bars, the condition colours
    # each condition's fixed colour (the same in report.html) marks its seeds, bar and mean
    from silisocs_study.report.colors import condition_colors

    rgb = (pixels[..., :3] * 255).round().astype(int)
    for cond, color in condition_colors(["chronological", "recsys", "long", "short"]).items():
        target = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb - target) <= 8).all(axis=-1).sum() > 200, (cond, color)


def test_workbook_sheets_rows_and_columns(study) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(study["reports"] / "study.xlsx")
    assert wb.sheetnames == ["about", "verdicts", "decision contrasts", "runs", "h1", "h2"]
    runs = wb["runs"]
    header = [c.value for c in runs[1]]
    assert header[:11] == ["run_id", "hypothesis", "condition", "scenario", "seed", "status",
                           "stale", "usable", "fingerprint", "finished_at", "run_dir"]
    metrics = {f"{e['id']}.{m}" for r in study["records"].values() for e in r["evaluations"]
               for m in e.get("aggregated") or {}}
    assert set(header[11:]) == metrics
    assert runs.max_row == 1 + len(study["records"]) == 1 + 14
    assert all(c.font.b for c in runs[1]) and runs.freeze_panes == "B2"
    assert runs.column_dimensions["A"].width >= len("h1__chronological__election_recsys")
    rows = {r[0]: dict(zip(header, r)) for r in runs.iter_rows(min_row=2, values_only=True)}
    rec = study["records"]["h1__recsys__election_recsys_engagement__seed12"]
    row = rows[rec["run_id"]]
    assert row["fingerprint"] == rec["fingerprint"] and row["seed"] == 12
    agg = next(e for e in rec["evaluations"] if e["id"] == "action_metrics")["aggregated"]
    assert row[KEY] == pytest.approx(agg["interactive_actions_per_agent"])

    h1 = wb["h1"]
    hh = [c.value for c in h1[1]]
    assert hh[:6] == ["metric", "evaluator", "scenario", "condition", "role", "n"]
    assert {"mean", "ci_low", "ci_high", "difference", "p", "p_holm", "effect_size"} <= set(hh)
    assert h1.freeze_panes == "A2" and all(c.font.b for c in h1[1])
    data = [dict(zip(hh, r)) for r in h1.iter_rows(min_row=2, values_only=True)]
    key_rows = [r for r in data if r["metric"] == KEY]
    assert [r["condition"] for r in key_rows] == ["chronological", "recsys"]
    assert key_rows[0]["role"] == "reference" and key_rows[0]["difference"] is None
    assert key_rows[1]["difference"] > 0 and key_rows[1]["design"] == "paired"
    summary = json.loads((study["dir"] / "generated" / "organized" / "summary.json")
                         .read_text())
    s_row = next(r for r in summary["hypotheses"]["h1"]["contrasts"] if r["metric"] == KEY)
    assert key_rows[1]["p_holm"] == pytest.approx(s_row["p_holm"])  # same numbers everywhere
    h2 = [dict(zip([c.value for c in wb["h2"][1]], r))
          for r in wb["h2"].iter_rows(min_row=2, values_only=True)]
    assert {r["scenario"] for r in h2} == {"election_recsys_engagement", "town_hall"}


def test_metric_option_and_errors(study, tmp_path) -> None:
    before = (study["reports"] / "comparison.png").read_bytes()
    cli(study["dir"], "report", "--metric", "probe_metrics.mean_candidate_favorability")
    text = (study["reports"] / "summary.md").read_text()
    assert "key metric `probe_metrics.mean_candidate_favorability`" in text
    assert (study["reports"] / "comparison.png").read_bytes() != before
    bad = cli(study["dir"], "report", "--metric", "action_metrics.interactive_actions_per_agnt",
              ok=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "did you mean 'action_metrics.interactive_actions_per_agent'" in bad.stderr
    cli(study["dir"], "report")      # back to the defaults for the other tests

    empty = make_study(tmp_path / "empty", h2=False)
    proc = cli(empty, "report", ok=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "no run records yet" in proc.stderr
    assert not (empty / "generated" / "reports").exists()


def test_single_panel_report_in_process(tmp_path, capsys) -> None:
    """Hand-made records, reported through cli.main: one panel, a Welch contrast."""
    from silisocs_study.cli import main
    from silisocs_study.plan import build_plan
    from silisocs_study.spec import load_study

    folder = make_study(tmp_path / "one", h2=False)
    s = load_study(str(folder), str(REPO))
    ledger = Ledger(s.generated)
    for run in build_plan(s).runs:
        cond = run.condition
        if cond == "chronological" and run.seed == 13:
            continue                  # unequal arms
        base = 5.0 if cond == "chronological" else 9.0
        ledger.write({"run_id": run.run_id, "hypothesis": "h1", "condition": cond,
                      "scenario": run.scenario, "seed": run.seed + (100 if cond == "recsys"
                                                                    else 0),
                      "status": "success", "fingerprint": run.fingerprint,
                      "evaluations": [{"id": "action_metrics", "status": "success",
                                       "aggregated": {"interactive_actions_per_agent":
                                                      base + run.seed % 3}}]})
    assert main(["--study", str(folder), "--repo-root", str(REPO), "report"]) == 0
    out = capsys.readouterr().out.split()
    assert out[0].endswith("summary.md")
    text = Path(out[0]).read_text()
    assert "Welch, n = 3 vs 2" in text
    width, height = _png_size(Path(out[2]))
    assert width > 300 and height > 300
