"""``builtin.probe_*_detailed``: what agents answered to probes, per probe, episode and agent.

One payload shape for all five presets; the typed presets keep only rows of one probe type. Rows
are integer codes (``probe_data``), per-label totals come from ``label_stats``; this module turns
them into the payload blocks, plots, postprocessor records and the flat ``aggregated`` metrics.

Every key silisocs' ``default_evaluators`` (modes ``probe_*``) writes is here with its meaning
(see ``compat``): ``per_episode``/``per_agent``/``per_agent_per_episode`` are row counts,
``probe_type`` is the declared type or ``inferred``, ``choice_value_counts`` counts the stripped
texts of choice rows, ``free_text_top_tokens`` maps silisocs tokens to counts. Our richer blocks sit
beside them: ``*_detail`` (answers, respondents, per-label cells), ``resolved_probe_type``,
``choice_counts``/``choice_shares`` (answers grouped under their declared spelling),
``free_text_top_content_tokens`` (stop words dropped), ``aggregated``. ``system`` is never an agent.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from . import compat
from .answers import BINARY, CHOICE, FREETEXT, NO, NUMERIC, OTHER, YES, binary_answer, word_count
from .codes import group_bounds, names, weighted_unique
from .label_stats import ChoiceNames, LabelStats, accumulate
from .options import EvalOptions
from .payload import episode_key, finite_metrics, header, ratio, slugify, weighted_stats
from .probe_config import ProbeConfig, load_probe_config
from .probe_data import ProbeRows, RowTypes, carry_forward, read_probe_rows, row_types
from .reader import PROBE_EVENTS, find_event_files, paused_gc
from .segments import helpers_for

FILTERS = {
    "builtin.probe_binary_detailed": BINARY,
    "builtin.probe_numeric_detailed": NUMERIC,
    "builtin.probe_choice_detailed": CHOICE,
    "builtin.probe_freetext_detailed": FREETEXT,
}
MODES = {
    "builtin.probe_metrics_detailed": "probe_metrics",
    "builtin.probe_binary_detailed": "probe_binary",
    "builtin.probe_numeric_detailed": "probe_numeric",
    "builtin.probe_choice_detailed": "probe_choice",
    "builtin.probe_freetext_detailed": "probe_freetext",
}
TOP_TOKENS = 30
TOP_CHOICE_METRICS = 20


def _sorted_counts(counts: Counter | dict) -> dict:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def _top(counter: Counter, n: int) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _binary_counts(st: LabelStats) -> dict[str, int]:
    return {YES: st.answers.get(YES, 0), NO: st.answers.get(NO, 0), OTHER: st.answers.get(OTHER, 0)}


def _num_key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def label_block(st: LabelStats, modes: dict, respondents: int, reported: str, source: str,
                declared_raw: str | None) -> dict:
    """The ``per_label`` entry: silisocs' counts and typed statistics, then ours."""
    block: dict[str, object] = {
        "probe_type": reported,
        "total_events": st.total,
        "responses_present": st.present,
        "responses_missing": st.total - st.present,
        "probe_mode_counts": _sorted_counts(modes),
    }
    if st.numbers:
        block["numeric_response_stats"] = compat.summary_stats(st.numbers)
    if st.choice_values:
        block["choice_value_counts"] = dict(st.choice_values)
    if st.chars:
        block["free_text_char_len_stats"] = compat.summary_stats(st.chars)
        block["free_text_word_count_stats"] = compat.summary_stats(st.words)
        block["free_text_top_tokens"] = dict(compat.most_common(st.token_counts, TOP_TOKENS))
    block.update({
        "resolved_probe_type": st.probe_type,
        "probe_type_source": source,
        "declared_probe_type": declared_raw,
        "response_rate": ratio(st.present, st.total),
        "num_respondents": respondents,
        "num_episodes": len(st.episodes),
    })
    if st.kind == "choice":
        counts = _binary_counts(st) if st.probe_type == BINARY else _sorted_counts(st.answers)
        answered = sum(st.answers.values())
        block["choice_counts"] = counts
        block["choice_shares"] = {k: v / answered for k, v in counts.items()} if answered else {}
        if st.probe_type == BINARY:
            block.update({f"answer_{k.lower()}": v for k, v in counts.items()})
    elif st.kind == "numeric":
        block["numeric_values_parsed"] = sum(st.numbers.values())
        block["numeric_values_unparsed"] = st.unparsed
        if len(st.numbers) <= 50:
            block["numeric_value_counts"] = {_num_key(v): n for v, n in sorted(st.numbers.items())}
    elif st.kind == "freetext":
        block["free_text_top_content_tokens"] = [[t, n] for t, n in _top(st.content_tokens, TOP_TOKENS)]
    return block


def episode_label_block(st: LabelStats, cell: list) -> dict:
    """One probe within one episode: counts plus shares / mean / words as its type calls for."""
    events, present, extra = cell
    block: dict[str, object] = {"total_events": events, "responses_present": present}
    if st.kind == "choice":
        counts = _sorted_counts(extra)
        block["choice_counts"] = counts
        block["choice_shares"] = {k: v / present for k, v in counts.items()} if present else {}
    elif st.kind == "numeric":
        s = weighted_stats(extra)
        block.update({"n": s["count"], "mean": s["mean"], "stdev": s["stdev"], "min": s["min"], "max": s["max"]})
    elif st.kind == "freetext":
        block["mean_words"] = ratio(extra[0], present)
        block["mean_chars"] = ratio(extra[1], present)
    return block


def evaluate(preset_name: str, run_dir: Path, output: Path, options: EvalOptions) -> dict:
    """Build the probe payload (typed filter from the preset name), plots and postprocessor results."""
    mode = MODES[preset_name]
    filter_type = FILTERS.get(preset_name)
    files = find_event_files(run_dir, PROBE_EVENTS)
    pool = helpers_for(files)  # started first, so their spawn overlaps this process' own work
    try:
        config = load_probe_config(run_dir)
        carry = options.carry_forward if options.carry_forward is not None else config.hold_last_response
        with paused_gc():
            rows = read_probe_rows(run_dir, pool=pool, files=files)
            raw_total = len(rows)
            imputed = 0
            if carry:
                rows, imputed = carry_forward(rows)
            types = row_types(rows, config)
            all_total = len(rows)
            if filter_type is not None:
                rows = rows.select(types.of(rows.label, rows.response) == types.code(filter_type))
            stats = accumulate(rows, types, config, pool)
            body = build_body(rows, stats, types, config)
    finally:
        if pool is not None:
            pool.close()

    payload = header("probe_metrics", mode, run_dir, rows.files, rows.stats)
    payload.update({
        "evaluator": preset_name,
        "filter_probe_type": filter_type,
        "total_events": rows.stats.rows,
        "non_probe_events": rows.non_probe,
        "total_probe_events_raw": raw_total,
        "total_probe_events": all_total,
        "carry_forward_enabled": bool(carry),
        "carry_forward_source": "option" if options.carry_forward is not None else "effective_config",
        "imputed_responses": imputed,
        "filtered_probe_events": len(rows),
        "filtered_out_probe_events": all_total - len(rows),
        "declared_probe_types": dict(config.declared_raw),
    })
    payload.update(body)
    if not rows.files:
        payload["warnings"].append(f"no {PROBE_EVENTS} found in the run directory or its game-master subfolders")
    if config.error:
        payload["warnings"].append(f"effective_config.yaml unreadable, probe types inferred: {config.error}")
    payload["plots"] = make_plots(stats, rows, payload, output, options, mode, run_dir, config)
    payload["aggregated"] = aggregate(payload, stats)
    return payload


def _mode_name(value: object) -> str:
    return "unknown" if value is None else str(value).strip() or "unknown"


def build_body(rows: ProbeRows, stats: dict[str, LabelStats], types: RowTypes, config: ProbeConfig) -> dict:
    """Everything between the header and the plots."""
    n_lab, n_ag, n_ep = max(len(rows.labels), 1), max(len(rows.agents), 1), max(len(rows.episodes), 1)
    n_mode, n_gm = max(len(rows.modes), 1), max(len(rows.gm_names), 1)
    present = rows.present()
    agent_ok = np.array([not compat.is_system(a) for a in rows.agents] or [True], dtype=bool)
    by_agent: np.ndarray | slice = slice(None)  # rows of agents (system is none): all, or a mask
    if len(rows) and not agent_ok.all():
        by_agent = agent_ok[rows.agent]
    label_codes = {name: i for i, name in enumerate(rows.labels)}

    lm = np.bincount(rows.label * n_mode + rows.mode, minlength=n_lab * n_mode).reshape(n_lab, n_mode)
    answered = present if isinstance(by_agent, slice) else present & by_agent
    resp_pairs = np.unique(rows.label[answered] * n_ag + rows.agent[answered])
    respondents = np.bincount(resp_pairs // n_ag, minlength=n_lab)

    labels = list(stats)  # already in natural label order
    per_label = {}
    for name in labels:
        code = label_codes[name]
        modes: dict[str, int] = {}
        for m in np.flatnonzero(lm[code]).tolist():
            key = _mode_name(rows.modes[m])
            modes[key] = modes.get(key, 0) + int(lm[code, m])
        per_label[name] = label_block(stats[name], modes, int(respondents[code]), config.reported_type(name),
                                      types.sources.get(name, "inferred"), config.declared_raw.get(name))
    per_type = _per_type(stats)

    ep_numbers = rows.episode_numbers()
    per_episode, per_agent, per_agent_per_episode = _row_counts(rows, ep_numbers, by_agent, n_ep)
    per_episode_detail = _per_episode_detail(rows, stats, present, answered, n_ag, n_ep)
    per_agent_detail, per_agent_per_episode_detail = _per_agent_detail(rows, present, by_agent, n_lab, n_ep)
    gm_tot = np.bincount(rows.gm, minlength=n_gm)
    gm_pre = np.bincount(rows.gm[present], minlength=n_gm)
    per_gm = {rows.gm_names[g]: {"total_events": int(gm_tot[g]), "responses_present": int(gm_pre[g])}
              for g in np.flatnonzero(gm_tot).tolist()}
    return {
        "probe_type_by_label": {name: config.reported_type(name) for name in labels},
        "resolved_probe_type_by_label": {name: stats[name].probe_type for name in labels},
        "per_type": per_type,
        "per_label": per_label,
        "per_game_master": per_gm,
        "per_episode": per_episode,
        "per_agent": per_agent,
        "per_agent_per_episode": per_agent_per_episode,
        "per_episode_detail": per_episode_detail,
        "per_agent_detail": per_agent_detail,
        "per_agent_per_episode_detail": per_agent_per_episode_detail,
        "num_respondents": int(len(np.unique(rows.agent[answered]))),
    }


def _per_type(stats: dict[str, LabelStats]) -> dict[str, dict]:
    """Counts per row type (silisocs' keys, zeros left out as it does) plus the labels of each type."""
    out: dict[str, dict] = {}
    for name, st in stats.items():
        for kind, (total, present) in st.type_counts.items():
            t = out.setdefault(kind, {"labels": []})
            t["labels"].append(name)
            counts = {"total_events": total, "responses_present": present, "responses_missing": total - present}
            if kind == BINARY:
                counts.update({f"answer_{k}": v for k, v in st.yes_no.items()})
            elif kind == NUMERIC:
                counts.update(numeric_values_parsed=sum(st.numbers.values()), numeric_values_unparsed=st.unparsed)
            for key, value in counts.items():
                if value:
                    t[key] = t.get(key, 0) + value
    return {kind: out[kind] for kind in sorted(out)}


def _row_counts(rows: ProbeRows, ep_numbers: list[int], by_agent: np.ndarray | slice,
                n_ep: int) -> tuple[dict, dict, dict]:
    """silisocs' ``per_episode`` / ``per_agent`` / ``per_agent_per_episode``: rows per episode number,
    per agent and per agent and episode (``system`` is no agent)."""
    numbers = np.asarray(ep_numbers or [0], dtype=np.int64)
    eps = np.unique(numbers)
    ep_idx = np.searchsorted(eps, numbers)[rows.episode] if len(rows) else np.zeros(0, dtype=np.int64)
    n_e = max(len(eps), 1)
    ep_keys = [str(e) for e in eps.tolist()]
    per_episode_counts = np.bincount(ep_idx, minlength=n_e)
    per_episode = {ep_keys[e]: int(per_episode_counts[e]) for e in np.flatnonzero(per_episode_counts).tolist()}
    cells, cell_counts = weighted_unique(rows.agent[by_agent] * n_e + ep_idx[by_agent])
    agent_of, lo_, hi_ = group_bounds(cells // n_e)
    cell_ep, counts = (cells % n_e).tolist(), cell_counts.tolist()
    per_agent, per_agent_per_episode = {}, {}
    for a, lo, hi in zip(agent_of.tolist(), lo_.tolist(), hi_.tolist()):
        name = rows.agents[a]
        per_agent[name] = sum(counts[lo:hi])
        per_agent_per_episode[name] = {ep_keys[cell_ep[i]]: counts[i] for i in range(lo, hi)}
    return per_episode, per_agent, per_agent_per_episode


def _per_episode_detail(rows: ProbeRows, stats: dict[str, LabelStats], present: np.ndarray, answered: np.ndarray,
                        n_ag: int, n_ep: int) -> dict:
    ep_tot = np.bincount(rows.episode, minlength=n_ep)
    ep_pre = np.bincount(rows.episode[present], minlength=n_ep)
    ep_resp = np.bincount(np.unique(rows.episode[answered] * n_ag + rows.agent[answered]) // n_ag, minlength=n_ep)
    out = {}
    for e in np.flatnonzero(ep_tot).tolist():
        out[episode_key(rows.episodes[e])] = {
            "total_events": int(ep_tot[e]),
            "responses_present": int(ep_pre[e]),
            "num_respondents": int(ep_resp[e]),
            "labels": {name: episode_label_block(st, st.episodes[e]) for name, st in stats.items() if e in st.episodes},
        }
    return out


def _per_agent_detail(rows: ProbeRows, present: np.ndarray, by_agent: np.ndarray | slice, n_lab: int,
                      n_ep: int) -> tuple[dict, dict]:
    agent, episode, label = rows.agent[by_agent], rows.episode[by_agent], rows.label[by_agent]
    cells, cell_tot = weighted_unique(agent * n_ep + episode)
    _, cell_pre_raw = weighted_unique(agent * n_ep + episode, present[by_agent].astype(np.float64))
    pairs, pair_tot = weighted_unique(agent * n_lab + label)
    ep_keys = [episode_key(e) for e in rows.episodes]
    cell_eps = names(cells % n_ep, ep_keys)
    cell_ep_codes = (cells % n_ep).tolist()
    tot, pre = cell_tot.tolist(), cell_pre_raw.tolist()
    pair_labels, pair_counts = names(pairs % n_lab, rows.labels), pair_tot.tolist()
    _, p_lo, p_hi = group_bounds(pairs // n_lab)
    agent_of, lo_, hi_ = group_bounds(cells // n_ep)
    per_agent, per_agent_per_episode = {}, {}
    for a, lo, hi, plo, phi in zip(agent_of.tolist(), lo_.tolist(), hi_.tolist(), p_lo.tolist(), p_hi.tolist()):
        name = rows.agents[a]
        label_counts = dict(zip(pair_labels[plo:phi], pair_counts[plo:phi]))
        per_agent[name] = {
            "total_events": sum(tot[lo:hi]),
            "responses_present": sum(pre[lo:hi]),
            "first_episode": rows.episodes[cell_ep_codes[lo]],
            "last_episode": rows.episodes[cell_ep_codes[hi - 1]],
            "label_counts": _sorted_counts(label_counts),
        }
        per_agent_per_episode[name] = {
            cell_eps[i]: {"total_events": tot[i], "responses_present": pre[i]} for i in range(lo, hi)
        }
    return per_agent, per_agent_per_episode


# ---------------------------------------------------------------- plots and hooks
def plot_data(rows: ProbeRows, stats: dict[str, LabelStats], config: ProbeConfig | None = None) -> dict[str, list]:
    """Series for ``plots.render_probe_plots`` from the per-episode cells."""
    data: dict[str, list] = {"choice": [], "numeric": [], "freetext": [], "top_tokens": []}
    tokens_all: Counter = Counter()
    for name, st in stats.items():
        codes = sorted(e for e, cell in st.episodes.items() if cell[1])
        if not codes:
            continue
        eps = [rows.episodes[e] for e in codes]
        if st.kind == "choice":
            if st.probe_type == BINARY:
                order = [a for a in (YES, NO, OTHER) if st.answers.get(a, 0) > 0]
            else:
                order = [a for a, n in _top(st.answers, len(st.answers)) if n > 0]
            data["choice"].append({"label": name, "probe_type": st.probe_type, "episodes": eps,
                                   "counts": [dict(st.episodes[e][2]) for e in codes], "order": order})
        elif st.kind == "numeric":
            cells = [weighted_stats(st.episodes[e][2]) for e in codes]
            keep = [i for i, c in enumerate(cells) if c["count"]]
            data["numeric"].append({"label": name, "episodes": [eps[i] for i in keep],
                                    "mean": [cells[i]["mean"] for i in keep],
                                    "stdev": [cells[i]["stdev"] for i in keep],
                                    "n": [cells[i]["count"] for i in keep],
                                    "scale": config.scales.get(name) if config else None})
        elif st.kind == "freetext":
            data["freetext"].append({"label": name, "episodes": eps,
                                     "mean_words": [st.episodes[e][2][0] / st.episodes[e][1] for e in codes]})
            tokens_all.update(st.content_tokens)
    data["numeric"] = [s for s in data["numeric"] if s["episodes"]]
    data["episode_order"] = list(rows.episodes)
    data["top_tokens"] = _top(tokens_all, 20)
    return data


def records_by_type(rows: ProbeRows, stats: dict[str, LabelStats]) -> dict[str, list[dict]]:
    """Row-level answers for postprocessors (built only when a postprocessor asks for them)."""
    out: dict[str, list[dict]] = {"choice": [], "numeric": [], "freetext": []}
    namers: dict[str, ChoiceNames] = {}
    present = rows.present().tolist()
    for lab, ag, ep, resp, ok in zip(rows.label.tolist(), rows.agent.tolist(), rows.episode.tolist(),
                                     rows.response.tolist(), present):
        label = rows.labels[lab]
        st = stats.get(label)
        if not ok or st is None or st.kind is None:
            continue
        value, episode, agent = rows.responses[resp], rows.episodes[ep], rows.agents[ag]
        if st.kind == "choice":
            if st.probe_type == BINARY:
                choice = binary_answer(value)
            else:
                choice = namers.setdefault(label, ChoiceNames(list(st.answers)))(value)
            out["choice"].append({"label": label, "episode": episode, "choice": choice, "agent": agent})
        elif st.kind == "numeric":
            number = compat.first_number(value)
            if number is not None:
                out["numeric"].append({"label": label, "episode": episode, "value": number, "agent": agent})
        else:
            text = str(value).strip()
            out["freetext"].append({"label": label, "episode": episode, "text": text,
                                    "word_count": word_count(text), "agent": agent})
    return out


def make_plots(stats: dict[str, LabelStats], rows: ProbeRows, payload: dict, output: Path,
               options: EvalOptions, mode: str, run_dir: Path, config: ProbeConfig | None = None) -> dict:
    """Builtin PNGs (unless disabled) and postprocessor hooks, all recorded, none fatal."""
    plot_dir = output.parent / f"{output.stem}_plots"
    def answered(kinds: tuple[str, ...]) -> int:
        return sum(st.type_counts[k][1] for st in stats.values() for k in kinds if k in st.type_counts)

    record_counts = {  # silisocs' records: answered binary/choice rows, parsed numbers, answered free text
        "choice": answered((BINARY, CHOICE)),
        "numeric": sum(sum(st.numbers.values()) for st in stats.values()),
        "freetext": answered((FREETEXT,)),
    }
    block: dict[str, object] = {"plot_dir": str(plot_dir), "enabled": options.plots, "generated_files": [],
                                "errors": [], "record_counts": record_counts, "extensions": []}
    if options.plots:
        if plot_dir.is_dir():
            for old in plot_dir.glob("*.png"):
                old.unlink(missing_ok=True)
        try:
            from .plots import render_probe_plots

            files, errors = render_probe_plots(plot_dir, plot_data(rows, stats, config))
            block["generated_files"], block["errors"] = files, errors
        except ImportError as exc:
            block["errors"] = [f"plotting unavailable: {exc}"]
    if options.postprocessors:
        from .postprocess import run_postprocessors

        context = {**options.context, "mode": mode, "evaluator": payload["evaluator"], "run_dir": str(run_dir),
                   "output_json": str(output), "plot_dir": str(plot_dir),
                   "probe_type_by_label": payload["probe_type_by_label"]}
        block["extensions"] = run_postprocessors(options.postprocessors, records_by_type(rows, stats), plot_dir,
                                                 context, options.cwd)
    if plot_dir.is_dir() and not any(plot_dir.iterdir()):
        plot_dir.rmdir()  # nothing drawn: leave no empty folder behind
    return block


# ---------------------------------------------------------------- aggregated
def aggregate(payload: dict, stats: dict[str, LabelStats]) -> dict[str, float | int]:
    """Flat metrics per probe (``share_yes_<p>``, ``mean_<p>``, ``share_<p>_<choice>``, ``mean_words_<p>``)."""
    total = payload["filtered_probe_events"]
    present = sum(st.present for st in stats.values())
    metrics: dict[str, float | int | None] = {
        "total_probe_events": total,
        "responses_present": present,
        "responses_missing": total - present,
        "response_rate": ratio(present, total),
        "num_probe_labels": len(stats),
        "num_respondents": payload["num_respondents"],
        "imputed_responses": payload["imputed_responses"],
    }
    used: set[str] = set()
    for name, st in stats.items():
        p = base = slugify(name)
        i = 2
        while p in used:
            p, i = f"{base}_{i}", i + 1
        used.add(p)
        metrics[f"response_rate_{p}"] = ratio(st.present, st.total)
        answered = sum(st.answers.values())
        if st.probe_type == BINARY:
            metrics[f"share_yes_{p}"] = ratio(st.answers.get(YES, 0), answered)
        elif st.kind == "numeric":
            s = weighted_stats(st.numbers)
            metrics[f"mean_{p}"] = s["mean"]
            metrics[f"stdev_{p}"] = s["stdev"]
        elif st.kind == "choice":
            for answer, n in _top(st.answers, TOP_CHOICE_METRICS):
                key = f"share_{p}_{slugify(answer)}"
                metrics[key] = (metrics.get(key) or 0) + (n / answered if answered else 0.0)
        elif st.kind == "freetext":
            answers = sum(st.words.values())
            metrics[f"mean_words_{p}"] = ratio(sum(w * n for w, n in st.words.items()), answers)
            metrics[f"mean_chars_{p}"] = ratio(sum(c * n for c, n in st.chars.items()), answers)
    return finite_metrics(metrics)
