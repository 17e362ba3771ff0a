"""``builtin.action_metrics_detailed``: who did what, when, and what followed what.

Speed: on the reader's C fast path each row becomes one integer — the code of its
``(event_type, agent, episode, label)`` combination — plus its ``event_index`` as a plain number.
Everything after that is numpy over codes: ``bincount`` for counts, ``unique`` for agent×episode
cells, and one stable sort of all rows by (source, episode, event_index) for label transitions.
Python only touches distinct values.

Every key of silisocs' ``default_evaluators --mode action_metrics`` is here with its meaning
(``compat``): action rows are those whose ``event_type`` is "action" (any case), episodes are
whole numbers, labels and agents stripped text (missing → ``unknown``), transitions follow each
source's rows ordered by episode and ``event_index`` across all game-master files. One deliberate
difference: ``system`` is not an agent, so it has no ``per_agent`` entry and is never an active
agent of an episode (its rows still count in every event and label total, and in transitions).
"""
from __future__ import annotations

from collections import Counter
from itertools import compress
from pathlib import Path

import numpy as np
import orjson

from . import compat
from .codes import factorize, group_bounds, names, renumber, weighted_unique
from .columns import Columns, IntColumn, TupleColumn
from .options import EvalOptions
from .payload import (
    CANONICAL_ACTION_LABELS,
    INTERACTIVE_LABELS,
    finite_metrics,
    header,
    natural_key,
    ratio,
    slugify,
)
from .reader import ACTION_EVENTS, ROOT_GAME_MASTER, ReadStats, find_event_files, paused_gc
from .segments import code_columns

TOP_TRANSITIONS = 200
_RECORD_KINDS = ("choice", "numeric", "freetext")
UNKNOWN = compat.UNKNOWN
ROW = Columns((TupleColumn(("event_type", "source_user", "episode", "label")), IntColumn("event_index", -1)))


def is_action(event_type: object) -> bool:
    """An action row: ``event_type`` is "action" in any case (rows without one are not actions)."""
    return event_type is not None and str(event_type).lower() == "action"


def _label_as_written(value: object) -> str:
    return "" if value is None else str(value)


def text_or_unknown(value: object) -> str:
    """Agent and label names as stripped text; missing ones are grouped as ``unknown`` rather than dropped."""
    return compat.clean_name(value)


class CodedEvents:
    """A run's action rows as integer codes into a table of distinct (event_type, agent, episode, label),
    with each row's ``event_index``, per file in the order silisocs reads them."""

    def __init__(self) -> None:
        self.table: dict[tuple, int] = {}
        self.streams: list[tuple[str, np.ndarray, np.ndarray]] = []  # (game master, codes, event_index)
        self.stats = ReadStats()

    def read(self, files: list, workers: int | None = None) -> None:
        seg_files: list = []
        tables, segments = code_columns(files, ROW, self.stats, workers, stream_files=seg_files)
        self.table = tables[0]
        parts: dict[str, list] = {}
        gm_of: dict[str, str] = {}
        for (gm, (codes, index)), ef in zip(segments, seg_files):
            parts.setdefault(ef.relpath, []).append((codes, index))
            gm_of[ef.relpath] = gm
        # silisocs reads the root file, then game-master files sorted by path
        for rel in sorted(parts, key=lambda rel: (gm_of[rel] != ROOT_GAME_MASTER, Path(rel).parts)):
            self.streams.append((gm_of[rel], _cat([c for c, _ in parts[rel]]), _cat([x for _, x in parts[rel]])))

    def codes(self, game_master: str) -> np.ndarray:
        return _cat([c for gm, c, _ in self.streams if gm == game_master])

    def all_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Codes and event indexes of every row, files in silisocs' order."""
        return _cat([c for _, c, _ in self.streams]), _cat([x for _, _, x in self.streams])


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else np.zeros(0, dtype=np.int64)


def read_manifest_agents(run_dir: Path) -> int | None:
    """``num_agents`` from run_manifest.json or sim_metrics.json, so idle agents count in per-agent rates."""
    for name, path in (("run_manifest.json", ("num_agents",)), ("sim_metrics.json", ("meta", "num_agents"))):
        try:
            node: object = orjson.loads((run_dir / name).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, int) and not isinstance(node, bool) and node > 0:
            return node
    return None


def evaluate(preset_name: str, run_dir: Path, output: Path, options: EvalOptions) -> dict:
    """Build the action_metrics payload for one run."""
    files = find_event_files(run_dir, ACTION_EVENTS)
    coded = CodedEvents()
    with paused_gc():
        coded.read(files)
        body = summarize(coded)
    manifest_agents = read_manifest_agents(run_dir)
    num_active = len(body["per_agent"])
    num_agents = max(manifest_agents or 0, num_active)

    payload = header("action_metrics", "action_metrics", run_dir, files, coded.stats)
    payload["evaluator"] = preset_name
    payload["total_events"] = coded.stats.rows
    payload.update(body)
    payload["num_agents"] = num_agents
    payload["num_agents_source"] = "manifest" if manifest_agents else "active_agents"
    payload["plots"] = {"plot_dir": None, "generated_files": [], "record_counts": dict.fromkeys(_RECORD_KINDS, 0),
                        "extensions": []}
    if not files:
        payload["warnings"].append(f"no {ACTION_EVENTS} found in the run directory or its game-master subfolders")
    if options.postprocessors:
        payload["warnings"].append("postprocessors run only in probe evaluators; ignored here")
    payload["aggregated"] = aggregate(payload, num_agents)
    return payload


def summarize(coded: CodedEvents) -> dict:
    """All count blocks of the payload, from the coded rows."""
    keys = list(coded.table)
    n_keys = len(keys)
    gm_counts: dict[str, np.ndarray] = {}
    for gm, codes, _ in coded.streams:
        c = np.bincount(codes, minlength=n_keys)
        gm_counts[gm] = gm_counts[gm] + c if gm in gm_counts else c
    counts = sum(gm_counts.values(), np.zeros(n_keys, dtype=np.int64))

    et_col, ag_col, ep_col, lb_col = (list(c) for c in zip(*keys)) if keys else ([], [], [], [])
    et_ids, et_uniques = factorize(et_col, n_keys)
    action_key = np.array([is_action(e) for e in et_uniques], dtype=bool)[et_ids] if n_keys else np.zeros(0, bool)
    non_action = int(counts[~action_key].sum())
    keep = action_key & (counts > 0)
    kept = np.flatnonzero(keep)
    cnt = counts[keep]
    n = len(cnt)
    flags = keep.tolist()
    ag, agents = factorize(compress(ag_col, flags), n, text_or_unknown, natural_key)
    raw_ep, raw_episodes = factorize(compress(ep_col, flags), n)  # distinct raw values, then their readings:
    ep, episodes = renumber(raw_ep, raw_episodes, compat.safe_int, int)  # per_episode keys: int(), else 0
    raw_lb, raw_labels = factorize(compress(lb_col, flags), n)
    lb, labels = renumber(raw_lb, raw_labels, text_or_unknown, str)  # blocks: stripped, missing → unknown
    tl, top_labels = renumber(raw_lb, raw_labels, _label_as_written, str)  # label_counts: as written
    n_ag, n_ep, n_lb = len(agents), len(episodes), len(labels)
    is_agent = np.array([not compat.is_system(a) for a in agents] or [True], dtype=bool)[ag] if n else np.zeros(0, bool)

    top_counts = np.bincount(tl, cnt, len(top_labels)).astype(np.int64)
    ep_total = np.bincount(ep, cnt, n_ep).astype(np.int64)
    ep_agent_total = np.bincount(ep[is_agent], cnt[is_agent], n_ep).astype(np.int64)
    ep_label = np.bincount(ep * n_lb + lb, cnt, n_ep * n_lb).astype(np.int64).reshape(n_ep, n_lb)
    a_ag, a_ep, a_lb, a_cnt = ag[is_agent], ep[is_agent], lb[is_agent], cnt[is_agent]
    ag_total = np.bincount(a_ag, a_cnt, n_ag).astype(np.int64)
    ag_label = np.bincount(a_ag * n_lb + a_lb, a_cnt, n_ag * n_lb).astype(np.int64).reshape(n_ag, n_lb)
    cells, cell_total = weighted_unique(a_ag * n_ep + a_ep, a_cnt)  # sorted by (agent, episode)
    cell_ag, cell_ep = cells // max(n_ep, 1), cells % max(n_ep, 1)
    triples, triple_total = weighted_unique((a_ag * n_ep + a_ep) * n_lb + a_lb, a_cnt)

    per_episode = _per_episode(episodes, agents, labels, ep_total, ep_agent_total, ep_label, cell_ag, cell_ep)
    per_agent, per_agent_per_episode = _per_agent(
        agents, episodes, labels, ag_total, ag_label, cell_ag, cell_ep, cell_total, triples, triple_total, n_lb
    )

    key_source = np.full(n_keys, -1, dtype=np.int64)
    key_label = np.zeros(n_keys, dtype=np.int64)
    key_episode = np.full(n_keys, -1, dtype=np.int64)
    key_source[kept], key_label[kept] = ag, lb
    if n:  # episodes as silisocs orders a source's rows (not a whole number: -1), ranked
        key_episode[kept] = renumber(raw_ep, raw_episodes, lambda v: compat.safe_int(v, -1), int)[0]
    pairs, num_transitions = _transitions(coded, key_source, key_label, key_episode, max(n_lb, 1))

    per_gm = {}
    for gm, c in gm_counts.items():
        gm_labels = np.bincount(lb, c[keep], n_lb).astype(np.int64)
        per_gm[gm] = {"total_actions": int(gm_labels.sum()), "label_counts": _label_dict(labels, gm_labels)}

    return {
        "total_action_events": int(cnt.sum()),
        "non_action_events": non_action,
        "unique_action_labels": sorted(top_labels[i] for i in np.flatnonzero(top_counts).tolist()),
        "label_counts": _label_dict(top_labels, top_counts),
        "per_game_master": per_gm,
        "per_episode": per_episode,
        "per_agent": per_agent,
        "per_agent_per_episode": per_agent_per_episode,
        "num_transitions": num_transitions,
        "transition_counts": {f"{labels[p // max(n_lb, 1)]} -> {labels[p % max(n_lb, 1)]}": c for p, c in pairs},
    }


def _per_episode(episodes: list[int], agents: list[str], labels: list[str], ep_total: np.ndarray,
                 ep_agent_total: np.ndarray, ep_label: np.ndarray, cell_ag: np.ndarray,
                 cell_ep: np.ndarray) -> dict[str, dict]:
    """One block per episode; ``cell_*`` are the (agent, episode) pairs in which an agent acted."""
    order = np.lexsort((cell_ag, cell_ep))
    ep_of, starts, stops = group_bounds(cell_ep[order])
    active_names = names(cell_ag[order], agents)
    active = {e: sorted(active_names[s:t]) for e, s, t in zip(ep_of.tolist(), starts.tolist(), stops.tolist())}
    out = {}
    for e, episode in enumerate(episodes):
        who = active.get(e, [])
        out[str(episode)] = {
            "total_actions": int(ep_total[e]),
            "active_agents": who,
            "num_active_agents": len(who),
            "avg_actions_per_active_agent": int(ep_agent_total[e]) / len(who) if who else 0.0,
            "label_counts": _label_dict(labels, ep_label[e]),
        }
    return out


def _per_agent(agents: list[str], episodes: list[int], labels: list[str], ag_total: np.ndarray,
               ag_label: np.ndarray, cell_ag: np.ndarray, cell_ep: np.ndarray, cell_total: np.ndarray,
               triples: np.ndarray, triple_total: np.ndarray, n_lb: int) -> tuple[dict[str, dict], dict[str, dict]]:
    """``per_agent`` and ``per_agent_per_episode``; ``triples`` are sorted (agent, episode, label) keys."""
    triple_labels = names(triples % max(n_lb, 1), labels)
    triple_counts = triple_total.tolist()
    _, t_starts, t_stops = group_bounds(triples // max(n_lb, 1))
    cell_eps = names(cell_ep, [str(e) for e in episodes])
    cell_totals = cell_total.tolist()
    cell_cells = [
        {"total_actions": tot, "label_counts": dict(zip(triple_labels[s:t], triple_counts[s:t]))}
        for tot, s, t in zip(cell_totals, t_starts.tolist(), t_stops.tolist())
    ]
    ag_of, a_starts, a_stops = group_bounds(cell_ag)
    per_agent: dict[str, dict] = {}
    per_agent_per_episode: dict[str, dict] = {}
    for a, s, t in zip(ag_of.tolist(), a_starts.tolist(), a_stops.tolist()):
        name = agents[a]
        per_agent[name] = {
            "total_actions": int(ag_total[a]),
            "first_episode": episodes[int(cell_ep[s])],
            "last_episode": episodes[int(cell_ep[t - 1])],
            "num_active_episodes": t - s,
            "label_counts": _label_dict(labels, ag_label[a]),
        }
        per_agent_per_episode[name] = dict(zip(cell_eps[s:t], cell_cells[s:t]))
    return per_agent, per_agent_per_episode


def _transitions(coded: CodedEvents, key_source: np.ndarray, key_label: np.ndarray, key_episode: np.ndarray,
                 n_labels: int) -> tuple[list[tuple[int, int]], int]:
    """The most common (previous label, next label) pairs along each source's own rows, ordered by
    episode then ``event_index`` (file order on ties) across all files; ``(top pairs, all pairs)``.
    ``key_episode`` ranks each key's episode.

    Ties in count are broken as ``Counter.most_common`` would in silisocs: sources in order of
    their first row, each source's pairs in sequence order.
    """
    codes, index = coded.all_rows()
    source = key_source[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    keep = source >= 0
    if keep.sum() < 2:
        return [], 0
    file_source, codes, index = source[keep], codes[keep], index[keep]
    order = _sequence_order(file_source, key_episode[codes], index, int(key_episode.max()) + 1)
    source, labels = file_source[order], key_label[codes[order]]
    same = source[1:] == source[:-1]
    pairs = (labels[:-1] * n_labels + labels[1:])[same]
    counts = np.bincount(pairs, minlength=n_labels * n_labels)
    found = np.flatnonzero(counts)
    total = int(counts.sum())
    if len(found) <= TOP_TRANSITIONS:  # every pair is listed: ties need no order
        return sorted(((int(p), int(counts[p])) for p in found), key=lambda pc: -pc[1]), total
    # where each pair first occurs in silisocs' walk: sources by their first row, then sequence order
    uniq_src, first_row = np.unique(file_source, return_index=True)
    src_rank = np.empty(len(uniq_src), dtype=np.int64)
    src_rank[np.argsort(first_row)] = np.arange(len(uniq_src))
    walk = src_rank[np.searchsorted(uniq_src, source[:-1][same])] * (len(source) + 1) + np.flatnonzero(same)
    by_walk = np.lexsort((walk, pairs))
    first_pairs, first_at = np.unique(pairs[by_walk], return_index=True)
    first_walk = walk[by_walk][first_at]
    ranked = sorted(zip(first_pairs.tolist(), first_walk.tolist()), key=lambda pw: (-int(counts[pw[0]]), pw[1]))
    return [(p, int(counts[p])) for p, _ in ranked[:TOP_TRANSITIONS]], total


def _sequence_order(source: np.ndarray, episode: np.ndarray, index: np.ndarray, n_episodes: int) -> np.ndarray:
    """Row order by (source, episode rank, event_index), file order on ties: one stable sort of a packed key."""
    lo, hi = int(index.min()), int(index.max())
    span = hi - lo + 1
    if (int(source.max()) + 1) * n_episodes * span < 2**62:
        return np.argsort((source * n_episodes + episode) * span + (index - lo), kind="stable")
    return np.lexsort((index, episode, source))


def _label_dict(labels: list[str], row: np.ndarray) -> dict[str, int]:
    """Non-zero label counts, most frequent first."""
    nz = np.flatnonzero(row).tolist()
    return dict(sorted(((labels[i], int(row[i])) for i in nz), key=lambda kv: (-kv[1], kv[0])))


def aggregate(payload: dict, num_agents: int) -> dict[str, float | int]:
    """Flat numeric metrics; canonical labels always present (0 if unseen) so keys are stable across runs.

    Per-agent rates count agents' actions only (``system`` is no agent); totals and label shares
    count every action row.
    """
    label_counts: dict[str, int] = payload["label_counts"]
    per_episode: dict[str, dict] = payload["per_episode"]
    total = payload["total_action_events"]
    agent_actions = sum(a["total_actions"] for a in payload["per_agent"].values())
    num_active = len(payload["per_agent"])
    n_eps = len(per_episode)
    interactive = sum(label_counts.get(lab, 0) for lab in INTERACTIVE_LABELS)
    metrics: dict[str, float | int | None] = {
        "total_events": payload["total_events"],
        "total_actions": total,
        "agent_actions": agent_actions,
        "num_agents": num_agents,
        "num_active_agents": num_active,
        "num_episodes": n_eps,
        "actions_per_agent": ratio(agent_actions, num_agents),
        "actions_per_active_agent": ratio(agent_actions, num_active),
        "actions_per_episode": ratio(total, n_eps),
        "mean_active_agents_per_episode": ratio(sum(e["num_active_agents"] for e in per_episode.values()), n_eps),
        "num_action_labels": len(label_counts),
        "num_transitions": payload["num_transitions"],
        "interactive_actions": interactive,
        "interactive_actions_per_agent": ratio(interactive, num_agents),
    }
    by_slug: Counter[str] = Counter({lab: 0 for lab in CANONICAL_ACTION_LABELS})
    for lab, n in label_counts.items():
        by_slug[slugify(lab)] += n
    for slug in sorted(by_slug):
        metrics[f"count_{slug}"] = by_slug[slug]
        metrics[f"share_{slug}"] = by_slug[slug] / total if total else 0.0
    return finite_metrics(metrics)
