"""An exact command that logs every execution: ``execlog_cmd.py RUN_ID SECONDS [FAIL_CODE]``.

Appends JSON lines to the file named by $EXECLOG (one ``write`` on an O_APPEND descriptor, so
lines from concurrent processes never interleave): ``start``, a ``tick`` every 50 ms while it
works, then ``end`` — each with its pid and the time. A process that outlives a kill keeps
ticking, so a test sees any execution that overlaps another of the same run. Writes
``done.txt`` into $SILISOCS_RUN_DIR, then exits with FAIL_CODE (default 0) at once after ``end``.
"""
import json
import os
import sys
import time


def log(run_id: str, event: str) -> None:
    line = json.dumps({"run": run_id, "event": event, "pid": os.getpid(),
                       "t": time.time()}) + "\n"
    fd = os.open(os.environ["EXECLOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main() -> int:
    run_id, seconds = sys.argv[1], float(sys.argv[2])
    code = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    log(run_id, "start")
    deadline = time.time() + seconds
    while time.time() < deadline:
        time.sleep(0.05)
        log(run_id, "tick")
    with open(os.path.join(os.environ["SILISOCS_RUN_DIR"], "done.txt"), "w") as fh:
        fh.write(run_id)
    log(run_id, "end")
    return code


if __name__ == "__main__":
    # "end" must be the process's last act: an interpreter shutting down normally still runs
    # for milliseconds, and a stop signal landing then ends an execution the orchestrator
    # rightly counts as killed (and runs again) although the log already said "end".
    os._exit(main())
