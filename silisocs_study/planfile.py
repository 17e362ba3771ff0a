"""plan.json: writing it, reading it back, and a Plan rebuilt from it.

``write_plan_json`` writes a head object then one compact row per line. A Slurm submission
writes its plan.json once and records, per task, the byte range of each of its rows; a task
then reads the head and seeks to its own rows (O(its runs), whatever the study size), and
:func:`plan_from_json` turns them back into the same ``Study``/``Group``/``Run`` values the
planner made (same run ids, output dirs, overrides, fingerprints, job documents).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .model import AppFacts, EvaluatorSpec, Group, ReuseRef, Run, Study
from .plan import (PLAN_SCHEMA_VERSION, Filters, Plan, absolute_path, app_key, keeps,
                   overrides_from)

def argv_from_plan_row(doc: dict[str, Any], row: dict[str, Any],
                       python: str | None = None) -> list[str]:
    """:func:`argv` rebuilt from plan.json alone: its head (``python``, ``study``, ``groups``)
    and one row of ``runs``. ``python`` defaults to the interpreter recorded in the plan."""
    if "reuse" in row:
        return []
    python = python or doc["python"]
    if "command" in row:
        return [tok.replace("{python}", python) for tok in row["command"]]
    root = doc["study"]["repo_root"]
    group = doc["groups"][row["group"]]
    cmd = [python, "-m", group["runner_module"] or ""]
    if "config_path" in row:
        config_path = _from_row(row["config_path"], root)
    elif group["config_path"] is not None:
        config_path = absolute_path(root, group["config_path"])
    else:
        config_path = None
    if config_path:
        cmd += ["--config-path", config_path]
    app = AppFacts.from_json((doc.get("apps") or {}).get(
        app_key_text(group["runner_module"] or "", config_path)))
    return cmd + overrides_from(group["override_args"], group["axis_keys"], group["inject"],
                                row.get("axes"), row["seed"], row["scenario"], row["run_name"],
                                doc["study"]["name"], _from_row(row["output_dir"], root),
                                group.get("checkpoint_default"), app)


def app_key_text(module: str, config_path: str | None) -> str:
    """``app_key`` as a JSON object key (plan.json ``apps``)."""
    return f"{module}\t{config_path or ''}"


def cwd_from_plan_row(doc: dict[str, Any], row: dict[str, Any]) -> str:
    """The directory a run's command runs in, from plan.json alone."""
    root = doc["study"]["repo_root"]
    if "working_directory" in row:
        return _from_row(row["working_directory"], root)
    wd = doc["groups"][row["group"]]["working_directory"]
    return root if wd is None or "reuse" in row else absolute_path(root, wd)


def _from_row(path: str, root: str) -> str:
    """Inverse of :func:`_relative`."""
    if path == ".":
        return root
    return path if path.startswith("/") else f"{root}/{path}"


# -- plan.json ----------------------------------------------------------------------------------

def plan_document_head(plan: Plan, python: str) -> dict[str, Any]:
    from .constants import generator

    study = plan.study
    return {
        "generator": generator(),   # marks the file as ours (ledger.adopt)
        "schema_version": PLAN_SCHEMA_VERSION,
        "kind": study.kind,
        "study": {"name": study.name, "study_id": study.study_id, "file": str(study.file),
                  "workspace": str(study.workspace), "repo_root": str(study.repo_root)},
        "python": python,
        "total_runs": plan.total,
        "selected_runs": len(plan.runs),
        "filters": plan.filters.to_json(),
        "groups": {g.key: g.to_json() for g in plan.groups()},
        # what each app's composed config said (output key, checkpoint); absent: not checked
        "apps": {app_key_text(*app_key(runs[0])): runs[0].app.to_json()
                 for runs in plan.apps().values() if runs[0].app is not None},
    }


def run_row(run: Run, root: str) -> dict[str, Any]:
    """A plan row: what varies per run (paths relative to the repo root when inside it)."""
    row: dict[str, Any] = {"run_id": run.run_id, "group": run.group.key,
                           "scenario": run.scenario, "seed": run.seed,
                           "run_name": run.run_name,
                           "output_dir": _relative(run.output_dir, root),
                           "fingerprint": run.fingerprint}
    if run.axes is not None:
        row["axes"] = run.axes
    if run.config_path is not None and "{" in (run.group.config_path or ""):
        row["config_path"] = _relative(run.config_path, root)
    if run.group.working_directory and "{" in run.group.working_directory:
        row["working_directory"] = _relative(run.working_directory, root)
    if run.command is not None:
        row["command"] = list(run.command)
    if run.reuse is not None:
        row["reuse"] = {"source": run.reuse.source, "eval": run.reuse.eval}
    return row


def _relative(path: str, root: str) -> str:
    if path == root:
        return "."
    if path.startswith(root + "/"):
        return path[len(root) + 1:]
    return path


def peer_plan_row(run: Run, study_id: str, root: str) -> dict[str, Any]:
    """A row of the silisocs runner's plan.json (``load_study(...).plan["plan"]``). Its
    per-run ``overrides`` and ``command`` are left out: ``groups`` holds one copy per
    condition, and each run's exact argv is in its record."""
    g = run.group
    return {"run_id": run.run_id, "study_id": study_id, "hypothesis": g.hypothesis,
            "condition": g.condition, "sub_experiment": g.sub_experiment,
            "scenario": run.scenario, "seed": run.seed, "run_name": run.run_name,
            "planned_output_rootname": _relative(run.output_dir, root),
            "working_directory": _relative(run.working_directory, root)
            if g.working_directory else None,
            "mode": g.mode, "reused_source": run.reuse.source if run.reuse else None,
            "re_evaluate": g.re_evaluate, "evaluators": [e.id for e in g.evaluators],
            "group": g.key}


def write_plan_json(plan: Plan, target: Path, python: str) -> None:
    """Write plan.json atomically: a head object, then one compact row per line.

    The study's own ``generated/plan.json`` (the one silisocs' ``load_study`` reads) also
    gets the silisocs runner's ``plan`` rows, before ``runs``; Slurm submission plans don't
    (their tasks parse the head)."""
    from .atomic import atomic_write_bytes

    dumps: Callable[[Any], bytes]
    try:
        import orjson

        dumps = orjson.dumps
    except ImportError:  # pragma: no cover
        def json_dumps(obj: Any) -> bytes:
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

        dumps = json_dumps
    root = str(plan.study.repo_root)
    head = json.dumps(plan_document_head(plan, python), indent=2, ensure_ascii=False)
    buf = bytearray(head[:-2].encode())
    study = plan.study
    if study.kind == "study" and \
            os.path.abspath(target) == os.path.abspath(study.generated / "plan.json"):
        buf += b',\n  "plan": [\n'
        for i, run in enumerate(plan.runs):
            if i:
                buf += b",\n"
            buf += dumps(peer_plan_row(run, study.study_id, root))
        buf += b"\n  ]"
    buf += b',\n  "runs": [\n'
    # one row per line; each row's bytes are freed at once, so memory stays flat
    for i, run in enumerate(plan.runs):
        if i:
            buf += b",\n"
        buf += dumps(run_row(run, root))
    buf += b"\n  ]\n}\n"
    atomic_write_bytes(target, bytes(buf))


def load_plan_json(path: Path) -> dict[str, Any]:
    try:
        import orjson

        return orjson.loads(path.read_bytes())
    except ImportError:  # pragma: no cover
        return json.loads(path.read_text())


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
    from .atomic import atomic_write_bytes

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
        config_path = absolute_path(root, group.config_path)
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
    

    plan = plan_from_json(load_plan_json(Path(path)))
    if filters:
        plan = Plan(plan.study, [r for r in plan.runs if keeps(r, filters)], plan.total,
                    filters)
    return plan.study, plan
