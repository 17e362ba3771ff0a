"""The sweeper's batch queue, pure: which runs go into the next launcher batch, and what
happens after it (retry a crashed run, relaunch a broken batch's runs one by one, stop on
the first failure). No I/O: the sweeper launches, reads the records, and reports a
:class:`Verdict` per run; this module only decides. Shaped like Hydra's BasicSweeper
(``get_job_batch`` / ``is_done``): :meth:`BatchQueue.next_batch`, :meth:`BatchQueue.settle`,
:meth:`BatchQueue.done`.
"""
from __future__ import annotations

from collections import deque
from enum import Enum
from typing import Callable, Generic, Hashable, Iterable, Mapping, TypeVar

T = TypeVar("T")


class Verdict(str, Enum):
    """What a run's record says after its batch."""

    OK = "ok"               # success (or reused)
    FAILED = "failed"       # the app failed: final
    CRASHED = "crashed"     # its process died unrecorded, or it timed out: may be retried


class BatchQueue(Generic[T]):
    """Runs waiting to launch, in order; retries go to the back, broken batches go solo.

    ``size``: runs per batch. ``max_retries``: relaunches of a crashed run. ``fail_fast``:
    no batch after one with a final failure. ``key``: a run's id."""

    def __init__(self, runs: Iterable[T], *, size: int, max_retries: int = 0,
                 fail_fast: bool = False, key: Callable[[T], Hashable] = id) -> None:
        if size < 1:
            raise ValueError(f"batch size must be >= 1, got {size}")
        self.size = size
        self.max_retries = max_retries
        self.fail_fast = fail_fast
        self.key = key
        self.queue: deque[T] = deque(runs)
        self.solo: deque[T] = deque()   # relaunched alone: their batch died under them
        self.isolated: set[Hashable] = set()
        self.attempts: dict[Hashable, int] = {}
        self.succeeded: list[T] = []
        self.failed: list[T] = []
        self.retried: list[T] = []
        self.stopped = False            # fail_fast stopped the queue

    def next_batch(self) -> list[T]:
        """The next batch to launch ([] when done): a solo relaunch first, else up to
        ``size`` runs from the front of the queue."""
        if self.done():
            return []
        if self.solo:
            return [self.solo.popleft()]
        n = min(self.size, len(self.queue))
        return [self.queue.popleft() for _ in range(n)]

    def relaunch_alone(self, unfinished: list[T]) -> set[Hashable]:
        """Runs of a batch the launcher lost before they finished. Two or more (not already
        isolated once) are relaunched one by one, so only the run that crashes fails; a
        single one is the crash itself. Returns their keys (they get no verdict now)."""
        fresh = [r for r in unfinished if self.key(r) not in self.isolated]
        if len(fresh) < 2:
            return set()
        keys = {self.key(r) for r in fresh}
        self.isolated |= keys
        self.solo.extend(fresh)
        return keys

    def settle(self, batch: list[T], verdicts: Mapping[Hashable, Verdict]) -> None:
        """Each run of ``batch`` with a verdict: done, failed, or (crashed, retries left)
        back to the end of the queue. Runs without a verdict are being relaunched alone."""
        for run in batch:
            verdict = verdicts.get(self.key(run))
            if verdict is None:
                continue
            if verdict is Verdict.OK:
                self.succeeded.append(run)
                continue
            k = self.key(run)
            self.attempts[k] = self.attempts.get(k, 0) + 1
            if verdict is Verdict.CRASHED and self.attempts[k] <= self.max_retries:
                self.retried.append(run)
                self.queue.append(run)
            else:
                self.failed.append(run)
        if self.failed and self.fail_fast:
            self.stopped = True

    def done(self) -> bool:
        return self.stopped or not (self.queue or self.solo)

    @property
    def waiting(self) -> int:
        """Runs not launched (yet, or ever if the queue stopped)."""
        return len(self.queue) + len(self.solo)
