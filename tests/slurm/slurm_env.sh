# A real single-node Slurm for the tests (sourced). Installs slurm-wlm and munge with apt
# when missing (root), writes slurm.conf into a temporary directory, starts munged, slurmctld
# and slurmd on localhost, and stops them by PID on exit. Skips (77), saying why, if the
# daemons cannot start here. Settings from shared notes: scheduling without the default
# delays makes short jobs start about 50x sooner.
#   slurm_start DIR       export SLURM_CONF; daemons up and every node idle
#   slurm_stop            (trap)
# HS_SLURM_NODES="hs1 hs2" makes several Slurm nodes on this one machine, one slurmd each
# (slurmd -N NAME, each on its own port; Debian's slurm-wlm is built with multiple-slurmd
# support); the default is one node, localhost.
slurm_skip() { echo "SKIP: $*" >&2; exit 77; }

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

slurm_install() {
    local missing=()
    for p in slurm-wlm munge; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) -eq 0 ]] || slurm_skip "slurm-wlm/munge are not installed and this is not root"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null 2>&1 || slurm_skip "apt-get install ${missing[*]} failed"
}

slurm_start() {
    local dir=$1
    [[ $(id -u) -eq 0 ]] || slurm_skip "a local slurmd must run as root"
    slurm_install
    # one local Slurm at a time (its ports are fixed): wait for another test's to stop; the
    # lock is released when this test exits (the daemons do not inherit it)
    exec {SLURM_LOCK_FD}>>/tmp/hypersweep-slurm-tests.lock
    flock -w "${HS_SLURM_LOCK_WAIT:-300}" "$SLURM_LOCK_FD" \
        || slurm_skip "another test's local Slurm held /tmp/hypersweep-slurm-tests.lock for too long"
    SLURM_DIR=$dir
    mkdir -p "$dir"/{state,spool,log,run}
    # munge: the daemon and a key (one is made if none exists)
    mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge 2>/dev/null || true
    if [[ ! -s /etc/munge/munge.key ]]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
        chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
    fi
    # a munged that a previous test is stopping may still be there without its socket:
    # credentials must round-trip, or that one is waited out and a fresh one started
    if ! munge_works; then
        local i
        for i in $(seq 1 50); do
            pgrep -x munged >/dev/null || break
            sleep 0.1
        done
        pkill -9 -x munged 2>/dev/null || true
        runuser -u munge -- /usr/sbin/munged --force >/dev/null 2>&1 {SLURM_LOCK_FD}>&- || slurm_skip "munged does not start"
        MUNGE_STARTED=1
        for i in $(seq 1 50); do
            munge_works && break
            sleep 0.1
        done
        munge_works || slurm_skip "munged started but credentials do not round-trip"
    fi
    local cpus
    cpus=${HS_SLURM_CPUS:-8}   # more than the cores: the tests oversubscribe, as mpirun does
    cat > "$dir/slurm.conf" <<CONF
ClusterName=hstest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
TmpFS=$dir/tmp/%n
SlurmctldPort=${HS_SLURMCTLD_PORT:-16817}
SlurmdPort=${HS_SLURMD_PORT:-16818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
Epilog=/bin/true
MaxArraySize=${HS_MAX_ARRAY_SIZE:-100001}
KillWait=5
SlurmdParameters=config_overrides
MinJobAge=2
ReturnToService=2
CONF
    local node port=${HS_SLURMD_PORT:-16818} names
    SLURM_NODES=(${HS_SLURM_NODES:-localhost})
    names=$(IFS=,; echo "${SLURM_NODES[*]}")
    for node in "${SLURM_NODES[@]}"; do
        mkdir -p "$dir/spool/$node" "$dir/tmp/$node"   # PMIx's client directories are per node
        echo "NodeName=$node NodeHostname=localhost NodeAddr=127.0.0.1 Port=$port CPUs=$cpus RealMemory=4000 State=UNKNOWN"
        port=$((port + 1))
    done >> "$dir/slurm.conf"
    echo "PartitionName=debug Nodes=$names Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4" >> "$dir/slurm.conf"
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -c -f "$SLURM_CONF" >/dev/null 2>&1 {SLURM_LOCK_FD}>&- || slurm_skip "slurmctld does not start: $(tail -3 "$dir/log/slurmctld.log" 2>/dev/null)"
    for node in "${SLURM_NODES[@]}"; do
        slurmd -f "$SLURM_CONF" -N "$node" >/dev/null 2>&1 {SLURM_LOCK_FD}>&- \
            || { slurm_stop; slurm_skip "slurmd -N $node does not start: $(tail -3 "$dir/log/slurmd-$node.log" 2>/dev/null)"; }
    done
    local i
    for i in $(seq 1 60); do
        if [[ $(sinfo -h -N -o %t 2>/dev/null | grep -cE '^(idle|mix|alloc)') -eq ${#SLURM_NODES[@]} ]]; then
            return 0
        fi
        sleep 0.5
    done
    local why
    # (|| true: under set -e a failing substitution would end the test here, silently)
    why="the nodes did not become idle: $(sinfo -h -N 2>&1 | head -4); $(tail -q -n 3 "$dir"/log/slurmd-*.log 2>/dev/null || true)"
    slurm_stop
    slurm_skip "$why"
}

slurm_stop() {
    local f
    for f in "$SLURM_DIR"/run/slurmd-*.pid "$SLURM_DIR/run/slurmctld.pid"; do
        [[ -s $f ]] && kill "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.5
    for f in "$SLURM_DIR"/run/slurmd-*.pid "$SLURM_DIR/run/slurmctld.pid"; do
        [[ -s $f ]] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
    # a daemon that never wrote its PID file (it stopped while registering) is found by its
    # command line, which names this test's slurm.conf
    pkill -9 -f -- "-f $SLURM_DIR/slurm.conf" 2>/dev/null || true
    if [[ -n ${MUNGE_STARTED:-} ]]; then
        pkill -x munged 2>/dev/null || true
        for f in $(seq 1 50); do
            pgrep -x munged >/dev/null || break
            sleep 0.1
        done
    fi
}

# wait_job JOBID TIMEOUT: until no task of the job is pending or running
wait_job() {
    local job=$1 limit=$2 t=0
    while squeue -h -j "$job" 2>/dev/null | grep -q .; do
        sleep 1
        t=$((t + 1))
        ((t < limit)) || return 1
    done
}
