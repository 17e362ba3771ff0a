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
# Hooks (from env.sh or the environment), run by slurm_scripts/hooks.sh, which env.sh names
# as SILISOCS_HOOKS_SH (a copy of this template elsewhere still uses the repo's hooks.sh,
# or the hooks.sh beside it):
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

# ---- hooks: slurm_scripts/hooks.sh, named by env.sh (Slurm runs a spooled copy of this
# script, so its own path cannot point there). Sourcing it sets SERVER_PID= and the
# EXIT/TERM/INT traps (the server's group is stopped at exit) and defines run_hooks.
HOOKS_SH=${SILISOCS_HOOKS_SH:-}
if [[ -z $HOOKS_SH || ! -f $HOOKS_SH ]]; then
    echo "study-array-template: hooks.sh not found (SILISOCS_HOOKS_SH=${HOOKS_SH:-<unset>}" \
        "from $SUBMISSION_DIR/env.sh; submit again with slurm-array to write it)" >&2
    exit 2
fi
# shellcheck source=/dev/null
source "$HOOKS_SH"

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
