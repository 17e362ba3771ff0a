"""report.html in a real browser: Debian's chromium driven by Playwright, from file://.

The module runs a real study once (the socialsim app, tiny: chrono and recsys × 3 seeds, plus
a condition whose one run raises), builds its reports, and opens ``report.html`` with every
network request refused. Checked: no console or page error, no request but the page itself,
one verdict card per decided hypothesis and one table row per record, filtering, sorting, the
details of a run, a page that still works after the study folder moved, and screenshots at
1280×800 and 390×844 (written to tests/artifacts/report_browser/, which git ignores).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import REPO, cli, socialsim_doc, write_study

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = REPO / "tests" / "artifacts" / "report_browser"
FAILED_RUN = "h1__crash__election_recsys_engagement__seed2"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium is not installed at /usr/bin/chromium "
                                       "(apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is a dev dependency (uv sync)")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """A real study, run and reported through the command line."""
    from silisocs_study.report.contrasts import analyze
    from silisocs_study.report.html import render_html
    from silisocs_study.report.html_runs import display_status
    from silisocs_study.report.organize import current_records
    from silisocs_study.report.tree import counts
    from silisocs_study.spec import load_study

    doc = socialsim_doc(seeds=(1, 2, 3))
    h1 = doc["hypotheses"]["h1"]
    h1["prediction"] = "recsys > chrono on interactive actions per agent"
    h1["conditions"]["crash"] = {"seeds": [2], "overrides": {"debug.fail": "raise"}}
    folder = write_study(tmp_path_factory.mktemp("browser") / "study", doc)
    ran = cli(folder, "run")                 # `run` ends by writing the reports
    assert ran.returncode == 1, ran.stdout + ran.stderr          # the crash run fails
    page = folder / "generated" / "reports" / "report.html"
    if not page.exists():
        reported = cli(folder, "report")
        assert reported.returncode == 0, reported.stdout + reported.stderr
    loaded = load_study(str(folder), str(REPO))
    records = current_records(loaded)
    analysis = analyze(loaded, records)
    if not page.exists():        # until `report` writes it: the same function, called here
        page.write_text(render_html(loaded, analysis, records, counts(records), "now"),
                        encoding="utf-8")
    decisions = analysis.get("decisions") if isinstance(analysis.get("decisions"), dict) else {}
    decided = [h for h, d in (decisions.get("hypotheses") or {}).items() if isinstance(d, dict)]
    return {"dir": folder, "page": page, "records": records, "decided": decided,
            "status": {r["run_id"]: display_status(r) for r in records}}


@pytest.fixture(scope="module")
def browser():
    """One chromium with a fresh profile, no network services of its own."""
    profile = tempfile.mkdtemp(prefix="report-browser-")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1280, "height": 800}, service_workers="block")
        try:
            yield ctx
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)


class Opened:
    """A page opened from file:// with everything it tried to do recorded."""

    def __init__(self, ctx, path: Path, width: int = 1280, height: int = 800) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page = ctx.new_page()
        self.page.set_viewport_size({"width": width, "height": height})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.route("**/*", self._route)
        self.page.goto(self.url, wait_until="load")

    def _route(self, route) -> None:
        if route.request.url == self.url:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def visible(self) -> list[str]:
        return self.page.eval_on_selector_all("#runtable tbody tr:not([hidden])",
                                              "rows => rows.map(r => r.title)")

    def column(self, k: int) -> list[str]:
        return self.page.eval_on_selector_all(
            f"#runtable tbody tr:not([hidden]) td:nth-child({k + 1})",
            "cells => cells.map(c => c.textContent)")

    def assert_clean(self) -> None:
        assert self.errors == []
        assert self.blocked == []
        assert self.requests == [self.url]

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def opened(browser, study):
    page = Opened(browser, study["page"])
    yield page
    page.close()


def test_loads_offline_without_errors_or_requests(opened, study) -> None:
    opened.page.wait_for_timeout(300)          # anything late would show up now
    opened.assert_clean()
    csp = opened.page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
    assert csp.startswith("default-src 'none'")
    assert opened.page.locator("svg").count() >= 2            # a forest and a strip plot


def test_verdict_cards_and_one_row_per_record(opened, study) -> None:
    cards = opened.page.locator("#verdicts article.card")
    if study["decided"]:
        assert cards.count() == len(study["decided"])
        for hyp in study["decided"]:
            card = opened.page.locator(f'#verdicts article[data-hypothesis="{hyp}"]')
            word = card.locator(".verdict").inner_text().lower()
            assert word in ("supported", "refuted", "equivalent", "inconclusive")
    else:
        assert cards.count() == 0
        assert opened.page.locator("#no-decisions").is_visible()
    assert sorted(opened.visible()) == sorted(r["run_id"] for r in study["records"])
    assert opened.page.inner_text("#shown") == f"showing {len(study['records'])} of " \
                                               f"{len(study['records'])} runs"
    assert opened.page.locator(f'#failures details[data-run="{FAILED_RUN}"]').count() == 1


def _matching(study, term: str, status: str = "") -> list[str]:
    out = []
    for r in study["records"]:
        fields = (r["run_id"], study["status"][r["run_id"]], r["hypothesis"], r["condition"],
                  r["scenario"], str(r["seed"]))
        shown = study["status"][r["run_id"]]
        if term.lower() in " ".join(fields).lower() and status in ("", shown):
            out.append(r["run_id"])
    return sorted(out)


def test_filter_box_and_status_select_show_exactly_the_matching_runs(opened, study) -> None:
    page = opened.page
    for term in ("crash", "chrono", "seed3", "RECSYS"):
        page.fill("#filter", term)
        assert sorted(opened.visible()) == _matching(study, term), term
    page.fill("#filter", "")
    page.select_option("#status-filter", "failed")
    assert opened.visible() == [FAILED_RUN]
    page.select_option("#status-filter", "success")
    page.fill("#filter", "chrono")
    assert sorted(opened.visible()) == _matching(study, "chrono", "success")
    assert len(opened.visible()) == 3
    page.fill("#filter", "no such run")
    assert opened.visible() == [] and page.inner_text("#shown").startswith("showing 0 of")
    opened.assert_clean()


def test_clicking_a_header_sorts_and_toggles(opened, study) -> None:
    page = opened.page
    page.click('#runtable th[data-k="4"]')                  # seed
    seeds = [int(s) for s in opened.column(4)]
    assert seeds == sorted(seeds)
    assert page.get_attribute('#runtable th[data-k="4"]', "aria-sort") == "ascending"
    page.click('#runtable th[data-k="4"]')
    assert [int(s) for s in opened.column(4)] == sorted(seeds, reverse=True)
    page.click('#runtable th[data-k="2"]')                  # condition, text
    conds = opened.column(2)
    assert conds == sorted(conds)
    if page.locator('#runtable th[data-k="6"]').count():    # a metric: numbers, then "—"
        page.click('#runtable th[data-k="6"]')
        cells = opened.column(6)
        numbers = [float(c.replace(",", "")) for c in cells if c != "—"]
        assert numbers == sorted(numbers)
        assert cells[len(numbers):] == ["—"] * (len(cells) - len(numbers))
        assert "—" in cells                                  # the failed run has none
    opened.assert_clean()


def test_clicking_a_row_shows_its_details(opened, study) -> None:
    page = opened.page
    records = {r["run_id"]: r for r in study["records"]}
    page.click(f'#runtable tbody tr[title="{FAILED_RUN}"]')
    assert page.locator("#details").get_attribute("open") is not None
    assert page.inner_text("#details-title") == FAILED_RUN
    body = page.inner_text("#details-body")
    assert "RuntimeError: injected failure" in body
    assert records[FAILED_RUN]["fingerprint"] in body
    assert "debug.fail" in body and "git_commit" in body
    assert "RuntimeError" in page.inner_text("#details-body pre")     # the log tail
    page.click("#details-close")
    assert page.locator("#details").get_attribute("open") is None
    ok = next(r for r in study["records"] if r["condition"] == "recsys")
    page.click(f'#runtable tbody tr[title="{ok["run_id"]}"]')
    body = page.inner_text("#details-body")
    assert page.inner_text("#details-title") == ok["run_id"]
    assert "Evaluator action_metrics" in body and "interactive_actions_per_agent" in body
    folder = os.path.relpath(ok["run_dir"], study["dir"])
    assert folder in body and str(study["dir"]) not in body  # paths as text, relative
    page.keyboard.press("Escape")
    assert page.locator("#details").get_attribute("open") is None
    opened.assert_clean()


def test_screenshots_at_desktop_and_phone_width(browser, study) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        opened = Opened(browser, study["page"], width, height)
        try:
            overflow = opened.page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"
            target = ARTIFACTS / f"report_{width}x{height}.png"
            opened.page.screenshot(path=str(target), full_page=True)
            print(f"\nscreenshot: {target}")
            assert target.stat().st_size > 10_000
            opened.assert_clean()
        finally:
            opened.close()


def test_the_page_still_works_after_the_study_folder_moved(browser, study, tmp_path) -> None:
    moved = tmp_path / "elsewhere" / "study"
    moved.parent.mkdir()
    shutil.move(str(study["dir"]), str(moved))
    try:
        opened = Opened(browser, moved / "generated" / "reports" / "report.html")
        try:
            opened.assert_clean()
            assert len(opened.visible()) == len(study["records"])
            assert opened.page.locator("svg").count() >= 2
            opened.page.click(f'#runtable tbody tr[title="{FAILED_RUN}"]')
            assert re.search("RuntimeError", opened.page.inner_text("#details-body pre"))
        finally:
            opened.close()
    finally:
        shutil.move(str(moved), str(study["dir"]))


@pytest.mark.parametrize("case", ["hostile", "no records", "no metrics", "no decisions"])
def test_edge_pages_run_their_script_cleanly(browser, tmp_path, case) -> None:
    """Names that look like markup stay text, and empty studies still give a working page."""
    from test_report_html import HOSTILE, make_records, make_study, page_for

    conds = ("chronological", HOSTILE) if case == "hostile" else ("chronological", "recsys")
    study = make_study(tmp_path / "s", conditions=conds)
    records = ([] if case == "no records" else
               make_records(study, evaluations=case != "no metrics",
                            failed={f"h1__{conds[1]}__election__seed2"}))
    path = tmp_path / "report.html"
    path.write_text(page_for(study, records, decisions=None if case.startswith("no") else True),
                    encoding="utf-8")
    opened = Opened(browser, path)
    dialogs: list[str] = []
    opened.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        assert len(opened.visible()) == len(records)
        if records:
            opened.page.fill("#filter", conds[1][:8])
            opened.page.click("#runtable tbody tr:not([hidden]) >> nth=0")
            assert conds[1] in opened.page.inner_text("#details-body")
            opened.page.click('#runtable th[data-k="2"]')
        assert dialogs == []
        opened.assert_clean()
    finally:
        opened.close()


def test_huge_strip_plots_write_their_tooltips_on_hover(browser, tmp_path, monkeypatch) -> None:
    """Past MAX_TITLED_DOTS a dot carries its run's index only; hovering names run, seed and
    value from the run table's data (the same words as a written tooltip)."""
    from test_report_html import make_records, make_study, page_for

    from silisocs_study.report import html

    monkeypatch.setattr(html, "MAX_TITLED_DOTS", 0)
    study = make_study(tmp_path / "s")
    records = make_records(study)
    path = tmp_path / "report.html"
    path.write_text(page_for(study, records), encoding="utf-8")
    assert "<title>h1__" not in path.read_text(encoding="utf-8")
    opened = Opened(browser, path)
    try:
        dot = opened.page.locator("figure.strip circle[data-i]").first
        i = int(dot.get_attribute("data-i"))
        dot.hover(force=True)
        tip = dot.evaluate("d => d.querySelector('title') && d.querySelector('title').textContent")
        rec = records[i]
        value = rec["evaluations"][0]["aggregated"]["score"]
        assert tip.startswith(f"{rec['run_id']} · seed {rec['seed']} · ")
        assert abs(float(tip.rsplit(" · ", 1)[1]) - value) < 1e-4 * max(1.0, abs(value))
        opened.assert_clean()
    finally:
        opened.close()
