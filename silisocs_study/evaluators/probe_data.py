"""Probe rows as integer-coded columns, each label's probe type, and carry-forward imputation.

Typing follows the run's own declaration first (``probe_config``), because a heuristic can
mistake a 1–5 rating answered as "4" for a choice; only undeclared labels are inferred, from a
frequency-weighted look at their distinct answers.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from itertools import repeat
from pathlib import Path

import numpy as np

from .answers import IMPUTED_MODE, infer_probe_type, normalize_response
from .codes import renumber
from .columns import Column, Columns
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

    ``episodes`` are in natural episode order and ``labels``/``agents`` are text (missing →
    ``unknown``); ``responses`` hold raw answers (structured answers reduced to their answer field).
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
        return replace(self, **arrays)


_COLUMNS = ("gm", "label", "agent", "episode", "response", "mode")
PROBE_ROW = Columns((  # the order read_probe_rows unpacks
    Column("event_type"), Column("label"), Column("source_user"), Column("episode"),
    Column("data", "probe_return", normalize_response), Column("data", "probe_mode"),
))


def _text_or_unknown(value: object) -> str:
    return "unknown" if value is None or value == "" else str(value)


def _is_probe(event_type: object) -> bool:
    return event_type is None or (isinstance(event_type, str) and event_type.lower() == "probe")


def read_probe_rows(run_dir: Path, workers: int | None = None, pool: Helpers | None = None,
                    files: list[EventFile] | None = None) -> ProbeRows:
    """All probe rows of a run (root and game-master subfolders); non-probe rows are counted and dropped.

    Big runs are read by several processes (``segments``): ``pool`` if given, else ones started
    for this read (``workers`` overrides their automatic count).
    """
    from .payload import first_seen_episode_key, natural_key

    files = find_event_files(run_dir, PROBE_EVENTS) if files is None else files
    stats = ReadStats()
    tables, streams = code_columns(files, PROBE_ROW, stats, workers, pool)
    gm_table = {name: i for i, name in enumerate(dict.fromkeys(gm for gm, _ in streams))}
    empty = [np.zeros(0, dtype=np.int64)]
    raw_gm = np.concatenate([np.full(len(cols[0]), gm_table[gm], dtype=np.int64) for gm, cols in streams] or empty)
    etype_col, label_col, agent_col, episode_col, response_col, mode_col = (
        (np.concatenate([cols[c] for _, cols in streams] or empty), list(tables[c])) for c in range(PROBE_ROW.width))
    etype, etypes = renumber(*etype_col)
    gm, gm_names = renumber(raw_gm, list(gm_table), sort_key=natural_key)
    label, labels = renumber(*label_col, _text_or_unknown, natural_key)
    agent, agents = renumber(*agent_col, _text_or_unknown, natural_key)
    episode, episodes = renumber(*episode_col, sort_key_factory=first_seen_episode_key)
    response, responses = renumber(*response_col)
    mode, modes = renumber(*mode_col)
    rows = ProbeRows(files, stats, gm, label, agent, episode, response, mode,
                     gm_names, labels, agents, episodes, responses, modes)
    is_probe = np.fromiter(map(_is_probe, etypes), dtype=bool, count=len(etypes))
    if len(etype) and not is_probe.all():
        keep = is_probe[etype]
        rows = rows.select(keep)
        rows.non_probe = int((~keep).sum())
    return rows


def probe_types(rows: ProbeRows, config: ProbeConfig) -> tuple[dict[str, str], dict[str, str]]:
    """``(type by label, source by label)``: declared (exact name or same slug) else inferred."""
    from .codes import group_bounds, weighted_unique
    from .payload import slugify

    by_slug = {slugify(name): kind for name, kind in config.declared.items()}
    types: dict[str, str] = {}
    sources: dict[str, str] = {}
    undeclared = []
    for code in np.unique(rows.label).tolist():
        name = rows.labels[code]
        declared = config.declared.get(name) or by_slug.get(slugify(name))
        if declared:
            types[name], sources[name] = declared, "declared"
        else:
            undeclared.append(code)
    if undeclared:
        n_resp = max(len(rows.responses), 1)
        mask = np.isin(rows.label, undeclared)
        pairs, counts = weighted_unique(rows.label[mask] * n_resp + rows.response[mask])
        label_of, starts, stops = group_bounds(pairs // n_resp)
        resp_of, counts_list = (pairs % n_resp).tolist(), counts.tolist()
        for code, lo, hi in zip(label_of.tolist(), starts.tolist(), stops.tolist()):
            answers = {rows.responses[r]: n for r, n in zip(resp_of[lo:hi], counts_list[lo:hi])}
            name = rows.labels[code]
            types[name], sources[name] = infer_probe_type(answers), "inferred"
    return types, sources


def carry_forward(rows: ProbeRows) -> tuple[ProbeRows, int]:
    """Hold each agent's last answer over later episodes of that probe where it has none.

    Applies from the agent's first real answer on, over the episodes in which the probe was asked
    at all; absent rows are added and blank answers replaced, both marked ``carry_forward_imputed``.
    Returns the new rows and the number of imputed answers.
    """
    from .codes import group_bounds

    n = len(rows)
    if n == 0:
        return rows, 0
    modes = list(rows.modes)
    if IMPUTED_MODE not in modes:
        modes.append(IMPUTED_MODE)
    imp = modes.index(IMPUTED_MODE)
    n_ep = max(len(rows.episodes), 1)
    label_ep = np.unique(rows.label * n_ep + rows.episode)
    lab_of, lo_, hi_ = group_bounds(label_ep // n_ep)
    eps_by_label = {lab: (label_ep[lo:hi] % n_ep).tolist() for lab, lo, hi in zip(lab_of.tolist(), lo_.tolist(), hi_.tolist())}

    order = np.lexsort((np.arange(n), rows.episode, rows.agent, rows.label))
    lab, ag, ep = rows.label[order].tolist(), rows.agent[order].tolist(), rows.episode[order].tolist()
    idx = order.tolist()
    present = rows.present().tolist()
    resp, gm = rows.response.tolist(), rows.gm.tolist()
    new_resp, new_mode = rows.response.copy(), rows.mode.copy()
    added: list[tuple[int, int, int, int, int]] = []
    imputed = 0
    j = 0
    while j < n:
        label, agent = lab[j], ag[j]
        last = last_gm = None
        for e in eps_by_label[label]:
            if j < n and lab[j] == label and ag[j] == agent and ep[j] == e:
                while j < n and lab[j] == label and ag[j] == agent and ep[j] == e:
                    i = idx[j]
                    if present[i]:
                        last, last_gm = resp[i], gm[i]
                    elif last is not None:
                        new_resp[i], new_mode[i] = last, imp
                        imputed += 1
                    j += 1
            elif last is not None:
                added.append((last_gm, label, agent, e, last))
                imputed += 1
    out = replace(rows, response=new_resp, mode=new_mode, modes=modes)
    if added:
        extra = np.array(added, dtype=np.int64)
        out = replace(
            out,
            gm=np.concatenate([out.gm, extra[:, 0]]),
            label=np.concatenate([out.label, extra[:, 1]]),
            agent=np.concatenate([out.agent, extra[:, 2]]),
            episode=np.concatenate([out.episode, extra[:, 3]]),
            response=np.concatenate([out.response, extra[:, 4]]),
            mode=np.concatenate([out.mode, np.full(len(added), imp, dtype=np.int64)]),
        )
    return out, imputed
