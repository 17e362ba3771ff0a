"""The study report of a 10,000-run study on the 2-core dev machine.

A synthetic study: 4 hypotheses × 10 conditions × 5 scenarios × 50 seeds = 10,000 success
records written through the ledger API with the plan's fingerprints (so none is stale), each
with one evaluator ``m`` whose ``aggregated`` holds five metrics (score, cost, length,
accuracy, rate) from a seeded numpy generator: condition effects of several sizes (some
zero, some negative), scenario shifts, a per-(scenario, seed) shift shared by the conditions
(what pairing removes) and noise, so the verdicts come out mixed. The study.yaml is a real
one (runner ``tests.apps.noop``, ``study.scenarios``, a ``seeds`` list, an ``analysis:``
block with primary metrics m.score and m.accuracy, a relative delta, per-hypothesis
references and directions, one hypothesis decided by the bootstrap interval).

1. ``report.reports.write_reports(study)`` end to end (reads every record, analyses, writes
   summary.md, report.html, comparison.png and study.xlsx). Target ≤ 10 s wall. Beside it
   the parts, each called directly as ``write_reports`` calls it: ``organize.current_records``,
   ``contrasts.analyze`` (statistics, contrasts and the decisions: bootstraps, TOST, seed
   planning), ``summary_md.render``, ``html.render_html``, ``plots.plot_comparison`` (the
   PNG) and ``excel.write_workbook``.
2. The size of ``generated/reports/report.html``, and of its parts. Target ≤ 5 MB.
3. Opening report.html from file:// in headless Chromium (Playwright, /usr/bin/chromium):
   wall time from ``page.goto(url, wait_until="load")`` to load, and, from the page's own
   clock (since navigation start), when the run table's rows (built by report.js from the
   embedded JSON; a MutationObserver sees them once that script has finished),
   DOMContentLoaded and the load event. Target ≤ 2 s. Beside it Chromium's counters (CDP
   Performance.getMetrics) and the main-thread time by kind (parse, script, style, layout,
   paint) of one more, traced, opening. Console errors and page errors are printed. One
   1280×800 screenshot (not full page) goes to /tmp/report_bench.png (``--screenshot``).

Figures are medians of ``--repeats`` (default 3), with the best beside them; nothing is
asserted about time. ``--profile`` adds a cProfile of one ``write_reports`` (top functions
by cumulative and by own time).

Usage: ``uv run python bench/report_bench.py [--records 10000] [--repeats 3] [--keep DIR]
[--skip-parts] [--skip-browser] [--profile] [--screenshot /tmp/report_bench.png]``
(``--records 1000`` keeps the 4 × 10 × 5 shape with 5 seeds.)
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
APP = "tests.apps.noop"
HYPOTHESES = ("h1", "h2", "h3", "h4")
CONDITIONS = 10
SCENARIOS = ("s_base", "s_dense", "s_sparse", "s_noisy", "s_long")
SHAPE = len(HYPOTHESES) * CONDITIONS * len(SCENARIOS)          # 200 cells
# metric: (mean, sd of the noise); effects are fractions of the mean
METRICS = {"score": (10.0, 1.0), "cost": (100.0, 8.0), "length": (500.0, 40.0),
           "accuracy": (0.80, 0.04), "rate": (0.20, 0.02)}
# condition effects (fraction of the mean) per hypothesis, c00 the reference: zero, small
# (under δ = 5 %), around δ, large, negative
EFFECTS = {
    "h1": (0.0, 0.0, 0.01, 0.03, 0.05, 0.08, 0.12, 0.0, 0.02, 0.20),
    "h2": (0.0, 0.0, 0.0, 0.0, 0.01, -0.01, 0.0, 0.0, 0.005, -0.005),
    "h3": (0.0, -0.02, -0.06, -0.10, 0.0, 0.04, -0.15, 0.01, -0.04, 0.0),
    "h4": (0.0, 0.06, 0.0, -0.06, 0.03, 0.10, 0.0, -0.01, 0.15, 0.045),
}
SCENARIO_SHIFT = (0.0, 0.04, -0.03, 0.01, -0.06)       # fraction of the mean
CDP_METRICS = ("TaskDuration", "ScriptDuration", "V8CompileDuration", "RecalcStyleDuration",
               "LayoutDuration", "LayoutCount", "Nodes", "JSHeapUsedSize")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-quic"]


def study_yaml(directory: Path, seeds: int) -> Path:
    doc = {
        "schema_version": 1,
        "study": {"name": "report_bench",
                  "question": "Which settings move score and accuracy by 5% or more?",
                  "scenarios": list(SCENARIOS),
                  "run_defaults": {"runner_module": APP, "seeds": list(range(1, seeds + 1))}},
        "hypotheses": {
            h: {"statement": f"{h}: the settings change score and accuracy",
                "prediction": f"{h}: c01..c09 differ from c00 on m.score",
                "conditions": {f"c{i:02d}": {"overrides": {"x": i, "y": f"{h}_{i}"}}
                               for i in range(CONDITIONS)}}
            for h in HYPOTHESES},
        "analysis": {
            "metrics": ["m.score", "m.accuracy"],
            "direction": "two-sided",
            "delta": "5%",
            "alpha": 0.05,
            "hypotheses": {
                "h1": {"reference": "c00", "direction": "higher"},
                "h2": {"reference": "c00"},
                "h3": {"reference": "c00", "direction": "lower", "delta": "3%"},
                "h4": {"reference": "c00", "interval": "bootstrap"},
            },
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory


def synthetic_metrics(seeds: int, rng_seed: int = 20240611) -> dict[tuple, dict[str, float]]:
    """{(hypothesis, condition, scenario, seed): {metric: value}}."""
    rng = np.random.default_rng(rng_seed)
    out: dict[tuple, dict[str, float]] = {}
    names = list(METRICS)
    means = np.array([METRICS[m][0] for m in names])
    sds = np.array([METRICS[m][1] for m in names])
    # a per-(scenario, seed) shift every condition of a hypothesis shares (what pairing removes)
    shared = {(h, s): rng.normal(0.0, 0.7, size=(seeds, len(names))) * sds
              for h in HYPOTHESES for s in SCENARIOS}
    # metrics respond differently: cost the opposite way, length not at all
    response = np.array([1.0, -0.5, 0.0, 1.0, 0.6])
    for h in HYPOTHESES:
        for i in range(CONDITIONS):
            effect = EFFECTS[h][i]
            for k, s in enumerate(SCENARIOS):
                centre = means * (1 + SCENARIO_SHIFT[k] + effect * response)
                noise = rng.normal(0.0, 0.6, size=(seeds, len(names))) * sds
                values = centre + shared[(h, s)] + noise
                values[:, 3] = np.clip(values[:, 3], 0.0, 1.0)     # accuracy
                values[:, 4] = np.clip(values[:, 4], 0.0, None)    # rate
                for j in range(seeds):
                    out[(h, f"c{i:02d}", s, j + 1)] = {
                        n: round(float(v), 6) for n, v in zip(names, values[j])}
    return out


def completed_study(base: Path, n: int) -> Path:
    """The study folder with n success records carrying the plan's fingerprints."""
    from silisocs_study.jobs import job_document
    from silisocs_study.ledger import Ledger, utc_now
    from silisocs_study.ledger.provenance import environment
    from silisocs_study.ledger.recorder import base_record
    from silisocs_study.plan import build_plan
    from silisocs_study.spec import load_study

    seeds = max(1, n // SHAPE)
    study_dir = study_yaml(base / "report_study", seeds)
    study = load_study(study_dir, REPO)
    plan = build_plan(study)
    assert len(plan.runs) == SHAPE * seeds, len(plan.runs)
    values = synthetic_metrics(seeds)
    ledger = Ledger(study.generated)
    env = environment(REPO)
    start = time.perf_counter()
    for run in plan.runs:
        rec = base_record(job_document(study, run, PY, session="bench"), f"a-{run.run_id}")
        now = utc_now()
        agg = values[(run.hypothesis, run.condition, run.scenario, run.seed)]
        path = f"{run.output_dir}/evaluations/m.json"
        rec.update(status="success", started_at=now, finished_at=now, exit_code=0, error=None,
                   error_tail=[], run_dir=run.output_dir, duration_ms=1000.0 + (run.seed or 0),
                   evaluations=[{"id": "m", "status": "success", "path": path,
                                 "aggregated": agg}],
                   eval_paths={"m": path}, provenance=env, launcher="BasicLauncher", pid=1)
        ledger.write(rec)
    print(f"  (wrote {len(plan.runs)} records — {len(HYPOTHESES)} hypotheses × {CONDITIONS} "
          f"conditions × {len(SCENARIOS)} scenarios × {seeds} seeds — through Ledger.write in "
          f"{time.perf_counter() - start:.1f} s)", flush=True)
    return study_dir


def _figures(times: list[float]) -> str:
    if statistics.median(times) >= 1:
        return f"median {statistics.median(times):.2f} s (best {min(times):.2f} s)"
    return f"median {statistics.median(times) * 1000:.0f} ms (best {min(times) * 1000:.0f} ms)"


def bench_write(study_dir: Path, repeats: int) -> Path:
    from silisocs_study.report.reports import write_reports
    from silisocs_study.spec import load_study

    study = load_study(study_dir, REPO)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        paths = write_reports(study)
        times.append(time.perf_counter() - t0)
    print(f"write_reports end to end: {_figures(times)} (target <= 10 s); runs "
          f"{', '.join(f'{t:.2f}' for t in times)} s", flush=True)
    for key in ("summary", "html", "plot", "workbook"):
        print(f"  {paths[key].name:15s} {paths[key].stat().st_size / 1e6:7.2f} MB")
    size = paths["html"].stat().st_size
    print(f"report.html size: {size / 1e6:.2f} MB ({size / 2**20:.2f} MiB; target <= 5 MB)")
    print("  of which: " + ", ".join(f"{k} {v / 1e6:.2f} MB"
                                     for k, v in html_parts(paths["html"]).items()))
    return paths["html"]


def html_parts(html: Path) -> dict[str, int]:
    """Bytes of each section of the page, the embedded run data and the per-dot tooltips."""
    text = html.read_text(encoding="utf-8")
    marks = [(m, text.find(f'<section id="{m}"')) for m in
             ("verdicts", "effects", "distributions", "coverage", "runs", "failures")]
    marks = [(m, i) for m, i in marks if i >= 0] + [("", text.find("</main>"))]
    out = {f"section {m}": len(text[i:j].encode()) for (m, i), (_, j) in zip(marks, marks[1:])}
    start = text.find('id="runs-data">')
    if start >= 0:
        out["runs-data JSON"] = len(text[start:text.find("</script>", start)].encode())
    dist = text[text.find('<section id="distributions"'):text.find('<section id="coverage"')]
    tips = [t[:t.find("</title>")] for t in dist.split("<title>")[1:]]
    out["(of distributions: per-dot <title> tooltips)"] = sum(
        len(t.encode()) + 15 for t in tips if " · seed " in t)
    return out


def bench_parts(study_dir: Path, repeats: int) -> None:
    """The steps of write_reports, each called as it calls them."""
    from silisocs_study.ledger.records import utc_now
    from silisocs_study.report.contrasts import analyze
    from silisocs_study.report.excel import write_workbook
    from silisocs_study.report.html import render_html
    from silisocs_study.report.organize import current_records
    from silisocs_study.report.plots import choose_metrics, plot_comparison
    from silisocs_study.report.summary_md import render
    from silisocs_study.report.tree import counts as count_records
    from silisocs_study.spec import load_study

    study = load_study(study_dir, REPO)
    out = Path(tempfile.mkdtemp(prefix="report_bench_parts_"))
    parts: dict[str, list[float]] = {k: [] for k in (
        "organize.current_records", "contrasts.analyze", "tree.counts + choose_metrics",
        "plots.plot_comparison (PNG)", "excel.write_workbook", "summary_md.render",
        "html.render_html")}
    html_chars = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        records = current_records(study)
        parts["organize.current_records"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        analysis = analyze(study, records)
        parts["contrasts.analyze"].append(time.perf_counter() - t0)
        now = utc_now()
        t0 = time.perf_counter()
        counts = count_records(records)
        metrics = choose_metrics(analysis, None)
        parts["tree.counts + choose_metrics"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plot_comparison(analysis, records, out / "comparison.png", metrics,
                        title=f"{study.name}: {study.meta.get('question') or 'comparison'}")
        parts["plots.plot_comparison (PNG)"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        write_workbook(study, analysis, records, out / "study.xlsx", counts, now)
        parts["excel.write_workbook"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        render(study, analysis, counts, now, "comparison.png", metrics)
        parts["summary_md.render"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        html_chars = len(render_html(study, analysis, records, counts, now))
        parts["html.render_html"].append(time.perf_counter() - t0)
    total = sum(statistics.median(v) for v in parts.values())
    print(f"parts ({len(records)} records; medians sum to {total:.2f} s):")
    for name, times in parts.items():
        print(f"  {name:32s} {_figures(times)}")
    print(f"  render_html text {html_chars / 1e6:.2f} M chars; verdicts (pooled primary "
          f"contrasts): {_verdict_counts(analysis) or 'none'}")
    for f in out.iterdir():
        f.unlink()
    out.rmdir()


def _verdict_counts(analysis: dict) -> str:
    """Each hypothesis' verdict, and the verdicts of its pooled primary contrasts."""
    out = []
    for hyp, block in ((analysis.get("decisions") or {}).get("hypotheses") or {}).items():
        pooled: dict[str, int] = {}
        for row in block.get("contrasts") or []:
            if row.get("pooled"):
                pooled[row["verdict"]] = pooled.get(row["verdict"], 0) + 1
        kinds = ", ".join(f"{n} {v}" for v, n in sorted(pooled.items()))
        out.append(f"{hyp} {block.get('verdict')} ({kinds})")
    return "; ".join(out)


INIT_SCRIPT = """
(function () {
  window.__bench = {rows: null, nrows: 0};
  var obs = new MutationObserver(function () {
    var tb = document.querySelector('#runtable tbody');
    if (tb && tb.rows.length && window.__bench.rows === null) {
      window.__bench.rows = performance.now();
      window.__bench.nrows = tb.rows.length;
      obs.disconnect();
    }
  });
  obs.observe(document, {childList: true, subtree: true});
})();
"""


def bench_browser(html: Path, repeats: int, expected_rows: int, screenshot: Path | None
                  ) -> None:
    from playwright.sync_api import sync_playwright

    url = html.resolve().as_uri()
    loads, rows_at, dcl_at, load_at = [], [], [], []
    cdp: dict[str, list[float]] = {}
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=BROWSER_ARGS)
        try:
            for i in range(repeats + 1):            # the first opening warms the browser
                ctx = browser.new_context(viewport={"width": 1280, "height": 800})
                page = ctx.new_page()
                page.add_init_script(INIT_SCRIPT)
                session = ctx.new_cdp_session(page)
                session.send("Performance.enable")
                page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
                        if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
                t0 = time.perf_counter()
                page.goto(url, wait_until="load")
                elapsed = time.perf_counter() - t0
                info = page.evaluate("""() => {
                    const nav = performance.getEntriesByType('navigation')[0] || {};
                    const tb = document.querySelector('#runtable tbody');
                    return {rows: window.__bench ? window.__bench.rows : null,
                            nrows: tb ? tb.rows.length : -1,
                            dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
                            shown: (document.getElementById('shown') || {}).textContent};
                }""")
                if i == 0:
                    print(f"  (warm-up opening {elapsed:.2f} s; table rows {info['nrows']} "
                          f"of {expected_rows}; '{info['shown']}')", flush=True)
                    if info["nrows"] != expected_rows:
                        print(f"  !! the run table shows {info['nrows']} rows, expected "
                              f"{expected_rows}")
                else:
                    loads.append(elapsed)
                    if info["rows"] is not None:
                        rows_at.append(info["rows"] / 1000)
                    dcl_at.append((info["dcl"] or 0) / 1000)
                    load_at.append((info["load"] or 0) / 1000)
                    got = session.send("Performance.getMetrics")["metrics"]
                    for m in got:
                        if m["name"] in CDP_METRICS:
                            cdp.setdefault(m["name"], []).append(m["value"])
                if screenshot is not None and i == repeats:
                    page.screenshot(path=str(screenshot), full_page=False)
                ctx.close()
        finally:
            browser.close()
    print(f"Chromium open report.html (file://, goto until load, wall): {_figures(loads)} "
          f"(target <= 2 s); runs {', '.join(f'{t:.2f}' for t in loads)} s")
    print(f"  page clock since navigation start: run table rows rendered "
          f"{_figures(rows_at) if rows_at else 'never seen'}; DOMContentLoaded "
          f"{_figures(dcl_at)}; load event end {_figures(load_at)}")
    print("  main thread of one more (traced) opening: " + ", ".join(
        f"{k} {v:.2f} s" for k, v in trace_breakdown(url).items()))
    if cdp:
        print("  Chromium's own counters (CDP Performance.getMetrics, median; durations in s): "
              + ", ".join(f"{k} {statistics.median(v):.3g}" for k, v in cdp.items()))
    unique = list(dict.fromkeys(errors))
    print(f"  console errors/warnings: {len(errors)}" + "".join(f"\n    {e[:300]}"
                                                              for e in unique[:10]))
    if screenshot is not None:
        print(f"  screenshot (1280×800, viewport only): {screenshot}")


TRACED = ("ParseHTML", "EvaluateScript", "UpdateLayoutTree", "Layout", "PrePaint", "Paint")


def trace_breakdown(url: str) -> dict[str, float]:
    """Seconds of each kind of main-thread work of one opening (a Chromium trace; nested
    events such as ParseHTML inside EvaluateScript count in both)."""
    import json

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=BROWSER_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.goto("about:blank")
            trace = Path(tmp) / "trace.json"
            browser.start_tracing(page=page, path=str(trace),
                                  categories=["devtools.timeline", "blink", "loading"])
            page.goto(url, wait_until="load")
            browser.stop_tracing()
        finally:
            browser.close()
        events = json.loads(trace.read_text())
    events = events.get("traceEvents", []) if isinstance(events, dict) else events
    out = dict.fromkeys(TRACED, 0.0)
    for e in events:
        if e.get("ph") == "X" and e.get("name") in out:
            out[e["name"]] += e.get("dur", 0) / 1e6
    return out


def profile_write(study_dir: Path, top: int = 25) -> None:
    from silisocs_study.report.reports import write_reports
    from silisocs_study.spec import load_study

    study = load_study(study_dir, REPO)
    prof = cProfile.Profile()
    prof.enable()
    write_reports(study)
    prof.disable()
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats(key).print_stats(top)
        print(f"--- cProfile of one write_reports, top {top} by {key} ---")
        lines = buf.getvalue().splitlines()
        start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
        print("\n".join(ln.replace(str(REPO) + "/", "") for ln in lines[start:] if ln.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000,
                        help="runs (4 × 10 × 5 cells; seeds = records / 200)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the study in DIR/report_study and keep it")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-parts", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one write_reports")
    parser.add_argument("--screenshot", type=Path, default=Path("/tmp/report_bench.png"))
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load:.1f}")
    with tempfile.TemporaryDirectory(prefix="report_bench_") as tmp:
        base = Path(tmp) if args.keep is None else args.keep.resolve()
        study_dir = completed_study(base, args.records)
        n = SHAPE * max(1, args.records // SHAPE)
        html = bench_write(study_dir, args.repeats)
        if not args.skip_parts:
            bench_parts(study_dir, args.repeats)
        if not args.skip_browser:
            bench_browser(html, args.repeats, n, args.screenshot)
        if args.profile:
            profile_write(study_dir)
        if args.keep is not None:
            print(f"study kept in {study_dir}")


if __name__ == "__main__":
    main()
