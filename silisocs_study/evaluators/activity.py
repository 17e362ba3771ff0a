"""``builtin.activity_summary`` and ``builtin.probe_summary``: quick counts for a first look at a run.

Same tolerant multi-game-master reader as the detailed evaluators, but no per-agent breakdowns.
Every key of silisocs' ``activity_summary`` (modes ``activity`` and ``probes``) is here with its
meaning (``compat``): users are agents (never ``system``), episodes are the numbers above 0,
``action_counts`` counts every label agents committed, ``top_labels`` is ``[label, count]`` pairs,
``responses_present`` counts probe rows whose ``data`` has the key ``probe_return``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from . import compat
from .options import EvalOptions
from .payload import CANONICAL_ACTION_LABELS, finite_metrics, header, natural_key, ratio, slugify
from .reader import ACTION_EVENTS, Fields, ReadStats, find_event_files, paused_gc
from .segments import code_rows

TOP_LABELS = 20
FIELDS = Fields("label", "source_user", "episode")


def _label_text(value: object) -> str:
    """A label as the probe summary counts it: its text as written (missing → empty)."""
    return "" if value is None else str(value)


def _name(value: object) -> str:
    return "unknown" if value is None or value == "" else str(value)


def activity_summary(preset_name: str, run_dir: Path) -> dict:
    import numpy as np

    files = find_event_files(run_dir, ACTION_EVENTS)
    stats = ReadStats()
    with paused_gc():
        table, streams = code_rows(files, FIELDS.fast, FIELDS.fallback, stats)
    keys = list(table)  # first-seen order, so equal counts keep silisocs' tie order
    counts = np.zeros(len(keys), dtype=np.int64)
    per_gm: Counter[str] = Counter()
    for gm, codes in streams:
        counts += np.bincount(codes, minlength=len(keys))
        per_gm[gm] += len(codes)
    labels: dict[str, int] = {}  # every row with a label
    agent_labels: dict[str, int] = {}  # rows of agents
    label_counts: Counter[str] = Counter()  # ours: missing labels as "unknown"
    users: set[str] = set()
    episodes: set[int] = set()
    for (label, user, episode), n in zip(keys, counts.tolist()):
        label_counts[_name(label)] += n
        agent = compat.is_agent(user)
        if agent:
            users.add(str(user).strip())
        if label is not None:
            text = str(label)
            labels[text] = labels.get(text, 0) + n
            if agent:
                agent_labels[text] = agent_labels.get(text, 0) + n
        number = compat.safe_int(episode, 0)
        if number > 0:
            episodes.add(number)
    total = stats.rows
    agent_events = sum(agent_labels.values())
    ep_list = sorted(episodes)
    payload = header("activity", "activity", run_dir, files, stats)
    payload.update({
        "evaluator": preset_name,
        "total_events": total,
        "unique_users": sorted(users),
        "num_unique_users": len(users),
        "episodes_seen": ep_list,
        "num_episodes_seen": len(ep_list),
        "action_counts": dict(compat.most_common(agent_labels)),
        "top_labels": [[label, n] for label, n in compat.most_common(labels, TOP_LABELS)],
        "agent_events": agent_events,
        "label_counts": dict(sorted(label_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "per_game_master": dict(per_gm),
    })
    if not files:
        payload["warnings"].append(f"no {ACTION_EVENTS} found in the run directory or its game-master subfolders")
    metrics: dict[str, float | int | None] = {
        "total_events": total,
        "agent_events": agent_events,
        "num_unique_users": len(users),
        "num_episodes_seen": len(ep_list),
        "events_per_user": ratio(agent_events, len(users)),
        "events_per_episode": ratio(total, len(ep_list)),
    }
    canonical = {lab: agent_labels.get(lab, 0) for lab in CANONICAL_ACTION_LABELS}
    canonical["inner_actions"] = agent_events - sum(canonical.values())
    for lab, n in canonical.items():
        metrics[f"count_{slugify(lab)}"] = n
        metrics[f"share_{slugify(lab)}"] = n / agent_events if agent_events else 0.0
    payload["aggregated"] = finite_metrics(metrics)
    return payload


def probe_summary(preset_name: str, run_dir: Path) -> dict:
    import numpy as np

    from .probe_data import is_probe_summary, read_probe_rows

    with paused_gc():
        rows = read_probe_rows(run_dir, with_key=True, is_probe=is_probe_summary, label_name=_label_text)
    answered = rows.present()
    n_answered = int(answered.sum())
    n_present = int(rows.has_return.sum()) if rows.has_return is not None else 0
    label_counts = np.bincount(rows.label, minlength=len(rows.labels))
    labels = {rows.labels[i]: int(label_counts[i]) for i in np.flatnonzero(label_counts).tolist()}
    numbers = rows.episode_numbers()
    episodes = sorted({numbers[e] for e in np.unique(rows.episode).tolist() if numbers[e] > 0})
    agents = np.array([not compat.is_system(a) for a in rows.agents] or [False], dtype=bool)
    respondents = len(np.unique(rows.agent[answered & agents[rows.agent]])) if len(rows) else 0
    gm_counts = np.bincount(rows.gm, minlength=len(rows.gm_names))
    total = len(rows)
    payload = header("probes", "probes", run_dir, rows.files, rows.stats)
    payload.update({
        "evaluator": preset_name,
        "total_events": rows.stats.rows,
        "total_probe_events": total,
        "probe_labels": dict(sorted(labels.items(), key=lambda kv: (-kv[1], natural_key(kv[0])))),
        "probe_episodes": episodes,
        "num_probe_episodes": len(episodes),
        "responses_present": n_present,
        "responses_answered": n_answered,
        "responses_missing": total - n_answered,
        "num_respondents": respondents,
        "per_game_master": {rows.gm_names[g]: int(gm_counts[g]) for g in np.flatnonzero(gm_counts).tolist()},
    })
    if not rows.files:
        payload["warnings"].append("no probe_events.jsonl found in the run directory or its game-master subfolders")
    payload["aggregated"] = finite_metrics({
        "total_probe_events": total,
        "num_probe_labels": len(labels),
        "num_probe_episodes": len(episodes),
        "responses_present": n_present,
        "responses_answered": n_answered,
        "response_rate": ratio(n_answered, total),
        "num_respondents": respondents,
    })
    return payload


def evaluate(preset_name: str, run_dir: Path, output: Path, options: EvalOptions) -> dict:
    """Dispatch on the preset: action activity or probe counts."""
    if preset_name.endswith("probe_summary"):
        payload = probe_summary(preset_name, run_dir)
    else:
        payload = activity_summary(preset_name, run_dir)
    if options.postprocessors:
        payload["warnings"].append("postprocessors run only in probe detailed evaluators; ignored here")
    return payload
