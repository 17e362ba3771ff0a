#!/usr/bin/env bash
# runner-template.sh — one direct Slurm job: a Python module run between the job hooks.
# Generic: copy it and edit the #SBATCH defaults for your site.
#
# Usage:
#   SILISOCS_RUNNER_MODULE=examples.socialsim sbatch --export=ALL runner-template.sh [ARGS...]
#   # or drive a whole study from a job (the driver stays alive on the node, not the login):
#   SILISOCS_RUNNER_MODULE=silisocs_study sbatch --export=ALL runner-template.sh \
#       --study path/to/study.yaml run --yes --launcher submitit_slurm
#
# Runs: cd $SILISOCS_REPO_ROOT (default: the submit directory);
#       $SILISOCS_RUNNER_PYTHON -m $SILISOCS_RUNNER_MODULE
#           [--config-path $SILISOCS_RUNNER_CONFIG_PATH] ARGS...
# SILISOCS_ENV_FILE, when set, is sourced first (export K=<quoted> lines).
# Hooks: SILISOCS_HPC_SETUP_COMMAND, SILISOCS_HPC_SERVER_COMMAND,
# SILISOCS_HPC_SERVER_READY_URL, SILISOCS_HPC_SERVER_TIMEOUT_SECONDS — same meaning as in
# study-array-template.sh (server in its own process group, stopped as a group at exit;
# ready = HTTP 200-499).
#
#SBATCH --job-name=silisocs-runner
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00
set -euo pipefail

if [[ -n ${SILISOCS_ENV_FILE:-} ]]; then
    # shellcheck source=/dev/null
    source "$SILISOCS_ENV_FILE"
fi
if [[ -z ${SILISOCS_RUNNER_MODULE:-} ]]; then
    echo "runner-template: set SILISOCS_RUNNER_MODULE (the module to run with -m)" >&2
    exit 2
fi
PYTHON=${SILISOCS_RUNNER_PYTHON:-python3}

# ---- hooks (same in study-array-template.sh) ---------------------------------------------
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

cd "${SILISOCS_REPO_ROOT:-${SLURM_SUBMIT_DIR:-.}}"
run_hooks
cmd=("$PYTHON" -m "$SILISOCS_RUNNER_MODULE")
if [[ -n ${SILISOCS_RUNNER_CONFIG_PATH:-} ]]; then
    cmd+=(--config-path "$SILISOCS_RUNNER_CONFIG_PATH")
fi
cmd+=("$@")
echo "run: ${cmd[*]}" >&2
status=0
"${cmd[@]}" || status=$?
exit "$status"
