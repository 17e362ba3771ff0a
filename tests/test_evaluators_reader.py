"""The tolerant JSONL reader: file discovery, bad lines, segments and parallel coding."""
from __future__ import annotations

import json
from collections import Counter
from operator import itemgetter
from pathlib import Path

import pytest
from evaluator_fixtures import action, make_run, write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

from silisocs_study.evaluators import segments
from silisocs_study.evaluators.reader import Fields, ReadStats, find_event_files, iter_buffers
from silisocs_study.evaluators.segments import Segment, code_rows

FIELDS = Fields("source_user", "episode", "label")


def test_find_event_files_root_subfolders_and_manifest(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", actions=[action("post", "a", 0, 0)],
                   game_masters={"gm_10": [action("like", "b", 0, 1)], "gm_2": [action("like", "c", 0, 2)]})
    write_jsonl(run / "deep" / "nested" / "action_events.jsonl", [action("post", "d", 0, 3)])
    write_jsonl(run / ".hidden" / "action_events.jsonl", [action("post", "e", 0, 4)])
    (run / "run_manifest.json").write_text(json.dumps(
        {"artifacts": {"action_events": ["deep/nested/action_events.jsonl", "gm_2/action_events.jsonl",
                                         {"path": "missing/action_events.jsonl"}]}}))
    files = find_event_files(run, "action_events.jsonl")
    assert [(f.relpath, f.game_master) for f in files] == [
        ("action_events.jsonl", "root"),
        ("gm_2/action_events.jsonl", "gm_2"),
        ("gm_10/action_events.jsonl", "gm_10"),
        ("deep/nested/action_events.jsonl", "nested"),
    ]
    assert find_event_files(tmp_path / "nowhere", "action_events.jsonl") == []


def test_bad_blank_and_odd_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    rows = [action("post", "a1", 0, i) for i in range(6)]
    path = write_jsonl(tmp_path / "action_events.jsonl", rows, raw_lines={
        1: '{"event_type": "action", "label": "po',   # torn write        -> line 2
        3: "",                                          # blank, skipped
        4: "[1, 2, 3]",                                 # not an object     -> line 5
        6: "   ",                                       # blank, skipped
        8: "garbage {",                                 # invalid           -> line 9
    })
    with path.open("a") as fh:
        fh.write('{"label": "like", "source_user": "a2"}\n')  # missing episode: kept, episode None
        fh.write('{"label": "like", "source_user": "a3", "episode": [1, 2]}\n')  # unhashable value
        fh.write('{"label": "like", "source_user": "a3", "episode"')  # crash mid-line, no newline
    stats = ReadStats()
    counts, _ = _decoded(*code_rows(find_event_files(tmp_path, "action_events.jsonl"), FIELDS.fast,
                                    FIELDS.fallback, stats, workers=1))
    assert counts == {("a1", 0, "post"): 6, ("a2", None, "like"): 1, ("a3", "[1,2]", "like"): 1}
    assert stats.bad_lines == 4 and stats.rows == 8 and stats.lines == 12
    assert [s["line"] for s in stats.bad_samples] == [2, 5, 9, 14]
    assert stats.bad_by_file == {"action_events.jsonl": 4}


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "action_events.jsonl"
    body = "\r\n".join(json.dumps(action("like", f"a{i}", 0, i)) for i in range(3)) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    stats = ReadStats()
    _, per_row = _decoded(*code_rows(find_event_files(tmp_path, path.name), FIELDS.fast, FIELDS.fallback, stats,
                                     workers=1))
    assert [k for _, k in per_row] == [("a0", 0, "like"), ("a1", 0, "like"), ("a2", 0, "like")]
    assert stats.bad_lines == 0


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab{}\"", max_size=12), max_size=25), trailing=st.booleans(),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=5),
       block=st.integers(min_value=1, max_value=64))
def test_segments_partition_lines_exactly(tmp_path_factory, lines, trailing, cuts, block) -> None:
    path = tmp_path_factory.mktemp("seg") / "f.jsonl"
    data = "\n".join(lines) + ("\n" if trailing and lines else "")
    path.write_bytes(data.encode())
    size = len(data.encode())
    bounds = [0, *sorted(min(c, size) for c in cuts), size]
    got: list[str] = []
    for lo, hi in zip(bounds, bounds[1:]):
        for buf in iter_buffers(path, lo, hi, block):
            got += buf.decode().split("\n")
    expected = data.split("\n")
    if expected and expected[-1] == "":
        expected.pop()
    assert got == expected


def _decoded(table: dict, streams: list) -> tuple[Counter, list]:
    keys = list(table)
    per_row = [(gm, keys[c]) for gm, codes in streams for c in codes.tolist()]
    return Counter(k for _, k in per_row), per_row


def test_code_rows_parallel_equals_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = [action(["post", "like", "reply"][i % 3], f"a{i % 7}", i // 50, i) for i in range(3000)]
    run = make_run(tmp_path / "run", game_masters={"gm_0": big[:1700], "gm_1": big[1700:]})
    path = run / "gm_0" / "action_events.jsonl"
    text = path.read_text().splitlines()
    text.insert(900, "{broken")
    path.write_text("\n".join(text) + "\n")
    files = find_event_files(run, "action_events.jsonl")
    monkeypatch.setattr(segments, "MIN_SEGMENT_BYTES", 1)
    s1, s2 = ReadStats(), ReadStats()
    serial = _decoded(*code_rows(files, FIELDS.fast, FIELDS.fallback, s1, workers=1))
    parallel = _decoded(*code_rows(files, FIELDS.fast, FIELDS.fallback, s2, workers=2))
    assert len(segments.plan_segments(files, 16)) > 4
    assert serial == parallel
    assert serial[0][("a0", 0, "post")] == sum(1 for r in big[:50] if r["source_user"] == "a0" and r["label"] == "post")
    assert (s1.rows, s1.bad_lines, s1.bad_samples) == (s2.rows, s2.bad_lines, s2.bad_samples) == (
        3000, 1, [{"file": "gm_0/action_events.jsonl", "line": 901, "error": s1.bad_samples[0]["error"]}])


def test_segment_of_a_file_that_shrank(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "action_events.jsonl", [action("like", "a", 0, i) for i in range(5)])
    ef = find_event_files(tmp_path, path.name)[0]
    spec = segments.GetterSpec(itemgetter("label"), lambda r: r.get("label"))
    res = segments.code_segment(Segment(ef, 0, path.stat().st_size * 3), spec)
    assert res.stats.rows == 5 and res.keys == [["like"]]


def test_a_helper_process_codes_segments_like_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper side alone (the parent claims nothing): the spec pickles, and private tables and
    codes match what this process produces for the same segments, bad lines included."""
    from evaluator_fixtures import probe

    from silisocs_study.evaluators.probe_data import PROBE_ROW

    rows = [probe(["trust", "mood"][i % 2], f"a{i % 5}", i // 10, i, [{"answer": "Yes"}, "4", None, ["x"]][i % 4])
            for i in range(400)]
    path = write_jsonl(tmp_path / "probe_events.jsonl", rows, raw_lines={50: "{torn", 51: ""})
    monkeypatch.setattr(segments, "MIN_SEGMENT_BYTES", 1)
    segs = segments.plan_segments(find_event_files(tmp_path, path.name), 5)
    pool = segments.Helpers.start(1)
    assert pool is not None
    try:
        claim, futures = pool.code(segs, PROBE_ROW)
        done = dict(futures[0].result())
    finally:
        pool.close()
    assert sorted(done) == list(range(len(segs))) == list(range(5)) and claim[0] > claim[1]
    for i, seg in enumerate(segs):
        here = segments.code_segment(seg, PROBE_ROW)
        assert (done[i].keys, done[i].codes, done[i].stats) == (here.keys, here.codes, here.stats)
    assert sum(done[i].stats.rows for i in done) == 400 and sum(done[i].stats.bad_lines for i in done) == 1
    assert {"Yes", "4", None, '["x"]'} == {k for i in done for k in done[i].keys[4]}
