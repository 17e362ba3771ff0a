"""Probe rows as integer-coded columns, each label's probe type, and carry-forward imputation.

Typing follows the run's own declaration first (``probe_config``), because a heuristic can
mistake a 1–5 rating answered as "4" for a choice; only undeclared labels are inferred, from a
frequency-weighted look at their distinct answers.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .answers import IMPUTED_MODE, infer_probe_type, is_present
from .codes import Coder
from .probe_config import ProbeConfig
from .reader import PROBE_EVENTS, EventFile, ReadStats, find_event_files, hashable, read_rows

_ANSWER_KEYS = ("answer", "response", "value", "choice", "rating", "text")


# ---------------------------------------------------------------- rows
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
            self._present = np.fromiter(map(is_present, self.responses), dtype=bool, count=len(self.responses))
        return self._present

    def present(self) -> np.ndarray:
        """Per row: is there an answer?"""
        return self.present_of[self.response] if len(self.response) else np.zeros(0, dtype=bool)

    def select(self, mask: np.ndarray) -> ProbeRows:
        """Rows where ``mask`` holds (code tables are shared, not shrunk)."""
        arrays = {name: getattr(self, name)[mask] for name in _COLUMNS}
        return replace(self, **arrays)


_COLUMNS = ("gm", "label", "agent", "episode", "response", "mode")
def _row(row: dict) -> dict:
    return row


def normalize_response(value: object) -> object:
    """A hashable answer: structured answers give their answer-like field, else canonical JSON text."""
    if isinstance(value, Mapping):
        for key in _ANSWER_KEYS:
            if key in value and not isinstance(value[key], (Mapping, list)):
                return value[key]
    return hashable(value)


def _text_or_unknown(value: object) -> str:
    return "unknown" if value is None or value == "" else str(value)


def _is_probe(event_type: object) -> bool:
    return event_type is None or (isinstance(event_type, str) and event_type.lower() == "probe")


def read_probe_rows(run_dir: Path) -> ProbeRows:
    """All probe rows of a run (root and game-master subfolders); non-probe rows are counted and dropped."""
    from .payload import first_seen_episode_key, natural_key

    files = find_event_files(run_dir, PROBE_EVENTS)
    stats = ReadStats()
    coders = {name: Coder() for name in ("etype", *_COLUMNS)}
    for ef, rows in read_rows(files, None, _row, stats):
        if not rows:
            continue
        coders["gm"].add_constant(ef.game_master, len(rows))
        coders["etype"].add_rows(rows, "event_type")
        coders["label"].add_rows(rows, "label")
        coders["agent"].add_rows(rows, "source_user")
        coders["episode"].add_rows(rows, "episode")
        coders["response"].add_rows(rows, "data", "probe_return", clean=normalize_response)
        coders["mode"].add_rows(rows, "data", "probe_mode")
    etype, etypes = coders["etype"].finish()
    gm, gm_names = coders["gm"].finish(sort_key=natural_key)
    label, labels = coders["label"].finish(_text_or_unknown, natural_key)
    agent, agents = coders["agent"].finish(_text_or_unknown, natural_key)
    episode, episodes = coders["episode"].finish(sort_key_factory=first_seen_episode_key)
    response, responses = coders["response"].finish()
    mode, modes = coders["mode"].finish()
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
