"""The next round of an adaptive study: which runs each arm still needs, from the records.

Nothing is kept between rounds but the records: the arms' states come from the study's
analysis (:mod:`silisocs_study.report.adaptive_state`), so a killed study resumes exactly
where it stood and ``--dry-run`` shows the round that would run next. Hypotheses without an
``adaptive:`` block run every seed, in the first round.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..model import Run
from ..plan import Plan


@dataclass
class Round:
    """One round: its number, the runs it needs, and the arms it was computed from."""
    number: int
    runs: list[Run]                          # needed now (complete ones are skipped later)
    blocks: dict[str, dict]                  # hypothesis → adaptive block
    saved: list[Run] = field(default_factory=list)   # stopped arms' seeds never run
    later: list[Run] = field(default_factory=list)   # running arms' seeds after this round

    def line(self, capital: bool = False) -> str:
        return f"{'A' if capital else 'a'}daptive round {self.number}: {self.summary()}"

    def summary(self) -> str:
        from ..report.adaptive_state import totals

        t = totals(self.blocks)
        return (f"{t['running']} arm(s) running, "
                f"{t['decided']} decided, {t['capped']} capped; {t['seeds_done']} of "
                f"{t['seeds_fixed']} seeds done, {t['seeds_saved']} saved so far")


def next_round(plan: Plan, records: Iterable[dict], analysis: dict | None = None) -> Round:
    """The round to run now (``analysis``: the study's analysis of ``records``, if at hand)."""
    from ..report.adaptive_state import adaptive_blocks, arm_of

    study = plan.study
    recs = list(records)
    blocks = adaptive_blocks(study, recs, plan, analysis)
    arms = {(hyp, a["condition"], s): a   # a pooled arm covers each of its scenarios
            for hyp, b in blocks.items() for a in b["arms"]
            for s in a.get("scenarios") or [a["scenario"]]}
    number = 1 + max((int(r.get("adaptive_round") or 0) for r in recs
                      if r.get("study_id") in (None, study.study_id)), default=0)
    by_arm: dict[tuple[str, str, str], list[Run]] = {}
    out = Round(number, [], blocks)
    for run in plan.runs:
        if run.hypothesis not in study.adaptive:   # (an experiment's: its name)
            out.runs.append(run)
            continue
        by_arm.setdefault(arm_of(study, run), []).append(run)
    for key, runs in by_arm.items():
        runs.sort(key=lambda r: _seed_position(r))
        arm = arms.get(key)
        goal = arm["target"] if arm else min(len(runs), _first(study, key[0]))
        out.runs += runs[:goal]
        rest = runs[goal:]
        (out.saved if arm and arm["state"] != "running" else out.later).extend(rest)
    order = {r.run_id: i for i, r in enumerate(plan.runs)}
    out.runs.sort(key=lambda r: order[r.run_id])
    return out


def _first(study, hyp: str) -> int:
    """An arm the analysis does not show yet (no records): the first round's seeds."""
    one = study.adaptive.get(hyp)
    return max(one.min_seeds, one.round_size) if one else 0


def _seed_position(run: Run) -> int:
    seeds = run.group.seeds
    if run.seed is None:
        return run.index
    try:
        return list(seeds).index(run.seed) if not isinstance(seeds, range) else \
            seeds.index(run.seed)
    except ValueError:
        return run.index


def write_round_file(generated, session: str, rnd: Round, runs: list[Run]) -> str:
    """The round's runs for the multiruns that launch them (a file: a round can be larger
    than one command-line argument may be)."""
    from ..atomic import atomic_write_json

    path = generated / "rounds" / f"{session}_{rnd.number}.json"
    atomic_write_json(path, {"round": rnd.number, "run_ids": [r.run_id for r in runs]})
    return str(path)


def read_round_file(path: str) -> tuple[int, set[str]]:
    import json
    from pathlib import Path

    from ..errors import StudyError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return int(data["round"]), set(map(str, data["run_ids"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StudyError(f"{path}: not a round file ({exc})") from None


def run_rounds(plan: Plan, ledger, launch: Callable[[Round], int]) -> Round:
    """Launch round after round (``launch`` returns how many runs it recorded) until a round
    records nothing — then no record changed, and that round is the final state. Each run is
    attempted at most once per session, so this ends."""
    while True:
        rnd = next_round(plan, ledger.all().values())
        if not launch(rnd):
            return rnd
