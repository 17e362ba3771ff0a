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
# SILISOCS_HPC_SERVER_READY_URL, SILISOCS_HPC_SERVER_TIMEOUT_SECONDS — run by
# slurm_scripts/hooks.sh, the same code as for study-array-template.sh (server in its own
# process group, stopped as a group at exit; ready = HTTP 200-499). hooks.sh is
# $SILISOCS_HOOKS_SH, else the one beside this script, else
# $SLURM_SUBMIT_DIR/slurm_scripts/hooks.sh; none found = exit 2.
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

# ---- hooks: slurm_scripts/hooks.sh — SILISOCS_HOOKS_SH when set (environment or
# SILISOCS_ENV_FILE), else beside this script (run with bash, outside Slurm), else
# $SLURM_SUBMIT_DIR/slurm_scripts/hooks.sh (under sbatch, Slurm runs a spooled copy of this
# script: submit from the repo root). Sourcing it sets SERVER_PID= and the EXIT/TERM/INT
# traps (the server's group is stopped at exit) and defines run_hooks.
if [[ -n ${SILISOCS_HOOKS_SH:-} ]]; then
    HOOKS_SH=$SILISOCS_HOOKS_SH
    TRIED=$HOOKS_SH
else
    HOOKS_SH=$(dirname -- "${BASH_SOURCE[0]}")/hooks.sh
    TRIED=$HOOKS_SH
    if [[ ! -f $HOOKS_SH && -n ${SLURM_SUBMIT_DIR:-} ]]; then
        HOOKS_SH=$SLURM_SUBMIT_DIR/slurm_scripts/hooks.sh
        TRIED="$TRIED, $HOOKS_SH"
    fi
fi
if [[ ! -f $HOOKS_SH ]]; then
    echo "runner-template: hooks.sh not found (tried $TRIED); set SILISOCS_HOOKS_SH to" \
        "the path of slurm_scripts/hooks.sh" >&2
    exit 2
fi
# shellcheck source=/dev/null
source "$HOOKS_SH"

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
