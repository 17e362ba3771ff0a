"""The sweeper's batch queue, alone: what launches next and what happens after a batch.

Pure decisions, so these run in milliseconds with fake verdicts; the sweeper tests
(test_run_crash, test_run_launchers, test_process_isolation) run the same queue under
real Hydra launchers."""
from __future__ import annotations

import pytest

from silisocs_study.launch.batches import BatchQueue, Verdict

OK, FAILED, CRASHED = Verdict.OK, Verdict.FAILED, Verdict.CRASHED


def queue(n: int, **kw) -> BatchQueue[str]:
    return BatchQueue([f"r{i}" for i in range(n)], key=lambda r: r, **kw)


def drain(q: BatchQueue[str], verdict_of) -> list[list[str]]:
    """Launch every batch; ``verdict_of(run, attempt)`` says how each attempt ended."""
    launched: list[list[str]] = []
    tries: dict[str, int] = {}
    while not q.done():
        batch = q.next_batch()
        launched.append(batch)
        verdicts = {}
        for run in batch:
            tries[run] = tries.get(run, 0) + 1
            verdicts[run] = verdict_of(run, tries[run])
        q.settle(batch, verdicts)
    return launched


def test_batches_keep_plan_order_and_size():
    q = queue(7, size=3)
    assert drain(q, lambda r, n: OK) == [["r0", "r1", "r2"], ["r3", "r4", "r5"], ["r6"]]
    assert q.succeeded == [f"r{i}" for i in range(7)] and not q.failed
    assert q.next_batch() == [] and q.done()


def test_an_empty_queue_is_done_and_a_zero_size_is_refused():
    assert queue(0, size=5).done()
    with pytest.raises(ValueError, match="batch size"):
        queue(3, size=0)


def test_a_failed_run_is_final_without_retries():
    q = queue(3, size=2, max_retries=3)
    drain(q, lambda r, n: FAILED if r == "r1" else OK)
    assert q.failed == ["r1"] and q.retried == []


def test_a_crashed_run_is_retried_at_the_back_until_its_retries_run_out():
    q = queue(4, size=2, max_retries=2)
    launched = drain(q, lambda r, n: CRASHED if r == "r0" else OK)
    assert launched == [["r0", "r1"], ["r2", "r3"], ["r0"], ["r0"]]
    assert q.retried == ["r0", "r0"] and q.failed == ["r0"]
    assert q.attempts["r0"] == 3


def test_a_crash_that_recovers_on_retry_succeeds():
    q = queue(2, size=5, max_retries=1)
    drain(q, lambda r, n: CRASHED if n == 1 else OK)
    assert sorted(q.succeeded) == ["r0", "r1"] and not q.failed
    assert q.attempts == {"r0": 1, "r1": 1}


def test_no_retries_by_default():
    q = queue(1, size=1)
    drain(q, lambda r, n: CRASHED)
    assert q.failed == ["r0"] and q.retried == []


def test_fail_fast_stops_after_the_batch_with_the_first_failure():
    q = queue(6, size=2, fail_fast=True)
    launched = drain(q, lambda r, n: FAILED if r == "r3" else OK)
    assert launched == [["r0", "r1"], ["r2", "r3"]]
    assert q.stopped and q.waiting == 2 and q.next_batch() == []


def test_fail_fast_waits_for_retries_to_run_out():
    q = queue(3, size=1, max_retries=1, fail_fast=True)
    launched = drain(q, lambda r, n: CRASHED if r == "r0" else OK)
    # r0 crashes, is retried at the back (not a failure yet), crashes again: stop
    assert launched == [["r0"], ["r1"], ["r2"], ["r0"]]
    assert q.stopped and q.failed == ["r0"]


def test_a_broken_batch_relaunches_its_unfinished_runs_one_by_one():
    q = queue(5, size=5)
    batch = q.next_batch()
    # the launcher lost the batch: r0 and r1 reported, r2..r4 never did
    alone = q.relaunch_alone(["r2", "r3", "r4"])
    assert alone == {"r2", "r3", "r4"}
    q.settle(batch, {"r0": OK, "r1": OK})
    assert [q.next_batch() for _ in range(3)] == [["r2"], ["r3"], ["r4"]]
    # relaunched alone, r3 crashes again: it is the culprit, not isolated twice
    assert q.relaunch_alone(["r3"]) == set()
    q.settle(["r3"], {"r3": CRASHED})
    assert q.failed == ["r3"]


def test_a_single_unfinished_run_is_the_crash_itself():
    q = queue(3, size=3)
    batch = q.next_batch()
    assert q.relaunch_alone(["r2"]) == set()
    q.settle(batch, {"r0": OK, "r1": OK, "r2": CRASHED})
    assert q.failed == ["r2"] and q.done()


def test_runs_already_isolated_once_are_not_isolated_again():
    q = queue(4, size=4)
    q.next_batch()
    assert q.relaunch_alone(["r1", "r2"]) == {"r1", "r2"}
    assert q.next_batch() == ["r1"]
    assert q.relaunch_alone(["r1", "r2"]) == set()   # both were isolated already


def test_solo_relaunches_go_before_the_rest_of_the_queue():
    q = queue(6, size=3)
    first = q.next_batch()
    q.relaunch_alone(["r1", "r2"])
    q.settle(first, {"r0": OK})
    assert q.next_batch() == ["r1"] and q.next_batch() == ["r2"]
    assert q.next_batch() == ["r3", "r4", "r5"]


def test_runs_without_a_verdict_are_neither_done_nor_failed():
    q = queue(2, size=2)
    batch = q.next_batch()
    q.settle(batch, {"r0": OK})
    assert q.succeeded == ["r0"] and q.failed == [] and q.done()
