"""The text ``plan`` prints: counts per hypothesis × condition, then the first runs."""
from __future__ import annotations

from collections import Counter

from .plan import Plan, natural_key


def describe_plan(plan: Plan, *, first: int = 10) -> str:
    study = plan.study
    lines = [f"Study: {study.name} ({study.study_id})  [{study.kind}]",
             f"File: {study.display_file}",
             f"Workspace: {study.workspace}"]
    if study.extra_overrides:
        lines.append(f"Overrides after --: {' '.join(study.extra_overrides)} (every run; they "
                     f"take precedence over the study's)")
    if study.meta.get("question"):
        lines.append(f"Question: {study.meta['question']}")
    shown = f"{len(plan.runs)}" if not plan.filters else f"{len(plan.runs)} of {plan.total}"
    lines.append(f"Runs: {shown}")
    counts = Counter(r.group.key for r in plan.runs)
    rows = [("hypothesis", "condition", "mode", "runs", "scenarios", "seeds", "evaluators")]
    for group in plan.groups():
        runs = [r for r in plan.runs if r.group is group] if len(plan.runs) < 5000 else None
        scen = sorted({r.scenario for r in runs}) if runs is not None else list(group.scenarios)
        seeds = sorted({r.seed for r in runs if r.seed is not None}) if runs is not None \
            else list(group.seeds)
        rows.append((group.hypothesis, group.condition, group.mode, str(counts[group.key]),
                     _short(",".join(scen)), _seed_span(seeds),
                     _short(",".join(e.id for e in group.evaluators) or "-")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    if plan.runs:
        lines.append("First runs:")
        for run in plan.runs[:first]:
            extra = f" axes={run.axes}" if run.axes else ""
            if run.group.extra_overrides and run.command is None:
                extra += f" overrides={list(run.group.override_args)}"
            lines.append(f"  - {run.run_id}  mode={run.mode} scenario={run.scenario} "
                         f"seed={run.seed}{extra}")
        if len(plan.runs) > first:
            lines.append(f"  ... and {len(plan.runs) - first} more")
    return "\n".join(lines)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _seed_span(seeds: list) -> str:
    if not seeds:
        return "-"
    seeds = sorted(seeds, key=lambda s: natural_key(str(s)))
    ints = all(isinstance(s, int) for s in seeds)
    if ints and len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}..{seeds[-1]} ({len(seeds)})"
    return _short(",".join(map(str, seeds)), 30)
