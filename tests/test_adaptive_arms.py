"""Arms of a hypothesis whose conditions cover different scenarios (analysis.arms, pooled).

The reference runs in calm, busy and hot; A in calm and busy (no effect), B in all three (a
large effect). The reference must run in every scenario as far as the partners covering it
need, so B's seed-wise means grow and B is decided; driven the way the sweeper drives rounds.
"""
from __future__ import annotations

from silisocs_study.analysis.adaptive import AdaptiveSettings
from silisocs_study.analysis.arms import arms
from tests.apps.effects.model import value

SEEDS = 30
SCENARIOS = {"ref": ["calm", "busy", "hot"], "A": ["calm", "busy"],
             "B": ["calm", "busy", "hot"]}
EFFECT = {"ref": 0.0, "A": 0.0, "B": 3.0}


def drive(settings: AdaptiveSettings) -> dict:
    cells = {(c, s): {"y": {}} for c, scens in SCENARIOS.items() for s in scens}
    attempted = {key: 0 for key in cells}
    planned = {key: SEEDS for key in cells}
    for _ in range(SEEDS + 1):
        block = arms("h", settings, "y", "ref", SCENARIOS, cells,
                     {"A": "two-sided", "B": "two-sided"}, 1.0, 0.05, 2, attempted, planned)
        targets: dict[tuple[str, str], int] = {}
        for arm in block["arms"]:
            for s in arm["scenarios"]:   # as launch/rounds.py maps an arm onto its cells
                targets[(arm["condition"], s)] = arm["target"]
        assert set(targets) == set(cells), set(cells) - set(targets)
        grew = False
        for (cond, s), goal in targets.items():
            for seed in range(attempted[(cond, s)] + 1, goal + 1):
                cells[(cond, s)]["y"][seed] = value(EFFECT[cond], seed, s, cond, salt="mixed")
            if goal > attempted[(cond, s)]:
                attempted[(cond, s)], grew = goal, True
        if block["state"] == "done":
            return {"block": block, "attempted": attempted}
        assert grew, "a round with running arms added no seed"
    raise AssertionError("never stopped")


def test_every_cell_has_an_arm_and_the_large_effect_is_decided():
    out = drive(AdaptiveSettings(goal="decide", min_seeds=3, round_size=2))
    by = {(a["condition"], a["scenario"]): a for a in out["block"]["arms"]}
    b = next(a for a in out["block"]["arms"] if a["condition"] == "B")
    assert b["state"] == "decided" and b["verdict"] == "supported", b
    assert b["attempted"] < SEEDS
    # the reference ran in hot exactly as far as B (its only partner there) needed
    assert out["attempted"][("ref", "hot")] == out["attempted"][("B", "hot")]
    assert by[("ref", "hot")]["scenarios"] == ["hot"]
    assert out["attempted"][("ref", "calm")] == max(out["attempted"][("A", "calm")],
                                                    out["attempted"][("B", "calm")])


def test_per_scenario_arms_use_their_own_condition_level():
    out = drive(AdaptiveSettings(goal="decide", min_seeds=3, round_size=2, per_scenario=True))
    for arm in out["block"]["arms"]:
        if arm["role"] == "contrast":
            assert arm["alpha"] == 0.05 / (2 * len(SCENARIOS[arm["condition"]]))
