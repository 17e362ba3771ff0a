"""The per-run parts of ``report.html``: the run table's data, the seed-coverage grid and the
failures panel.

The run table travels as one compact JSON object (short keys, shared override and
provenance maps stored once, evaluator numbers as arrays under one key list per evaluator)
so a 10,000-run study stays a few megabytes. Log tails are read only for runs that did not
succeed (and a few others), and only their last lines.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from .metrics import EVAL_OK
from .numbers import finite_number

TAIL_LINES = 40
TAIL_BYTES = 4096
MAX_FAILED_TAILS = 100     # failed runs whose log tail is embedded
MAX_OTHER_TAILS = 10       # other runs whose log tail is embedded
MAX_FAILURES_LISTED = 300  # the failures panel lists at most these (the table has all)
MAX_VALUES = 100_000       # evaluator numbers embedded in all run details together
MAX_CELL_TITLES = 3000     # coverage cells with a tooltip (beyond: letters and colours only)
OK = frozenset(("success", "reused"))
NOT_FAILED = OK | {"running", "pending"}
CELL = {"done": ("d", "D"), "failed": ("f", "F"), "timeout": ("t", "T"), "running": ("r", "R"),
        "stale": ("s", "S"), "pending": ("p", "P"), "saved": ("v", "·")}
CELL_ORDER = ("done", "running", "stale", "timeout", "failed")   # several records: the first


def display_status(rec: dict) -> str:
    """The status a reader sees: ``stale`` for a complete run under an older plan."""
    return "stale" if rec.get("stale") else str(rec.get("status") or "unknown")


def is_failure(rec: dict) -> bool:
    """Failed, timed out, crashed, infra, unknown: anything that ended without a result."""
    return str(rec.get("status")) not in NOT_FAILED


def tail_text(path: Any, lines: int = TAIL_LINES, limit: int = TAIL_BYTES) -> str:
    """The last ``lines`` lines of a log (at most ``limit`` bytes); '' when unreadable."""
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read(limit)
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    parts = text.splitlines()
    if size > limit and parts:
        parts = parts[1:]          # the first line was cut in the middle
    return "\n".join(parts[-lines:]).strip("\n")


def shown_path(path: Any, root: Path) -> str | None:
    """A path as text, relative to the study folder when inside it (still meaningful after
    the folder is moved); never a link."""
    if not path:
        return None
    text = str(path)
    prefix = str(root).rstrip("/") + "/"
    return text[len(prefix):] if text.startswith(prefix) else text


def duration_ms(rec: dict) -> float | None:
    """``duration_ms``, else finished − started; None when unknown."""
    d = finite_number(rec.get("duration_ms"))
    if d is not None:
        return round(d, 1) if d < 1000 else round(d)
    try:
        start = datetime.fromisoformat(str(rec["started_at"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(rec["finished_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    ms = (end - start).total_seconds() * 1000
    return round(ms, 1) if ms < 1000 else round(ms)


def compact(v: float, digits: int = 6) -> float | int:
    """A number with ``digits`` significant digits, integral values as ints (short JSON)."""
    x = float(f"{v:.{digits}g}")
    return int(x) if x.is_integer() and abs(x) < 1e15 else x


def delta_code(prev: str, value: str) -> Any:
    """``value`` told by how it differs from ``prev``: ``[k, middle, j]`` is prev's first
    ``k`` characters, ``middle``, then prev's last ``j`` (``[k, middle]`` when j = 0); the
    text itself when little is shared. Sorted records' run ids and paths differ from the
    previous row's in a few characters (the seed), so each travels in a few bytes."""
    k = len(os.path.commonprefix([prev, value]))
    a, b = prev[k:], value[k:]
    j = 0
    while j < len(a) and j < len(b) and a[-1 - j] == b[-1 - j]:
        j += 1
    if k + j < 6:
        return value
    middle = b[:len(b) - j]
    return [k, middle, j] if j else [k, middle]


class _Front:
    """:func:`delta_code` of one text field against the previous row's value of it (the
    page's script decodes the rows in the same order)."""

    def __init__(self) -> None:
        self.prev = ""

    def __call__(self, value: str | None) -> Any:
        if value is None:
            return None
        prev, self.prev = self.prev, value
        return delta_code(prev, value)


class _Interned:
    """Equal JSON-able values stored once; runs refer to them by index."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._index: dict[str, int] = {}

    def add(self, value: Any) -> int | None:
        if not value:
            return None
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in self._index:
            self._index[key] = len(self.items)
            self.items.append(value)
        return self._index[key]


@dataclass
class RunPage:
    """What the template needs about runs."""

    data: dict[str, Any]
    failures: list[dict] = field(default_factory=list)
    n_failures: int = 0


def run_page(records: list[dict], metric_cols: list[str], flat: dict[str, dict[str, float]],
             root: Path) -> RunPage:
    """The run table's JSON object and the failures panel's entries."""
    hyps, conds, scens, stats = _Interned(), _Interned(), _Interned(), _Interned()
    overrides, provenance, evals = _Interned(), _Interned(), _Interned()
    fronts: dict[str, _Front] = {k: _Front() for k in ("i", "r")}
    schemas: dict[str, list[str]] = {}
    budget = MAX_VALUES
    failed_tails = other_tails = 0
    rows: list[dict] = []
    failures: list[dict] = []
    n_failures = 0
    for i, rec in enumerate(records):
        failure = is_failure(rec)
        values = flat.get(str(rec.get("run_id")), {})
        run_id = str(rec.get("run_id"))
        row: dict[str, Any] = {
            "i": fronts["i"](run_id), "s": stats.add(display_status(rec)),
            "h": hyps.add(str(rec.get("hypothesis"))), "c": conds.add(str(rec.get("condition"))),
            "n": scens.add(str(rec.get("scenario")))}
        _put(row, "e", rec.get("seed"))
        _put(row, "d", duration_ms(rec))
        if metric_cols:
            row["m"] = [compact(values[m]) if m in values else None for m in metric_cols]
        _put(row, "o", overrides.add(rec.get("resolved_overrides")))
        prov = rec.get("provenance")
        if isinstance(prov, dict):
            _put(row, "p", provenance.add({k: v for k, v in prov.items() if k != "pid"}))
        _put(row, "f", rec.get("fingerprint"))
        log = shown_path(rec.get("log_path"), root)
        run_dir = shown_path(rec.get("run_dir") or rec.get("output_dir"), root)
        _put(row, "r", fronts["r"](run_dir))
        _put(row, "l", _inside(log, run_dir))
        _put(row, "x", rec.get("error"))
        if rec.get("warnings"):
            row["w"] = [str(w) for w in rec["warnings"]]
        entries, budget = _evaluations(rec, schemas, budget, root, evals, stats, fronts)
        if entries:
            row["v"] = entries
        tail = ""
        if failure and failed_tails < MAX_FAILED_TAILS:
            failed_tails += 1
            tail = tail_text(rec.get("log_path")) or "\n".join(
                str(x) for x in (rec.get("error_tail") or [])[-TAIL_LINES:])
        elif not failure and other_tails < MAX_OTHER_TAILS and rec.get("log_path"):
            tail = tail_text(rec.get("log_path"))
            other_tails += 1 if tail else 0
        if failure:
            n_failures += 1
            if len(failures) < MAX_FAILURES_LISTED:
                failures.append({"i": i, "run_id": run_id, "status": display_status(rec),
                                 "where": " · ".join(str(rec.get(k)) for k in (
                                     "hypothesis", "condition", "scenario")),
                                 "seed": rec.get("seed"), "error": rec.get("error"),
                                 "log": log, "tail": tail})
                if tail:
                    row["tf"] = 1          # the tail is in the failures panel (#tail-<i>)
                tail = ""
        if tail:
            row["t"] = tail
        rows.append(row)
    data = {"H": hyps.items, "C": conds.items, "N": scens.items, "S": stats.items,
            "O": overrides.items, "P": provenance.items, "E": evals.items, "K": schemas,
            "M": metric_cols,
            "runs": rows}
    return RunPage(data, failures, n_failures)


def _inside(path: str | None, folder: str | None) -> Any:
    """:func:`delta_code` of a path against the run folder (a log inside the run folder:
    only its name travels)."""
    if path is None or not folder:
        return path
    return delta_code(folder, path)


def _put(row: dict, key: str, value: Any) -> None:
    if value is not None and value != "":
        row[key] = value


def _evaluations(rec: dict, schemas: dict[str, list[str]], budget: int, root: Path,
                 evals: _Interned, stats: _Interned, fronts: dict[str, _Front]
                 ) -> tuple[list, int]:
    """[[id, status, values|None, error|None, output path|None], …] with id and status as
    indexes into ``E`` and ``S``; values follow the evaluator's key list in ``schemas`` and
    stop once ``budget`` numbers are spent (the output file holds them all)."""
    out = []
    for ev in rec.get("evaluations") or []:
        if not isinstance(ev, dict) or not ev.get("id"):
            continue
        eid = str(ev["id"])
        agg = ev.get("aggregated") if ev.get("status") in EVAL_OK else None
        nums = None
        if isinstance(agg, dict) and budget > 0:
            keys = schemas.setdefault(eid, [])
            got = {str(k): x for k, v in agg.items()
                   if (x := finite_number(v, bools=True)) is not None}
            keys += [k for k in got if k not in keys]
            nums = [compact(got[k], 4) if k in got else None for k in keys]
            while nums and nums[-1] is None:
                nums.pop()
            budget -= len(nums)
        path = fronts.setdefault("v:" + eid, _Front())(shown_path(ev.get("path"), root))
        out.append([evals.add(eid), stats.add(str(ev.get("status"))), nums, ev.get("error"),
                    path])
    return out, budget


# -- the seed-coverage grid -----------------------------------------------------------------

def coverage(records: list[dict], planned: Iterable[tuple[str, str, str, Any]],
             hypotheses: list[str], stopped: frozenset | set = frozenset()) -> list[dict]:
    """Per hypothesis: seed columns and one row per condition × scenario; each cell is
    (css class, letter, tooltip) — done, failed, timeout, running, stale, pending, saved (an
    adaptive arm in ``stopped`` — (hypothesis, condition, scenario) — will not run it), or
    empty (neither planned nor recorded)."""
    state: dict[tuple, str] = {}
    names: dict[tuple, str] = {}
    keys: dict[str, dict[tuple[str, str], None]] = {h: {} for h in hypotheses}
    seeds: dict[str, set] = {h: set() for h in hypotheses}
    for h, c, s, seed in planned:
        keys.setdefault(h, {}).setdefault((c, s), None)
        seeds.setdefault(h, set()).add(seed)
        state.setdefault((h, c, s, seed), "saved" if (h, c, s) in stopped else "pending")
    for rec in records:
        h, c, s = (str(rec.get(k)) for k in ("hypothesis", "condition", "scenario"))
        seed = rec.get("seed")
        keys.setdefault(h, {}).setdefault((c, s), None)
        seeds.setdefault(h, set()).add(seed)
        new = _cell_state(rec)
        old = state.get((h, c, s, seed))
        if old in (None, "pending", "saved") or CELL_ORDER.index(new) < CELL_ORDER.index(old):
            state[(h, c, s, seed)] = new
            names[(h, c, s, seed)] = str(rec.get("run_id"))
    titled = sum(len(k) * len(seeds.get(h, ())) for h, k in keys.items()) <= MAX_CELL_TITLES
    out = []
    for h, rows in keys.items():
        cols = sorted(seeds.get(h, set()), key=lambda x: (x is None, _seed_key(x)))
        grid = []
        for c, s in rows:
            cells = []
            for seed in cols:
                st = state.get((h, c, s, seed))
                if st is None:
                    cells.append(("", "", ""))
                    continue
                cls, letter = CELL[st]
                tip = (f"{st}: {names.get((h, c, s, seed), 'no record yet')} (seed {seed})"
                       if titled else "")
                cells.append((cls, letter, tip))
            grid.append({"condition": c, "scenario": s, "cells": cells})
        out.append({"hypothesis": h, "seeds": ["—" if x is None else x for x in cols],
                    "rows": grid})
    return out


def _seed_key(seed: Any) -> tuple:
    return (0, seed, "") if isinstance(seed, (int, float)) else (1, 0, str(seed))


def _cell_state(rec: dict) -> str:
    if rec.get("stale"):
        return "stale"
    status = str(rec.get("status"))
    if status in OK:
        return "done"
    if status in ("running", "timeout"):
        return status
    return "failed"
