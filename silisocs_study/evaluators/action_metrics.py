"""``builtin.action_metrics_detailed``: who did what, when, and what followed what.

Speed: on the reader's C fast path each row becomes one integer — the code of its
``(event_type, agent, episode, label)`` combination. Everything after that is numpy over codes:
``bincount`` for counts, ``unique`` for agent×episode cells, and a stable sort by agent of each
game master's code stream for label transitions. Python only touches distinct values.
"""
from __future__ import annotations

from collections import Counter
from itertools import compress
from pathlib import Path

import numpy as np
import orjson

from .codes import factorize, group_bounds, names, weighted_unique
from .options import EvalOptions
from .payload import (
    CANONICAL_ACTION_LABELS,
    INTERACTIVE_LABELS,
    episode_key,
    first_seen_episode_key,
    finite_metrics,
    header,
    natural_key,
    ratio,
    slugify,
)
from .reader import ACTION_EVENTS, Fields, ReadStats, find_event_files, paused_gc
from .segments import code_rows

TOP_TRANSITIONS = 200
UNKNOWN = "unknown"
FIELDS = Fields("event_type", "source_user", "episode", "label")


def is_action(event_type: object) -> bool:
    """Rows without an event_type are taken as actions (the file name already says so)."""
    return event_type is None or (isinstance(event_type, str) and event_type.lower() == "action")


def text_or_unknown(value: object) -> str:
    """Agent and label names as text; missing ones are grouped as ``unknown`` rather than dropped."""
    return UNKNOWN if value is None or value == "" else str(value)


class CodedEvents:
    """A run's action rows as integer codes into a table of distinct (event_type, agent, episode, label)."""

    def __init__(self) -> None:
        self.table: dict[tuple, int] = {}
        self.streams: dict[str, list[np.ndarray]] = {}
        self.stats = ReadStats()

    def read(self, files: list, workers: int | None = None) -> None:
        self.table, segments = code_rows(files, FIELDS.fast, FIELDS.fallback, self.stats, workers)
        for gm, codes in segments:
            self.streams.setdefault(gm, []).append(codes)

    def codes(self, game_master: str) -> np.ndarray:
        parts = [c for c in self.streams.get(game_master, []) if len(c)]
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
    payload["plots"] = {"plot_dir": None, "generated_files": [], "record_counts": {}, "extensions": []}
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
    gm_counts = {gm: np.bincount(coded.codes(gm), minlength=n_keys) for gm in coded.streams}
    counts = sum(gm_counts.values(), np.zeros(n_keys, dtype=np.int64))

    et_col, ag_col, ep_col, lb_col = (list(c) for c in zip(*keys)) if keys else ([], [], [], [])
    et_ids, et_uniques = factorize(et_col, n_keys)
    action_key = np.array([is_action(e) for e in et_uniques], dtype=bool)[et_ids] if n_keys else np.zeros(0, bool)
    non_action = int(counts[~action_key].sum())
    mask = action_key & (counts > 0)
    keep = mask.tolist()
    cnt = counts[mask]
    n = len(cnt)
    ag, agents = factorize(compress(ag_col, keep), n, text_or_unknown, natural_key)
    ep, episodes = factorize(compress(ep_col, keep), n, sort_key_factory=first_seen_episode_key)
    lb, labels = factorize(compress(lb_col, keep), n, text_or_unknown, str)
    n_ag, n_ep, n_lb = len(agents), len(episodes), len(labels)

    label_counts = np.bincount(lb, cnt, n_lb).astype(np.int64)
    ep_total = np.bincount(ep, cnt, n_ep).astype(np.int64)
    ep_label = np.bincount(ep * n_lb + lb, cnt, n_ep * n_lb).astype(np.int64).reshape(n_ep, n_lb)
    ag_total = np.bincount(ag, cnt, n_ag).astype(np.int64)
    ag_label = np.bincount(ag * n_lb + lb, cnt, n_ag * n_lb).astype(np.int64).reshape(n_ag, n_lb)
    cells, cell_total = weighted_unique(ag * n_ep + ep, cnt)  # sorted by (agent, episode)
    cell_ag, cell_ep = cells // max(n_ep, 1), cells % max(n_ep, 1)
    triples, triple_total = weighted_unique((ag * n_ep + ep) * n_lb + lb, cnt)

    per_episode = _per_episode(episodes, agents, labels, ep_total, ep_label, cell_ag, cell_ep)
    per_agent, per_agent_per_episode = _per_agent(
        agents, episodes, labels, ag_total, ag_label, cell_ag, cell_ep, cell_total, triples, triple_total, n_lb
    )

    key_agent = np.full(n_keys, -1, dtype=np.int64)
    key_label = np.zeros(n_keys, dtype=np.int64)
    key_agent[mask], key_label[mask] = ag, lb
    pair_counts = _transitions(coded, key_agent, key_label, max(n_lb, 1))

    per_gm = {}
    for gm, c in gm_counts.items():
        gm_labels = np.bincount(lb, c[mask], n_lb).astype(np.int64)
        per_gm[gm] = {"total_actions": int(gm_labels.sum()), "label_counts": _label_dict(labels, gm_labels)}

    return {
        "total_action_events": int(label_counts.sum()),
        "non_action_events": non_action,
        "unique_action_labels": labels,
        "label_counts": _label_dict(labels, label_counts),
        "per_game_master": per_gm,
        "per_episode": per_episode,
        "per_agent": per_agent,
        "per_agent_per_episode": per_agent_per_episode,
        "num_transitions": int(pair_counts.sum()),
        "transition_counts": _top_transitions(pair_counts, labels),
    }


def _per_episode(episodes: list, agents: list[str], labels: list[str], ep_total: np.ndarray,
                 ep_label: np.ndarray, cell_ag: np.ndarray, cell_ep: np.ndarray) -> dict[str, dict]:
    """One block per episode; ``cell_*`` are the (agent, episode) pairs that saw any action."""
    order = np.lexsort((cell_ag, cell_ep))
    ep_of, starts, stops = group_bounds(cell_ep[order])
    active_names = names(cell_ag[order], agents)
    active = {e: active_names[s:t] for e, s, t in zip(ep_of.tolist(), starts.tolist(), stops.tolist())}
    out = {}
    for e, episode in enumerate(episodes):
        who = active.get(e, [])
        total = int(ep_total[e])
        out[episode_key(episode)] = {
            "total_actions": total,
            "active_agents": who,
            "num_active_agents": len(who),
            "avg_actions_per_active_agent": ratio(total, len(who)),
            "label_counts": _label_dict(labels, ep_label[e]),
        }
    return out


def _per_agent(agents: list[str], episodes: list, labels: list[str], ag_total: np.ndarray, ag_label: np.ndarray,
               cell_ag: np.ndarray, cell_ep: np.ndarray, cell_total: np.ndarray, triples: np.ndarray,
               triple_total: np.ndarray, n_lb: int) -> tuple[dict[str, dict], dict[str, dict]]:
    """``per_agent`` and ``per_agent_per_episode``; ``triples`` are sorted (agent, episode, label) keys."""
    triple_labels = names(triples % max(n_lb, 1), labels)
    triple_counts = triple_total.tolist()
    _, t_starts, t_stops = group_bounds(triples // max(n_lb, 1))
    cell_eps = names(cell_ep, [episode_key(e) for e in episodes])
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


def _transitions(coded: CodedEvents, key_agent: np.ndarray, key_label: np.ndarray, n_labels: int) -> np.ndarray:
    """Counts of (previous label, next label) along each agent's own sequence, in file order per game master."""
    total = np.zeros(n_labels * n_labels, dtype=np.int64)
    for gm in coded.streams:
        codes = coded.codes(gm)
        agents = key_agent[codes]
        keep = agents >= 0
        agents, labels = agents[keep], key_label[codes[keep]]
        if len(agents) < 2:
            continue
        order = np.argsort(agents, kind="stable")
        agents, labels = agents[order], labels[order]
        same = agents[1:] == agents[:-1]
        pairs = labels[:-1] * n_labels + labels[1:]
        total += np.bincount(pairs[same], minlength=n_labels * n_labels)
    return total


def _top_transitions(pair_counts: np.ndarray, labels: list[str]) -> dict[str, int]:
    n = len(labels)
    if n == 0:
        return {}
    nz = np.flatnonzero(pair_counts).tolist()
    items = sorted(((int(pair_counts[p]), f"{labels[p // n]} -> {labels[p % n]}") for p in nz), key=lambda t: (-t[0], t[1]))
    return {name: c for c, name in items[:TOP_TRANSITIONS]}


def _label_dict(labels: list[str], row: np.ndarray) -> dict[str, int]:
    """Non-zero label counts, most frequent first."""
    nz = np.flatnonzero(row).tolist()
    return dict(sorted(((labels[i], int(row[i])) for i in nz), key=lambda kv: (-kv[1], kv[0])))


def aggregate(payload: dict, num_agents: int) -> dict[str, float | int]:
    """Flat numeric metrics; canonical labels always present (0 if unseen) so keys are stable across runs."""
    label_counts: dict[str, int] = payload["label_counts"]
    per_episode: dict[str, dict] = payload["per_episode"]
    total = payload["total_action_events"]
    num_active = len(payload["per_agent"])
    n_eps = len(per_episode)
    interactive = sum(label_counts.get(lab, 0) for lab in INTERACTIVE_LABELS)
    metrics: dict[str, float | int | None] = {
        "total_events": payload["total_events"],
        "total_actions": total,
        "num_agents": num_agents,
        "num_active_agents": num_active,
        "num_episodes": n_eps,
        "actions_per_agent": ratio(total, num_agents),
        "actions_per_active_agent": ratio(total, num_active),
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
