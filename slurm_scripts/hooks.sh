# shellcheck shell=bash
# hooks.sh — the job hooks of the Slurm templates (study-array-template.sh, runner-template.sh),
# one copy sourced by both; the same semantics as silisocs_study/hpc/hooks.py.
#
# Source it, do not run it. Sourcing:
#   * sets SERVER_PID= (the server's process group, once started) and defines stop_server,
#     http_ready and run_hooks;
#   * installs the traps: EXIT -> stop_server, TERM -> exit 143 (scancel), INT -> exit 130,
#     so the server is stopped however the job ends. Source it before anything that may start
#     the server, and set no other EXIT trap afterwards.
# Nothing else runs: the caller runs `run_hooks` (setup, then server, then readiness) when it
# is ready to, and `run_hooks` returns non-zero (message on stderr) when a hook fails.
#
# How a template finds this file (Slurm runs a copy of the batch script from its spool
# directory, so the template's own path cannot be trusted inside a job):
#   study-array-template.sh  SILISOCS_HOOKS_SH from the submission's env.sh (slurm-array
#                            writes the absolute path of the hooks.sh beside the base script,
#                            else the one of the silisocs-study checkout)
#   runner-template.sh       SILISOCS_HOOKS_SH when set (environment or SILISOCS_ENV_FILE),
#                            else hooks.sh beside the script (runs outside Slurm), else
#                            $SLURM_SUBMIT_DIR/slurm_scripts/hooks.sh (sbatch from the repo)
#
# Variables read (from env.sh or the environment):
#   SILISOCS_HPC_SETUP_COMMAND            bash -c before anything else; must exit 0
#   SILISOCS_HPC_SERVER_COMMAND           bash -c in its own process group (setsid); the
#                                         whole group gets SIGTERM, then SIGKILL after
#                                         SILISOCS_HPC_SERVER_STOP_GRACE s (10), at exit
#   SILISOCS_HPC_SERVER_READY_URL         polled with curl once a second; ready = any HTTP
#                                         status 200-499 (5xx and no answer = not yet)
#   SILISOCS_HPC_SERVER_TIMEOUT_SECONDS   how long to wait for it (600)

if ! (return 0 2>/dev/null); then
    echo "hooks.sh: source it from a job script (source hooks.sh), do not run it" >&2
    exit 2
fi

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
