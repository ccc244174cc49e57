#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the tests marked `slurm`.
#
#   bash scripts/local-slurm.sh start    # install (when missing), configure, start, wait until idle
#   bash scripts/local-slurm.sh status   # sinfo; exit 0 if the node answers, 3 if not running, 1 if degraded
#   bash scripts/local-slurm.sh stop     # cancel the cluster's jobs, stop the daemons started here
#
# Needs root (re-runs itself through sudo when available) and Debian's packages
# `slurmctld slurmd slurm-client munge slurmdbd mariadb-server`, installed with apt-get
# when missing. No systemd is needed: every daemon is started directly, in the foreground
# of its own session, and its pid is recorded in $EXCA_SLURM_DIR/pids/; `stop` only ends
# those recorded pids. `start` is idempotent: a daemon that already runs is left alone.
#
# Everything (configs, munge key, state, spool, logs, database) lives in
# $EXCA_SLURM_DIR (default /tmp/exca-slurm: short, because slurmd puts unix sockets
# in its spool folder). Slurm's client commands find the config through
# /etc/slurm/slurm.conf: once the cluster is up, it becomes a symlink to
# $EXCA_SLURM_DIR/etc/slurm.conf when that path is free, dangling or a link to a config
# written by this script (`stop` removes it); a config of the machine's own is left alone,
# and then `export SLURM_CONF=$EXCA_SLURM_DIR/etc/slurm.conf`. Slurm's ports are the
# standard ones (6817 slurmctld, 6818 slurmd, 6819 slurmdbd): one such cluster per machine.
#
# Accounting decision: slurmdbd with a private MariaDB (on 127.0.0.1:$EXCA_SLURM_DB_PORT,
# data in $EXCA_SLURM_DIR/db) is started by default. Without it `sacct` fails, submitit
# then never learns a job's state (it stays UNKNOWN), and waiting on a job that died
# without writing a result (killed at its time limit, cancelled, node failure) hangs
# forever. Slurm 22.05 has no file-based accounting that sacct reads (jobcomp/filetxt
# only writes a log), so slurmdbd is the only way to exact job states. Measured on this
# 2-core machine kind: installing everything on a fresh machine ~35 s (slurm+munge ~17 s,
# slurmdbd+mariadb-server ~14 s, apt-get update ~2 s); first start (database
# initialisation included) ~5 s; later starts 3-5 s, also after the daemons were killed
# with SIGKILL; sacct lags the controller by up to a second or so. EXCA_SLURM_ACCOUNTING=0
# runs without it (sacct then fails, and submitit falls back to UNKNOWN states).
#
# Settings worth knowing (see docs/howto-slurm-local.md):
# - the node gets CPUs=$(nproc) and RealMemory = 90% of MemTotal; memory is not a
#   consumable resource (CR_Core), so `--mem` up to RealMemory is accepted and jobs
#   asking for little memory never wait for each other;
# - the partition `debug` oversubscribes each core up to 4 jobs (OverSubscribe=FORCE:4) so
#   that short test jobs (arrays, many small jobs) run side by side on a small machine;
# - MaxTime=INFINITE but `--time` is enforced: OverTimeLimit=0, KillWait=5 (SIGTERM,
#   then SIGKILL 5 s later); slurmctld checks time limits every 30 s, so a job with
#   --time=1 ends (state TIMEOUT) between 60 and ~95 s after it started (measured: 86 s);
# - MaxArraySize=$EXCA_SLURM_MAX_ARRAY_SIZE (default 11: an array holds at most 11
#   tasks, so the tests see exca split larger arrays, as a real cluster's limit of 1001
#   would for large sweeps), MaxJobCount=100000, MinJobAge=600 (finished jobs stay
#   visible to squeue/scontrol for 10 minutes; sacct keeps them for good).
#
# Environment: EXCA_SLURM_DIR, EXCA_SLURM_CLUSTER (default exca), EXCA_SLURM_ACCOUNTING
# (default 1), EXCA_SLURM_DB_PORT (default 6833), EXCA_SLURM_TIMEOUT (seconds to wait for
# each daemon, default 60), EXCA_SLURM_MAX_ARRAY_SIZE (default 11). Changing a setting of
# a running cluster: `start` again rewrites slurm.conf and runs `scontrol reconfigure`.
set -euo pipefail

D=${EXCA_SLURM_DIR:-/tmp/exca-slurm}
CLUSTER=${EXCA_SLURM_CLUSTER:-exca}
ACCOUNTING=${EXCA_SLURM_ACCOUNTING:-1}
DB_PORT=${EXCA_SLURM_DB_PORT:-6833}
TIMEOUT=${EXCA_SLURM_TIMEOUT:-60}
MAX_ARRAY_SIZE=${EXCA_SLURM_MAX_ARRAY_SIZE:-11}
NODE=$(hostname -s)
SLURM_CONF="$D/etc/slurm.conf"
export SLURM_CONF
ETC_LINK=/etc/slurm/slurm.conf
CONF_CHANGED=0
HEADER="# Written by scripts/local-slurm.sh"
export DEBIAN_FRONTEND=noninteractive

say() { echo "local-slurm: $*"; }

logs_tail() {
  local f
  for f in "$D"/log/*.log; do
    if [ ! -s "$f" ] || [[ "$f" == *install* ]]; then continue; fi
    echo "----- tail of $f -----"
    tail -n 15 "$f"
  done
}

fail() {
  say "ERROR: $*" >&2
  logs_tail >&2
  exit 1
}

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      exec sudo --preserve-env=EXCA_SLURM_DIR,EXCA_SLURM_CLUSTER,EXCA_SLURM_ACCOUNTING,EXCA_SLURM_DB_PORT,EXCA_SLURM_TIMEOUT \
        bash "$0" "$@"
    fi
    say "ERROR: needs root (Slurm's daemons run as root): sudo bash $0 $*" >&2
    exit 1
  fi
}

# --- installation -------------------------------------------------------------------------

install_packages() {
  local cmds=(munged slurmctld slurmd sinfo sbatch sacct)
  local pkgs=(munge slurmctld slurmd slurm-client)
  if [ "$ACCOUNTING" = 1 ]; then
    cmds+=(slurmdbd mariadbd mariadb-install-db mariadb-admin mariadb)
    pkgs+=(slurmdbd mariadb-server mariadb-client)
  fi
  local missing=0 c
  for c in "${cmds[@]}"; do
    command -v "$c" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1 || missing=1
  done
  [ "$missing" = 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || fail "Slurm is not installed and apt-get is missing: install ${pkgs[*]}"
  say "installing ${pkgs[*]} (apt-get)"
  local t0=$SECONDS
  apt-get update -qq >"/tmp/exca-slurm-apt.log" 2>&1 || {
    tail -n 20 /tmp/exca-slurm-apt.log >&2
    fail "apt-get update failed"
  }
  apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"/tmp/exca-slurm-apt.log" 2>&1 || {
    tail -n 20 /tmp/exca-slurm-apt.log >&2
    fail "apt-get install ${pkgs[*]} failed"
  }
  say "installed in $((SECONDS - t0)) s"
}

# --- configuration ------------------------------------------------------------------------

write_configs() {
  mkdir -p "$D"/{etc,state,spool,log,run,pids,munge}
  chmod 755 "$D"
  chmod 700 "$D/munge"
  local ncpu mem_kb mem_mb
  ncpu=$(nproc)
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  mem_mb=$((mem_kb * 9 / 10 / 1024))
  local acct="AccountingStorageType=accounting_storage/none"
  if [ "$ACCOUNTING" = 1 ]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStoragePass=$D/run/munge.socket"
  fi
  cat >"$D/etc/slurm.conf.new" <<EOF
$HEADER: a one-node test cluster (do not edit, it is rewritten)
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$D/run/munge.socket
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
$acct
JobCompType=jobcomp/none
MaxArraySize=$MAX_ARRAY_SIZE
MaxJobCount=100000
MinJobAge=600
KillWait=5
OverTimeLimit=0
MessageTimeout=10
InactiveLimit=0
SlurmctldTimeout=60
SlurmdTimeout=120
TmpFS=/tmp
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$ncpu RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE OverSubscribe=FORCE:4 State=UP
EOF
  if cmp -s "$D/etc/slurm.conf.new" "$D/etc/slurm.conf"; then
    rm -f "$D/etc/slurm.conf.new"
  else
    CONF_CHANGED=1
    mv -f "$D/etc/slurm.conf.new" "$D/etc/slurm.conf"
  fi
  chmod 644 "$D/etc/slurm.conf"
  if [ "$ACCOUNTING" = 1 ]; then
    [ -s "$D/etc/dbpass" ] || (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$D/etc/dbpass")
    (
      umask 077
      cat >"$D/etc/slurmdbd.conf" <<EOF
# Written by scripts/local-slurm.sh
AuthType=auth/munge
AuthInfo=socket=$D/run/munge.socket
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$D/log/slurmdbd.log
PidFile=$D/run/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$D/etc/dbpass")
StorageLoc=slurm_acct_db
EOF
    )
    chmod 600 "$D/etc/slurmdbd.conf"
  fi
  if [ ! -s "$D/munge/munge.key" ]; then
    (umask 077 && head -c 1024 /dev/urandom >"$D/munge/munge.key")
  fi
  chmod 400 "$D/munge/munge.key"
}

# the client commands (sinfo, sbatch, sacct, ...) read /etc/slurm/slurm.conf: once the
# cluster is up, make it a link to our config when that path is free, dangling, or a link
# to a config written by this script
link_config() {
  mkdir -p /etc/slurm
  if [ ! -e "$ETC_LINK" ] || { [ -L "$ETC_LINK" ] && grep -q "^$HEADER" "$ETC_LINK"; }; then
    ln -sfn "$SLURM_CONF" "$ETC_LINK"
  elif [ "$(readlink -f "$ETC_LINK")" != "$SLURM_CONF" ]; then
    say "WARNING: $ETC_LINK exists and is not ours: export SLURM_CONF=$SLURM_CONF to use this cluster"
  fi
}

# --- processes ----------------------------------------------------------------------------

# running NAME: true if the pid recorded for NAME is alive and runs the program NAME
running() {
  local name=$1 pidf="$D/pids/$1.pid" pid
  [ -s "$pidf" ] || return 1
  pid=$(cat "$pidf")
  kill -0 "$pid" 2>/dev/null || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

# launch NAME CMD...: starts CMD in the foreground of a new session, records its pid
launch() {
  local name=$1
  shift
  if running "$name"; then
    say "$name already running (pid $(cat "$D/pids/$name.pid"))"
    return 0
  fi
  setsid "$@" </dev/null >>"$D/log/$name.out" 2>&1 &
  echo $! >"$D/pids/$name.pid"
  say "started $name (pid $!)"
}

# wait_for WHAT CMD...: retries CMD until it succeeds, or fails after $TIMEOUT s
wait_for() {
  local what=$1 name=$2
  shift 2
  local t0=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && ! running "$name"; then
      fail "$name exited while waiting for $what (see $D/log/$name.out)"
    fi
    if ((SECONDS - t0 > TIMEOUT)); then
      fail "timed out after $TIMEOUT s waiting for $what"
    fi
    sleep 0.5
  done
}

munge_ok() { munge -n -S "$D/run/munge.socket" | unmunge -S "$D/run/munge.socket"; }
db_ok() { mariadb-admin --no-defaults --socket="$D/run/mysqld.sock" -u root ping; }
dbd_ok() { timeout 10 sacctmgr -n -P list cluster format=cluster; }
ctld_ok() { timeout 10 scontrol ping | grep -q 'is UP'; }
node_state() { timeout 10 sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n 1; }
node_ok() {
  local s
  s=$(node_state)
  [[ "$s" == idle* || "$s" == mix* || "$s" == alloc* ]]
}

start_db() {
  if [ ! -d "$D/db/mysql" ]; then
    say "initialising the accounting database in $D/db"
    rm -rf "$D/db"
    mariadb-install-db --no-defaults --user=root --datadir="$D/db" --skip-test-db \
      --auth-root-authentication-method=socket >"$D/log/mariadb-install.log" 2>&1 ||
      fail "mariadb-install-db failed (see $D/log/mariadb-install.log)"
  fi
  launch mariadbd mariadbd --no-defaults --user=root --datadir="$D/db" \
    --socket="$D/run/mysqld.sock" --pid-file="$D/run/mariadbd.pid" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --log-error="$D/log/mariadbd.log" --innodb-buffer-pool-size=128M \
    --innodb-log-file-size=64M --innodb-lock-wait-timeout=900
  wait_for "MariaDB to answer" mariadbd db_ok
  local pass
  pass=$(cat "$D/etc/dbpass")
  mariadb --no-defaults --socket="$D/run/mysqld.sock" -u root -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" ||
    fail "could not create the database user 'slurm'"
}

cmd_start() {
  local t0=$SECONDS
  install_packages
  PATH="$PATH:/usr/sbin:/sbin"
  write_configs
  launch munged munged -F --force --key-file="$D/munge/munge.key" \
    --socket="$D/run/munge.socket" --pid-file="$D/run/munged.pid" \
    --log-file="$D/log/munged.log" --seed-file="$D/munge/munged.seed"
  wait_for "munged to answer" munged munge_ok
  if [ "$ACCOUNTING" = 1 ]; then
    start_db
    launch slurmdbd slurmdbd -D
    wait_for "slurmdbd to answer" slurmdbd dbd_ok
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
      sacctmgr -i add cluster "$CLUSTER" >/dev/null || fail "sacctmgr add cluster $CLUSTER failed"
    fi
  fi
  local ctld_was_running=0
  running slurmctld && ctld_was_running=1
  launch slurmctld slurmctld -D
  wait_for "slurmctld to answer" slurmctld ctld_ok
  if [ "$ctld_was_running" = 1 ] && [ "$CONF_CHANGED" = 1 ]; then
    say "slurm.conf changed: scontrol reconfigure"
    scontrol reconfigure || fail "scontrol reconfigure failed"
  fi
  launch slurmd slurmd -D -N "$NODE"
  local t1=$SECONDS
  until node_ok; do
    running slurmd || fail "slurmd exited (see $D/log/slurmd.log)"
    local s
    s=$(node_state)
    if [[ "$s" == down* || "$s" == drain* ]] && ((SECONDS - t1 > 3)); then
      scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    fi
    ((SECONDS - t1 > TIMEOUT)) && fail "node $NODE not idle after $TIMEOUT s (state: ${s:-none})"
    sleep 0.5
  done
  link_config
  say "cluster '$CLUSTER' up in $((SECONDS - t0)) s (accounting: $([ "$ACCOUNTING" = 1 ] && echo slurmdbd || echo none))"
  sinfo
}

# stop_one NAME: ends the recorded pid of NAME (SIGTERM, then SIGKILL after 20 s)
stop_one() {
  local name=$1 pid i
  if ! running "$name"; then
    rm -f "$D/pids/$name.pid"
    return 0
  fi
  pid=$(cat "$D/pids/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) ignored SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$D/pids/$name.pid"
  say "stopped $name (pid $pid)"
}

cmd_stop() {
  if running slurmctld; then
    # end the cluster's jobs first, so that no job step outlives its slurmd
    timeout 15 scancel --full --quiet --partition=debug 2>/dev/null || true
    local i
    for ((i = 0; i < 20; i++)); do
      [ -z "$(timeout 5 squeue -h -t running,completing,configuring 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  local name
  for name in slurmd slurmctld slurmdbd mariadbd munged; do
    stop_one "$name"
  done
  if [ -L "$ETC_LINK" ] && [ "$(readlink "$ETC_LINK")" = "$SLURM_CONF" ]; then
    rm -f "$ETC_LINK"
  fi
  say "stopped"
}

cmd_status() {
  local name any=0 all=1 daemons=(munged slurmctld slurmd)
  [ -f "$D/pids/slurmdbd.pid" ] && daemons=(munged mariadbd slurmdbd slurmctld slurmd)
  for name in "${daemons[@]}"; do
    if running "$name"; then
      say "$name running (pid $(cat "$D/pids/$name.pid"))"
      any=1
    else
      say "$name not running"
      all=0
    fi
  done
  if [ "$any" = 0 ]; then
    say "not running"
    return 3
  fi
  if [ "$all" = 1 ] && node_ok; then
    sinfo
    return 0
  fi
  say "degraded: node state '$(node_state)'"
  return 1
}

case "${1:-}" in
  start)
    need_root "$@"
    cmd_start
    ;;
  stop)
    need_root "$@"
    cmd_stop
    ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
