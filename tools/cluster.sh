#!/usr/bin/env bash
# `make cluster`: a three-node startserv cluster on this machine (docs/cluster.md), in the
# foreground until Ctrl-C.
#
#   1. bash tools/services.sh        MariaDB 127.0.0.1:3306 and Redis 127.0.0.1:6379 answer
#   2. cargo build --release -p server
#   3. CREATE DATABASE IF NOT EXISTS chat_cluster (the nodes share it; each node applies
#      the schema if it is missing, node1 first, alone)
#   4. node1..node3 on 127.0.0.1:7001..7003, each with its own --data-dir (and log) under
#      data/cluster/nodeN/, all in cluster `chat` over redis://127.0.0.1:6379/0
#   5. the gateway, startgate, on 127.0.0.1:8080 (docs/gateway.md), mail into
#      data/cluster/gate/mail/
#   6. waits until each accepts TCP, prints where each listens and logs, then waits.
#
# Ctrl-C (or SIGTERM) stops every node: SIGTERM, up to CLUSTER_STOP_SECS for them to exit,
# then SIGKILL for the stragglers. A node that dies meanwhile (say you SIGKILL one to see
# the others carry on) is reported; the script ends when none is left. The nodes run in
# sessions of their own: if this script is itself SIGKILLed they keep running (stop them
# by the pids it printed).
#
# Load it with chatload, one --addr per node (relay puts the two friends of every pair
# on different nodes, so every message crosses nodes):
#
#   cargo build --release -p tools
#   target/release/chatload relay --addr 127.0.0.1:7001 --addr 127.0.0.1:7002 \
#       --addr 127.0.0.1:7003 --conns 1000 --duration 10
#
# Environment (defaults in brackets):
#   CLUSTER_NAME [chat]             --cluster NAME: prefix of every Redis key of the cluster
#   CLUSTER_NODES [3]               how many nodes (node1..nodeN)
#   CLUSTER_BASE_PORT [7001]        node i listens on CLUSTER_BASE_PORT + i - 1
#   CLUSTER_HTTP_BASE_PORT [8181]   node i gets --http-port CLUSTER_HTTP_BASE_PORT + i - 1
#                                   (/healthz, /metrics); empty: no HTTP port
#   CLUSTER_GATE_PORT [8080]        the gateway's port; empty: no gateway
#   CLUSTER_DB [chat_cluster]       MariaDB database (letters, digits, _), on root@127.0.0.1:3306
#   CLUSTER_REDIS [redis://127.0.0.1:6379/0]
#   CLUSTER_DIR [data/cluster]      each node's --data-dir is CLUSTER_DIR/nodeN (log: startserv.log)
#   CLUSTER_CONFIG []               --config FILE for every node (e.g. cheap argon2 for load tests)
#   CLUSTER_LOG_LEVEL []            --log-level for every node
#   CLUSTER_FRESH [0]               1: drop the database and the cluster's Redis keys first
#   CLUSTER_WAIT_SECS [60]          how long a node may take to accept TCP
#   CLUSTER_STOP_SECS [10]          how long the nodes get to exit after SIGTERM
#   CARGO [cargo], CARGO_TARGET_DIR honoured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

readonly NAME=${CLUSTER_NAME:-chat}
readonly NODES=${CLUSTER_NODES:-3}
readonly BASE_PORT=${CLUSTER_BASE_PORT:-7001}
readonly HTTP_BASE_PORT=${CLUSTER_HTTP_BASE_PORT-8181}
readonly GATE_PORT=${CLUSTER_GATE_PORT-8080}
readonly DB=${CLUSTER_DB:-chat_cluster}
readonly REDIS_URL=${CLUSTER_REDIS:-redis://127.0.0.1:6379/0}
readonly DIR=${CLUSTER_DIR:-data/cluster}
readonly CONFIG=${CLUSTER_CONFIG:-}
readonly LOG_LEVEL=${CLUSTER_LOG_LEVEL:-}
readonly FRESH=${CLUSTER_FRESH:-0}
readonly WAIT_SECS=${CLUSTER_WAIT_SECS:-60}
readonly STOP_SECS=${CLUSTER_STOP_SECS:-10}
readonly CARGO=${CARGO:-cargo}
readonly HOST=127.0.0.1
readonly MYSQL_HOST=127.0.0.1
readonly MYSQL_PORT=3306
readonly MYSQL_URL="mysql://root@$MYSQL_HOST:$MYSQL_PORT/$DB"

log() { echo "cluster: $*"; }
die() {
    echo "cluster: error: $*" >&2
    exit 1
}

# in_range VALUE MIN MAX: VALUE is a whole number (no leading zero) in MIN..=MAX.
in_range() { [[ "$1" =~ ^(0|[1-9][0-9]{0,8})$ ]] && (($1 >= $2 && $1 <= $3)); }
in_range "$NODES" 1 64 || die "CLUSTER_NODES must be 1..64, got '$NODES'"
in_range "$BASE_PORT" 1 $((65536 - NODES)) ||
    die "CLUSTER_BASE_PORT must leave room for $NODES ports below 65536, got '$BASE_PORT'"
if [[ -n "$HTTP_BASE_PORT" ]]; then
    in_range "$HTTP_BASE_PORT" 1 $((65536 - NODES)) ||
        die "CLUSTER_HTTP_BASE_PORT must leave room for $NODES ports below 65536, got '$HTTP_BASE_PORT'"
fi
if [[ -n "$GATE_PORT" ]]; then
    in_range "$GATE_PORT" 1 65535 || die "CLUSTER_GATE_PORT must be 1..65535, got '$GATE_PORT'"
fi
in_range "$WAIT_SECS" 1 86400 || die "CLUSTER_WAIT_SECS must be 1..86400 seconds, got '$WAIT_SECS'"
in_range "$STOP_SECS" 0 86400 || die "CLUSTER_STOP_SECS must be 0..86400 seconds, got '$STOP_SECS'"
[[ "$DB" =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "CLUSTER_DB must be 1..64 of A-Z a-z 0-9 _, got '$DB'"
[[ "$NAME" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "CLUSTER_NAME must be 1..64 of A-Z a-z 0-9 _ . -, got '$NAME'"
[[ -z "$CONFIG" || -f "$CONFIG" ]] || die "CLUSTER_CONFIG $CONFIG is not a file"

# True if something accepts TCP connections on $1:$2.
tcp_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# ---------------------------------------------------------------------------------------
# Services, build, database
# ---------------------------------------------------------------------------------------

log "services: bash tools/services.sh"
bash tools/services.sh

log "building: $CARGO build --release -p server -p gate"
"$CARGO" build --release -p server -p gate
TARGET_DIR=${CARGO_TARGET_DIR:-$("$CARGO" metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}
[[ -n "$TARGET_DIR" ]] || TARGET_DIR="$ROOT/target"
[[ "$TARGET_DIR" == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
readonly STARTSERV="$TARGET_DIR/release/startserv"
[[ -x "$STARTSERV" ]] || die "no server binary at $STARTSERV after the build"
readonly STARTGATE="$TARGET_DIR/release/startgate"
[[ -x "$STARTGATE" ]] || die "no gateway binary at $STARTGATE after the build"

MYSQL_CLIENT=$(command -v mariadb || command -v mysql || true)
[[ -n "$MYSQL_CLIENT" ]] || die "neither the mariadb nor the mysql client is installed (tools/services.sh installs it)"
sql() {
    "$MYSQL_CLIENT" -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot --connect-timeout=5 -e "$1"
}
if [[ "$FRESH" == 1 ]]; then
    log "CLUSTER_FRESH=1: dropping database $DB and Redis keys $NAME:*"
    sql "DROP DATABASE IF EXISTS \`$DB\`" || die "could not drop database $DB"
    if command -v redis-cli >/dev/null 2>&1; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$NAME:*" |
            xargs -r -n 500 redis-cli -u "$REDIS_URL" unlink >/dev/null ||
            die "could not delete the Redis keys $NAME:*"
    else
        log "redis-cli not installed: Redis keys $NAME:* left as they are"
    fi
fi
sql "CREATE DATABASE IF NOT EXISTS \`$DB\`" ||
    die "could not create database $DB on $MYSQL_HOST:$MYSQL_PORT (user root, empty password)"
log "database: $MYSQL_URL"

# ---------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------

PIDS=()   # PIDS[i] is node i+1's pid (the gateway's last), or empty once it is gone
PORTS=()
LOGS=()
NAMES=()  # node1..nodeN, gateway

# stop_all: SIGTERM to every live node, up to STOP_SECS for them to exit, then SIGKILL.
stop_all() {
    local i pid live deadline
    live=()
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            live+=("$pid")
        fi
    done
    ((${#live[@]} > 0)) || return 0
    log "stopping ${#live[@]} process(es) (SIGTERM, up to ${STOP_SECS}s)"
    deadline=$((SECONDS + STOP_SECS))
    while ((SECONDS < deadline)); do
        local any=0
        for pid in "${live[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then
                any=1
            fi
        done
        ((any)) || break
        sleep 0.2
    done
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            log "${NAMES[$i]} (pid $pid) still running after ${STOP_SECS}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${live[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    log "all stopped"
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    exit "$rc"
}
on_signal() {
    echo >&2
    log "interrupted"
    exit 0
}
trap on_exit EXIT
trap on_signal INT TERM

# log_tail N: the last lines of node N's log, indented, on stderr.
log_tail() {
    local n=$1
    echo "---- last 30 lines of ${LOGS[$((n - 1))]} ----" >&2
    tail -n 30 "${LOGS[$((n - 1))]}" >&2 || true
    echo "----" >&2
}

# start_node N: starts node N in the background (its own session, so that the terminal's
# Ctrl-C reaches only this script, which stops the nodes in order).
start_node() {
    local n=$1 port=$((BASE_PORT + $1 - 1)) dir="$DIR/node$1"
    local args=("$port" --bind "$HOST" --mysql "$MYSQL_URL" --redis "$REDIS_URL"
        --cluster "$NAME" --node-id "node$n" --advertise "$HOST:$port" --data-dir "$dir")
    if [[ -n "$CONFIG" ]]; then
        args+=(--config "$CONFIG")
    fi
    if [[ -n "$LOG_LEVEL" ]]; then
        args+=(--log-level "$LOG_LEVEL")
    fi
    if [[ -n "$HTTP_BASE_PORT" ]]; then
        args+=(--http-port "$((HTTP_BASE_PORT + n - 1))")
    fi
    if tcp_open "$HOST" "$port"; then
        die "something already listens on $HOST:$port (a cluster still running?); stop it or set CLUSTER_BASE_PORT"
    fi
    mkdir -p "$dir"
    local logfile="$dir/startserv.log"
    echo "== $(date '+%F %T') $STARTSERV ${args[*]}" >"$logfile"
    setsid "$STARTSERV" "${args[@]}" </dev/null >>"$logfile" 2>&1 &
    PIDS[n - 1]=$!
    PORTS[n - 1]=$port
    LOGS[n - 1]=$logfile
    NAMES[n - 1]="node$n"
}

# wait_node N: waits until node N accepts TCP; fails (with its log tail) if it exits or
# does not within WAIT_SECS.
wait_node() {
    local n=$1 pid=${PIDS[$(($1 - 1))]} port=${PORTS[$(($1 - 1))]}
    local deadline=$((SECONDS + WAIT_SECS))
    until tcp_open "$HOST" "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            local rc=0
            wait "$pid" 2>/dev/null || rc=$?
            PIDS[n - 1]=""
            log_tail "$n"
            die "${NAMES[$((n - 1))]} exited with status $rc before accepting connections on $HOST:$port"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$n"
            die "${NAMES[$((n - 1))]} (pid $pid) did not accept connections on $HOST:$port within ${WAIT_SECS}s"
        fi
        sleep 0.2
    done
}

mkdir -p "$DIR"
# node1 first and alone: it applies the schema to an empty database; then the others.
start_node 1
wait_node 1
for ((n = 2; n <= NODES; n++)); do
    start_node "$n"
done
for ((n = 2; n <= NODES; n++)); do
    wait_node "$n"
done

# ---- gateway --------------------------------------------------------------------------
# startgate on the same database, Redis and cluster name; index NODES in PIDS, so that
# stop_all stops it too. Mail goes to files in $DIR/gate/mail.
GATE_INDEX=$NODES
if [[ -n "$GATE_PORT" ]]; then
    if tcp_open "$HOST" "$GATE_PORT"; then
        die "something already listens on $HOST:$GATE_PORT (a gateway still running?); stop it or set CLUSTER_GATE_PORT"
    fi
    gate_dir="$DIR/gate"
    mkdir -p "$gate_dir"
    gate_args=("$GATE_PORT" --bind "$HOST" --mysql "$MYSQL_URL" --redis "$REDIS_URL"
        --cluster "$NAME" --data-dir "$gate_dir" --mail-dir "$gate_dir/mail")
    if [[ -n "$CONFIG" ]]; then
        gate_args+=(--config "$CONFIG")
    fi
    echo "== $(date '+%F %T') $STARTGATE ${gate_args[*]}" >"$gate_dir/startgate.out"
    setsid "$STARTGATE" "${gate_args[@]}" </dev/null >>"$gate_dir/startgate.out" 2>&1 &
    PIDS[GATE_INDEX]=$!
    PORTS[GATE_INDEX]=$GATE_PORT
    LOGS[GATE_INDEX]="$gate_dir/startgate.out"
    NAMES[GATE_INDEX]=gateway
    wait_node $((GATE_INDEX + 1))
fi
# -----------------------------------------------------------------------------------------

ADDR_ARGS=""
echo
log "cluster '$NAME': $NODES node(s) up, database $MYSQL_URL, redis $REDIS_URL"
for ((n = 1; n <= NODES; n++)); do
    http=""
    if [[ -n "$HTTP_BASE_PORT" ]]; then
        http="http $HOST:$((HTTP_BASE_PORT + n - 1))"
    fi
    printf '  node%-3s %s:%-5s %-20s pid %-8s log %s\n' "$n" "$HOST" "${PORTS[$((n - 1))]}" \
        "$http" "${PIDS[$((n - 1))]}" "${LOGS[$((n - 1))]}"
    ADDR_ARGS+=" --addr $HOST:${PORTS[$((n - 1))]}"
done
if [[ -n "$GATE_PORT" ]]; then
    printf '  gateway http://%s:%s/  pid %-8s mail %s\n' "$HOST" "$GATE_PORT" \
        "${PIDS[$GATE_INDEX]}" "$DIR/gate/mail/"
fi
echo
echo "  load it:  $TARGET_DIR/release/chatload relay$ADDR_ARGS --conns 1000 --duration 10"
echo "            (cargo build --release -p tools first)"
if [[ -n "$GATE_PORT" ]]; then
    echo "  sign up:  curl -s -XPOST $HOST:$GATE_PORT/api/v1/codes -d '{\"email\":\"me@example.com\",\"purpose\":\"register\"}'"
    echo "            (the code is in the newest file of $DIR/gate/mail/; README.md, \"The gateway\")"
fi
echo "  Ctrl-C stops every node."
echo

# Wait; report nodes that die (the others keep running); end when none is left.
while :; do
    alive=0
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        [[ -n "$pid" ]] || continue
        if kill -0 "$pid" 2>/dev/null; then
            alive=$((alive + 1))
        else
            rc=0
            wait "$pid" 2>/dev/null || rc=$?
            PIDS[i]=""
            log "${NAMES[$i]} (pid $pid) exited with status $rc; the others keep running"
            log_tail "$((i + 1))"
        fi
    done
    if ((alive == 0)); then
        die "every process has exited"
    fi
    # In the background so that a signal is handled at once, not after the sleep.
    sleep 1 &
    wait $! || true
done
