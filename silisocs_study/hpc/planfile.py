"""A Plan rebuilt from plan.json, so an array task never re-expands the whole study.

``write_plan_json`` writes a head object then one compact row per line. A submission
writes its plan.json once and records, per task, the byte range of each of its rows; a
task then reads the head and seeks to its own rows (O(its runs), whatever the study size),
and :func:`plan_from_json` turns them back into the same ``Study``/``Group``/``Run`` values
the planner made (same run ids, output dirs, overrides, fingerprints, job documents).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from ..model import AppFacts, EvaluatorSpec, Group, ReuseRef, Run, Study
from ..plan import (Filters, Plan, _absolute, _from_row, _keep, app_key, app_key_text,
                    cwd_from_plan_row)

RUNS_MARK = b',\n  "runs": [\n'
RUNS_END = b"\n  ]\n}"


def _loads(data: bytes) -> Any:
    try:
        import orjson

        return orjson.loads(data)
    except ImportError:  # pragma: no cover
        import json

        return json.loads(data)


def _dumps(obj: Any) -> bytes:
    try:
        import orjson

        return orjson.dumps(obj)
    except ImportError:  # pragma: no cover
        import json

        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def row_ranges(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(length of the head, [(offset, length) of each row]) of a plan.json's bytes."""
    pos = data.find(RUNS_MARK)
    if pos < 0:
        raise ValueError("not a plan.json written by write_plan_json (no runs list)")
    start = pos + len(RUNS_MARK)
    end = data.rfind(RUNS_END)
    if end < start - 1:
        raise ValueError("truncated plan.json")
    ranges: list[tuple[int, int]] = []
    i = start
    while i < end:
        j = data.find(b"\n", i, end)
        j = end if j < 0 else j
        length = j - i - (1 if data[j - 1:j] == b"," else 0)
        if length > 0:
            ranges.append((i, length))
        i = j + 1
    return pos, ranges


def read_rows(path: Path | str, head_len: int, ranges: Iterable[Sequence[int]]
              ) -> tuple[dict, list[dict]]:
    """The head and the rows at ``ranges`` (seek + read each: no full parse)."""
    with open(path, "rb") as fh:
        head = _loads(fh.read(head_len) + b"\n}")
        rows = []
        for offset, length in ranges:
            fh.seek(offset)
            rows.append(_loads(fh.read(length)))
    return head, rows


def write_slice(head: dict, rows: list[dict], target: Path) -> None:
    """A complete plan.json holding only ``rows`` (what a task hands to the sweeper)."""
    from ..atomic import atomic_write_bytes

    doc = dict(head)
    doc["selected_runs"] = len(rows)
    doc.pop("runs", None)
    body = _dumps(doc)
    rows_bytes = b",\n".join(_dumps(r) for r in rows)
    atomic_write_bytes(target, body[:-1] + b',"runs":[\n' + rows_bytes + b"\n]}\n")


def group_from_json(key: str, data: dict, study_name: str) -> Group:
    return Group(
        key=key, study_name=study_name, hypothesis=data["hypothesis"],
        condition=data["condition"], sub_experiment=data["sub_experiment"],
        mode=data.get("mode", "run"), runner_module=data.get("runner_module"),
        command=tuple(data["command"]) if data.get("command") else None,
        config_path=data.get("config_path"), working_directory=data.get("working_directory"),
        overrides=dict(data.get("overrides") or {}),
        override_args=tuple(data.get("override_args") or ()),
        inject=dict(data.get("inject") or {}),
        evaluators=tuple(EvaluatorSpec.from_json(e) for e in data.get("evaluators") or ()),
        re_evaluate=bool(data.get("re_evaluate")), timeout_seconds=data.get("timeout_seconds"),
        axis_keys=tuple((a[0], a[1]) for a in data.get("axis_keys") or ()),
        checkpoint_default=data.get("checkpoint_default"))


def study_from_head(head: dict) -> Study:
    s = head["study"]
    name = s["name"]
    groups = [group_from_json(k, g, name) for k, g in head["groups"].items()]
    return Study(kind=head.get("kind", "study"), name=name, study_id=s["study_id"],
                 file=Path(s["file"]), display_file=s["file"], repo_root=Path(s["repo_root"]),
                 workspace=Path(s["workspace"]), groups=groups)


def run_from_row(doc: dict, row: dict, group: Group, index: int) -> Run:
    root = doc["study"]["repo_root"]
    if "reuse" in row:
        ref = ReuseRef(row["reuse"]["source"], row["reuse"].get("eval"))
        return Run(row["run_id"], group, index, row["scenario"], row["seed"], row["run_name"],
                   ref.source, None, root, None, row["fingerprint"], row.get("axes"), ref)
    if "config_path" in row:
        config_path = _from_row(row["config_path"], root)
    elif group.config_path is not None:
        config_path = _absolute(root, group.config_path)
    else:
        config_path = None
    return Run(row["run_id"], group, index, row["scenario"], row["seed"], row["run_name"],
               _from_row(row["output_dir"], root), config_path, cwd_from_plan_row(doc, row),
               tuple(row["command"]) if "command" in row else None, row["fingerprint"],
               row.get("axes"))


def plan_from_json(doc: dict, rows: list[dict] | None = None,
                   run_ids: Iterable[str] | None = None) -> Plan:
    """The Plan of plan.json ``doc`` (its head + ``rows``, default its own ``runs``),
    optionally only the rows whose run id is in ``run_ids``."""
    study = study_from_head(doc)
    rows = doc.get("runs", []) if rows is None else rows
    if run_ids is not None:
        wanted = set(run_ids)
        rows = [r for r in rows if r["run_id"] in wanted]
    groups = {g.key: g for g in study.groups}
    runs = [run_from_row(doc, row, groups[row["group"]], i) for i, row in enumerate(rows)]
    for run in runs:   # the app facts the submission's composition check found
        if run.reuse is None:
            run.app = AppFacts.from_json((doc.get("apps") or {}).get(app_key_text(*app_key(run))))
    return Plan(study=study, runs=runs, total=int(doc.get("total_runs") or len(runs)))


def plan_from_file(path: str | Path, filters: Filters | None = None) -> tuple[Study, Plan]:
    """(study, plan) of a plan.json file: what the study sweeper runs given ``plan_file``."""
    from ..plan import load_plan_json

    plan = plan_from_json(load_plan_json(Path(path)))
    if filters:
        plan = Plan(plan.study, [r for r in plan.runs if _keep(r, filters)], plan.total,
                    filters)
    return plan.study, plan
