"""Probe rows as integer-coded columns, each row's probe type, and carry-forward imputation.

Typing follows the run's own declaration first (``probe_config``); only rows of undeclared
labels are typed from their answer, as silisocs does (``compat.answer_type``), once per distinct
answer. Each label also gets one *resolved* type for our per-label extras: its declared type, or
the type most of the answers a payload counts have (``majority_type``).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from . import compat
from .answers import IMPUTED_MODE, PROBE_TYPES, UNKNOWN_TYPE, normalize_response
from .codes import renumber
from .columns import Column, Columns, KeyPresent
from .probe_config import ProbeConfig
from .reader import PROBE_EVENTS, EventFile, ReadStats, find_event_files
from .segments import Helpers, code_columns


# ---------------------------------------------------------------- rows
def present_flags(values: list) -> np.ndarray:
    """``is_present`` of each value, in C-level passes (JSON values: text, numbers, flags, null)."""
    n = len(values)
    texts = list(map(str, values))  # numbers and flags become non-blank text: present, as they should
    missing = np.fromiter(map(operator.is_, values, repeat(None)), dtype=bool, count=n)
    missing |= np.fromiter(map(str.isspace, texts), dtype=bool, count=n)
    missing |= np.fromiter(map(len, texts), dtype=np.int64, count=n) == 0
    return ~missing


@dataclass
class ProbeRows:
    """Probe events as parallel int64 code arrays plus the value behind each code.

    ``episodes`` are in natural episode order and ``labels``/``agents`` are stripped text (missing
    → ``unknown``); ``responses`` hold raw answers (structured answers reduced to their answer
    field). ``has_return`` (when read) is 1 where ``data`` holds the key ``probe_return``.
    """

    files: list[EventFile]
    stats: ReadStats
    gm: np.ndarray
    label: np.ndarray
    agent: np.ndarray
    episode: np.ndarray
    response: np.ndarray
    mode: np.ndarray
    gm_names: list[str]
    labels: list[str]
    agents: list[str]
    episodes: list[object]
    responses: list[object]
    modes: list[object]
    non_probe: int = 0
    has_return: np.ndarray | None = None
    _present: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.label)

    @property
    def present_of(self) -> np.ndarray:
        """Per response code: is it a real answer?"""
        if self._present is None or len(self._present) != len(self.responses):
            self._present = present_flags(self.responses)
        return self._present

    def present(self) -> np.ndarray:
        """Per row: is there an answer?"""
        return self.present_of[self.response] if len(self.response) else np.zeros(0, dtype=bool)

    def select(self, mask: np.ndarray) -> ProbeRows:
        """Rows where ``mask`` holds (code tables are shared, not shrunk)."""
        arrays = {name: getattr(self, name)[mask] for name in _COLUMNS}
        if self.has_return is not None:
            arrays["has_return"] = self.has_return[mask]
        return replace(self, **arrays)

    def episode_numbers(self) -> list[int]:
        """Per episode code: the episode as silisocs numbers it (``int(value)``, else 0)."""
        return [compat.safe_int(e, 0) for e in self.episodes]


_COLUMNS = ("gm", "label", "agent", "episode", "response", "mode")
_BASE_COLUMNS = (  # the order read_probe_rows unpacks
    Column("event_type"), Column("label"), Column("source_user"), Column("episode"),
    Column("data", "probe_return", normalize_response), Column("data", "probe_mode"),
)
PROBE_ROW = Columns(_BASE_COLUMNS)
PROBE_ROW_WITH_KEY = Columns((*_BASE_COLUMNS, KeyPresent("data", "probe_return")))


def is_probe_detailed(event_type: object) -> bool:
    """A probe row for the detailed evaluators: ``event_type`` is "probe" in any case."""
    return str(event_type).lower() == "probe" if event_type is not None else False


def is_probe_summary(event_type: object) -> bool:
    """A probe row for the probe summary: ``event_type`` is "probe" once stripped."""
    return str(event_type).strip() == "probe" if event_type is not None else False


def read_probe_rows(run_dir: Path, workers: int | None = None, pool: Helpers | None = None,
                    files: list[EventFile] | None = None, with_key: bool = False,
                    is_probe=is_probe_detailed, label_name=compat.clean_name) -> ProbeRows:
    """All probe rows of a run (root and game-master subfolders); non-probe rows are counted and dropped.

    Big runs are read by several processes (``segments``): ``pool`` if given, else ones started
    for this read (``workers`` overrides their automatic count). ``with_key`` also reads whether
    each row's ``data`` has the key ``probe_return`` (``ProbeRows.has_return``); ``is_probe`` picks
    the rows by ``event_type`` and ``label_name`` names labels.
    """
    from .payload import first_seen_episode_key, natural_key

    files = find_event_files(run_dir, PROBE_EVENTS) if files is None else files
    stats = ReadStats()
    spec = PROBE_ROW_WITH_KEY if with_key else PROBE_ROW
    tables, streams = code_columns(files, spec, stats, workers, pool)
    gm_table = {name: i for i, name in enumerate(dict.fromkeys(gm for gm, _ in streams))}
    empty = [np.zeros(0, dtype=np.int64)]
    raw_gm = np.concatenate([np.full(len(cols[0]), gm_table[gm], dtype=np.int64) for gm, cols in streams] or empty)
    columns = [(np.concatenate([cols[c] for _, cols in streams] or empty), list(tables[c])) for c in range(spec.width)]
    etype_col, label_col, agent_col, episode_col, response_col, mode_col = columns[:6]
    etype, etypes = renumber(*etype_col)
    gm, gm_names = renumber(raw_gm, list(gm_table), sort_key=natural_key)
    label, labels = renumber(*label_col, label_name, natural_key)
    agent, agents = renumber(*agent_col, compat.clean_name, natural_key)
    episode, episodes = renumber(*episode_col, sort_key_factory=first_seen_episode_key)
    response, responses = renumber(*response_col)
    mode, modes = renumber(*mode_col)
    rows = ProbeRows(files, stats, gm, label, agent, episode, response, mode,
                     gm_names, labels, agents, episodes, responses, modes)
    if with_key:
        codes, values = columns[6]
        rows.has_return = np.asarray(values, dtype=bool)[codes] if len(codes) else np.zeros(0, dtype=bool)
    keep_type = np.fromiter(map(is_probe, etypes), dtype=bool, count=len(etypes))
    if len(etype) and not keep_type.all():
        keep = keep_type[etype]
        rows = rows.select(keep)
        rows.non_probe = int((~keep).sum())
    return rows


@dataclass
class RowTypes:
    """Each row's probe type, as codes into ``names``: the label's declared type (``label_type``,
    -1 if undeclared) else its answer's (``answer_type``); plus each label's resolved type."""

    names: list[str]
    label_type: np.ndarray
    answer_type: np.ndarray
    resolved: dict[str, str]  # label → declared type, else the type of most of its answers
    sources: dict[str, str]  # label → "declared" | "inferred"

    def of(self, labels: np.ndarray, responses: np.ndarray) -> np.ndarray:
        """Type codes of rows given by their label and response codes."""
        if not len(labels):
            return np.zeros(0, dtype=np.int64)
        declared = self.label_type[labels]
        undeclared = declared < 0
        if undeclared.any():
            declared = declared.copy()
            declared[undeclared] = self.answer_type[responses[undeclared]]
        return declared

    def code(self, name: str) -> int:
        return self.names.index(name) if name in self.names else -1


def row_types(rows: ProbeRows, config: ProbeConfig) -> RowTypes:
    """Type each row: the label's declared type, else the type of its answer (``compat.answer_type``).

    Runs once per label and once per distinct answer of an undeclared label. ``resolved`` holds the
    declared labels; ``label_stats.accumulate`` resolves the others from the rows it counts.
    """
    names: list[str] = []
    index: dict[str, int] = {}

    def code_of(name: str) -> int:
        if name not in index:
            index[name] = len(names)
            names.append(name)
        return index[name]

    label_type = np.full(max(len(rows.labels), 1), -1, dtype=np.int64)
    sources: dict[str, str] = {}
    resolved: dict[str, str] = {}
    for code in np.unique(rows.label).tolist():
        name = rows.labels[code]
        declared = config.row_type(name)
        if declared:
            label_type[code] = code_of(declared)
            sources[name], resolved[name] = "declared", declared
        else:
            sources[name] = "inferred"
    answer_type = np.full(max(len(rows.responses), 1), -1, dtype=np.int64)
    if len(sources) > len(resolved):
        used = np.unique(rows.response[label_type[rows.label] < 0])
        kinds = compat.answer_types([rows.responses[r] for r in used.tolist()])
        codes = {kind: code_of(kind) for kind in dict.fromkeys(kinds)}
        answer_type[used] = list(map(codes.__getitem__, kinds))
    return RowTypes(names, label_type, answer_type, resolved, sources)


def majority_type(names: list[str], kinds: np.ndarray, counts: np.ndarray) -> str:
    """The type most of an undeclared label's answers have (``kinds``: their type codes, weighted
    by ``counts``); ties go to the earlier of PROBE_TYPES; no answers: UnknownProbe."""
    if not len(kinds):
        return UNKNOWN_TYPE
    totals = np.bincount(kinds, counts, len(names))
    rank = {t: i for i, t in enumerate(PROBE_TYPES)}
    best = max(np.flatnonzero(totals).tolist(), key=lambda t: (totals[t], -rank.get(names[t], len(rank))))
    return names[best]


def carry_forward(rows: ProbeRows) -> tuple[ProbeRows, int]:
    """Hold each agent's last answer to a probe over the probe episodes in which it has no row.

    As silisocs does: the episodes are every episode number of any probe row; per (label, agent)
    they are walked in order, the last row (in file order) of an episode sets the held answer if it
    has one, and an episode without a row gets a new row holding that answer (mode
    ``carry_forward_imputed``). Rows that exist but are blank stay blank. Rows come back ordered
    by episode, new ones first within their episode (latest made first), then file order.
    Returns the new rows and the number of rows added.
    """
    n = len(rows)
    if n == 0:
        return rows, 0
    numbers = rows.episode_numbers()
    ep_num = np.asarray(numbers, dtype=np.int64)[rows.episode]
    all_eps = np.unique(ep_num)
    n_e = len(all_eps)
    ep_rank = np.searchsorted(all_eps, ep_num)
    n_ag = max(len(rows.agents), 1)
    pair = rows.label * n_ag + rows.agent
    cell = pair * n_e + ep_rank
    # the last row of every (pair, episode) cell, cells ascending
    cells, rev_first = np.unique(cell[::-1], return_index=True)
    last_row = n - 1 - rev_first
    answered = rows.present()[last_row]
    held_cells, held_rows = cells[answered], last_row[answered]
    # each answered cell holds its answer until the pair's next answered cell (or the last episode)
    held_pair, held_ep = held_cells // n_e, held_cells % n_e
    nxt = np.r_[held_ep[1:], n_e]
    nxt[np.r_[held_pair[1:] != held_pair[:-1], True]] = n_e
    span = nxt - held_ep - 1
    src = np.repeat(np.arange(len(held_cells)), span)
    offsets = np.arange(len(src)) - np.repeat(np.cumsum(span) - span, span)
    new_pair = held_pair[src]
    new_ep = held_ep[src] + 1 + offsets
    fill = ~np.isin(new_pair * n_e + new_ep, cells)  # episodes with a row of their own keep it
    new_pair, new_ep, new_src = new_pair[fill], new_ep[fill], held_rows[src[fill]]
    added = len(new_pair)
    if not added:
        return rows, 0

    # silisocs makes them per pair in order of the pair's first row, episodes ascending
    pairs_u, pair_first = np.unique(pair, return_index=True)
    made = np.lexsort((new_ep, pair_first[np.searchsorted(pairs_u, new_pair)]))
    new_pair, new_ep, new_src = new_pair[made], new_ep[made], new_src[made]

    modes = list(rows.modes)
    if IMPUTED_MODE not in modes:
        modes.append(IMPUTED_MODE)
    code_of_number: dict[int, int] = {}
    for code, (value, number) in enumerate(zip(rows.episodes, numbers)):  # the number itself if seen
        if number not in code_of_number or (isinstance(value, int) and not isinstance(value, bool)):
            code_of_number[number] = code
    ep_code = np.array([code_of_number[int(v)] for v in all_eps.tolist()], dtype=np.int64)
    extra = {
        "gm": rows.gm[new_src], "label": new_pair // n_ag, "agent": new_pair % n_ag,
        "episode": ep_code[new_ep], "response": rows.response[new_src],
        "mode": np.full(added, modes.index(IMPUTED_MODE), dtype=np.int64),
    }
    # Any: mypy checks ** against every field of ProbeRows, not just the array columns named here
    arrays: dict[str, Any] = {name: np.concatenate([getattr(rows, name), extra[name]]) for name in _COLUMNS}
    out = replace(rows, modes=modes, **arrays)
    if rows.has_return is not None:
        out.has_return = np.concatenate([rows.has_return, np.ones(added, dtype=bool)])
    # order: episode, then new rows (latest made first), then the file's rows
    position = np.r_[np.arange(n) + added, np.arange(added)[::-1]]
    order = np.lexsort((position, np.r_[ep_rank, new_ep]))
    return out.select(order), added
