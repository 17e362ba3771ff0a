"""``builtin.activity_summary`` and ``builtin.probe_summary``: quick counts for a first look at a run.

Same tolerant multi-game-master reader as the detailed evaluators, but no per-agent breakdowns.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from .options import EvalOptions
from .payload import CANONICAL_ACTION_LABELS, finite_metrics, first_seen_episode_key, header, natural_key, ratio, slugify
from .reader import ACTION_EVENTS, Fields, ReadStats, find_event_files, paused_gc
from .segments import code_rows

TOP_LABELS = 20
FIELDS = Fields("label", "source_user", "episode")


def _name(value: object) -> str:
    return "unknown" if value is None or value == "" else str(value)


def activity_summary(preset_name: str, run_dir: Path) -> dict:
    import numpy as np

    files = find_event_files(run_dir, ACTION_EVENTS)
    stats = ReadStats()
    with paused_gc():
        table, streams = code_rows(files, FIELDS.fast, FIELDS.fallback, stats)
    keys = list(table)
    counts = np.zeros(len(keys), dtype=np.int64)
    per_gm: Counter[str] = Counter()
    for gm, codes in streams:
        counts += np.bincount(codes, minlength=len(keys))
        per_gm[gm] += len(codes)
    labels: Counter[str] = Counter()
    users: set[str] = set()
    episodes: set[object] = set()
    for (label, user, episode), n in zip(keys, counts.tolist()):
        labels[_name(label)] += n
        users.add(_name(user))
        if episode is not None:
            episodes.add(episode)
    total = stats.rows
    action_counts = {lab: labels.get(lab, 0) for lab in CANONICAL_ACTION_LABELS}
    action_counts["inner_actions"] = total - sum(action_counts.values())
    ep_list = sorted(episodes, key=first_seen_episode_key([k[2] for k in keys]))
    payload = header("activity", "activity", run_dir, files, stats)
    payload.update({
        "evaluator": preset_name,
        "total_events": total,
        "unique_users": sorted(users, key=natural_key),
        "num_unique_users": len(users),
        "episodes_seen": ep_list,
        "num_episodes_seen": len(ep_list),
        "action_counts": action_counts,
        "label_counts": dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
        "top_labels": [{"label": k, "count": v} for k, v in sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_LABELS]],
        "per_game_master": dict(per_gm),
    })
    if not files:
        payload["warnings"].append(f"no {ACTION_EVENTS} found in the run directory or its game-master subfolders")
    metrics: dict[str, float | int | None] = {
        "total_events": total,
        "num_unique_users": len(users),
        "num_episodes_seen": len(ep_list),
        "events_per_user": ratio(total, len(users)),
        "events_per_episode": ratio(total, len(ep_list)),
    }
    for lab, n in action_counts.items():
        metrics[f"count_{slugify(lab)}"] = n
        metrics[f"share_{slugify(lab)}"] = n / total if total else 0.0
    payload["aggregated"] = finite_metrics(metrics)
    return payload


def probe_summary(preset_name: str, run_dir: Path) -> dict:
    import numpy as np

    from .probe_data import read_probe_rows

    with paused_gc():
        rows = read_probe_rows(run_dir)
    present = rows.present()
    n_present = int(present.sum())
    label_counts = np.bincount(rows.label, minlength=len(rows.labels))
    labels = {rows.labels[i]: int(label_counts[i]) for i in np.flatnonzero(label_counts).tolist()}
    episodes = [rows.episodes[e] for e in np.unique(rows.episode).tolist() if rows.episodes[e] is not None]
    respondents = len(np.unique(rows.agent[present]))
    gm_counts = np.bincount(rows.gm, minlength=len(rows.gm_names))
    total = len(rows)
    payload = header("probes", "probes", run_dir, rows.files, rows.stats)
    payload.update({
        "evaluator": preset_name,
        "total_events": rows.stats.rows,
        "total_probe_events": total,
        "probe_labels": dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
        "probe_episodes": episodes,
        "num_probe_episodes": len(episodes),
        "responses_present": n_present,
        "responses_missing": total - n_present,
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
        "response_rate": ratio(n_present, total),
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
