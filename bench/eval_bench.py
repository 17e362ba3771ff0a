"""Benchmark the builtin evaluators against a naive ``json.loads``-per-line baseline.

Generates (deterministically, into a temp dir) one run following the run-directory contract —
1,000,000 action events split over game-master subfolders and 200,000 probe events at the root,
with a few bad lines — then times, each in its own subprocess so peak RSS is isolated:
``action_metrics_detailed`` and ``probe_metrics_detailed`` without plots, the probe evaluator
once with plots, and the baseline doing the same counting in plain Python. It also checks that
the evaluators and the baseline agree on the numbers. Python byte-code is cached (in a prefix
outside the repo) for both sides and any helper processes, as on a normal install; this sandbox
sets PYTHONDONTWRITEBYTECODE, which ``--cold`` keeps (every process then recompiles its imports).

    uv run python bench/eval_bench.py                       # full size
    uv run python bench/eval_bench.py --actions 100000 --probes 20000 --repeat 1
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKERS_NOTE = f"SILISOCS_EVAL_WORKERS={os.environ.get('SILISOCS_EVAL_WORKERS', 'auto')}"
sys.path.insert(0, str(ROOT))

LABELS = ["post", "reply", "like", "repost", "follow", "unfollow"]
LABEL_WEIGHTS = [15, 25, 35, 12, 8, 5]
WORDS = ("the city council should invest more in public transport and parks housing young people policy "
         "climate news trust media friends weekend market prices jobs school health local election debate "
         "agree disagree honestly worried hopeful community online platform posts feed algorithm").split()
PROBES = [  # (name, declared type or None = left for inference, answer generator kind)
    ("trusts_platform", "BinaryProbe", "binary"),
    ("would_share_news", None, "binary"),
    ("wellbeing_rating", "NumericRatingProbe", "numeric"),
    ("polarization_score", "NumericRatingProbe", "numeric"),
    ("trust_in_media", None, "numeric"),
    ("favourite_topic", "ChoiceProbe", "choice"),
    ("voting_intention", "ChoiceProbe", "choice"),
    ("opinion_summary", "FreeTextProbe", "freetext"),
    ("reason_for_activity", "FreeTextProbe", "freetext"),
    ("feeling_today", None, "freetext"),
]
TOPICS = ["Politics", "Sports", "Technology", "Local news", "Entertainment"]
PARTIES = ["Party A", "Party B", "Party C", "Undecided"]


# ---------------------------------------------------------------- generation
def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(lo, hi)))


def generate_run(run_dir: Path, n_actions: int, n_probes: int, n_agents: int = 200, n_episodes: int = 100,
                 game_masters: int = 2, seed: int = 7) -> None:
    """Write the run: effective_config.yaml, run_manifest.json, gm_*/action_events.jsonl, probe_events.jsonl."""
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    agents = [f"agent_{i:03d}" for i in range(n_agents)]
    texts = [json.dumps(_text(rng, 6, 30)) for _ in range(5000)]
    gm_names = [f"gm_{g}" for g in range(game_masters)]
    per_gm = [n_actions // game_masters + (1 if g < n_actions % game_masters else 0) for g in range(game_masters)]
    index = 0
    for g, gm in enumerate(gm_names):
        (run_dir / gm).mkdir(exist_ok=True)
        lines = []
        n = per_gm[g]
        labels = rng.choices(LABELS, LABEL_WEIGHTS, k=n)
        users = rng.choices(agents, k=n)
        for i in range(n):
            label, user = labels[i], users[i]
            ep = i * n_episodes // max(n, 1)
            if label in ("post", "reply"):
                data = f'{{"content": {texts[rng.randrange(5000)]}, "post_id": "p{index}"'
                data += f', "target_post_id": "p{rng.randrange(index + 1)}"}}' if label == "reply" else "}"
            elif label in ("like", "repost"):
                data = f'{{"target_post_id": "p{rng.randrange(index + 1)}"}}'
            else:
                data = f'{{"target_user": "{agents[rng.randrange(n_agents)]}"}}'
            lines.append(f'{{"event_type": "action", "label": "{label}", "source_user": "{user}", '
                         f'"episode": {ep}, "event_index": {index}, "step": {ep}, '
                         f'"timestamp": "2025-03-01T12:{ep % 60:02d}:00Z", "game_master": "{gm}", "data": {data}}}')
            index += 1
        lines.insert(len(lines) // 2, '{"event_type": "action", "label": "post", "source_user": ')  # torn write
        lines.append('{"event_type": "action", "label": "like", "source_us')  # crash mid-line
        (run_dir / gm / "action_events.jsonl").write_text("\n".join(lines), encoding="utf-8")

    plines = []
    i = 0
    ep = 0
    while i < n_probes:  # every agent answers every probe in every episode, until n_probes rows exist
        for p, (name, _declared, kind) in enumerate(PROBES):
            for agent in agents:
                if i >= n_probes:
                    break
                r = rng.random()
                if r < 0.03:
                    ret = "null" if r < 0.015 else '""'
                elif kind == "binary":
                    ret = json.dumps(rng.choice(["Yes", "No", "Yes.", "No, not really", "yes"]))
                elif kind == "numeric":
                    ret = json.dumps(str(rng.randint(1, 7)) if rng.random() < 0.7 else rng.randint(1, 7))
                elif kind == "choice":
                    ret = json.dumps(rng.choice(TOPICS if p == 5 else PARTIES))
                else:  # free text is unique per answer, as LLM output is
                    ret = json.dumps(" ".join(rng.choices(WORDS, k=rng.randint(6, 30))).capitalize() + ".")
                plines.append(f'{{"event_type": "probe", "label": "{name}", "source_user": "{agent}", '
                              f'"episode": {ep}, "event_index": {i}, "data": {{"probe_return": {ret}, '
                              f'"probe_mode": "scheduled", "question": "Question for probe {name}?"}}}}')
                i += 1
        ep += 1
    plines.insert(len(plines) // 3, "not json at all")
    (run_dir / "probe_events.jsonl").write_text("\n".join(plines) + "\n", encoding="utf-8")

    probe_cfg = "\n".join(
        f"      - probe_type: {declared}\n        probe_data:\n          name: {name}"
        for name, declared, _ in PROBES if declared
    )
    (run_dir / "effective_config.yaml").write_text(
        f"seed: {seed}\nsim:\n  num_agents: {n_agents}\n  num_steps: {n_episodes}\n"
        f"eval:\n  probes:\n    deployment:\n      hold_last_response: false\n    probes:\n{probe_cfg}\n",
        encoding="utf-8",
    )
    (run_dir / "run_manifest.json").write_text(json.dumps({
        "schema_version": 1, "status": "success", "scenario": "bench", "seed": seed, "num_agents": n_agents,
        "num_steps": n_episodes,
        "artifacts": {"action_events": [f"{gm}/action_events.jsonl" for gm in gm_names],
                      "probe_events": ["probe_events.jsonl"]},
    }), encoding="utf-8")


# ---------------------------------------------------------------- naive baseline
def _event_files(run_dir: Path, name: str) -> list[tuple[str, Path]]:
    out = [("root", run_dir / name)] if (run_dir / name).is_file() else []
    out += [(d.name, d / name) for d in sorted(run_dir.iterdir()) if d.is_dir() and (d / name).is_file()]
    return out


def baseline_actions(run_dir: Path) -> dict:
    """json.loads per line into dicts, then dict-of-dicts counting in plain Python."""
    label_counts: Counter = Counter()
    per_episode: dict = {}
    per_agent: dict = {}
    per_agent_episode: dict = {}
    sequences: dict = {}
    bad = rows = 0
    for gm, path in _event_files(run_dir, "action_events.jsonl"):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(row, dict):
                    bad += 1
                    continue
                rows += 1
                if str(row.get("event_type", "")).lower() != "action":
                    continue
                label = str(row.get("label", "")).strip() or "unknown"
                agent = str(row.get("source_user", "")).strip() or "unknown"
                ep = int(row.get("episode") or 0)
                label_counts[label] += 1
                e = per_episode.setdefault(ep, {"total_actions": 0, "agents": set(), "label_counts": Counter()})
                e["total_actions"] += 1
                e["agents"].add(agent)
                e["label_counts"][label] += 1
                a = per_agent.setdefault(agent, {"total_actions": 0, "first_episode": ep, "last_episode": ep,
                                                 "label_counts": Counter()})
                a["total_actions"] += 1
                a["first_episode"] = min(a["first_episode"], ep)
                a["last_episode"] = max(a["last_episode"], ep)
                a["label_counts"][label] += 1
                c = per_agent_episode.setdefault(agent, {}).setdefault(ep, {"total_actions": 0, "label_counts": Counter()})
                c["total_actions"] += 1
                c["label_counts"][label] += 1
                sequences.setdefault(agent, []).append((ep, int(row.get("event_index", -1)), label))
    transitions: Counter = Counter()  # each agent's rows of all files, by episode then event_index
    for seq in sequences.values():
        labels = [label for _, _, label in sorted(seq, key=lambda t: t[:2])]
        transitions.update(f"{a} -> {b}" for a, b in zip(labels, labels[1:]))
    return {"rows": rows, "bad": bad, "label_counts": label_counts, "per_episode": per_episode,
            "per_agent": per_agent, "per_agent_episode": per_agent_episode, "transitions": transitions}


def baseline_probes(run_dir: Path) -> dict:
    """json.loads per line, then per-row typing and statistics in plain Python, as silisocs defines them."""
    import re
    import statistics

    import yaml

    def yes_no(value: object) -> str | None:
        text = str(value or "").strip().lower()
        if not text:
            return None
        if text in {"yes", "y", "true", "1"}:
            return "Yes"
        if text in {"no", "n", "false", "0"}:
            return "No"
        return "Yes" if "yes" in text else "No" if "no" in text else None

    def number(value: object) -> float | None:
        if isinstance(value, (int, float)):
            return float(value)
        match = re.search(r"[-+]?\d+(?:\.\d+)?", str(value or "").strip())
        return float(match.group(0)) if match else None

    def answer_type(value: object) -> str:
        if yes_no(value):
            return "BinaryProbe"
        if number(value) is not None:
            return "NumericRatingProbe"
        text = str(value or "").strip()
        return "Unknown" if not text else "ChoiceProbe" if len(text.split()) <= 4 else "FreeTextProbe"

    rows = []
    bad = 0
    for _gm, path in _event_files(run_dir, "probe_events.jsonl"):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if isinstance(row, dict) and str(row.get("event_type", "")).lower() == "probe":
                    rows.append(row)
                else:
                    bad += 1
    cfg = yaml.safe_load((run_dir / "effective_config.yaml").read_text())
    declared = {entry["probe_data"]["name"]: entry["probe_type"] for entry in cfg["eval"]["probes"]["probes"]}
    per_label: dict = {}
    per_episode: Counter = Counter()
    per_agent: Counter = Counter()
    for row in rows:
        label, agent = str(row["label"]).strip(), str(row["source_user"]).strip()
        value = row["data"].get("probe_return")
        kind = declared.get(label) or answer_type(value)
        s = per_label.setdefault(label, {"total": 0, "present": 0, "values": [], "choices": Counter(),
                                         "words": [], "tokens": Counter()})
        s["total"] += 1
        per_episode[int(row["episode"])] += 1
        per_agent[agent] += 1
        if value is None or str(value).strip() == "":
            continue
        s["present"] += 1
        if kind == "ChoiceProbe":
            s["choices"][str(value).strip()] += 1
        elif kind == "NumericRatingProbe" and number(value) is not None:
            s["values"].append(number(value))
        elif kind == "FreeTextProbe":
            s["words"].append(len(str(value).split()))
            s["tokens"].update(re.findall(r"[A-Za-z][A-Za-z'-]{2,}", str(value).lower()))
    summary = {}
    for label, s in per_label.items():
        out = {"type": declared.get(label, "inferred"), "total": s["total"], "present": s["present"]}
        if s["values"]:
            out["mean"] = statistics.fmean(s["values"])
            out["stdev"] = statistics.stdev(s["values"]) if len(s["values"]) > 1 else 0.0
            out["median"] = statistics.median(s["values"])
        if s["choices"]:
            out["choices"] = dict(s["choices"])
        if s["words"]:
            out["mean_words"] = statistics.fmean(s["words"])
            out["top_tokens"] = s["tokens"].most_common(30)
        summary[label] = out
    return {"rows": len(rows), "bad": bad, "per_label": summary, "per_episode": dict(per_episode),
            "per_agent": dict(per_agent)}


# ---------------------------------------------------------------- workers (one subprocess each)
def worker(task: str, run_dir: Path, out_dir: Path) -> None:
    t_imp = time.perf_counter()
    from silisocs_study.evaluators import run_builtin

    if task.startswith("builtin."):  # what the preset imports (numpy, yaml, ...), timed apart
        import importlib

        from silisocs_study.evaluators.registry import get_preset

        importlib.import_module(get_preset(task.partition("+")[0]).module)
    else:
        import yaml  # noqa: F401 - the probe baseline reads effective_config.yaml

        import silisocs_study.evaluators.answers  # noqa: F401 - shared answer helpers
    imports = time.perf_counter() - t_imp
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    if task == "baseline_actions":
        result = baseline_actions(run_dir)
        check = {"rows": result["rows"], "bad": result["bad"], "label_counts": dict(result["label_counts"]),
                 "episode_totals": {str(k): v["total_actions"] for k, v in result["per_episode"].items()},
                 "active_per_episode": {str(k): len(v["agents"]) for k, v in result["per_episode"].items()},
                 "transitions": dict(result["transitions"]),
                 "agent_episode_cells": sum(len(v) for v in result["per_agent_episode"].values())}
    elif task == "baseline_probes":
        result = baseline_probes(run_dir)
        check = {"rows": result["rows"], "bad": result["bad"],
                 "per_label": {k: {kk: vv for kk, vv in v.items() if kk != "top_tokens"}
                               for k, v in result["per_label"].items()},
                 "top_tokens": {k: v["top_tokens"] for k, v in result["per_label"].items() if v.get("top_tokens")},
                 "per_episode": {str(k): v for k, v in result["per_episode"].items()},
                 "per_agent": result["per_agent"]}
    else:
        name, _, plots = task.partition("+")
        args = [] if plots == "plots" else ["--no-plots"]
        payload = run_builtin(name, run_dir, out_dir / f"{task.replace('+', '_')}.json", args)
        if "action" in name:
            check = {"rows": payload["total_action_events"], "bad": payload["bad_lines"],
                     "label_counts": payload["label_counts"],
                     "episode_totals": {k: v["total_actions"] for k, v in payload["per_episode"].items()},
                     "active_per_episode": {k: v["num_active_agents"] for k, v in payload["per_episode"].items()},
                     "transitions": payload["transition_counts"],
                     "agent_episode_cells": sum(len(v) for v in payload["per_agent_per_episode"].values())}
        else:
            check = {"rows": payload["total_probe_events"], "bad": payload["bad_lines"],
                     "per_label": _probe_check(payload),
                     "top_tokens": {k: list(v["free_text_top_tokens"].items())
                                    for k, v in payload["per_label"].items() if "free_text_top_tokens" in v},
                     "per_episode": payload["per_episode"], "per_agent": payload["per_agent"],
                     "plots": len(payload["plots"]["generated_files"])}
    elapsed = time.perf_counter() - t0
    _reap_helpers()
    cpu = _cpu_seconds() - cpu0
    kids_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"elapsed": elapsed, "cpu": cpu, "imports": imports, "hwm_mb": _own_peak_mb() + kids_mb,
                      "check": check}, default=str))


def _reap_helpers(timeout: float = 10.0) -> None:
    """Wait for evaluator helper processes (let go without a join) so their CPU time is counted."""
    import multiprocessing as mp

    deadline = time.monotonic() + timeout
    while mp.active_children() and time.monotonic() < deadline:
        time.sleep(0.005)


def _cpu_seconds() -> float:
    """CPU time of this process plus its finished children (evaluator helpers, once reaped)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _own_peak_mb() -> float:
    """Peak RSS of this process since exec (VmHWM; ru_maxrss would include the parent's at fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree_rss_mb(root: int) -> float:
    """Current RSS of ``root`` and all its descendants (evaluator worker processes included)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in rss:
        p = pid
        while p and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += rss[pid]
    return total / 2**20


def _probe_check(payload: dict) -> dict:
    out = {}
    for label, block in payload["per_label"].items():
        item = {"type": block["probe_type"], "total": block["total_events"], "present": block["responses_present"]}
        if "numeric_response_stats" in block and block["numeric_response_stats"]["count"]:
            s = block["numeric_response_stats"]
            item.update(mean=s["mean"], stdev=s["stdev"], median=s["median"])
        if block.get("choice_value_counts"):
            item["choices"] = block["choice_value_counts"]
        if "free_text_word_count_stats" in block and block["free_text_word_count_stats"]["count"]:
            item["mean_words"] = block["free_text_word_count_stats"]["mean"]
        out[label] = item
    return out


def bench_env(cold: bool) -> dict[str, str]:
    env = dict(os.environ)
    if not cold:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", "/tmp/silisocs-pycache")
    return env


def run_task(task: str, run_dir: Path, out_dir: Path, env: dict[str, str] | None = None) -> dict:
    """Run one timed task in a fresh interpreter, sampling the RSS of its whole process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--worker", task, "--run-dir", str(run_dir),
                             "--out-dir", str(out_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    peak = 0.0
    sampling = Path("/proc").is_dir()
    while proc.poll() is None:
        if sampling:
            peak = max(peak, _tree_rss_mb(proc.pid))
        time.sleep(0.05)  # a scan costs ~1.5 ms of a CPU the task could use
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"worker {task} failed:\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["wall"] = wall
    result["peak_mb"] = max(peak, result["hwm_mb"])
    return result


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--actions", type=int, default=1_000_000)
    ap.add_argument("--probes", type=int, default=200_000)
    ap.add_argument("--game-masters", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (best of)")
    ap.add_argument("--keep", action="store_true", help="keep the generated run directory")
    ap.add_argument("--cold", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE (every process recompiles its imports)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.run_dir, args.out_dir)
        return 0
    if args.generate:  # in its own process, so the timed children never inherit its memory
        generate_run(args.generate, args.actions, args.probes, game_masters=args.game_masters)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="eval_bench_"))
    run_dir, out_dir = tmp / "run", tmp / "eval"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--generate", str(run_dir), "--actions", str(args.actions),
                    "--probes", str(args.probes), "--game-masters", str(args.game_masters)], check=True)
    size_mb = sum(p.stat().st_size for p in run_dir.rglob("*.jsonl")) / 1e6
    print(f"generated {args.actions:,} action + {args.probes:,} probe events ({size_mb:.0f} MB) "
          f"in {time.perf_counter() - t0:.1f}s at {run_dir}")
    env = bench_env(args.cold)
    cache = "byte-code recompiled in every process" if env.get("PYTHONDONTWRITEBYTECODE") else "byte-code cached"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; best of {args.repeat}; "
          "each timing in a fresh subprocess (interpreter start excluded;\n"
          f"peak RSS = whole process tree incl. evaluator helpers; {WORKERS_NOTE}; {cache})\n")

    pairs = [("actions", "builtin.action_metrics_detailed", "baseline_actions", args.actions),
             ("probes", "builtin.probe_metrics_detailed", "baseline_probes", args.probes)]
    ok = True
    header = (f"{'task':44s} {'eval s':>7s} {'events/s':>11s} {'speedup':>8s} {'cpu s':>6s} {'speedup':>8s} "
              f"{'+imports s':>10s} {'speedup':>8s} {'peak RSS MB':>11s}")
    print(header)
    print("-" * len(header))
    for kind, preset, base_task, n_events in pairs:
        fast, base = [], []
        for _ in range(args.repeat):  # interleaved, so a noisy neighbour hurts both sides alike
            fast.append(run_task(preset, run_dir, out_dir, env))
            base.append(run_task(base_task, run_dir, out_dir, env))
        base_eval = min(r["elapsed"] for r in base)
        base_cold = min(r["elapsed"] + r["imports"] for r in base)
        base_cpu = min(r["cpu"] for r in base)
        for label, runs in ((f"{preset} --no-plots", fast), (f"baseline ({kind}, json.loads per line)", base)):
            ev = min(r["elapsed"] for r in runs)
            cpu = min(r["cpu"] for r in runs)
            cold = min(r["elapsed"] + r["imports"] for r in runs)
            rss = max(r["peak_mb"] for r in runs)
            print(f"{label:44s} {ev:7.2f} {n_events / ev:11,.0f} {base_eval / ev:7.1f}x {cpu:6.2f} "
                  f"{base_cpu / cpu:7.1f}x {cold:10.2f} {base_cold / cold:7.1f}x {rss:11.0f}")
        agree = _close(fast[0]["check"] | {"plots": None}, base[0]["check"] | {"plots": None})
        ok &= agree
        print(f"{'':44s} same numbers as the baseline: {'yes' if agree else 'NO'}")
        if not agree:
            for key in base[0]["check"]:
                if not _close(fast[0]["check"].get(key), base[0]["check"][key]):
                    print(f"  mismatch in {key}:\n    fast={str(fast[0]['check'].get(key))[:400]}\n"
                          f"    base={str(base[0]['check'][key])[:400]}")
    wp = run_task("builtin.probe_metrics_detailed+plots", run_dir, out_dir, env)
    print(f"{'builtin.probe_metrics_detailed (with plots)':44s} {wp['elapsed']:7.2f} "
          f"{args.probes / wp['elapsed']:11,.0f} {'':>8s} {wp['cpu']:6.2f} {'':>8s} "
          f"{wp['elapsed'] + wp['imports']:10.2f} {'':>8s} "
          f"{wp['peak_mb']:11.0f}   ({wp['check']['plots']} PNGs)")
    print("\neval s: best-of-N wall time of the evaluation with modules already imported; cpu s: CPU seconds "
          "it used, worker processes included (steadier than wall time on a busy machine); +imports s: wall "
          "time plus importing what the task needs (numpy/matplotlib for the evaluators, json/yaml for the "
          "baseline).")
    if args.keep:
        print(f"\nkept {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
