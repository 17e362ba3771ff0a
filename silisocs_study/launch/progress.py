"""Live progress of a study from its record files: done / failed / running and an ETA."""
from __future__ import annotations

import os
import time

from ..status import COMPLETE_VALUES


class Progress:
    def __init__(self, ledger, ids: set[str], session: str, *, plain: bool) -> None:
        self.ledger = ledger
        self.ids = ids
        self.session = session
        self.plain = plain
        self.start = time.time()
        self.seen: dict[str, str] = {}
        self.mtimes: dict[str, int] = {}
        self.last_print = 0.0
        self.live = None
        self.task = None
        if not plain:
            try:
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)

                self.live = RichProgress(TextColumn("{task.description}"), BarColumn(),
                                         MofNCompleteColumn(), TimeElapsedColumn(),
                                         TextColumn("ETA"), TimeRemainingColumn())
                self.live.start()
                self.task = self.live.add_task("runs", total=len(ids))
            except ImportError:  # pragma: no cover
                self.plain = True

    def _scan(self) -> None:
        directory = self.ledger.records_dir
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return
        for entry in entries:
            run_id = entry.name[:-5]
            if run_id not in self.ids or not entry.name.endswith(".json"):
                continue
            mtime = entry.stat().st_mtime_ns
            if self.mtimes.get(run_id) == mtime:
                continue
            self.mtimes[run_id] = mtime
            rec = self.ledger.read(run_id)
            if rec and rec.get("session") == self.session:
                self.seen[run_id] = rec.get("status", "?")

    def counts(self) -> tuple[int, int, int]:
        done = sum(1 for s in self.seen.values() if s in COMPLETE_VALUES)
        failed = sum(1 for s in self.seen.values() if s in ("failed", "timeout"))
        running = sum(1 for s in self.seen.values() if s == "running")
        return done, failed, running

    def update(self) -> None:
        self._scan()
        done, failed, running = self.counts()
        finished = done + failed
        if self.live is not None and self.task is not None:   # both set together
            self.live.update(self.task, completed=finished,
                             description=f"ok {done} · failed {failed} · running {running}")
            return
        now = time.time()
        if finished and (now - self.last_print >= 10 or finished == len(self.ids)):
            if finished == getattr(self, "_last_finished", -1):
                return
            self._last_finished = finished
            self.last_print = now
            elapsed = now - self.start
            eta = (elapsed / finished * (len(self.ids) - finished)) if finished else None
            eta_text = f", ETA {eta:.0f}s" if eta is not None and finished < len(self.ids) else ""
            print(f"  progress: {finished}/{len(self.ids)} (ok {done}, failed {failed}, "
                  f"running {running}){eta_text}", flush=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
