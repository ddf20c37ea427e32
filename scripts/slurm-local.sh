#!/usr/bin/env bash
# A single-node Slurm cluster on localhost, for testing `cargo xtask run NAME --executor slurm`.
#
#   sudo scripts/slurm-local.sh up      # install (Debian/Ubuntu packages) if needed, configure, start, wait idle
#   export SLURM_CONF=/tmp/nnqft-slurm/slurm.conf
#   cargo xtask run smoke --executor slurm
#   sudo scripts/slurm-local.sh down    # stop the daemons (by pid)
#
# Needs root (slurmd runs jobs as their owner) and Debian 12's slurm 22.05 (slurmctld, slurmd, slurm-client,
# munge). Everything lives in $NNQFT_SLURM_DIR (default /tmp/nnqft-slurm): slurm.conf, state, pids, logs.
set -euo pipefail
DIR=${NNQFT_SLURM_DIR:-/tmp/nnqft-slurm}
CONF=$DIR/slurm.conf

die() { echo "slurm-local: $*" >&2; exit 1; }

install() {
    local need=()
    for b in slurmctld slurmd sbatch munged; do command -v "$b" >/dev/null || need+=("$b"); done
    [ ${#need[@]} -eq 0 ] && return
    command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get to install slurmctld slurmd slurm-client munge"
    echo "slurm-local: installing slurmctld slurmd slurm-client munge"
    local i
    for i in 1 2 3; do
        if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            slurmctld slurmd slurm-client munge >/dev/null; then
            return
        fi
        echo "slurm-local: apt-get failed (attempt $i), retrying" >&2
        sleep 5
    done
    die "could not install the Slurm packages"
}

configure() {
    mkdir -p "$DIR/ctld" "$DIR/d"
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
    cat > "$CONF" <<CONF
ClusterName=nnqft
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
DependencyParameters=kill_invalid_depend
MpiDefault=none
ReturnToService=2
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

up() {
    [ "$(id -u)" = 0 ] || die "run as root (slurmd must be able to start jobs as any user)"
    install
    configure
    # munged as the munge user, with its socket directory owned by munge.
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
    if ! pgrep -x munged >/dev/null; then
        [ -f /etc/munge/munge.key ] || die "/etc/munge/munge.key is missing (reinstall munge)"
        runuser -u munge -- munged --pid-file=/run/munge/munged.pid
    fi
    pid_alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
    pid_alive "$DIR/slurmd.pid" || slurmd -f "$CONF" -N localhost
    local t
    for t in $(seq 1 60); do
        if SLURM_CONF=$CONF sinfo -h -n localhost -o %t 2>/dev/null | grep -qx idle; then
            # An idle node is not yet proof that jobs run: submit one and wait for it.
            if SLURM_CONF=$CONF timeout 120 sbatch --wait --quiet --output=/dev/null --time=1 --wrap true; then
                echo "slurm-local: node localhost idle and running jobs ($CONF)"
                return
            fi
            echo "--- slurmd.log"; tail -20 "$DIR/slurmd.log" 2>/dev/null || true
            die "the node is idle but a test job did not complete within 120 s"
        fi
        sleep 1
    done
    echo "--- slurmctld.log"; tail -20 "$DIR/slurmctld.log" 2>/dev/null || true
    echo "--- slurmd.log"; tail -20 "$DIR/slurmd.log" 2>/dev/null || true
    SLURM_CONF=$CONF sinfo || true
    die "the node did not become idle within 60 s"
}

down() {
    local f
    for f in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" /run/munge/munged.pid; do
        if pid_alive "$f"; then kill "$(cat "$f")" || true; fi
    done
    echo "slurm-local: stopped"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) die "usage: $0 up|down" ;;
esac
