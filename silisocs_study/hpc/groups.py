"""What to submit: the runs still to do, grouped into jobs / array tasks by array mode.

Groups keep plan order (first seen). Each group carries the filters its job runs with:
the group's own keys ANDed with *every* user filter, so a job never widens the selection
(a case job under ``--only-seed 11`` runs seed 11 only).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Run
from ..plan import Filters


@dataclass
class Task:
    index: int
    label: str
    runs: list[Run] = field(default_factory=list)
    filters: Filters = field(default_factory=Filters)

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]


def _key(run: Run, mode: str) -> tuple:
    if mode == "case":
        return (run.hypothesis, run.condition)
    if mode == "seed":
        return (run.hypothesis, run.condition, run.seed)
    if mode == "hypothesis":
        return (run.hypothesis,)
    return (run.run_id,)


def _label(key: tuple, mode: str) -> str:
    if mode == "seed":
        h, c, s = key
        return f"{h}/{c}/seed{s}" if s is not None else f"{h}/{c}"
    return "/".join(str(k) for k in key)


def group_filters(key: tuple, mode: str, user: Filters) -> Filters:
    """The group's keys AND the user's filters (the group's keys are a subset of them)."""
    if mode == "run":
        return Filters(run_ids=frozenset(key))
    hyp = frozenset([key[0]])
    cond = frozenset([key[1]]) if mode in ("case", "seed") else user.conditions
    seeds = user.seeds
    if mode == "seed" and key[2] is not None:
        seeds = frozenset([key[2]])
    return Filters(hypotheses=hyp, conditions=cond, sub_experiments=user.sub_experiments,
                   seeds=seeds, run_ids=user.run_ids)


def make_tasks(runs: list[Run], mode: str, user: Filters, runs_per_task: int = 1
               ) -> list[Task]:
    """Group ``runs`` (plan order) into tasks; run mode packs ``runs_per_task`` per task."""
    if mode == "run" and runs_per_task > 1:
        tasks: list[Task] = []
        for i in range(0, len(runs), runs_per_task):
            chunk = runs[i:i + runs_per_task]
            ids = frozenset(r.run_id for r in chunk)
            label = chunk[0].run_id if len(chunk) == 1 else \
                f"{chunk[0].run_id}..{chunk[-1].run_id}"
            tasks.append(Task(len(tasks), label, chunk, Filters(run_ids=ids)))
        return tasks
    by_key: dict[tuple, Task] = {}
    for run in runs:
        key = _key(run, mode)
        task = by_key.get(key)
        if task is None:
            task = by_key[key] = Task(len(by_key), _label(key, mode),
                                      filters=group_filters(key, mode, user))
        task.runs.append(run)
    return list(by_key.values())
