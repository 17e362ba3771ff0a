"""Recording a ``reuse_existing`` run: an earlier run adopted without launching anything.

Its folder need not exist when the study is planned (a study is planned on machines that do
not hold every old run); it must exist when the run is recorded, else the run fails with a
clear error and is tried again on the next invocation.
"""
from __future__ import annotations

import os

from ..model import Run, Study


def record_reuse_run(study: Study, run: Run, python: str, session: str) -> dict:
    from ..jobs import job_document
    from ..ledger.recorder import record_finish, record_reuse

    job = job_document(study, run, python, session=session)
    assert run.reuse is not None
    for what, path in (("source", run.reuse.source), ("eval", run.reuse.eval)):
        if path and not os.path.exists(path):
            return record_finish(job, None, status="failed", evaluate=False,
                                 error=f"reuse {what} does not exist: {path}")
    return record_reuse(job)
