#!/usr/bin/env bash
# study-array-template.sh — one Slurm array task of a `silisocs-sweep slurm-array`
# submission. Generic: copy it and edit the #SBATCH defaults for your site (options given
# on the sbatch command line, e.g. by `slurm-array --partition ...`, override them).
#
# Usage (slurm-array builds this; see <submission>/sbatch.sh):
#   sbatch --array=0-N[%M] --export=ALL study-array-template.sh SUBMISSION_DIR [OFFSET]
#
# The task sources SUBMISSION_DIR/env.sh (export K=<shell-quoted> lines, so values keep
# commas, spaces and quotes), computes its index OFFSET + SLURM_ARRAY_TASK_ID (an index past
# the last task exits 0), runs the hooks, then
#   $SILISOCS_RUNNER_PYTHON -m silisocs_study task --submission DIR --index INDEX
# which runs only this task's runs (read from the submission's plan.json). A task of one run
# that the submission wrote as SUBMISSION_DIR/tasks/INDEX.argv (NUL-separated) runs that
# command instead: the app itself in Hydra single-run mode with the study callback.
#
# Hooks (from env.sh or the environment):
#   SILISOCS_HPC_SETUP_COMMAND            bash -c before anything else; must exit 0
#   SILISOCS_HPC_SERVER_COMMAND           bash -c in its own process group (setsid); the
#                                         whole group gets SIGTERM, then SIGKILL after
#                                         SILISOCS_HPC_SERVER_STOP_GRACE s (10), at exit
#   SILISOCS_HPC_SERVER_READY_URL         polled with curl once a second; ready = any HTTP
#                                         status 200-499 (5xx and no answer = not yet)
#   SILISOCS_HPC_SERVER_TIMEOUT_SECONDS   how long to wait for it (600)
#
#SBATCH --job-name=silisocs-study
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00
#SBATCH --array=0-0
set -euo pipefail

SUBMISSION_DIR=${1:-${SILISOCS_SUBMISSION_DIR:-}}
OFFSET=${2:-${SILISOCS_TASK_OFFSET:-0}}
if [[ -z $SUBMISSION_DIR || ! -f $SUBMISSION_DIR/env.sh ]]; then
    echo "study-array-template: no submission: give SUBMISSION_DIR (with env.sh) as the" \
        "first argument" >&2
    exit 2
fi
# shellcheck source=/dev/null
source "$SUBMISSION_DIR/env.sh"

if [[ -z ${SLURM_ARRAY_TASK_ID:-} ]]; then
    echo "study-array-template: SLURM_ARRAY_TASK_ID is not set (submit with --array)" >&2
    exit 2
fi
INDEX=$((OFFSET + SLURM_ARRAY_TASK_ID))
N_TASKS=${SILISOCS_N_TASKS:-0}
if ((INDEX >= N_TASKS)); then
    echo "task $INDEX: out of range ($N_TASKS task(s)); nothing to do"
    exit 0
fi
PYTHON=${SILISOCS_RUNNER_PYTHON:-python3}

# ---- hooks (same in runner-template.sh) --------------------------------------------------
SERVER_PID=
# shellcheck disable=SC2317  # reached through the EXIT trap
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    local grace=${SILISOCS_HPC_SERVER_STOP_GRACE:-10} i
    echo "stopping server process group $SERVER_PID" >&2
    if kill -TERM -- "-$SERVER_PID" 2>/dev/null; then
        for ((i = 0; i < grace * 10; i++)); do
            kill -0 -- "-$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    fi
    echo "server process group $SERVER_PID stopped" >&2
    SERVER_PID=
}
trap stop_server EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

http_ready() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" 2>/dev/null) || code=000
    [[ $code =~ ^[0-9]{3}$ ]] && ((10#$code >= 200 && 10#$code < 500))
}

run_hooks() {
    if [[ -n ${SILISOCS_HPC_SETUP_COMMAND:-} ]]; then
        echo "setup: $SILISOCS_HPC_SETUP_COMMAND" >&2
        bash -c "$SILISOCS_HPC_SETUP_COMMAND" || {
            echo "setup command failed (exit $?)" >&2
            return 1
        }
    fi
    [[ -n ${SILISOCS_HPC_SERVER_COMMAND:-} ]] || return 0
    echo "server: $SILISOCS_HPC_SERVER_COMMAND" >&2
    setsid bash -c "$SILISOCS_HPC_SERVER_COMMAND" </dev/null &
    SERVER_PID=$!
    local url=${SILISOCS_HPC_SERVER_READY_URL:-}
    [[ -n $url ]] || return 0
    command -v curl >/dev/null || { echo "curl not found (needed for the ready URL)" >&2; return 1; }
    local timeout=${SILISOCS_HPC_SERVER_TIMEOUT_SECONDS:-600}
    timeout=${timeout%%.*}
    local start=$SECONDS
    until http_ready "$url"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server command exited before $url was ready" >&2
            return 1
        fi
        if ((SECONDS - start >= ${timeout:-600})); then
            echo "server not ready at $url after ${timeout}s" >&2
            return 1
        fi
        sleep 1
    done
    echo "server ready: $url" >&2
}
# -------------------------------------------------------------------------------------------

cd "${SILISOCS_REPO_ROOT:-.}"
run_hooks
status=0
ARGV_FILE=$SUBMISSION_DIR/tasks/$INDEX.argv
if [[ -f $ARGV_FILE ]]; then
    # one run, decided at submission: its app runs directly, the study callback records it
    mapfile -d '' -t RUN_ARGV <"$ARGV_FILE"
    echo "task $INDEX of $N_TASKS: one run: ${RUN_ARGV[*]}" >&2
    "${RUN_ARGV[@]}" || status=$?
else
    echo "task $INDEX of $N_TASKS: $PYTHON -m silisocs_study task --submission $SUBMISSION_DIR" >&2
    "$PYTHON" -m silisocs_study task --submission "$SUBMISSION_DIR" --index "$INDEX" || status=$?
fi
exit "$status"
