"""``views.refresh``: incremental updates equal full rebuilds, byte for byte.

Each test builds a small study of the no-op app and writes its records through the ledger
(no run is launched). ``reference`` renders the four views the way the one-document renderer
did before the views were cut into per-record fragments, so every comparison also pins the
file format. Timestamps are pinned with ``now``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import REPO, noop_doc, write_study

from silisocs_study import views
from silisocs_study.ledger import Ledger
from silisocs_study.ledger import views as lv
from silisocs_study.ledger.records import (RECORD_SCHEMA_VERSION, generator, peer_record,
                                           peer_time)
from silisocs_study.plan import Filters, build_plan
from silisocs_study.spec import load_study
from silisocs_study.yamlout import dump_yaml

NOW = "2025-01-02T03:04:05.678Z"
LATER = "2025-01-02T03:09:00.000Z"


def make_study(tmp_path: Path):
    """h1 with conditions a, b × seeds 1, 2, 10, 11; 7 of the 8 runs recorded."""
    doc = noop_doc({"a": {"overrides": {"x": 1}}, "b": {"overrides": {"x": 2}}},
                   seeds=(1, 2, 10, 11))
    study = load_study(write_study(tmp_path / "study", doc), REPO)
    plan = build_plan(study)
    ledger = Ledger(study.generated)
    for i, run in enumerate(plan.runs[:-1]):
        ledger.write(record(run, stale=i == 2))
    return study, plan, ledger


def record(run, *, status: str = "success", stale: bool = False, attempt: str = "1",
           **extra) -> dict:
    rec = {"run_id": run.run_id, "attempt_id": attempt, "status": status,
           "hypothesis": "h1", "condition": run.group.condition, "scenario": "s",
           "seed": run.seed, "fingerprint": "0" * 32 if stale else run.fingerprint,
           "axes": {"x": run.seed}, "run_dir": f"/nowhere/{run.run_id}",
           "started_at": "2025-01-01T00:00:00.000Z", "finished_at": "2025-01-01T00:00:01.500Z",
           "evaluations": [{"id": "m", "status": "success", "aggregated": {"score": 0.5}}],
           "eval_paths": {"m": None}, "note": "ünïcode\nand \"quotes\""}
    rec.update(extra)
    return rec


def view_bytes(study) -> dict[str, bytes]:
    return {name: (study.generated / name).read_bytes() for name in lv.VIEW_NAMES}


def reference(study, now: str = NOW) -> dict[str, bytes]:
    """The four views of every record as one document each (the renderer before fragments)."""
    records = lv.sorted_records(Ledger(study.generated).all())
    lv.mark_stale(records, {r.run_id: r.fingerprint for r in build_plan(study).runs})
    mark, root = generator(), str(study.repo_root)
    shaped = [peer_record(r, root) for r in records]
    counts: dict[str, int] = {}
    for r in records:
        key = "stale" if r.get("stale") else r.get("status", "unknown")
        counts[key] = counts.get(key, 0) + 1
    head = lv._json({"generator": mark}, indent=False)[:-1] + b","
    enriched = dict(study.raw)
    enriched["generated"] = {"generator": mark, "generated_at": peer_time(now),
                             "generated_at_iso": now, "schema_version": RECORD_SCHEMA_VERSION,
                             "counts": counts}
    return {
        "repro_lock.json": lv._json({
            "generator": mark, "schema_version": RECORD_SCHEMA_VERSION, "generated_at": now,
            "environment": lv.peer_environment(study.repo_root, now),
            "records": shaped}) + b"\n",
        "repro_lock.jsonl": b"".join(head + lv._json(r, indent=False)[1:] + b"\n"
                                     for r in shaped),
        "study_index.json": lv._json({
            "generator": mark, "schema_version": RECORD_SCHEMA_VERSION,
            "generated_at": peer_time(now), "generated_at_iso": now,
            "study": views.study_meta(study), "counts": counts, "records": shaped}) + b"\n",
        "study_enriched.yaml": (
            f"# generator: {mark} (a view of generated/records; rebuilt by `organize`)\n"
            + dump_yaml(enriched, width=120)
            + lv._yaml_rows([lv._row(r) for r in records])).encode("utf-8"),
    }


def refresh(plan, **kw) -> views.ViewsResult:
    kw.setdefault("organized", False)
    return views.refresh(plan, now=NOW, **kw)


def incremental(plan, changed=(), **kw) -> views.ViewsResult:
    result = refresh(plan, changed=changed, **kw)
    assert result.incremental, "expected the views to be spliced, not rebuilt in full"
    return result


def identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_full_refresh_writes_what_the_one_document_renderer_wrote(tmp_path):
    study, plan, _ = make_study(tmp_path)
    result = refresh(plan)
    assert result.rebuilt and not result.incremental
    assert view_bytes(study) == reference(study)
    ids = [r["run_id"] for r in result.records]
    assert ids == ["h1__a__s__seed1", "h1__a__s__seed2", "h1__a__s__seed10",
                   "h1__a__s__seed11", "h1__b__s__seed1", "h1__b__s__seed2",
                   "h1__b__s__seed10"]
    assert [r["stale"] for r in result.records] == [False, False, True] + [False] * 4


def test_incremental_equals_full_after_each_kind_of_change(tmp_path, capsys):
    study, plan, ledger = make_study(tmp_path)
    refresh(plan)
    runs = {r.run_id: r for r in plan.runs}
    one, other = "h1__a__s__seed2", "h1__b__s__seed10"

    # a run finished again: another attempt, another status (the caller says which)
    ledger.write(record(runs[one], status="failed", attempt="2", error="boom"))
    result = incremental(plan, {one})
    assert result.rebuilt and view_bytes(study) == reference(study)
    assert {r["run_id"]: r["status"] for r in result.records}[one] == "failed"

    # a record appears that this process did not write (another orchestrator, a Slurm task)
    ledger.write(record(runs["h1__b__s__seed11"]))
    incremental(plan)
    assert view_bytes(study) == reference(study)
    assert b"h1__b__s__seed11" in (study.generated / "repro_lock.jsonl").read_bytes()

    # a record file is deleted; another one is damaged (left out, one warning)
    ledger.path(other).unlink()
    ledger.path("h1__a__s__seed1").write_text("{truncated")
    capsys.readouterr()
    result = incremental(plan)
    assert view_bytes(study) == reference(study)
    assert "h1__a__s__seed1.json (not valid JSON" in capsys.readouterr().err
    assert {other, "h1__a__s__seed1"}.isdisjoint(r["run_id"] for r in result.records)

    # several changes at once, at both ends of the order, the stale one made current
    ledger.write(record(runs["h1__a__s__seed1"], attempt="3"))
    ledger.write(record(runs[other], status="timeout"))
    ledger.write(record(runs["h1__a__s__seed10"], attempt="4"))
    result = incremental(plan, {"h1__a__s__seed10"})
    assert view_bytes(study) == reference(study)
    assert not any(r["stale"] for r in result.records)

    # lines appended by finished runs to repro_lock.jsonl do not stop a splice; the
    # rewrite drops them, as a full rebuild does
    from silisocs_study.ledger.lockfile import append_line

    append_line(study.generated / "repro_lock.jsonl", {"generator": generator(), "run_id": one})
    incremental(plan)
    assert view_bytes(study) == reference(study)

    # the chain of splices ends where one full rebuild from the same records ends
    spliced = view_bytes(study)
    (study.generated / lv.CACHE_NAME).unlink()
    assert not refresh(plan).incremental
    assert view_bytes(study) == spliced


def test_a_same_size_rewrite_in_the_same_tick_is_caught_when_named(tmp_path):
    study, plan, ledger = make_study(tmp_path)
    refresh(plan)
    run_id = "h1__a__s__seed10"
    path = ledger.path(run_id)
    before, st = path.read_bytes(), path.stat()
    after = before.replace(b'"success"', b'"failure"')   # same length, same file
    assert len(after) == len(before)
    with open(path, "r+b") as fh:
        fh.write(after)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_ino, path.stat().st_size, path.stat().st_mtime_ns) == \
        (st.st_ino, st.st_size, st.st_mtime_ns)
    stale_views = view_bytes(study)
    incremental(plan)                         # its signature did not change: not seen
    assert view_bytes(study)["repro_lock.jsonl"] == stale_views["repro_lock.jsonl"]
    result = incremental(plan, {run_id})      # named: read again
    assert view_bytes(study) == reference(study)
    assert {r["run_id"]: r["status"] for r in result.records}[run_id] == "failure"


def test_a_missing_corrupt_or_foreign_index_means_a_full_rebuild(tmp_path):
    study, plan, ledger = make_study(tmp_path)
    index = study.generated / lv.CACHE_NAME
    result = refresh(plan, changed={"h1__a__s__seed1"})   # no index yet
    assert result.rebuilt and not result.incremental and index.is_file()
    run = plan.runs[0]

    def change_and_refresh(attempt: str) -> views.ViewsResult:
        ledger.write(record(run, attempt=attempt))
        result = refresh(plan, changed={run.run_id})
        assert view_bytes(study) == reference(study)
        return result

    index.write_bytes(b"garbage")
    assert not change_and_refresh("2").incremental
    assert change_and_refresh("3").incremental        # the full rebuild wrote a new index

    data = index.read_bytes()   # the same index, from an older format version
    version = f'"version":{views.CACHE_VERSION}'.encode()
    assert version in data
    index.write_bytes(data.replace(version, b'"version":0', 1))
    assert not change_and_refresh("4").incremental

    index.write_bytes(index.read_bytes()[:-7])        # truncated
    assert not change_and_refresh("5").incremental

    # the study file changed (stale marks and the enriched view depend on it)
    study_file = Path(study.file)
    study_file.write_text(study_file.read_text() + "# edited\n")
    study = load_study(study_file.parent, REPO)
    plan = build_plan(study)
    assert not change_and_refresh("6").incremental

    # a view was rewritten by someone else since
    (study.generated / "study_index.json").write_bytes(b'{"generator": "silisocs-study"}\n')
    assert not change_and_refresh("7").incremental


def test_a_symlink_at_a_view_is_replaced_not_followed(tmp_path):
    study, plan, ledger = make_study(tmp_path)
    refresh(plan)
    outside = tmp_path / "outside.json"
    outside.write_text("keep me")
    view = study.generated / "study_index.json"
    view.unlink()
    view.symlink_to(outside)
    ledger.write(record(plan.runs[0], attempt="2"))
    refresh(plan, changed={plan.runs[0].run_id})
    assert outside.read_text() == "keep me"
    assert not view.is_symlink() and view_bytes(study) == reference(study)


def test_foreign_views_are_adopted_and_preserved_in_a_full_rebuild(tmp_path):
    study, plan, _ = make_study(tmp_path)
    refresh(plan)
    missing = plan.runs[-1].run_id   # the silisocs runner ran it
    peer = {"records": [{"run_id": missing, "status": "success",
                         "finished_at": "2024-05-01T12-30-45Z"}]}
    (study.generated / "repro_lock.json").write_text(json.dumps(peer))
    result = refresh(plan, changed={missing})
    assert result.rebuilt and not result.incremental
    kept = list((study.generated / "preserved_originals").glob("*/repro_lock.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == peer
    assert view_bytes(study)["repro_lock.json"].startswith(b'{\n  "generator": "silisocs')


def test_only_if_changed_returns_the_records_without_writing(tmp_path):
    study, plan, ledger = make_study(tmp_path)
    refresh(plan, organized=True)
    files = [study.generated / n for n in (*lv.VIEW_NAMES, lv.CACHE_NAME)]
    files.append(study.generated / "organized" / "summary.json")
    before = [identity(p) for p in files]

    result = views.refresh(plan, only_if_changed=True)    # full read, nothing to write
    assert not result.rebuilt and not result.incremental and result.analysis is None
    assert [identity(p) for p in files] == before
    assert [r["run_id"] for r in result.records] == \
        [r["run_id"] for r in lv.sorted_records(ledger.all())]
    assert [r["stale"] for r in result.records].count(True) == 1

    # a filtered plan still flags stale records against the whole plan
    only_b = build_plan(study, Filters.parse(condition="b"))
    result = views.refresh(only_b, only_if_changed=True)
    assert not result.rebuilt and [r["stale"] for r in result.records].count(True) == 1

    # a named run whose record did not change: nothing written either
    run = plan.runs[1]
    ledger.update(ledger.read(run.run_id))                 # same bytes, new file
    result = views.refresh(plan, changed={run.run_id}, only_if_changed=True)
    assert not result.rebuilt and result.incremental
    assert [identity(p) for p in files[:4]] == before[:4] and len(result.records) == 7

    ledger.write(record(run, attempt="2"))
    result = views.refresh(plan, changed={run.run_id}, only_if_changed=True, now=NOW)
    assert result.rebuilt and result.incremental and view_bytes(study) == reference(study)
    assert result.analysis is not None          # the tree was rebuilt from those records
    assert views.refresh(plan, only_if_changed=True).rebuilt is False


def test_only_if_changed_rebuilds_when_records_the_study_or_a_view_changed(tmp_path):
    doc = noop_doc()
    study_dir = write_study(tmp_path / "study", doc)
    study = load_study(study_dir, REPO)
    plan = build_plan(study)
    ledger = Ledger(study.generated)
    ledger.write({"run_id": "h1__a__s__seed2", "attempt_id": "1", "status": "success"})

    def rebuild() -> list[str] | None:
        result = views.refresh(plan, only_if_changed=True, organized=False)
        return [r["run_id"] for r in result.records] if result.rebuilt else None

    assert rebuild() == ["h1__a__s__seed2"]
    assert rebuild() is None                       # nothing changed: nothing written
    ledger.write({"run_id": "h1__a__s__seed10", "attempt_id": "2", "status": "success"})
    assert rebuild() == ["h1__a__s__seed2", "h1__a__s__seed10"]
    assert rebuild() is None
    ledger.write({"run_id": "h1__a__s__seed10", "attempt_id": "3", "status": "failed"})
    assert rebuild() is not None                   # a replaced record
    assert rebuild() is None
    ledger.update(dict(ledger.read("h1__a__s__seed10"), note="same attempt, rewritten"))
    assert rebuild() is not None
    assert rebuild() is None
    (study_dir / "study.yaml").write_text((study_dir / "study.yaml").read_text() + "\n")
    study = load_study(study_dir, REPO)
    plan = build_plan(study)
    assert rebuild() is not None                   # the study changed (stale marks)
    assert rebuild() is None
    (study.generated / "study_index.json").unlink()
    assert rebuild() is not None                   # a view is missing
    assert (study.generated / "study_index.json").exists()


def test_the_tree_failure_is_reported_in_the_result(tmp_path, capsys):
    from silisocs_study.report import organize

    study, plan, ledger = make_study(tmp_path)
    # a condition name no directory can have: the tree fails, the views do not
    ledger.write(record(plan.runs[-1], condition="c" * 300))
    capsys.readouterr()
    result = views.refresh(plan, now=NOW)
    assert result.rebuilt and view_bytes(study) == reference(study)
    assert result.organize_error and "File name too long" in result.organize_error
    assert result.analysis is None
    assert "warning: organized view not rebuilt" in capsys.readouterr().err
    assert not [n for n, v in vars(organize).items()   # no module state: no hidden channel
                if n.isupper() and isinstance(v, (str, bool, type(None)))]
    assert not list(study.generated.glob(".organized.tmp-*"))

    ledger.path(plan.runs[-1].run_id).unlink()
    result = views.refresh(plan, changed={plan.runs[-1].run_id}, now=NOW)
    assert result.organize_error is None and result.analysis is not None
    assert (study.generated / "organized" / "summary.json").is_file()


def test_force_rebuilds_views_and_tree_and_reports_reuse_the_analysis(tmp_path):
    study, plan, _ = make_study(tmp_path)
    first = views.refresh(plan)
    assert first.analysis is not None
    summary = study.generated / "organized" / "summary.json"
    tree, lock = identity(summary), identity(study.generated / "repro_lock.json")
    again = views.refresh(plan)                     # views rewritten, tree current
    assert again.rebuilt and again.analysis is None and identity(summary) == tree
    forced = views.refresh(plan, force=True, only_if_changed=True, changed={"x"})
    assert forced.rebuilt and not forced.incremental and forced.analysis is not None
    assert identity(summary) != tree
    assert identity(study.generated / "repro_lock.json") != lock

    from silisocs_study.report.reports import write_reports

    paths = write_reports(study, records=forced.records, analysis=forced.analysis)
    assert paths["summary"].is_file()


if __name__ == "__main__":   # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
