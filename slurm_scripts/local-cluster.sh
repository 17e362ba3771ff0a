#!/usr/bin/env bash
# local-cluster.sh — a real single-node Slurm cluster, with accounting
# (slurmdbd + MariaDB), on this machine, for tests and CI. No systemd needed.
#
# Usage: local-cluster.sh {install|up|status|down|env}
#   install  install the Debian packages if any is missing (needs root)
#   up       install if needed, write configs, start munged, mariadbd, slurmdbd,
#            slurmctld and slurmd, register the cluster; a no-op (after a health
#            check) when everything already runs
#   status   health check; one line per daemon; exit 0 only when all is healthy
#   down     cancel every job, then stop the daemons by their PID files
#   env      print the line that points clients at the generated slurm.conf
#
# Environment:
#   SILISOCS_SLURM_DIR      scratch dir (conf, state, spool, logs, pids, mysql)
#                           [/tmp/silisocs-slurm]
#   SILISOCS_SLURM_CLUSTER  ClusterName [silisocs]
#   SILISOCS_SLURM_CPUS     CPUs advertised by the node [8]
#   SILISOCS_SLURM_TIMEOUT  seconds allowed for each wait [60]
#
# Clients find the cluster through SLURM_CONF=<dir>/conf/slurm.conf, and also
# without it: /etc/slurm/slurm.conf is made a symlink to the generated file.
set -euo pipefail

DIR=${SILISOCS_SLURM_DIR:-/tmp/silisocs-slurm}
CLUSTER=${SILISOCS_SLURM_CLUSTER:-silisocs}
CPUS=${SILISOCS_SLURM_CPUS:-8}
TIMEOUT=${SILISOCS_SLURM_TIMEOUT:-60}
PARTITION=debug
STOP_TIMEOUT=30
STOPPED_PIDS=()

CONF_DIR=$DIR/conf
STATE_DIR=$DIR/state
SPOOL_DIR=$DIR/spool
LOG_DIR=$DIR/logs
PID_DIR=$DIR/pids
DB_DIR=$DIR/mysql
SLURM_CONF_FILE=$CONF_DIR/slurm.conf
DBD_CONF_FILE=$CONF_DIR/slurmdbd.conf
SYSTEM_CONF=/etc/slurm/slurm.conf
MUNGE_RUN=/run/munge
MYSQL_RUN=/run/mysqld
MYSQL_SOCK=$MYSQL_RUN/mysqld.sock
DB_NAME=slurm_acct_db
DB_USER=slurm

export SLURM_CONF=$SLURM_CONF_FILE
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server curl)
COMMANDS=(slurmctld slurmd slurmdbd sbatch sacct sacctmgr munged munge unmunge
          mariadbd mariadb mariadb-admin mariadb-install-db curl)
# Start order; `down` walks it backwards.
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)

log() { printf 'local-cluster: %s\n' "$*" >&2; }

# die MESSAGE [LOGFILE...]: print the message and the tail of each log, exit 1.
die() {
    local msg=$1 f
    shift
    log "ERROR: $msg"
    for f in "$@"; do
        if [[ -s $f ]]; then
            printf -- '----- last lines of %s -----\n' "$f" >&2
            tail -n 25 "$f" >&2 || true
        fi
    done
    exit 1
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "'$1' must run as root (it starts system daemons)"
}

now() { date +%s; }

logfile_of() {
    case $1 in
        munged) echo "$LOG_DIR/munged.log" ;;
        mariadbd) echo "$LOG_DIR/mariadbd.log" ;;
        *) echo "$LOG_DIR/$1.log" ;;
    esac
}

pidfile_of() { echo "$PID_DIR/$1.pid"; }

# proc_alive PID: the process exists and is not a zombie.
proc_alive() {
    local stat
    [[ -r /proc/$1/stat ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# pid_of NAME: print the PID from NAME's PID file if that process is alive and
# really is NAME (guards against a recycled PID); fail otherwise.
pid_of() {
    local name=$1 file pid comm
    file=$(pidfile_of "$name")
    [[ -r $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [[ -n $pid ]] || return 1
    proc_alive "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$name" ]] || return 1
    echo "$pid"
}

# spawn_bg NAME CMD...: start a foreground daemon in its own session with
# stdio sent to its log and no other inherited descriptors; record its PID.
spawn_bg() {
    local name=$1 log pid
    shift
    log=$(logfile_of "$name")
    (
        close_inherited_fds
        exec setsid "$@" </dev/null >>"$log" 2>&1
    ) &
    pid=$!
    echo "$pid" >"$(pidfile_of "$name")"
}

# run_detached LOG CMD...: run a self-daemonizing command the same way, but wait
# for the launcher (which exits once the daemon has forked).
run_detached() {
    local log=$1
    shift
    (
        close_inherited_fds
        exec "$@" </dev/null >>"$log" 2>&1
    )
}

close_inherited_fds() {
    local fd
    for fd in "/proc/$BASHPID/fd/"*; do
        fd=${fd##*/}
        if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
            exec {fd}>&- || true
        fi
    done
}

# wait_for NAME WHAT CMD...: poll CMD until it succeeds, at most $TIMEOUT s;
# fail early if daemon NAME has died (its PID file no longer names a live NAME).
# On failure, show the last output of CMD and the tail of NAME's log.
wait_for() {
    local name=$1 what=$2 deadline started out
    shift 2
    started=$(now)
    deadline=$((started + TIMEOUT))
    while :; do
        if out=$("$@" 2>&1); then
            return 0
        fi
        if [[ -n $name ]] && ! pid_of "$name" >/dev/null && (($(now) - started >= 5)); then
            [[ -z $out ]] || log "last output of '$*': $out"
            die "$name exited while waiting for $what" "$(logfile_of "$name")"
        fi
        if (($(now) >= deadline)); then
            [[ -z $out ]] || log "last output of '$*': $out"
            die "timed out after ${TIMEOUT}s waiting for $what" \
                ${name:+"$(logfile_of "$name")"}
        fi
        sleep 0.2
    done
}

# ---------------------------------------------------------------- install ----

missing_packages() {
    local p status
    for p in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || echo "$p"
    done
}

missing_commands() {
    local c
    for c in "${COMMANDS[@]}"; do
        command -v "$c" >/dev/null 2>&1 || echo "$c"
    done
}

cmd_install() {
    local missing policy_created=""
    missing="$(missing_packages)$(missing_commands)"
    if [[ -z $missing ]]; then
        log "packages already installed"
        return 0
    fi
    need_root install
    log "installing: ${PACKAGES[*]}"
    # Package scripts must not start the services: we start them by hand.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        policy_created=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
    if [[ -n $policy_created ]]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    missing="$(missing_commands)"
    [[ -z $missing ]] || die "still missing after install: $missing"
}

# ---------------------------------------------------------------- configs ----

# write_if_changed FILE MODE: replace FILE with stdin when the text differs.
# Returns 0 when it wrote, 1 when FILE was already up to date.
write_if_changed() {
    local file=$1 mode=$2 tmp
    tmp=$(mktemp "$file.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
        chmod "$mode" "$file"
        return 1
    fi
    mv -f "$tmp" "$file"
    return 0
}

real_memory_mb() {
    local kb
    kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    # Stay well below MemTotal so slurmd never marks the node INVAL.
    echo $((kb * 9 / 10 / 1024))
}

db_password() {
    local pw=""
    if [[ -r $DBD_CONF_FILE ]]; then
        pw=$(sed -n 's/^StoragePass=//p' "$DBD_CONF_FILE" | head -n 1)
    fi
    if [[ -z $pw ]]; then
        pw=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
    fi
    echo "$pw"
}

write_configs() {
    local host mem changed=""
    host=$(hostname -s)
    mem=$(real_memory_mb)
    install -d -m 0755 "$DIR" "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR" "$PID_DIR"

    if write_if_changed "$SLURM_CONF_FILE" 0644 <<EOF; then changed=1; fi
# Generated by slurm_scripts/local-cluster.sh — single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
SlurmdParameters=config_overrides
ReturnToService=2
EnforcePartLimits=ALL
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MaxArraySize=1001
MailProg=/bin/true
KillWait=5
InactiveLimit=0
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$PID_DIR/slurmctld.pid
SlurmdPidFile=$PID_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

    # slurmdbd insists on mode 0600, owned by SlurmUser (root).
    if write_if_changed "$DBD_CONF_FILE" 0600 <<EOF; then changed=1; fi
# Generated by slurm_scripts/local-cluster.sh
AuthType=auth/munge
DbdHost=$host
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$PID_DIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$(db_password)
StorageLoc=$DB_NAME
EOF
    chown root:root "$DBD_CONF_FILE"

    if [[ -n $changed ]] && pid_of slurmctld >/dev/null; then
        log "WARNING: configuration changed while the cluster runs;" \
            "run '$0 down && $0 up' to apply it"
    fi

    # Let child processes that lack SLURM_CONF (submitit, tests) find it too.
    install -d -m 0755 "$(dirname "$SYSTEM_CONF")"
    if [[ -e $SYSTEM_CONF && ! -L $SYSTEM_CONF ]]; then
        log "moving the existing $SYSTEM_CONF to $SYSTEM_CONF.silisocs-backup"
        mv -f "$SYSTEM_CONF" "$SYSTEM_CONF.silisocs-backup"
    fi
    if [[ $(readlink "$SYSTEM_CONF" 2>/dev/null || true) != "$SLURM_CONF_FILE" ]]; then
        ln -sfn "$SLURM_CONF_FILE" "$SYSTEM_CONF"
    fi
}

# ---------------------------------------------------------------- daemons ----

munge_ok() { munge -n | unmunge >/dev/null; }

start_munged() {
    if pid_of munged >/dev/null; then
        return 0
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        install -d -o munge -g munge -m 0700 /etc/munge
        setpriv --reuid=munge --regid=munge --init-groups -- \
            mungekey --create --keyfile=/etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 "$MUNGE_RUN"
    local log
    log=$(logfile_of munged)
    [[ -e $log ]] || install -o munge -g munge -m 0640 /dev/null "$log"
    chown munge:munge "$log"
    log "starting munged"
    spawn_bg munged setpriv --reuid=munge --regid=munge --init-groups -- \
        munged --foreground --log-file="$log" --pid-file="$MUNGE_RUN/munged.pid"
    wait_for munged "munge credentials (munge -n | unmunge)" munge_ok
}

mysql_root() {
    mariadb --no-defaults --protocol=socket --socket="$MYSQL_SOCK" -uroot
}

mysql_ping() {
    mariadb-admin --no-defaults --protocol=socket --socket="$MYSQL_SOCK" -uroot ping
}

start_mariadbd() {
    local log
    log=$(logfile_of mariadbd)
    if ! pid_of mariadbd >/dev/null; then
        install -d -o mysql -g mysql -m 0755 "$MYSQL_RUN"
        install -d -o mysql -g mysql -m 0750 "$DB_DIR"
        if [[ ! -d $DB_DIR/mysql ]]; then
            log "initialising the MariaDB datadir $DB_DIR"
            if ! mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DIR" \
                --auth-root-authentication-method=socket --skip-test-db \
                >"$LOG_DIR/mariadb-install-db.log" 2>&1; then
                rm -rf "${DB_DIR:?}"
                die "mariadb-install-db failed" "$LOG_DIR/mariadb-install-db.log"
            fi
        fi
        log "starting mariadbd"
        spawn_bg mariadbd mariadbd --no-defaults --user=mysql --skip-networking \
            --datadir="$DB_DIR" --socket="$MYSQL_SOCK" \
            --pid-file="$MYSQL_RUN/silisocs-mariadbd.pid" \
            --innodb-buffer-pool-size=1024M --innodb-lock-wait-timeout=900
    fi
    wait_for mariadbd "MariaDB on $MYSQL_SOCK" mysql_ping
    local pw
    pw=$(db_password)
    mysql_root <<EOF || die "could not create the slurm database user" "$log"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
EOF
}

dbd_ok() { timeout 10 sacctmgr -n -P list cluster format=cluster; }

cluster_registered() {
    timeout 10 sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"
}

start_slurmdbd() {
    local log
    log=$(logfile_of slurmdbd)
    if ! pid_of slurmdbd >/dev/null; then
        rm -f "$(pidfile_of slurmdbd)"
        log "starting slurmdbd"
        run_detached "$log" slurmdbd || die "slurmdbd failed to start" "$log"
    fi
    wait_for slurmdbd "slurmdbd (sacctmgr list cluster)" dbd_ok
    # Register the cluster before slurmctld starts, so its first contact with
    # slurmdbd already finds it (no "cluster not registered" window).
    if ! cluster_registered; then
        log "registering cluster '$CLUSTER' in accounting"
        timeout 30 sacctmgr -i add cluster "$CLUSTER" >>"$log" 2>&1 ||
            die "sacctmgr add cluster $CLUSTER failed" "$log"
    fi
}

ctld_ok() { timeout 15 scontrol ping | grep -q 'is UP'; }

start_slurmctld() {
    local log
    log=$(logfile_of slurmctld)
    if ! pid_of slurmctld >/dev/null; then
        rm -f "$(pidfile_of slurmctld)"
        log "starting slurmctld"
        run_detached "$log" slurmctld -f "$SLURM_CONF_FILE" ||
            die "slurmctld failed to start" "$log"
    fi
    wait_for slurmctld "slurmctld (scontrol ping UP)" ctld_ok
}

node_state() {
    timeout 15 sinfo -h -N -n "$(hostname -s)" -o '%T' | head -n 1
}

node_usable() {
    local s
    s=$(node_state) || return 1
    # Drop the flag suffixes sinfo appends (*, ~, #, !, %, $, @, ^, -).
    case ${s//[^a-z+]/} in
        idle | mixed | allocated | completing) return 0 ;;
        *) return 1 ;;
    esac
}

# Resume a node that slurmctld remembers as DOWN/DRAINED, then report usable.
node_resume_and_check() {
    local s
    s=$(node_state) || return 1
    case ${s//[^a-z+]/} in
        *drain* | down | fail*)
            scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
            ;;
    esac
    node_usable
}

start_slurmd() {
    local log
    log=$(logfile_of slurmd)
    if ! pid_of slurmd >/dev/null; then
        rm -f "$(pidfile_of slurmd)"
        log "starting slurmd"
        run_detached "$log" slurmd -f "$SLURM_CONF_FILE" ||
            die "slurmd failed to start" "$log"
    fi
    wait_for slurmd "node $(hostname -s) idle in sinfo" node_resume_and_check
}

sacct_ok() { timeout 15 sacct -n -X -S now-1hours -o JobID; }

cmd_up() {
    need_root up
    if all_running && health_quiet; then
        log "already up"
        cmd_status
        return 0
    fi
    cmd_install
    write_configs
    start_munged
    start_mariadbd
    start_slurmdbd
    start_slurmctld
    start_slurmd
    wait_for slurmdbd "sacct to answer" sacct_ok
    wait_for slurmctld "cluster '$CLUSTER' in accounting" cluster_registered
    cmd_status
    log "up; clients use SLURM_CONF=$SLURM_CONF_FILE (also linked from $SYSTEM_CONF)"
}

all_running() {
    local d
    for d in "${DAEMONS[@]}"; do
        pid_of "$d" >/dev/null || return 1
    done
}

health_quiet() {
    munge_ok >/dev/null 2>&1 && mysql_ping >/dev/null 2>&1 &&
        ctld_ok >/dev/null 2>&1 && node_usable >/dev/null 2>&1 &&
        sacct_ok >/dev/null 2>&1
}

# ----------------------------------------------------------------- status ----

cmd_status() {
    local ok=0 pid state line
    report() { # NAME HEALTHY(0/1) DETAIL
        local name=$1 healthy=$2 detail=$3 p
        p=$(pid_of "$name" || true)
        if [[ $healthy == 0 ]]; then
            printf '%-10s OK    pid %-7s %s\n' "$name" "$p" "$detail"
        else
            printf '%-10s FAIL  pid %-7s %s\n' "$name" "${p:--}" "$detail"
            ok=1
        fi
    }
    if pid_of munged >/dev/null && munge_ok >/dev/null 2>&1; then
        report munged 0 "munge -n | unmunge round-trip works"
    else
        report munged 1 "no munged or credentials fail (log: $(logfile_of munged))"
    fi
    if pid_of mariadbd >/dev/null && mysql_ping >/dev/null 2>&1; then
        report mariadbd 0 "answers on $MYSQL_SOCK"
    else
        report mariadbd 1 "not answering on $MYSQL_SOCK (log: $(logfile_of mariadbd))"
    fi
    if pid_of slurmdbd >/dev/null && cluster_registered >/dev/null 2>&1 &&
        sacct_ok >/dev/null 2>&1; then
        report slurmdbd 0 "cluster '$CLUSTER' registered; sacct works"
    else
        report slurmdbd 1 "sacct/sacctmgr fail or cluster not registered (log: $(logfile_of slurmdbd))"
    fi
    if pid_of slurmctld >/dev/null && ctld_ok >/dev/null 2>&1; then
        report slurmctld 0 "scontrol ping: UP"
    else
        report slurmctld 1 "scontrol ping not UP (log: $(logfile_of slurmctld))"
    fi
    state=$(node_state 2>/dev/null || true)
    if pid_of slurmd >/dev/null && node_usable >/dev/null 2>&1; then
        report slurmd 0 "node $(hostname -s) is ${state}"
    else
        report slurmd 1 "node $(hostname -s) is ${state:-unknown} (log: $(logfile_of slurmd))"
    fi
    line="SLURM_CONF=$SLURM_CONF_FILE"
    if [[ $ok == 0 ]]; then
        echo "cluster '$CLUSTER' healthy; $line"
    else
        echo "cluster '$CLUSTER' NOT healthy; $line"
    fi
    return "$ok"
}

# ------------------------------------------------------------------- down ----

stop_daemon() {
    local name=$1 pid file deadline
    file=$(pidfile_of "$name")
    if ! pid=$(pid_of "$name"); then
        [[ -e $file ]] && log "$name: not running (removing stale $file)"
        rm -f "$file"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(($(now) + STOP_TIMEOUT))
    while proc_alive "$pid"; do
        if (($(now) >= deadline)); then
            log "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$(($(now) + 10))
            while proc_alive "$pid"; do
                (($(now) < deadline)) || die "$name (pid $pid) survived SIGKILL" \
                    "$(logfile_of "$name")"
                sleep 0.2
            done
            break
        fi
        sleep 0.1
    done
    rm -f "$file"
    STOPPED_PIDS+=("$pid")
}

# The daemons were reparented to PID 1; give it a moment to reap them so that
# `ps` right after `down` lists no (zombie) daemons. Cosmetic, never fails.
wait_reaped() {
    local pid deadline
    deadline=$(($(now) + 10))
    for pid in "${STOPPED_PIDS[@]}"; do
        while [[ -e /proc/$pid ]] && (($(now) < deadline)); do
            sleep 0.1
        done
    done
}

cancel_all_jobs() {
    local ids deadline
    pid_of slurmctld >/dev/null && ctld_ok >/dev/null 2>&1 || return 0
    ids=$(timeout 15 squeue -h -o '%A' 2>/dev/null | sort -u | tr '\n' ' ') || return 0
    [[ -n ${ids// /} ]] || return 0
    log "cancelling jobs: $ids"
    # shellcheck disable=SC2086  # word splitting of the id list is intended
    timeout 15 scancel $ids 2>/dev/null || true
    deadline=$(($(now) + 20))
    while [[ -n $(timeout 15 squeue -h -o '%A' 2>/dev/null || true) ]]; do
        if (($(now) >= deadline)); then
            log "WARNING: jobs still listed by squeue after 20s; stopping anyway"
            break
        fi
        sleep 0.2
    done
}

cmd_down() {
    need_root down
    local i
    cancel_all_jobs
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        stop_daemon "${DAEMONS[i]}"
    done
    wait_reaped
    log "down"
}

# ------------------------------------------------------------------- main ----

check_settings() {
    local v
    for v in CPUS TIMEOUT; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || {
            echo "local-cluster: SILISOCS_SLURM_$v must be a positive integer, not '${!v}'" >&2
            exit 2
        }
    done
    [[ $CLUSTER =~ ^[a-z][a-z0-9_]*$ ]] || {
        echo "local-cluster: SILISOCS_SLURM_CLUSTER must match [a-z][a-z0-9_]*, not '$CLUSTER'" >&2
        exit 2
    }
    [[ $DIR == /* ]] || {
        echo "local-cluster: SILISOCS_SLURM_DIR must be an absolute path, not '$DIR'" >&2
        exit 2
    }
}

main() {
    check_settings
    case ${1:-} in
        install) cmd_install ;;
        up) cmd_up ;;
        status) cmd_status ;;
        down) cmd_down ;;
        env) echo "export SLURM_CONF=$SLURM_CONF_FILE" ;;
        *)
            echo "usage: $0 {install|up|status|down|env}" >&2
            exit 2
            ;;
    esac
}

main "$@"
