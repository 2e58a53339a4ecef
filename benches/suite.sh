#!/usr/bin/env bash
#: The benchmark suite (`make bench`): chatload against fresh startserv servers.
#:
#:   1. relay, durable ack, 1,000 connections: closed loop at a few windows (best with
#:      0 lost / 0 duplicated) and open loop at a few offered rates, on MariaDB and SQLite
#:   1f. overload: one node on MariaDB, open loop, a fresh server and database per run,
#:      before (BENCH_PERF_BEFORE, built in a git worktree) and after, alternating: CPU µs
#:      of startserv and mariadbd per relayed message at 5,000 and 10,000 msg/s; capacity
#:      (highest rate of a ladder with p99 ≤ 20 ms, no errors, 0 lost); then the current
#:      code at 2 × its capacity: goodput ÷ capacity, p99 of accepted messages, refusals
#:      (codes, time to refuse, retry_after_ms), 0 lost
#:   1c. timeline: one node on MariaDB before the timelines (BENCH_BEFORE_COMMIT, built in
#:      a git worktree, driven by its own chatload) and after, alternating, closed loop:
#:      msg/s, after ÷ before, CPU µs of startserv and mariadbd per delivered message
#:   1d. cluster: two nodes (--redis, one database), every message crossing nodes, closed
#:      loop and open loop: msg/s against one node's, p99, 0 lost/dup/gaps/reorders
#:   1e. websocket: one node on MariaDB with an HTTP port; the closed-loop relay over TCP
#:      and over WebSocket (`chatload relay --ws`) against it, alternating: ws ÷ tcp msg/s
#:   1b. abuse: the relay at a fixed rate plus a pinger, without and then with attackers
#:      (big frames never read, pipelined logins, half-open frames) on a server with the
#:      default per-address limits: latency, ping, peak RSS and losses side by side
#:   2. the same relay against relay_floor (no JSON, no store): relay ÷ floor
#:   3. idle connections: as many logged-in connections as the server's file limit allows,
#:      held over several chatload processes; server VmRSS growth per connection
#:   4. login storm: 10,000 clients at once (bench profile), then the default argon2 cost
#:      against raw argon2 hashes/s (`chatload argon2-rate`)
#:   4b. gateway: benches/gateway.sh (startgate /healthz against nginx with wrk; logins/s
#:      through the gateway at the default argon2 cost against raw argon2), included
#:   5. echo: benches/run.sh (reactor vs tokio), included as is
#:
#: Writes benches/results/<YYYY-MM-DD>.md (tables, goals, commands, machine; BENCH_REPORT
#: chooses another path) and, next to it, <same name>-latency.svg (send→delivery
#: p50/p99/p99.9 vs offered load).
#: Every server is started here on a port the OS picks, with its own data directory and
#: its own MariaDB database (chat_bench_<stamp>_<name>), and is stopped and dropped on
#: exit (trap), whatever happens. See benches/SUITE.md.
#:
#: Environment (defaults in brackets):
#:   BENCH_SECS [10]            measured seconds per relay run (and per echo run)
#:   BENCH_WARMUP [2]           warm-up seconds per relay run
#:   BENCH_RELAY_CONNS [1000]   relay connections
#:   BENCH_WINDOWS ["1 4 16"]   closed-loop windows
#:   BENCH_RATES ["5000 10000 20000 40000"]  open-loop offered msg/s (chart)
#:   BENCH_P99_RATE [20000]     the offered rate whose p99 the goals table quotes
#:   BENCH_ABUSE_ATTACKERS [10] attackers of the abuse scenario
#:   BENCH_ABUSE_RATE [10000]   msg/s the relay offers in the abuse scenario
#:   BENCH_IDLE_CONNS [19500]   idle connections;  BENCH_IDLE_PROCS [4] chatload processes
#:   BENCH_HOLD [40]            seconds the idle connections are held (pings every 30 s)
#:   BENCH_CONNS_SERVER_ENV [""]  environment of the idle-connections server, e.g.
#:                              "MALLOC_MMAP_THRESHOLD_=32768" (see SUITE.md)
#:   BENCH_LOGIN_CONNS [10000]  login storm clients (bench profile)
#:   BENCH_LOGIN_DEFAULT_CONNS [1000]  clients of the default-cost storm (demo users)
#:   BENCH_ARGON2_SECS [10]     seconds of `chatload argon2-rate`
#:   BENCH_TIMELINE_WINDOWS ["16"]  closed-loop windows of the timeline scenario
#:   BENCH_TIMELINE_RUNS [2]    runs per binary and window (alternating before / after)
#:   BENCH_BEFORE_COMMIT [10482c8]  the "before" of the timeline scenario
#:   BENCH_BEFORE_TARGET_DIR [<work>/before-target]  CARGO_TARGET_DIR of the "before" builds
#:                              (timeline and overload; set it to keep them between runs)
#:   BENCH_PERF_BEFORE [7fff3ef]  the "before" of the overload scenario (speaks the
#:                              current protocol: the current chatload drives both)
#:   BENCH_PERF_RATES ["5000 10000"]  offered msg/s of the CPU-per-message table
#:   BENCH_PERF_RUNS [2]        runs per binary and rate there (alternating before / after)
#:   BENCH_CAPACITY_RATES ["2500 5000 7500 10000 12500 15000 20000 25000 30000"]  the
#:                              capacity ladder (each binary climbs it up to its first failure)
#:   BENCH_CLUSTER_RATE [10000] open-loop msg/s offered to the two-node cluster
#:   BENCH_REDIS [redis://127.0.0.1:6379/0]  the cluster's Redis
#:   BENCH_WEBSOCKET_WINDOWS ["16"]  closed-loop windows of the websocket scenario
#:   BENCH_WEBSOCKET_RUNS [2]   runs per transport and window (alternating tcp / ws)
#:   BENCH_SCENARIOS ["relay overload timeline cluster websocket abuse floor conns login gateway echo"]
#:                              which to run
#:   BENCH_REPORT [benches/results/<YYYY-MM-DD>.md]  the report's path (relative: to the
#:                              current directory); the chart goes next to it
#:   BENCH_SKIP_SERVICES [0]    1: do not run tools/services.sh
#:   BENCH_KEEP [0]             1: keep the work directory (server logs) after the run
#:   CARGO_TARGET_DIR           as for cargo
#: Usage: bash benches/suite.sh     (from anywhere; or: make bench)

set -euo pipefail

BENCHES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCHES_DIR")
# BENCH_REPORT is relative to the caller's directory.
REPORT_PATH=${BENCH_REPORT:-}
if [[ -n "$REPORT_PATH" && "$REPORT_PATH" != /* ]]; then
    REPORT_PATH="$PWD/$REPORT_PATH"
fi
cd "$ROOT"

SECS=${BENCH_SECS:-10}
WARMUP=${BENCH_WARMUP:-2}
RELAY_CONNS=${BENCH_RELAY_CONNS:-1000}
read -r -a WINDOWS <<<"${BENCH_WINDOWS:-1 4 16}"
read -r -a RATES <<<"${BENCH_RATES:-5000 10000 20000 40000}"
P99_RATE=${BENCH_P99_RATE:-20000}
ABUSE_ATTACKERS=${BENCH_ABUSE_ATTACKERS:-10}
ABUSE_RATE=${BENCH_ABUSE_RATE:-10000}
IDLE_CONNS=${BENCH_IDLE_CONNS:-19500}
IDLE_PROCS=${BENCH_IDLE_PROCS:-4}
HOLD=${BENCH_HOLD:-40}
LOGIN_CONNS=${BENCH_LOGIN_CONNS:-10000}
LOGIN_DEFAULT_CONNS=${BENCH_LOGIN_DEFAULT_CONNS:-1000}
ARGON2_SECS=${BENCH_ARGON2_SECS:-10}
read -r -a TL_WINDOWS <<<"${BENCH_TIMELINE_WINDOWS:-16}"
TL_RUNS=${BENCH_TIMELINE_RUNS:-2}
BEFORE_COMMIT=${BENCH_BEFORE_COMMIT:-10482c8}
CLUSTER_RATE=${BENCH_CLUSTER_RATE:-10000}
REDIS_URL=${BENCH_REDIS:-redis://127.0.0.1:6379/0}
read -r -a WS_WINDOWS <<<"${BENCH_WEBSOCKET_WINDOWS:-16}"
WS_RUNS=${BENCH_WEBSOCKET_RUNS:-2}
PERF_BEFORE=${BENCH_PERF_BEFORE:-7fff3ef}
read -r -a PERF_RATES <<<"${BENCH_PERF_RATES:-5000 10000}"
PERF_RUNS=${BENCH_PERF_RUNS:-2}
read -r -a CAP_RATES <<<"${BENCH_CAPACITY_RATES:-2500 5000 7500 10000 12500 15000 20000 25000 30000}"
SCENARIOS=" ${BENCH_SCENARIOS:-relay overload timeline cluster websocket abuse floor conns login gateway echo} "
MYSQL=(mysql -uroot -h127.0.0.1 -P3306)
MYSQL_BASE=mysql://root@127.0.0.1:3306
# Seconds a relay run may wait for outstanding acks and pushes after the load stops
# (an overloaded open-loop run leaves the writer's queue full; it must drain before the
# next run so that runs do not disturb each other).
DRAIN=30
FLOOR_THREADS=(--reactors 2 --workers 2)

if [[ " ${RATES[*]} " != *" $P99_RATE "* ]]; then
    RATES+=("$P99_RATE")
fi
wants() { [[ "$SCENARIOS" == *" $1 "* ]]; }

SUITE_START=$(date +%s)
DATE=$(date +%Y-%m-%d)
STAMP=$(date +%Y%m%d%H%M%S)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== building: cargo build --release -p server -p tools" >&2
cargo build --release -p server -p tools >&2
TARGET_DIR=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}
BIN="$TARGET_DIR/release"
for b in startserv chatload relay_floor; do
    [[ -x "$BIN/$b" ]] || { echo "suite: missing $BIN/$b" >&2; exit 1; }
done
BUILD_SECS=$(($(date +%s) - SUITE_START))

if [[ "${BENCH_SKIP_SERVICES:-0}" != 1 ]]; then
    echo "== services: bash tools/services.sh" >&2
    bash tools/services.sh >&2
fi

[[ "$TL_RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "suite: BENCH_TIMELINE_RUNS must be a positive whole number, got '$TL_RUNS'" >&2; exit 1; }
[[ "$WS_RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "suite: BENCH_WEBSOCKET_RUNS must be a positive whole number, got '$WS_RUNS'" >&2; exit 1; }
[[ "$PERF_RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "suite: BENCH_PERF_RUNS must be a positive whole number, got '$PERF_RUNS'" >&2; exit 1; }
for r in "${PERF_RATES[@]}" "${CAP_RATES[@]}"; do
    [[ "$r" =~ ^[1-9][0-9]*$ ]] || { echo "suite: BENCH_PERF_RATES and BENCH_CAPACITY_RATES must be positive whole numbers (msg/s), got '$r'" >&2; exit 1; }
done
((${#PERF_RATES[@]} > 0 && ${#CAP_RATES[@]} > 0)) || { echo "suite: BENCH_PERF_RATES and BENCH_CAPACITY_RATES must not be empty" >&2; exit 1; }
# The ladder is climbed from its lowest rate.
read -r -a CAP_RATES <<<"$(printf '%s\n' "${CAP_RATES[@]}" | sort -n -u | paste -sd' ' -)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chat-bench.XXXXXX")
PIDS=()
DBS=()
# The git worktrees of the "before" builds (timeline, overload), and the cluster's name
# (prefix of its Redis keys): removed on exit.
BEFORE_SRCS=()
CLUSTER_NAME=""

stop_pid() {
    local pid=$1
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid db src
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    for db in "${DBS[@]}"; do "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $db" 2>/dev/null || true; done
    if [[ -n "$CLUSTER_NAME" ]]; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$CLUSTER_NAME:*" 2>/dev/null |
            xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
    fi
    if ((${#BEFORE_SRCS[@]} > 0)); then
        for src in "${BEFORE_SRCS[@]}"; do
            git -C "$ROOT" worktree remove --force "$src" 2>/dev/null || true
        done
        git -C "$ROOT" worktree prune 2>/dev/null || true
    fi
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "suite: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The bench profile: argon2id at 64 KiB and 1 pass instead of 19 MiB and 2, so that
# registering and logging in thousands of users is cheap set-up, not the measurement.
# fd_reserve 64: the server derives max_connections = RLIMIT_NOFILE - fd_reserve.
# Per-address limits: each key the benches need raised says why, next to it; the abuse
# scenario's server has a profile of its own (abuse.toml) with the defaults.
cat >"$WORK/bench.toml" <<'EOF'
[server]
bind = "127.0.0.1"
fd_reserve = 64
# max_connections_per_ip: the default, 1024, is enough and kept. The most connections a
# scenario holds from one source address is 78 (idle connections: 19,500 spread over
# the 253 addresses 127.0.0.2..=127.0.0.254), then 40 (login storm), 4 (relay).
[auth]
argon2_memory_kib = 64
argon2_iterations = 1
# Password work per source address (default 3/s, burst 10). The login storm sends
# 10,000 logins at once from 253 addresses (40 each); bulk registration runs over 16
# connections from 16 addresses (1,219 registrations each for the 19,500 idle users,
# 625 for the storm's 10,000). Set-up and storms measure hashing, not this budget.
password_rate_per_ip = 1000000
password_burst_per_ip = 1000000
# hash_backlog_ms: the default, 1000, is kept: at most half the workers hash or wait to,
# so a login never waits behind more than about one hash (far below 1 s) and a larger
# backlog would admit no more. Logins refused with server_busy are retried by chatload
# after the server's retry_after_ms.
[log]
level = "warn,chat::server=info"
EOF
# The default argon2 cost (no argon2 keys): for the default-cost login storm.
cat >"$WORK/default.toml" <<'EOF'
[server]
bind = "127.0.0.1"
fd_reserve = 64
# max_connections_per_ip: the default, 1024, is enough and kept: the storm's at most
# 5,000 clients spread over 253 source addresses (20 each).
[auth]
# Password work per source address (default 3/s, burst 10): the default-cost storm logs
# in up to 5,000 demo users at once from 253 addresses (20 each, over the burst). It
# measures logins/s against raw hashes/s, so the per-address budget is lifted.
password_rate_per_ip = 1000000
password_burst_per_ip = 1000000
# hash_backlog_ms: the default is kept (see bench.toml).
[log]
level = "warn,chat::server=info"
EOF
# The abuse scenario: the bench profile's cheap argon2 (the relay's set-up of 1,000
# users stays quick), every per-address limit at its default: the attackers must meet
# the limits as deployed.
cat >"$WORK/abuse.toml" <<'EOF'
[server]
bind = "127.0.0.1"
fd_reserve = 64
# max_connections_per_ip, conn_input_bytes, conn_input_frames: defaults, on purpose.
[auth]
argon2_memory_kib = 64
argon2_iterations = 1
# password_rate_per_ip, password_burst_per_ip, hash_backlog_ms: defaults, on purpose.
[log]
level = "warn,chat::server=info"
EOF
# A server built before the per-address limits existed rejects their keys (unknown key):
# leave them out then, and say so in the report.
LIMIT_KEYS=password_burst_per_ip
if ! grep -qa "$LIMIT_KEYS" "$BIN/startserv"; then
    sed -i -E '/^(password_rate_per_ip|password_burst_per_ip|max_connections_per_ip|hash_backlog_ms) *=/d' \
        "$WORK/bench.toml" "$WORK/default.toml"
    LIMIT_KEYS=""
fi

COMMANDS=()
RAW=()
GOALS=()
NOTES=()
if [[ -z "$LIMIT_KEYS" ]]; then
    NOTES+=("this startserv has no per-address limits (it rejects password_rate_per_ip): the profiles ran without those keys")
fi
REPORT="$WORK/report.md"
: >"$REPORT"
section() { printf '%s\n' "$@" >>"$REPORT"; }

# jget JSON PATH: a field of a JSON line (dotted path), empty when missing.
jget() {
    python3 -c 'import json, sys
try:
    v = json.loads(sys.argv[1])
except ValueError:
    v = None
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
if v is None:
    print("")
elif isinstance(v, (dict, list)):
    print(json.dumps(v, separators=(",", ":")))
elif isinstance(v, bool):
    print("true" if v else "false")
elif isinstance(v, float) and v.is_integer():
    print(int(v))
else:
    print(v)' "$1" "$2"
}
# ms MICROSECONDS: "12.34" (ms), or "n/a".
ms() { [[ -n "$1" ]] && awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }' || echo "n/a"; }
# int NUMBER: rounded, or "n/a".
int() { [[ -n "$1" ]] && awk -v x="$1" 'BEGIN { printf "%.0f", x }' || echo "n/a"; }
# counts JSON_OBJECT: "a=1, b=2" or "none".
counts() {
    python3 -c 'import json, sys
d = json.loads(sys.argv[1] or "{}")
print(", ".join(f"{k}={v}" for k, v in d.items()) or "none")' "$1"
}
# commas: its input lines joined with ", ".
commas() { paste -sd, - | sed 's/,/, /g'; }
# int_list VALUES...: the values as integers, joined with ", " (empty without any).
int_list() { local r; for r in "$@"; do int "$r"; echo; done | commas; }
# goal NAME TARGET MEASURED MET(yes/no/n/a)
goal() { GOALS+=("| $1 | $2 | $3 | $4 |"); }

# new_db NAME: creates chat_bench_<stamp>_NAME; sets DB and MYSQL_URL.
new_db() {
    DB="chat_bench_${STAMP}_$1"
    "${MYSQL[@]}" -e "CREATE DATABASE $DB"
    DBS+=("$DB")
    MYSQL_URL="$MYSQL_BASE/$DB"
    COMMANDS+=("mysql -uroot -h127.0.0.1 -e 'CREATE DATABASE $DB'   # dropped afterwards")
}

# shown PATH: PATH as the report shows it (relative to the repository, or under <work>).
shown() {
    local p=${1#"$ROOT"/}
    echo "${p/#"$WORK"/<work>}"
}

# start_chat NAME CONFIG [ARGS...]: starts startserv on a free port with ARGS (e.g. --mysql
# URL, or a cluster node's --redis URL --cluster NAME --node-id ID); sets SPID, ADDR,
# MAXCONN, WRITER. Several servers may run at once: save SPID and ADDR before the next
# call, and stop each with `stop_chat NAME PID`.
# SERVER_ENV (an array of NAME=VALUE) is put in the server's environment; SERVER_BIN is
# the binary (the timeline scenario's "before" sets it, and sets it back).
SERVER_ENV=()
SERVER_BIN="$BIN/startserv"
start_chat() {
    local name=$1 config=$2
    shift 2
    local err="$WORK/$name.err"
    env "${SERVER_ENV[@]}" "$SERVER_BIN" 0 --config "$config" --data-dir "$WORK/$name" "$@" >"$WORK/$name.out" 2>"$err" &
    SPID=$!
    PIDS+=("$SPID")
    ADDR=""
    for _ in $(seq 600); do
        ADDR=$(sed -n 's/.*startserv listening on \([0-9.:]*\).*/\1/p' "$err" | head -n1)
        [[ -n "$ADDR" ]] && break
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$ADDR" ]]; then
        echo "suite: startserv ($name) did not start:" >&2
        tail -n 20 "$err" >&2
        exit 1
    fi
    MAXCONN=$(sed -n 's/.*max_connections \([0-9]*\).*/\1/p' "$err" | head -n1)
    # "writer batch 1024 / 0 ms" as the server logged it at start-up.
    WRITER=$(sed -n 's/.*writer batch \([0-9]* \/ [0-9]* ms\).*/\1/p' "$err" | head -n1)
    COMMANDS+=("${SERVER_ENV[*]}${SERVER_ENV[*]:+ }$(shown "$SERVER_BIN") 0 --config $(basename "$config") --data-dir <work>/$name $*   # -> $ADDR, pid $SPID")
    echo "== startserv ($name) on $ADDR, pid $SPID, max_connections $MAXCONN" >&2
}

# stop_chat NAME [PID]: stops the server NAME (PID, default SPID); notes what it logged.
stop_chat() {
    stop_pid "${2:-$SPID}"
    # What the server logged at WARN and ERROR (its log level here), grouped by message.
    local level lines
    for level in ERROR WARN; do
        lines=$(grep -E "^[0-9-]+ [0-9:.]+ [+-][0-9:]+ $level " "$WORK/$1.err" 2>/dev/null |
            sed -E 's/^[^ ]+ [^ ]+ [^ ]+ [A-Z]+ +\[[^]]*\] //' | cut -c1-200 |
            sed -E 's/\b([0-9]{1,3}|[0-9]{5,})\b/N/g' | sort | uniq -c | sort -rn | head -n 3 |
            awk '{ n = $1; $1 = ""; printf "%s%d x%s", sep, n, $0; sep = "; " }' || true)
        if [[ -n "$lines" ]]; then
            NOTES+=("startserv ($1) logged $level lines: $lines")
        fi
    done
}

# wait_idle PID [WHAT]: waits (at most 60 s) until the process uses under 5% of a core, so
# that a run does not start while the server (or MariaDB) still works off the previous
# run's backlog.
wait_idle() {
    local pid=$1 what=${2:-server} hz t0 t1
    hz=$(getconf CLK_TCK)
    for _ in $(seq 60); do
        t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || return 0
        sleep 1
        t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || return 0
        if awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { exit !((b - a) / hz < 0.05) }'; then
            return 0
        fi
    done
    NOTES+=("$what pid $pid was still busy 60 s after a run; the next run started anyway")
}

# cpu_ticks PID: utime + stime of PID (every thread, in clock ticks), empty if gone.
cpu_ticks() {
    [[ -n "$1" && -r "/proc/$1/stat" ]] || return 0
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true
}
# per_msg TICKS MSGS: CPU µs per message ("12.3"), or "n/a".
per_msg() {
    awk -v t="$1" -v m="$2" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { if (t == "" || t == "-" || m == "" || m == "-" || m + 0 <= 0) print "n/a"; else printf "%.1f", t / hz * 1e6 / m }'
}
# sampler_start PID...: in the background, every 0.2 s, a line "EPOCH_MS TICKS..." (the
# utime + stime of each PID, "-" if unknown) to $WORK/cpu.samples; SAMPLER is its pid.
# No fork but sleep per sample, so it costs next to nothing.
sampler_start() {
    (
        trap 'exit 0' TERM
        while :; do
            now=${EPOCHREALTIME/[.,]/}
            line=${now:0:${#now}-3}
            for p in "$@"; do
                stat=""
                if [[ -n "$p" ]]; then read -r stat <"/proc/$p/stat" 2>/dev/null || true; fi
                if [[ -n "$stat" ]]; then
                    read -r -a f <<<"${stat##*) }"
                    line+=" $((f[11] + f[12]))"
                else
                    line+=" -"
                fi
            done
            echo "$line"
            sleep 0.2
        done
    ) >"$WORK/cpu.samples" 2>/dev/null &
    SAMPLER=$!
    PIDS+=("$SAMPLER")
}
sampler_stop() { stop_pid "$SAMPLER"; }
# window_ticks T0_MS FROM_S TO_S: per sampled PID, its CPU ticks between T0 + FROM and
# T0 + TO seconds (interpolated between samples), space-separated, "-" if unknown.
window_ticks() {
    awk -v t0="$1" -v from="$2" -v to="$3" '
        BEGIN { ta = t0 + from * 1000; tb = t0 + to * 1000 }
        {
            for (j = 2; j <= NF; j++) {
                if (NR > 1 && pv[j] != "-" && $j != "-") {
                    if (pt <= ta && ta <= $1) va[j] = pv[j] + ($1 > pt ? ($j - pv[j]) * (ta - pt) / ($1 - pt) : 0)
                    if (pt <= tb && tb <= $1) vb[j] = pv[j] + ($1 > pt ? ($j - pv[j]) * (tb - pt) / ($1 - pt) : 0)
                }
                pv[j] = $j
            }
            pt = $1
            n = NF
        }
        END {
            for (j = 2; j <= n; j++)
                printf "%s%s", (j > 2 ? " " : ""), ((j in va) && (j in vb) ? sprintf("%.1f", vb[j] - va[j]) : "-")
            print ""
        }' "$WORK/cpu.samples"
}
# measured_span JSON: "FROM TO MSGS": the seconds after chatload's start that the CPU
# per message counts over (its measured window, less MARGIN at each end to absorb the
# rounding of setup_s), and the messages delivered in that span at the run's rate.
MARGIN=0.5
measured_span() {
    awk -v s="$(jget "$1" setup_s)" -v w="$(jget "$1" warmup_s)" -v d="$(jget "$1" duration_s)" \
        -v r="$(jget "$1" delivered_per_sec)" -v m="$MARGIN" '
        BEGIN {
            if (s == "" || d == "" || r == "") { print "- - -"; exit }
            if (d < 4 * m) m = 0
            printf "%.3f %.3f %.0f\n", s + w + m, s + w + d - m, r * (d - 2 * m)
        }'
}
# now_ms: milliseconds since the epoch.
now_ms() { local n=${EPOCHREALTIME/[.,]/}; echo "${n:0:${#n}-3}"; }

# machine_ticks: "BUSY TOTAL" clock ticks of the whole machine so far (/proc/stat: user
# to steal; busy = all but idle and iowait, steal included: time the VM did not get).
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9 && i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
# busy_pct "BUSY0 TOTAL0" "BUSY1 TOTAL1": the machine's busy share in between ("87").
busy_pct() {
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (y[2] - x[2] <= 0) print "n/a"; else printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'
}
# secs TICKS: CPU seconds ("12.34"), or "n/a".
secs() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (t == "") print "n/a"; else printf "%.2f", t / hz }'; }

# load LABEL ARGS...: runs chatload ARGS; its JSON line goes to JSON (progress bar and
# summary table to the terminal). LOAD_BIN is the binary (the timeline scenario's
# "before" sets it: an older server is driven by its own chatload).
LOAD_BIN="$BIN/chatload"
load() {
    local label=$1
    shift
    COMMANDS+=("$(shown "$LOAD_BIN") $*")
    echo "== $label: chatload $*" >&2
    local out
    out=$("$LOAD_BIN" "$@") || true
    JSON=$(tail -n1 <<<"$out")
    [[ -n "$JSON" ]] || JSON='{"error":"chatload printed nothing"}'
    RAW+=("$label: $JSON")
    if [[ -n "$(jget "$JSON" error)" ]]; then
        NOTES+=("$label failed: $(jget "$JSON" error)")
    fi
}

CHART_RUNS=()

# relay_runs TARGET EXTRA_ARGS...: the closed-loop windows and open-loop rates against
# ADDR; appends the tables to the report; sets BEST (JSON of the best clean closed run).
relay_runs() {
    local target=$1
    shift
    local w r best="" best_rate=0 rate lost dup
    section "#### Closed loop ($RELAY_CONNS connections, ${SECS} s after ${WARMUP} s warm-up)" ""
    section "| window | msg/s (acked and delivered) | acked/s | delivered/s | send→ack p50 / p99 ms | send→delivery p50 / p99 / p99.9 ms | lost / dup | send errors | chatload CPU s | clean |"
    section "|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"
    for w in "${WINDOWS[@]}"; do
        wait_idle "$SPID"
        load "relay $target window $w" relay --addr "$ADDR" --conns "$RELAY_CONNS" --window "$w" \
            --duration "$SECS" --warmup "$WARMUP" --drain "$DRAIN" "$@"
        rate=$(jget "$JSON" msgs_per_sec)
        lost=$(jget "$JSON" lost)
        dup=$(jget "$JSON" duplicated)
        section "| $w | $(int "$rate") | $(int "$(jget "$JSON" acked_per_sec)") | $(int "$(jget "$JSON" delivered_per_sec)") | $(ms "$(jget "$JSON" ack_latency_us.p50_us)") / $(ms "$(jget "$JSON" ack_latency_us.p99_us)") | $(ms "$(jget "$JSON" delivery_latency_us.p50_us)") / $(ms "$(jget "$JSON" delivery_latency_us.p99_us)") / $(ms "$(jget "$JSON" delivery_latency_us.p999_us)") | ${lost:-?} / ${dup:-?} | $(counts "$(jget "$JSON" send_errors)") | $(jget "$JSON" client_cpu_s) | $(jget "$JSON" clean) |"
        if [[ "$lost" == 0 && "$dup" == 0 && -n "$rate" ]] &&
            awk -v a="$rate" -v b="$best_rate" 'BEGIN { exit !(a > b) }'; then
            best=$JSON
            best_rate=$rate
        fi
    done
    section "" "#### Open loop (offered rate spread over $RELAY_CONNS senders; latency from the scheduled send time)" "" \
        "\`pushed, not acked\`: messages pushed to their recipient whose send got no ack (an error answer instead)." ""
    section "CPU µs/msg: CPU time (user + system, all threads, from \`/proc/PID/stat\`) over the measured window ÷ messages delivered in it (\`chatload relay --cpu-of\`); the store column is mariadbd's (with SQLite the store is inside the server)." ""
    section "| offered msg/s | sent/s | acked/s | delivered/s | send→delivery p50 / p99 / p99.9 / max ms | lost / dup | unanswered | send errors | pushed, not acked | server CPU µs/msg | mariadbd CPU µs/msg | chatload CPU s |"
    section "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
    local watch=(--cpu-of "server=$SPID")
    local mpid
    mpid=$(pgrep -x mariadbd | head -n1 || true)
    [[ "$target" == MariaDB && -n "$mpid" ]] && watch+=(--cpu-of "mariadbd=$mpid")
    for r in "${RATES[@]}"; do
        wait_idle "$SPID"
        load "relay $target rate $r" relay --addr "$ADDR" --conns "$RELAY_CONNS" --rate "$r" \
            --duration "$SECS" --warmup "$WARMUP" --drain "$DRAIN" "${watch[@]}" "$@"
        section "| $r | $(int "$(jget "$JSON" sends_per_sec)") | $(int "$(jget "$JSON" acked_per_sec)") | $(int "$(jget "$JSON" delivered_per_sec)") | $(ms "$(jget "$JSON" delivery_latency_us.p50_us)") / $(ms "$(jget "$JSON" delivery_latency_us.p99_us)") / $(ms "$(jget "$JSON" delivery_latency_us.p999_us)") / $(ms "$(jget "$JSON" delivery_latency_us.max_us)") | $(jget "$JSON" lost) / $(jget "$JSON" duplicated) | $(jget "$JSON" unanswered_sends) | $(counts "$(jget "$JSON" send_errors)") | $(jget "$JSON" exactly_once.unacked_pushes) | $(jget "$JSON" cpu.server.us_per_msg) | $(jget "$JSON" cpu.mariadbd.us_per_msg) | $(jget "$JSON" client_cpu_s) |"
        unacked=$(jget "$JSON" exactly_once.unacked_pushes)
        if [[ -n "$unacked" && "$unacked" != 0 ]]; then
            NOTES+=("relay $target at $r msg/s offered: $unacked messages were pushed to their recipient although their send was not acked (answered $(counts "$(jget "$JSON" send_errors)"))")
        fi
        CHART_RUNS+=("{\"target\":\"$target\",\"rate\":$r,\"achieved\":$(jget "$JSON" delivered_per_sec | sed 's/^$/0/'),\"p50_us\":$(jget "$JSON" delivery_latency_us.p50_us | sed 's/^$/0/'),\"p99_us\":$(jget "$JSON" delivery_latency_us.p99_us | sed 's/^$/0/'),\"p999_us\":$(jget "$JSON" delivery_latency_us.p999_us | sed 's/^$/0/'),\"lost\":$(jget "$JSON" lost | sed 's/^$/0/')}")
        if [[ "$r" == "$P99_RATE" ]]; then
            P99_JSON=$JSON
        fi
    done
    section ""
    BEST=$best
}

# ---------------------------------------------------------------------------------------
# 1. relay on MariaDB and SQLite; 2. floor
# ---------------------------------------------------------------------------------------
declare -A BEST_BY P99_BY WRITER_BY
if wants relay; then
    section "## 1. Relay, durable ack" ""
    section "Each connection is a user; users 2k and 2k+1 are friends and send to each other." \
        "\`msg/s\` is min(acked/s, delivered/s) over the measured window. Every acked msg_id" \
        "is checked to be pushed exactly once (after the drain, \`sync\` tells late from lost)." ""
    for store in MariaDB SQLite; do
        section "### $store store" ""
        if [[ $store == MariaDB ]]; then
            new_db relay
            start_chat relay-mariadb "$WORK/bench.toml" --mysql "$MYSQL_URL"
            name=relay-mariadb
        else
            start_chat relay-sqlite "$WORK/bench.toml"
            name=relay-sqlite
        fi
        P99_JSON=""
        WRITER_BY[$store]=$WRITER
        relay_runs "$store"
        stop_chat "$name"
        BEST_BY[$store]=$BEST
        P99_BY[$store]=$P99_JSON
        # The issue's goals: >= 50,000 msg/s with 0 lost / 0 dup; p99 <= 20 ms at 20,000 offered.
        if [[ -n "$BEST" ]]; then
            met=no
            awk -v r="$(jget "$BEST" msgs_per_sec)" 'BEGIN { exit !(r >= 50000) }' && met=yes
            goal "relay $store: max sustained msg/s, $RELAY_CONNS conns, 0 lost / 0 dup" "≥ 50,000" \
                "$(int "$(jget "$BEST" msgs_per_sec)") msg/s (window $(jget "$BEST" window))" "$met"
        else
            goal "relay $store: max sustained msg/s, $RELAY_CONNS conns, 0 lost / 0 dup" "≥ 50,000" \
                "no run with 0 lost / 0 dup" "no"
        fi
        if [[ -n "$P99_JSON" ]]; then
            p99_us=$(jget "$P99_JSON" delivery_latency_us.p99_us)
            met=no
            [[ "$(jget "$P99_JSON" lost)" == 0 && "$(jget "$P99_JSON" duplicated)" == 0 ]] &&
                awk -v p="$p99_us" 'BEGIN { exit !(p != "" && p <= 20000) }' && met=yes
            goal "relay $store: p99 send→delivery at $P99_RATE msg/s offered" "≤ 20 ms" \
                "$(ms "$p99_us") ms (delivered $(int "$(jget "$P99_JSON" delivered_per_sec)")/s; lost $(jget "$P99_JSON" lost), dup $(jget "$P99_JSON" duplicated))" "$met"
        fi
    done
fi

# ---------------------------------------------------------------------------------------
# 1c. timelines: one node on MariaDB, before (BENCH_BEFORE_COMMIT) and after, alternating
# ---------------------------------------------------------------------------------------
# mean VALUES...: arithmetic mean ("12345.6"), empty without values.
mean() {
    if (($# > 0)); then
        printf '%s\n' "$@" | awk '{ s += $1; n++ } END { printf "%.1f", s / n }'
    fi
}
# ratio A B: A ÷ B ("0.912"), or "n/a".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 <= 0) print "n/a"; else printf "%.3f", a / b }'; }
# clean_json JSON: true when lost, duplicated, gaps and reorders are all 0 (a chatload that
# predates the timeline checks reports no gaps/reorders: those count as 0).
clean_json() {
    [[ "$(jget "$1" lost)" == 0 && "$(jget "$1" duplicated)" == 0 &&
        "$(jget "$1" gaps)" =~ ^0?$ && "$(jget "$1" reorders)" =~ ^0?$ &&
        -n "$(jget "$1" msgs_per_sec)" ]]
}
# mariadb_pid: the pid of the MariaDB server the suite uses (127.0.0.1:3306), for CPU per
# message: from its pid file, else from the listening socket, else `pidof mariadbd` when
# there is only one (other people may run private mariadbd instances on other ports).
mariadb_pid() {
    local f pid=""
    f=$("${MYSQL[@]}" -N -e 'SELECT @@pid_file' 2>/dev/null || true)
    [[ -n "$f" && -r "$f" ]] && pid=$(tr -dc 0-9 <"$f")
    [[ -n "$pid" ]] || pid=$(ss -ltnpH 'sport = :3306' 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1)
    if [[ -z "$pid" ]]; then
        pid=$(pidof mariadbd mysqld 2>/dev/null || true)
        [[ "$pid" =~ ^[0-9]+$ ]] || pid=""
    fi
    echo "$pid"
}
MARIADB_PID=$(mariadb_pid)
if [[ -z "$MARIADB_PID" ]] && { wants timeline || wants cluster || wants overload; }; then
    NOTES+=("could not tell which process is MariaDB on 127.0.0.1:3306: its CPU per message is n/a")
fi
# The single node's best closed-loop mean on the current code (msg/s), its window and
# where it comes from: set by the timeline scenario, used by the cluster scenario.
SINGLE_RATE=""
SINGLE_WINDOW=""
SINGLE_FROM=""

# build_before COMMIT VARIABLE: a git worktree of COMMIT (named by the environment
# VARIABLE, for messages) under the work directory (removed on exit), built with its own
# CARGO_TARGET_DIR (BENCH_BEFORE_TARGET_DIR, shared by every "before" build: the
# dependencies are built once). Its startserv and chatload are copied to
# <work>/before-bin-<sha>, so that building another commit in the same target directory
# does not replace them; a commit already built in this suite run is not built again.
# Sets BEFORE_BIN (the directory of the two binaries), BEFORE_SHA and BEFORE_BUILD_SECS.
declare -A BUILT_BIN BUILT_SECS
build_before() {
    local commit=$1 what=$2 sha target src
    sha=$(git -C "$ROOT" rev-parse --verify --quiet "$commit^{commit}") ||
        { echo "suite: $what $commit is not a commit of $ROOT" >&2; exit 1; }
    BEFORE_SHA=$sha
    if [[ -n "${BUILT_BIN[$sha]:-}" ]]; then
        BEFORE_BIN=${BUILT_BIN[$sha]}
        BEFORE_BUILD_SECS=${BUILT_SECS[$sha]}
        echo "== before: ${sha:0:10} already built in this run ($BEFORE_BIN)" >&2
        return 0
    fi
    src="$WORK/before-src-${sha:0:10}"
    target=${BENCH_BEFORE_TARGET_DIR:-$WORK/before-target}
    echo "== before: git worktree add --detach $src $sha" >&2
    git -C "$ROOT" worktree add --detach "$src" "$sha" >&2 ||
        { echo "suite: git worktree add of $sha failed" >&2; exit 1; }
    BEFORE_SRCS+=("$src")
    echo "== before: cargo build --release -p server -p tools (CARGO_TARGET_DIR=$target)" >&2
    local t0=$SECONDS
    (cd "$src" && CARGO_TARGET_DIR="$target" cargo build --release -p server -p tools) >&2 ||
        { echo "suite: building $sha (cargo build --release -p server -p tools in $src) failed" >&2; exit 1; }
    BEFORE_BUILD_SECS=$((SECONDS - t0))
    BEFORE_BIN="$WORK/before-bin-${sha:0:10}"
    mkdir -p "$BEFORE_BIN"
    local b
    for b in startserv chatload; do
        [[ -x "$target/release/$b" ]] || { echo "suite: missing $target/release/$b after building $sha" >&2; exit 1; }
        cp "$target/release/$b" "$BEFORE_BIN/$b"
    done
    if [[ -n "$LIMIT_KEYS" ]] && ! grep -qa "$LIMIT_KEYS" "$BEFORE_BIN/startserv"; then
        echo "suite: the startserv of $sha does not know $LIMIT_KEYS (bench.toml); it cannot run the same profile" >&2
        exit 1
    fi
    BUILT_BIN[$sha]=$BEFORE_BIN
    BUILT_SECS[$sha]=$BEFORE_BUILD_SECS
    COMMANDS+=("git worktree add --detach <work>/before-src-${sha:0:10} ${sha:0:10}   # removed on exit"
        "(cd <work>/before-src-${sha:0:10} && CARGO_TARGET_DIR=$(shown "$target") cargo build --release -p server -p tools)   # ${BEFORE_BUILD_SECS} s"
        "cp $(shown "$target")/release/{startserv,chatload} <work>/before-bin-${sha:0:10}/")
}

# tl_run WHICH(before|after) WINDOW RUN: one closed-loop relay run on a fresh server and a
# fresh database, with the CPU time of startserv and mariadbd over the whole chatload run
# and over its measured window; appends a row to the report and the figures to TL_*.
# TL_* are keyed "WHICH:WINDOW"; the CPU sums are "SERVER_TICKS DB_TICKS MSGS" for the
# whole run (TL_RUN) and the measured window (TL_WIN), over the clean runs.
declare -A TL_RATES TL_RUN TL_WIN
# add3 "A B C" "D E F": the sums, "-" sticking.
add3() {
    awk -v a="${1:-0 0 0}" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        for (i = 1; i <= 3; i++) printf "%s%s", (i > 1 ? " " : ""), (x[i] == "-" || y[i] == "-" ? "-" : x[i] + y[i]); print "" }'
}
# cpu2 "SERVER_TICKS DB_TICKS MSGS": "SERVER_µs/msg MARIADB_µs/msg"; cpu3: the same as
# two table cells.
cpu2() {
    local -a v
    read -r -a v <<<"${1:-- - -}"
    echo "$(per_msg "${v[0]}" "${v[2]}") $(per_msg "${v[1]}" "${v[2]}")"
}
cpu3() { local -a v; read -r -a v <<<"$(cpu2 "$1")"; echo "${v[0]} | ${v[1]}"; }
tl_run() {
    local which=$1 w=$2 i=$3 name="timeline-$1-w$2-$3" key="$1:$2"
    new_db "tl_${which}_w${w}_$i"
    if [[ $which == before ]]; then
        SERVER_BIN="$BEFORE_BIN/startserv"
        LOAD_BIN="$BEFORE_BIN/chatload"
    fi
    start_chat "$name" "$WORK/bench.toml" --mysql "$MYSQL_URL"
    wait_idle "$SPID"
    [[ -z "$MARIADB_PID" ]] || wait_idle "$MARIADB_PID" mariadbd
    local s0 s1 m0 m1 st="-" mt="-" k0 k1 t0 span win
    sampler_start "$SPID" "$MARIADB_PID"
    s0=$(cpu_ticks "$SPID")
    m0=$(cpu_ticks "$MARIADB_PID")
    k0=$(machine_ticks)
    t0=$(now_ms)
    load "timeline $which window $w run $i" relay --addr "$ADDR" --conns "$RELAY_CONNS" --window "$w" \
        --duration "$SECS" --warmup "$WARMUP" --drain "$DRAIN"
    k1=$(machine_ticks)
    s1=$(cpu_ticks "$SPID")
    m1=$(cpu_ticks "$MARIADB_PID")
    sampler_stop
    stop_chat "$name"
    SERVER_BIN="$BIN/startserv"
    LOAD_BIN="$BIN/chatload"
    # Dropped now rather than on exit: the next run starts on an idle MariaDB.
    "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" || true
    if [[ -n "$s0" && -n "$s1" ]]; then st=$((s1 - s0)); fi
    if [[ -n "$m0" && -n "$m1" ]]; then mt=$((m1 - m0)); fi
    local rate msgs gaps reorders ok=yes whole from to wmsgs
    rate=$(jget "$JSON" msgs_per_sec)
    msgs=$(jget "$JSON" exactly_once.pushes)
    gaps=$(jget "$JSON" gaps)
    reorders=$(jget "$JSON" reorders)
    whole="$st $mt ${msgs:--}"
    read -r from to wmsgs <<<"$(measured_span "$JSON")"
    if [[ "$from" != - ]]; then
        span=$(window_ticks "$t0" "$from" "$to")
        win="$span $wmsgs"
    else
        win="- - -"
    fi
    clean_json "$JSON" || ok=no
    section "| $TL_ORDER | $which | $w | $(int "$rate") | $(int "$(jget "$JSON" acked_per_sec)") | $(int "$(jget "$JSON" delivered_per_sec)") | $(ms "$(jget "$JSON" delivery_latency_us.p50_us)") / $(ms "$(jget "$JSON" delivery_latency_us.p99_us)") | $(jget "$JSON" lost) / $(jget "$JSON" duplicated) | ${gaps:-n/a} / ${reorders:-n/a} | ${msgs:-n/a} | $(secs "${st#-}") | $(secs "${mt#-}") | $(cpu3 "$whole") | $(cpu3 "$win") | $(jget "$JSON" client_cpu_s) | $(busy_pct "$k0" "$k1") | $ok |"
    TL_ORDER=$((TL_ORDER + 1))
    if [[ $ok == yes ]]; then
        TL_RATES[$key]+="$rate "
        # CPU per message over several runs: total CPU ÷ total messages.
        TL_RUN[$key]=$(add3 "${TL_RUN[$key]:-}" "$whole")
        TL_WIN[$key]=$(add3 "${TL_WIN[$key]:-}" "$win")
    else
        NOTES+=("timeline $which window $w run $i was not clean (lost $(jget "$JSON" lost), duplicated $(jget "$JSON" duplicated), gaps ${gaps:-n/a}, reorders ${reorders:-n/a}): left out of the mean")
    fi
}

# ---------------------------------------------------------------------------------------
# 1f. overload: one node on MariaDB, open loop; CPU per message and capacity before
# (BENCH_PERF_BEFORE) and after, alternating; then the current code at 2 × its capacity
# ---------------------------------------------------------------------------------------
# num_mean VALUES...: the mean of the numeric values ("12.3"), empty without any.
num_mean() {
    printf '%s\n' "$@" | awk '$1 ~ /^[0-9.eE+-]+$/ { s += $1; n++ } END { if (n) printf "%.1f", s / n }'
}
# na VALUE: VALUE with one decimal ("98.0"), or "n/a" when empty.
na() { [[ -n "$1" ]] && awk -v x="$1" 'BEGIN { printf "%.1f", x }' || echo "n/a"; }
# times RATIO: "0.912×", or "n/a".
times() { [[ "$1" == n/a ]] && echo n/a || echo "$1×"; }
# ov_run WHICH(before|after) RATE TAG: one open-loop relay run at RATE msg/s offered, on a
# fresh server (WHICH's startserv, bench profile) and a fresh database (dropped right
# after), driven by this tree's chatload with the CPU of startserv and mariadbd over its
# measured window (--cpu-of). Sets JSON and OV_BUSY (how busy the machine was, %).
ov_run() {
    local which=$1 rate=$2 tag=$3 name="overload-$1-$2-$3" k0 k1
    new_db "ov_${which}_${rate}_$tag"
    [[ $which == before ]] && SERVER_BIN="$PERF_BIN/startserv"
    start_chat "$name" "${OV_CONFIG:-$WORK/bench.toml}" --mysql "$MYSQL_URL"
    SERVER_BIN="$BIN/startserv"
    wait_idle "$SPID"
    [[ -z "$MARIADB_PID" ]] || wait_idle "$MARIADB_PID" mariadbd
    local watch=(--cpu-of "server=$SPID")
    [[ -z "$MARIADB_PID" ]] || watch+=(--cpu-of "mariadbd=$MARIADB_PID")
    k0=$(machine_ticks)
    load "overload $which $rate msg/s $tag" relay --addr "$ADDR" --conns "$RELAY_CONNS" --rate "$rate" \
        --duration "$SECS" --warmup "$WARMUP" --drain "$DRAIN" "${watch[@]}"
    k1=$(machine_ticks)
    OV_BUSY=$(busy_pct "$k0" "$k1")
    stop_chat "$name"
    # Dropped now rather than on exit: the next run starts on an idle MariaDB.
    "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" || true
}
# ov_fail JSON: why the run does not count towards the capacity (p99 send→delivery over
# 20 ms, an error answer, a send unanswered, a message lost or duplicated, no delivery,
# chatload failed); empty when it passes.
ov_fail() {
    local reasons=() p99
    [[ -z "$(jget "$1" error)" ]] || { echo "chatload failed"; return; }
    p99=$(jget "$1" delivery_latency_us.p99_us)
    [[ "$(jget "$1" delivery_latency_us.count)" =~ ^[1-9] ]] || reasons+=("nothing delivered")
    awk -v p="$p99" 'BEGIN { exit !(p != "" && p <= 20000) }' || reasons+=("p99 $(ms "$p99") ms")
    [[ "$(counts "$(jget "$1" send_errors)")" == none ]] || reasons+=("errors")
    [[ "$(jget "$1" unanswered_sends)" == 0 ]] || reasons+=("$(jget "$1" unanswered_sends) unanswered")
    [[ "$(jget "$1" lost)" == 0 ]] || reasons+=("$(jget "$1" lost) lost")
    [[ "$(jget "$1" duplicated)" == 0 ]] || reasons+=("$(jget "$1" duplicated) duplicated")
    if ((${#reasons[@]} > 0)); then
        printf '%s\n' "${reasons[@]}" | commas
    fi
}
if wants overload; then
    section "## 1f. Overload: CPU per message, open-loop capacity, graceful overload (one node, MariaDB)" ""
    build_before "$PERF_BEFORE" BENCH_PERF_BEFORE
    PERF_SHA=$BEFORE_SHA
    PERF_BIN=$BEFORE_BIN
    PERF_BUILD_SECS=$BEFORE_BUILD_SECS
    section "\"before\" is ${PERF_SHA:0:10} (\"$(git -C "$ROOT" log -1 --format=%s "$PERF_SHA")\")," \
        "built in a git worktree; \"after\" is this tree. Both servers are driven by this tree's" \
        "chatload (the same load generator; both speak the current protocol). Every run: a fresh" \
        "server (bench profile) on a fresh database, \`chatload relay --conns $RELAY_CONNS --rate R\` open loop" \
        "(latency from each message's scheduled send), ${WARMUP} s warm-up, ${SECS} s measured, up to ${DRAIN} s" \
        "drain, \`--cpu-of server=PID --cpu-of mariadbd=PID\` (mariadbd pid ${MARIADB_PID:-not found}; it also" \
        "serves whatever else uses it): CPU time (user + system, every thread, \`/proc/PID/stat\`)" \
        "over the measured window ÷ messages delivered in it. Machine busy: the share of both" \
        "cores in use over the chatload run, everything included (other people's processes too)." ""

    # a. CPU per message, before and after alternating.
    section "### CPU per relayed message" ""
    section "| offered msg/s | binary | run | delivered/s | send→delivery p50 ms | p99 ms | server µs/msg | mariadbd µs/msg | lost / dup | send errors | machine busy % |"
    section "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|"
    declare -A OVC_DEL OVC_P50 OVC_P99 OVC_SRV OVC_DB
    for r in "${PERF_RATES[@]}"; do
        for i in $(seq "$PERF_RUNS"); do
            for which in before after; do
                ov_run "$which" "$r" "cpu$i"
                key="$r:$which"
                OVC_DEL[$key]+="$(jget "$JSON" delivered_per_sec) "
                OVC_P50[$key]+="$(jget "$JSON" delivery_latency_us.p50_us) "
                OVC_P99[$key]+="$(jget "$JSON" delivery_latency_us.p99_us) "
                OVC_SRV[$key]+="$(jget "$JSON" cpu.server.us_per_msg) "
                OVC_DB[$key]+="$(jget "$JSON" cpu.mariadbd.us_per_msg) "
                section "| $r | $which | $i | $(int "$(jget "$JSON" delivered_per_sec)") | $(ms "$(jget "$JSON" delivery_latency_us.p50_us)") | $(ms "$(jget "$JSON" delivery_latency_us.p99_us)") | $(na "$(jget "$JSON" cpu.server.us_per_msg)") | $(na "$(jget "$JSON" cpu.mariadbd.us_per_msg)") | $(jget "$JSON" lost) / $(jget "$JSON" duplicated) | $(counts "$(jget "$JSON" send_errors)") | $OV_BUSY |"
                if [[ "$(jget "$JSON" lost)" != 0 || "$(jget "$JSON" duplicated)" != 0 ]]; then
                    NOTES+=("overload: $which at $r msg/s run $i lost $(jget "$JSON" lost), duplicated $(jget "$JSON" duplicated) messages")
                fi
            done
        done
    done
    # Means per (rate, binary) and after ÷ before; "mean" rows average the runs' figures
    # (p50 and p99 included: a mean of percentiles, not a percentile).
    declare -A OVC_M
    for r in "${PERF_RATES[@]}"; do
        for which in before after; do
            key="$r:$which"
            for m in DEL P50 P99 SRV DB; do
                declare -n vals="OVC_$m"
                read -r -a v <<<"${vals[$key]:-}"
                OVC_M[$key:$m]=$(num_mean "${v[@]}")
                unset -n vals
            done
            section "| $r | $which | mean | $(int "${OVC_M[$key:DEL]}") | $(ms "${OVC_M[$key:P50]}") | $(ms "${OVC_M[$key:P99]}") | $(na "${OVC_M[$key:SRV]}") | $(na "${OVC_M[$key:DB]}") | | | |"
        done
    done
    cpu_goal=""
    for r in "${PERF_RATES[@]}"; do
        b="$r:before" a="$r:after"
        rs=$(ratio "${OVC_M[$a:SRV]}" "${OVC_M[$b:SRV]}")
        rd=$(ratio "${OVC_M[$a:DB]}" "${OVC_M[$b:DB]}")
        section "| $r | after ÷ before | | $(times "$(ratio "${OVC_M[$a:DEL]}" "${OVC_M[$b:DEL]}")") | $(times "$(ratio "${OVC_M[$a:P50]}" "${OVC_M[$b:P50]}")") | $(times "$(ratio "${OVC_M[$a:P99]}" "${OVC_M[$b:P99]}")") | $(times "$rs") | $(times "$rd") | | | |"
        cpu_goal+="${cpu_goal:+; }$r msg/s: server $(na "${OVC_M[$b:SRV]}") → $(na "${OVC_M[$a:SRV]}") µs ($(times "$rs")), mariadbd $(na "${OVC_M[$b:DB]}") → $(na "${OVC_M[$a:DB]}") µs ($(times "$rd"))"
    done
    section "" "Means over the $PERF_RUNS runs of each binary at each rate; after ÷ before divides the means." ""
    goal "overload: CPU µs per relayed message, after ÷ before (one node, MariaDB, open loop, $RELAY_CONNS conns, $PERF_RUNS runs each, alternating)" "report" "$cpu_goal" "n/a"

    # b. Capacity: each binary climbs the ladder up to its first failure.
    section "### Open-loop capacity" "" \
        "Offered rates ${CAP_RATES[*]} msg/s, before and after alternating at each rate; a binary stops" \
        "climbing at its first failure. A rate passes with p99 send→delivery ≤ 20 ms, no error" \
        "answer, no send unanswered and 0 lost / 0 duplicated; the capacity is the highest rate" \
        "passed below the first failure." ""
    section "| offered msg/s | binary | delivered/s | send→delivery p50 ms | p99 ms | send errors | lost / dup | unanswered | server µs/msg | machine busy % | passes |"
    section "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---|"
    declare -A OV_CAP OV_STOP
    for r in "${CAP_RATES[@]}"; do
        for which in before after; do
            [[ -z "${OV_STOP[$which]:-}" ]] || continue
            ov_run "$which" "$r" cap
            why=$(ov_fail "$JSON")
            section "| $r | $which | $(int "$(jget "$JSON" delivered_per_sec)") | $(ms "$(jget "$JSON" delivery_latency_us.p50_us)") | $(ms "$(jget "$JSON" delivery_latency_us.p99_us)") | $(counts "$(jget "$JSON" send_errors)") | $(jget "$JSON" lost) / $(jget "$JSON" duplicated) | $(jget "$JSON" unanswered_sends) | $(na "$(jget "$JSON" cpu.server.us_per_msg)") | $OV_BUSY | $([[ -z "$why" ]] && echo yes || echo "no: $why") |"
            if [[ -z "$why" ]]; then
                OV_CAP[$which]=$r
            else
                OV_STOP[$which]=$r
            fi
        done
        [[ -n "${OV_STOP[before]:-}" && -n "${OV_STOP[after]:-}" ]] && break
    done
    # cap_text WHICH: "7500 msg/s (failed at 10000)", "≥ 30000 msg/s (passed the whole ladder)" or
    # "none (failed at 2500 msg/s)".
    cap_text() {
        if [[ -z "${OV_CAP[$1]:-}" ]]; then
            echo "none (failed at ${OV_STOP[$1]:-?} msg/s)"
        elif [[ -z "${OV_STOP[$1]:-}" ]]; then
            echo "≥ ${OV_CAP[$1]} msg/s (passed the whole ladder)"
        else
            echo "${OV_CAP[$1]} msg/s (failed at ${OV_STOP[$1]})"
        fi
    }
    cap_ratio=$(ratio "${OV_CAP[after]:-}" "${OV_CAP[before]:-}")
    section "" "Capacity: before $(cap_text before), after $(cap_text after); after ÷ before $(times "$cap_ratio")." ""
    goal "overload: open-loop capacity (highest offered msg/s with p99 send→delivery ≤ 20 ms, no errors, 0 lost), after ÷ before" "report" \
        "$(times "$cap_ratio") (after $(cap_text after) ÷ before $(cap_text before))" "n/a"

    # c. The current code at twice its capacity.
    if [[ -n "${OV_CAP[after]:-}" ]]; then
        cap=${OV_CAP[after]}
        cap_from="the current code's capacity"
    else
        cap=${CAP_RATES[0]}
        cap_from="the lowest rate of the ladder: the current code's capacity was not found"
        NOTES+=("overload: the current code passed no rate of the capacity ladder; the overload run offered 2 × the lowest rate ($cap msg/s)")
    fi
    over=$((2 * cap))
    section "### Overload: the current code at 2 × capacity" "" \
        "Offered $over msg/s = 2 × $cap msg/s ($cap_from), ${SECS} s measured. Goodput: messages" \
        "delivered per second; p99 of the accepted (delivered) messages, from their scheduled" \
        "send; refusals: error answers to sends scheduled in the measured window (\`refusal\` in" \
        "chatload's JSON), time to refuse from the scheduled send to the error answer. The" \
        "capacity is a rung of the ladder, a lower bound of the rate the code sustains within" \
        "the limits: goodput ÷ capacity may exceed 1." ""
    # Twice: the default limit on the writer's queue wait, and a tight one.
    cat "$WORK/bench.toml" >"$WORK/bench-tight.toml"
    printf '[writer]\nmax_queue_wait_ms = 100\n' >>"$WORK/bench-tight.toml"
    for prof in default tight; do
        if [[ $prof == default ]]; then
            cfg="$WORK/bench.toml"
            label="Bench profile, default \`writer.max_queue_wait_ms\` (1,000 ms):"
        else
            cfg="$WORK/bench-tight.toml"
            label="Bench profile plus \`[writer] max_queue_wait_ms = 100\` (an operator bounding latency under overload):"
        fi
        OV_CONFIG=$cfg ov_run after "$over" "overload_$prof"
        goodput=$(jget "$JSON" delivered_per_sec)
        good_ratio=$(ratio "$goodput" "$cap")
        p99=$(jget "$JSON" delivery_latency_us.p99_us)
        refused=$(jget "$JSON" refusal.count)
        refused_ps=$(awk -v n="$refused" -v d="$(jget "$JSON" duration_s)" 'BEGIN { if (n == "" || d + 0 <= 0) print "n/a"; else printf "%.0f", n / d }')
        lost=$(jget "$JSON" lost)
        section "$label" "" "| at $over msg/s offered (2 × $cap) | measured | goal |"
        section "|---|---:|---|"
        section "| sent/s | $(int "$(jget "$JSON" sends_per_sec)") | |"
        section "| goodput (delivered/s) | $(int "$goodput") | |"
        section "| goodput ÷ capacity | $(times "$good_ratio") | ≥ 0.95× |"
        section "| accepted messages, send→delivery p50 / p99 / max ms | $(ms "$(jget "$JSON" delivery_latency_us.p50_us)") / $(ms "$p99") / $(ms "$(jget "$JSON" delivery_latency_us.max_us)") | p99 ≤ 200 ms |"
        section "| refusals/s | $refused_ps | |"
        section "| refusals by code | $(counts "$(jget "$JSON" refusal.codes)") | |"
        if [[ "$refused" =~ ^[1-9] ]]; then
            refuse_ms="$(ms "$(jget "$JSON" refusal.p50_us)") / $(ms "$(jget "$JSON" refusal.p99_us)") / $(ms "$(jget "$JSON" refusal.max_us)") ms"
        else
            refuse_ms="n/a (no refusal)"
        fi
        section "| time to refuse p50 / p99 / max | $refuse_ms | |"
        section "| refusals with retry_after_ms | $(jget "$JSON" refusal.with_retry_after) of ${refused:-?} | |"
        section "| send errors, whole run (warm-up and drain included) | $(counts "$(jget "$JSON" send_errors)") | |"
        section "| lost / duplicated | ${lost:-?} / $(jget "$JSON" duplicated) | 0 lost |"
        section "| unanswered sends | $(jget "$JSON" unanswered_sends) | |"
        section "| server / mariadbd µs per delivered message | $(na "$(jget "$JSON" cpu.server.us_per_msg)") / $(na "$(jget "$JSON" cpu.mariadbd.us_per_msg)") | |"
        section "| machine busy % | $OV_BUSY | |"
        section ""
        met=no
        [[ "$good_ratio" != n/a && -n "${OV_CAP[after]:-}" ]] && awk -v r="$good_ratio" 'BEGIN { exit !(r >= 0.95) }' && met=yes
        goal "overload ($prof): goodput at 2 × capacity ($over msg/s offered) ÷ capacity ($cap msg/s$([[ -n "${OV_CAP[after]:-}" ]] || echo ", not found: the lowest ladder rate"))" "≥ 0.95×" \
            "$(times "$good_ratio") ($(int "$goodput") delivered/s; $refused_ps refusals/s: $(counts "$(jget "$JSON" refusal.codes)"); time to refuse p50 / p99 / max $refuse_ms; $(jget "$JSON" refusal.with_retry_after) of ${refused:-?} with retry_after_ms)" "$met"
        met=no
        awk -v p="$p99" 'BEGIN { exit !(p != "" && p <= 200000) }' && met=yes
        goal "overload ($prof): p99 send→delivery of accepted messages at 2 × capacity" "≤ 200 ms" "$(ms "$p99") ms" "$met"
        met=no
        [[ "$lost" == 0 ]] && met=yes
        goal "overload ($prof): lost at 2 × capacity" "0" "${lost:-n/a} (duplicated $(jget "$JSON" duplicated))" "$met"
    done
fi

if wants timeline; then
    section "## 1c. Timelines: one node on MariaDB, before and after" ""
    build_before "$BEFORE_COMMIT" BENCH_BEFORE_COMMIT
    TL_SHA=$BEFORE_SHA
    TL_BUILD_SECS=$BEFORE_BUILD_SECS
    section "\"before\" is ${BEFORE_SHA:0:10} (\"$(git -C "$ROOT" log -1 --format=%s "$BEFORE_SHA")\"), the last commit" \
        "before protocol v2, built in a git worktree and driven by its own chatload (protocol v1);" \
        "\"after\" is this tree, driven by this chatload (which also checks every connection's" \
        "timeline: gaps and reorders). Each run: a fresh server (bench profile) on a fresh" \
        "database, \`chatload relay --conns $RELAY_CONNS --window W\` closed loop, ${WARMUP} s warm-up, ${SECS} s" \
        "measured; the two binaries alternate (before, after, before, after, ...) so that drift" \
        "hits both." "" \
        "CPU: utime + stime of startserv and of mariadbd (pid ${MARIADB_PID:-not found}; it also serves" \
        "whatever else uses it) from \`/proc/PID/stat\`. *Whole run*: read before and after the" \
        "chatload run (set-up of $RELAY_CONNS users, warm-up, measured window, drain), divided by the" \
        "messages delivered over it (\`exactly_once.pushes\`). *Measured*: sampled every 0.2 s," \
        "over chatload's measured window less ${MARGIN} s at each end, divided by the messages" \
        "delivered in that span (delivered/s × its length): the steady state, without set-up." \
        "Machine busy: the share of both cores in use over the chatload run, everything included" \
        "(\`/proc/stat\`, VM steal counted as busy); what startserv, mariadbd and chatload do not" \
        "account for is other processes." ""
    section "| # | binary | window | msg/s | acked/s | delivered/s | send→delivery p50 / p99 ms | lost / dup | gaps / reorders | delivered msgs (whole run) | startserv CPU s | mariadbd CPU s | startserv µs/msg, whole run | mariadbd µs/msg, whole run | startserv µs/msg, measured | mariadbd µs/msg, measured | chatload CPU s | machine busy % | clean |"
    section "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    TL_ORDER=1
    for w in "${TL_WINDOWS[@]}"; do
        for i in $(seq "$TL_RUNS"); do
            tl_run before "$w" "$i"
            tl_run after "$w" "$i"
        done
    done
    section "" "| window | before: clean runs, msg/s | before mean | after: clean runs, msg/s | after mean | after ÷ before | startserv µs/msg, measured: before → after | mariadbd µs/msg, measured: before → after | startserv µs/msg, whole run: before → after | mariadbd µs/msg, whole run: before → after |"
    section "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"
    best_b="" best_bw="" best_a="" best_aw=""
    for w in "${TL_WINDOWS[@]}"; do
        read -r -a rb <<<"${TL_RATES[before:$w]:-}"
        read -r -a ra <<<"${TL_RATES[after:$w]:-}"
        mb=$(mean "${rb[@]}")
        ma=$(mean "${ra[@]}")
        list_b=$(int_list "${rb[@]}")
        list_a=$(int_list "${ra[@]}")
        read -r wbs wbd <<<"$(cpu2 "${TL_WIN[before:$w]:-}")"
        read -r was wad <<<"$(cpu2 "${TL_WIN[after:$w]:-}")"
        read -r rbs rbd <<<"$(cpu2 "${TL_RUN[before:$w]:-}")"
        read -r ras rad <<<"$(cpu2 "${TL_RUN[after:$w]:-}")"
        section "| $w | ${list_b:-none} | $([[ -n "$mb" ]] && int "$mb" || echo n/a) | ${list_a:-none} | $([[ -n "$ma" ]] && int "$ma" || echo n/a) | $(ratio "$ma" "$mb") | $wbs → $was | $wbd → $wad | $rbs → $ras | $rbd → $rad |"
        if [[ -n "$mb" ]] && awk -v a="$mb" -v b="${best_b:-0}" 'BEGIN { exit !(a > b) }'; then best_b=$mb best_bw=$w; fi
        if [[ -n "$ma" ]] && awk -v a="$ma" -v b="${best_a:-0}" 'BEGIN { exit !(a > b) }'; then best_a=$ma best_aw=$w; fi
    done
    section "" "Means are over the clean runs (0 lost, 0 duplicated, 0 gaps, 0 reorders); CPU µs per" \
        "message over the same runs (total CPU ÷ total messages)." ""
    if [[ -n "$best_a" ]]; then
        SINGLE_RATE=$best_a
        SINGLE_WINDOW=$best_aw
        SINGLE_FROM="the timeline scenario's \"after\" mean"
    fi
    r=$(ratio "$best_a" "$best_b")
    met=no
    [[ "$r" != n/a ]] && awk -v r="$r" 'BEGIN { exit !(r >= 0.85) }' && met=yes
    read -r was wad <<<"$(cpu2 "${TL_WIN[after:$best_aw]:-}")"
    read -r wbs wbd <<<"$(cpu2 "${TL_WIN[before:$best_bw]:-}")"
    goal "single node MariaDB, timelines ÷ before (best closed-loop mean msg/s, $RELAY_CONNS conns, $TL_RUNS runs each, alternating)" "≥ 0.85×" \
        "${r}× ($([[ -n "$best_a" ]] && int "$best_a" || echo n/a) at window ${best_aw:-?} ÷ $([[ -n "$best_b" ]] && int "$best_b" || echo n/a) at window ${best_bw:-?}); CPU µs/msg (measured), before → after: startserv $wbs → $was, mariadbd $wbd → $wad" "$met"
fi

# ---------------------------------------------------------------------------------------
# 1d. cluster: two nodes sharing one database and one Redis, every message crossing nodes
# ---------------------------------------------------------------------------------------
if wants cluster; then
    section "## 1d. Cluster: two nodes, every message crossing nodes" ""
    command -v redis-cli >/dev/null || { echo "suite: the cluster scenario needs redis-cli (tools/services.sh installs it)" >&2; exit 1; }
    [[ "$(redis-cli -u "$REDIS_URL" ping 2>&1)" == PONG ]] ||
        { echo "suite: Redis at $REDIS_URL does not answer PING (bash tools/services.sh)" >&2; exit 1; }
    # The pid of the Redis at REDIS_URL (other people may run private redis-servers).
    REDIS_PID=$(redis-cli -u "$REDIS_URL" info server 2>/dev/null | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
    # A random cluster name: the prefix of every Redis key the nodes write (deleted on exit).
    CLUSTER_NAME="chat_bench_${STAMP}_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
    new_db cluster
    cluster_args=(--mysql "$MYSQL_URL" --redis "$REDIS_URL" --cluster "$CLUSTER_NAME")
    # Node a first and alone: it applies the schema to the empty database.
    start_chat cluster-a "$WORK/bench.toml" "${cluster_args[@]}" --node-id a
    PID_A=$SPID ADDR_A=$ADDR
    start_chat cluster-b "$WORK/bench.toml" "${cluster_args[@]}" --node-id b
    PID_B=$SPID ADDR_B=$ADDR
    section "Nodes a ($ADDR_A) and b ($ADDR_B): \`startserv --mysql URL --redis $REDIS_URL" \
        "--cluster $CLUSTER_NAME --node-id a|b\`, bench profile, one fresh database. \`chatload relay" \
        "--addr A --addr B\` puts the two friends of every pair on different nodes, so every" \
        "message is committed by the sender's node and reaches its recipient through Redis" \
        "pub/sub. The two nodes, MariaDB, Redis and the load generator share the machine's" \
        "$(nproc) cores: the ratio to one node is a lower bound of what a node on a machine of" \
        "its own would do. Clean: 0 lost, 0 duplicated, 0 gaps, 0 reorders. CPU µs per" \
        "delivered message of both nodes together, mariadbd (pid ${MARIADB_PID:-not found}) and redis-server" \
        "(pid ${REDIS_PID:-not found}): *measured* = sampled every 0.2 s over chatload's measured window less" \
        "${MARGIN} s at each end ÷ the messages delivered in that span; *whole run* = read before and" \
        "after the chatload run (set-up, warm-up, measured window, drain) ÷ every message it" \
        "delivered. Machine busy: the share of both cores in use over the chatload run." ""
    section "| run | msg/s (acked and delivered) | acked/s | delivered/s | send→ack p50 / p99 ms | send→delivery p50 / p99 / p99.9 ms | lost / dup | gaps / reorders | send errors | both nodes µs/msg, measured / whole run | mariadbd µs/msg, measured / whole run | redis µs/msg, measured / whole run | chatload CPU s | machine busy % | clean |"
    section "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"
    # cluster_run LABEL PACE_ARGS...: one relay run over both nodes, a row of the table.
    cluster_run() {
        local label=$1 a0 b0 m0 r0 a1 b1 m1 r1 k0 k1 t0 nt="" mt="" rt="" msgs ok=yes
        local from to wmsgs wa="-" wb="-" wm="-" wr="-" wn="-"
        shift
        wait_idle "$PID_A"
        wait_idle "$PID_B"
        [[ -z "$MARIADB_PID" ]] || wait_idle "$MARIADB_PID" mariadbd
        sampler_start "$PID_A" "$PID_B" "$MARIADB_PID" "$REDIS_PID"
        a0=$(cpu_ticks "$PID_A") b0=$(cpu_ticks "$PID_B") m0=$(cpu_ticks "$MARIADB_PID") r0=$(cpu_ticks "$REDIS_PID")
        k0=$(machine_ticks)
        t0=$(now_ms)
        load "cluster $label" relay --addr "$ADDR_A" --addr "$ADDR_B" --conns "$RELAY_CONNS" \
            --duration "$SECS" --warmup "$WARMUP" --drain "$DRAIN" "$@"
        k1=$(machine_ticks)
        a1=$(cpu_ticks "$PID_A") b1=$(cpu_ticks "$PID_B") m1=$(cpu_ticks "$MARIADB_PID") r1=$(cpu_ticks "$REDIS_PID")
        sampler_stop
        if [[ -n "$a0" && -n "$a1" && -n "$b0" && -n "$b1" ]]; then nt=$((a1 - a0 + b1 - b0)); fi
        if [[ -n "$m0" && -n "$m1" ]]; then mt=$((m1 - m0)); fi
        if [[ -n "$r0" && -n "$r1" ]]; then rt=$((r1 - r0)); fi
        msgs=$(jget "$JSON" exactly_once.pushes)
        read -r from to wmsgs <<<"$(measured_span "$JSON")"
        if [[ "$from" != - ]]; then
            read -r wa wb wm wr <<<"$(window_ticks "$t0" "$from" "$to")"
            if [[ "$wa" != - && "$wb" != - ]]; then wn=$(awk -v a="$wa" -v b="$wb" 'BEGIN { print a + b }'); fi
        fi
        clean_json "$JSON" || ok=no
        section "| $label | $(int "$(jget "$JSON" msgs_per_sec)") | $(int "$(jget "$JSON" acked_per_sec)") | $(int "$(jget "$JSON" delivered_per_sec)") | $(ms "$(jget "$JSON" ack_latency_us.p50_us)") / $(ms "$(jget "$JSON" ack_latency_us.p99_us)") | $(ms "$(jget "$JSON" delivery_latency_us.p50_us)") / $(ms "$(jget "$JSON" delivery_latency_us.p99_us)") / $(ms "$(jget "$JSON" delivery_latency_us.p999_us)") | $(jget "$JSON" lost) / $(jget "$JSON" duplicated) | $(jget "$JSON" gaps) / $(jget "$JSON" reorders) | $(counts "$(jget "$JSON" send_errors)") | $(per_msg "$wn" "$wmsgs") / $(per_msg "$nt" "$msgs") | $(per_msg "$wm" "$wmsgs") / $(per_msg "$mt" "$msgs") | $(per_msg "$wr" "$wmsgs") / $(per_msg "$rt" "$msgs") | $(jget "$JSON" client_cpu_s) | $(busy_pct "$k0" "$k1") | $ok |"
        CLUSTER_OK=$ok
    }
    cl_best="" cl_best_rate=0
    for w in "${WINDOWS[@]}"; do
        cluster_run "window $w" --window "$w"
        rate=$(jget "$JSON" msgs_per_sec)
        if [[ $CLUSTER_OK == yes ]] && awk -v a="$rate" -v b="$cl_best_rate" 'BEGIN { exit !(a > b) }'; then
            cl_best=$JSON
            cl_best_rate=$rate
        fi
    done
    cluster_run "$CLUSTER_RATE msg/s offered" --rate "$CLUSTER_RATE"
    cl_open=$JSON
    cl_open_ok=$CLUSTER_OK
    section ""
    stop_chat cluster-a "$PID_A"
    stop_chat cluster-b "$PID_B"
    left=$(redis-cli -u "$REDIS_URL" --scan --pattern "$CLUSTER_NAME:*" | wc -l)
    COMMANDS+=("redis-cli -u $REDIS_URL --scan --pattern '$CLUSTER_NAME:*' | xargs -r redis-cli -u $REDIS_URL del   # on exit; $left keys left after the nodes stopped")

    # One node on the current code, for the ratio: the timeline scenario's "after" mean if
    # it ran, else measured here over the same windows.
    if [[ -z "$SINGLE_RATE" ]]; then
        section "One node on the current code (no timeline scenario in this run), for the ratio:" ""
        new_db single
        start_chat single "$WORK/bench.toml" --mysql "$MYSQL_URL"
        section "| window | msg/s | lost / dup | gaps / reorders | clean |" "|---:|---:|---:|---:|---|"
        for w in "${WINDOWS[@]}"; do
            wait_idle "$SPID"
            load "single node window $w" relay --addr "$ADDR" --conns "$RELAY_CONNS" --window "$w" \
                --duration "$SECS" --warmup "$WARMUP" --drain "$DRAIN"
            rate=$(jget "$JSON" msgs_per_sec)
            ok=no
            clean_json "$JSON" && ok=yes
            section "| $w | $(int "$rate") | $(jget "$JSON" lost) / $(jget "$JSON" duplicated) | $(jget "$JSON" gaps) / $(jget "$JSON" reorders) | $ok |"
            if [[ $ok == yes ]] && awk -v a="$rate" -v b="${SINGLE_RATE:-0}" 'BEGIN { exit !(a > b) }'; then
                SINGLE_RATE=$rate
                SINGLE_WINDOW=$w
            fi
        done
        section ""
        stop_chat single
        SINGLE_FROM="one node measured in this scenario"
    fi

    if [[ -n "$cl_best" ]]; then
        r=$(ratio "$cl_best_rate" "$SINGLE_RATE")
        met=no
        [[ "$r" != n/a ]] && awk -v r="$r" 'BEGIN { exit !(r >= 0.6) }' && met=yes
        goal "cluster: 2 nodes ÷ 1 node, best closed-loop msg/s, $RELAY_CONNS conns, every message crossing nodes, 0 lost/dup/gaps/reorders (nodes, MariaDB, Redis and load share $(nproc) cores)" "≥ 0.6×" \
            "${r}× ($(int "$cl_best_rate") at window $(jget "$cl_best" window) ÷ $([[ -n "$SINGLE_RATE" ]] && int "$SINGLE_RATE" || echo n/a) at window ${SINGLE_WINDOW:-?}, ${SINGLE_FROM:-no single-node figure})" "$met"
    else
        goal "cluster: 2 nodes ÷ 1 node, best closed-loop msg/s, $RELAY_CONNS conns, every message crossing nodes, 0 lost/dup/gaps/reorders (nodes, MariaDB, Redis and load share $(nproc) cores)" "≥ 0.6×" \
            "no cluster run with 0 lost / dup / gaps / reorders" "no"
    fi
    goal "cluster: p99 send→delivery at $CLUSTER_RATE msg/s offered (2 nodes, every message crossing)" "report" \
        "$(ms "$(jget "$cl_open" delivery_latency_us.p99_us)") ms (delivered $(int "$(jget "$cl_open" delivered_per_sec)")/s; lost $(jget "$cl_open" lost), dup $(jget "$cl_open" duplicated), gaps $(jget "$cl_open" gaps), reorders $(jget "$cl_open" reorders)$([[ $cl_open_ok == yes ]] || echo "; NOT clean"))" "n/a"
fi

# ---------------------------------------------------------------------------------------
# 1e. websocket: one node on MariaDB, the relay over TCP and over WebSocket, alternating
# ---------------------------------------------------------------------------------------
# The line `GOALS websocket=<ws mean ÷ tcp mean>` printed last (as benches/gateway.sh
# prints its own); empty when the scenario did not run.
WS_GOALS_LINE=""
if wants websocket; then
    section "## 1e. WebSocket vs TCP: one node on MariaDB" ""
    new_db websocket
    start_chat websocket "$WORK/bench.toml" --mysql "$MYSQL_URL" --http-port 0
    # Logged before the TCP listener's line, which start_chat waited for.
    HTTP_ADDR=$(sed -n 's/.*startserv http listening on \([0-9.]*:[0-9]*\).*/\1/p' "$WORK/websocket.err" | head -n1)
    [[ -n "$HTTP_ADDR" ]] || { echo "suite: startserv (websocket) logged no HTTP address" >&2; exit 1; }
    section "One server (bench profile, MariaDB, \`--http-port 0\`: its HTTP port $HTTP_ADDR, TCP port $ADDR)." \
        "Each run is \`chatload relay --conns $RELAY_CONNS --window W\` closed loop, ${WARMUP} s warm-up, ${SECS} s" \
        "measured, against that same server: over TCP (\`--addr $ADDR\`) or over WebSocket" \
        "(\`--ws --addr $HTTP_ADDR\`: every connection, set-up and measured traffic alike, opens" \
        "\`ws://$HTTP_ADDR/ws\` and sends masked text frames). The transports alternate (tcp, ws, tcp," \
        "ws, ...) so that drift hits both; each run registers fresh users. msg/s is min(acked/s," \
        "delivered/s); p50 / p99 are send→delivery. Machine busy: the share of both cores in use" \
        "over the chatload run, everything included (other people's processes too)." ""
    section "| run | transport | window | msg/s | send→delivery p50 ms | send→delivery p99 ms | lost | dup | gaps / reorders | chatload CPU s | machine busy % | clean |"
    section "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    declare -A WS_RATES
    WS_ORDER=1
    WS_ALL_CLEAN=yes
    for w in "${WS_WINDOWS[@]}"; do
        for i in $(seq "$WS_RUNS"); do
            for transport in tcp ws; do
                wait_idle "$SPID"
                [[ -z "$MARIADB_PID" ]] || wait_idle "$MARIADB_PID" mariadbd
                if [[ $transport == ws ]]; then
                    target=(--ws --addr "$HTTP_ADDR")
                else
                    target=(--addr "$ADDR")
                fi
                k0=$(machine_ticks)
                load "websocket $transport window $w run $i" relay "${target[@]}" --conns "$RELAY_CONNS" \
                    --window "$w" --duration "$SECS" --warmup "$WARMUP" --drain "$DRAIN"
                k1=$(machine_ticks)
                rate=$(jget "$JSON" msgs_per_sec)
                ok=no
                clean_json "$JSON" && ok=yes
                section "| $WS_ORDER | $transport | $w | $(int "$rate") | $(ms "$(jget "$JSON" delivery_latency_us.p50_us)") | $(ms "$(jget "$JSON" delivery_latency_us.p99_us)") | $(jget "$JSON" lost) | $(jget "$JSON" duplicated) | $(jget "$JSON" gaps) / $(jget "$JSON" reorders) | $(jget "$JSON" client_cpu_s) | $(busy_pct "$k0" "$k1") | $ok |"
                WS_ORDER=$((WS_ORDER + 1))
                if [[ $ok == yes ]]; then
                    WS_RATES[$transport:$w]+="$rate "
                else
                    WS_ALL_CLEAN=no
                    NOTES+=("websocket: $transport window $w run $i was not clean (lost $(jget "$JSON" lost), duplicated $(jget "$JSON" duplicated), gaps $(jget "$JSON" gaps), reorders $(jget "$JSON" reorders); connect errors $(counts "$(jget "$JSON" health.connect_errors)"), closes $(counts "$(jget "$JSON" health.closes)")): left out of the mean")
                fi
            done
        done
    done
    stop_chat websocket
    section "" "| window | tcp: clean runs, msg/s | tcp mean | ws: clean runs, msg/s | ws mean | ws ÷ tcp |"
    section "|---:|---|---:|---|---:|---:|"
    ws_best_tcp="" ws_best_ws="" ws_best_w=""
    for w in "${WS_WINDOWS[@]}"; do
        read -r -a rt <<<"${WS_RATES[tcp:$w]:-}"
        read -r -a rw <<<"${WS_RATES[ws:$w]:-}"
        mt=$(mean "${rt[@]}")
        mw=$(mean "${rw[@]}")
        list_t=$(int_list "${rt[@]}")
        list_w=$(int_list "${rw[@]}")
        section "| $w | ${list_t:-none} | $([[ -n "$mt" ]] && int "$mt" || echo n/a) | ${list_w:-none} | $([[ -n "$mw" ]] && int "$mw" || echo n/a) | $(ratio "$mw" "$mt") |"
        # The goal is quoted at the window where TCP does best.
        if [[ -n "$mt" ]] && awk -v a="$mt" -v b="${ws_best_tcp:-0}" 'BEGIN { exit !(a > b) }'; then
            ws_best_tcp=$mt ws_best_ws=$mw ws_best_w=$w
        fi
    done
    section "" "Means are over the clean runs (0 lost, 0 duplicated, 0 gaps, 0 reorders)." ""
    r=$(ratio "$ws_best_ws" "$ws_best_tcp")
    met=no
    [[ "$r" != n/a && $WS_ALL_CLEAN == yes ]] && awk -v r="$r" 'BEGIN { exit !(r >= 0.8) }' && met=yes
    goal "websocket: relay over WebSocket ÷ over TCP, one node (MariaDB), mean closed-loop msg/s, $RELAY_CONNS conns, $WS_RUNS runs each, alternating; 0 lost" "≥ 0.8×, 0 lost" \
        "${r}× ($([[ -n "$ws_best_ws" ]] && int "$ws_best_ws" || echo n/a) ÷ $([[ -n "$ws_best_tcp" ]] && int "$ws_best_tcp" || echo n/a) at window ${ws_best_w:-?})$([[ $WS_ALL_CLEAN == yes ]] || echo "; NOT every run clean")" "$met"
    WS_GOALS_LINE="GOALS websocket=$r"
fi

# ---------------------------------------------------------------------------------------
# 1b. abuse: the relay and a pinger, without and then with attackers (default limits)
# ---------------------------------------------------------------------------------------
# rss_mib KIB: "12.3" (MiB), or "n/a".
rss_mib() { [[ -n "$1" ]] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || echo "n/a"; }
if wants abuse; then
    section "## 1b. Abuse ($ABUSE_ATTACKERS attackers)" ""
    new_db abuse
    start_chat abuse "$WORK/abuse.toml" --mysql "$MYSQL_URL"
    load "abuse" abuse --addr "$ADDR" --attackers "$ABUSE_ATTACKERS" --rate "$ABUSE_RATE" \
        --conns "$RELAY_CONNS" --duration "$SECS" --warmup "$WARMUP" --drain "$DRAIN" \
        --server-pid "$SPID"
    stop_chat abuse
    section "One server on MariaDB with every per-address limit at its default (\`abuse.toml\`):" \
        "$RELAY_CONNS relay connections offering $ABUSE_RATE msg/s and a pinger (\`push: false\`, a \`ping\`" \
        "every 50 ms), first alone, then with $ABUSE_ATTACKERS attackers from 127.0.1.x (64 KiB frames never" \
        "read; 70,000 pipelined logins, then close; half-open frames), ${WARMUP} s warm-up and ${SECS} s" \
        "measured each. Peak RSS: the server's VmRSS read every 100 ms over each phase." ""
    section "| Abuse ($ABUSE_ATTACKERS attackers) | no attack | attack |"
    section "|---|---:|---:|"
    for row in "send→delivery p50 ms|delivery_latency_us.p50_us|ms" \
        "send→delivery p99 ms|delivery_latency_us.p99_us|ms" \
        "ping RTT p99 ms|ping.rtt_us.p99_us|ms" \
        "server peak RSS MiB|server_rss.peak_kib|rss_mib" \
        "acked msg/s|acked_per_sec|int" \
        "lost|lost|" \
        "duplicated|duplicated|"; do
        IFS='|' read -r label path fmt <<<"$row"
        a=$(jget "$JSON" "no_attack.$path")
        b=$(jget "$JSON" "attack.$path")
        if [[ -n "$fmt" ]]; then
            a=$($fmt "$a")
            b=$($fmt "$b")
        fi
        section "| $label | ${a:-n/a} | ${b:-n/a} |"
    done
    section "" "Attackers: $(awk -v b="$(jget "$JSON" attack_traffic.total.bytes_sent)" 'BEGIN { printf "%.0f", b / 1048576 }') MiB in $(jget "$JSON" attack_traffic.total.frames_sent) complete frames over $(jget "$JSON" attack_traffic.total.connections) connections (refused: $(counts "$(jget "$JSON" attack_traffic.total.refused)"); closed by the server: $(jget "$JSON" attack_traffic.total.closed_by_server)); answers they read: $(counts "$(jget "$JSON" attack_traffic.total.errors)"). The relay's send errors under attack: $(counts "$(jget "$JSON" attack.send_errors)")." ""
    met=no
    [[ "$(jget "$JSON" goals.met)" == true ]] && met=yes
    goal "abuse: $ABUSE_ATTACKERS attackers vs $RELAY_CONNS relay conns at $ABUSE_RATE msg/s (default per-address limits)" \
        "attack p99 ≤ 1.5 × no-attack p99; peak RSS ≤ no-attack + 256 MiB; 0 lost" \
        "p99 $(ms "$(jget "$JSON" attack.delivery_latency_us.p99_us)") vs $(ms "$(jget "$JSON" no_attack.delivery_latency_us.p99_us)") ms ($(jget "$JSON" goals.p99_ratio)×); RSS $(awk -v g="$(jget "$JSON" goals.rss_growth_kib)" 'BEGIN { if (g == "") print "n/a"; else printf "%+.1f MiB", g / 1024 }'); lost $(jget "$JSON" goals.lost)" "$met"
fi

if wants floor; then
    section "## 2. Raw relay floor (relay_floor: the reactor alone, no JSON, no store)" ""
    out="$WORK/floor.out"
    "$BIN/relay_floor" --port 0 "${FLOOR_THREADS[@]}" >"$out" 2>"$WORK/floor.err" &
    SPID=$!
    PIDS+=("$SPID")
    ADDR=""
    for _ in $(seq 100); do
        ADDR=$(sed -n 's/^listening //p' "$out" | head -n1)
        [[ -n "$ADDR" ]] && break
        sleep 0.05
    done
    [[ -n "$ADDR" ]] || { echo "suite: relay_floor did not start" >&2; exit 1; }
    COMMANDS+=("${BIN#"$ROOT"/}/relay_floor --port 0 ${FLOOR_THREADS[*]}   # -> $ADDR")
    P99_JSON=""
    relay_runs floor --floor
    stop_pid "$SPID"
    section "chatload and relay_floor share the 2 cores: when chatload's CPU time approaches the" \
        "run time ($((SECS + WARMUP)) s), the floor figures are bounded by the load generator, so they are a" \
        "lower bound of the floor and relay ÷ floor an upper bound." ""
    BEST_BY[floor]=$BEST
    P99_BY[floor]=$P99_JSON
    floor_rate=$(jget "$BEST" msgs_per_sec)
    goal "floor: max msg/s, 1,000 conns" "report" "$(int "$floor_rate") msg/s (window $(jget "$BEST" window))" "n/a"
    if [[ -n "${P99_BY[floor]}" ]]; then
        goal "floor: p99 send→delivery at $P99_RATE msg/s offered" "report" \
            "$(ms "$(jget "${P99_BY[floor]}" delivery_latency_us.p99_us)") ms" "n/a"
    fi
    for store in MariaDB SQLite; do
        if [[ -n "${BEST_BY[$store]:-}" && -n "$floor_rate" ]]; then
            ratio=$(awk -v a="$(jget "${BEST_BY[$store]}" msgs_per_sec)" -v b="$floor_rate" 'BEGIN { printf "%.3f", a / b }')
            goal "relay $store ÷ floor (best closed-loop msg/s)" "report" \
                "$ratio ($(int "$(jget "${BEST_BY[$store]}" msgs_per_sec)") ÷ $(int "$floor_rate"))" "n/a"
        fi
    done
fi

# ---------------------------------------------------------------------------------------
# 3. idle connections
# ---------------------------------------------------------------------------------------
if wants conns; then
    section "## 3. Idle logged-in connections" ""
    new_db conns
    read -r -a SERVER_ENV <<<"${BENCH_CONNS_SERVER_ENV:-}"
    start_chat conns "$WORK/bench.toml" --mysql "$MYSQL_URL"
    SERVER_ENV=()
    srv_limits=$(awk '/Max open files/ { print $4 " soft / " $5 " hard" }' "/proc/$SPID/limits")
    load "conns" conns --addr "$ADDR" --conns "$IDLE_CONNS" --procs "$IDLE_PROCS" --hold "$HOLD" \
        --server-pid "$SPID"
    stop_chat conns
    logged=$(jget "$JSON" logged_in)
    still=$(jget "$JSON" still_connected)
    per=$(jget "$JSON" server_rss_bytes_per_conn)
    section "| connections asked | logged in | still connected at the end | server max_connections | server RLIMIT_NOFILE | login p50 / p99 ms | server VmRSS before → after | growth per connection | failures | closes during hold |"
    section "|---:|---:|---:|---:|---|---:|---|---:|---|---|"
    section "| $IDLE_CONNS ($IDLE_PROCS chatload processes) | $logged | $still | $MAXCONN | $srv_limits | $(ms "$(jget "$JSON" login_latency_us.p50_us)") / $(ms "$(jget "$JSON" login_latency_us.p99_us)") | $(jget "$JSON" server_rss_before_kib) KiB → $(jget "$JSON" server_rss_after_kib) KiB | $(int "$per") B | $(counts "$(jget "$JSON" failed)") | $(counts "$(jget "$JSON" closes)") |"
    section "" "Held ${HOLD} s with a ping from every connection every 30 s; \"still connected\" = answered a final ping." ""
    met=no
    if [[ -n "$logged" && -n "$still" ]] && ((logged >= 19500 && still == IDLE_CONNS)); then met=yes; fi
    goal "idle connections logged in and all still connected" "≥ 19,500" "$logged logged in, $still still connected" "$met"
    met=no
    if [[ -n "$per" ]] && awk -v p="$per" 'BEGIN { exit !(p <= 2048) }'; then met=yes; fi
    goal "server RSS growth per idle connection" "≤ 2 KiB" "$(int "$per") B" "$met"
fi

# ---------------------------------------------------------------------------------------
# 4. login storm
# ---------------------------------------------------------------------------------------
if wants login; then
    section "## 4. Login storm" ""
    new_db login
    start_chat login "$WORK/bench.toml" --mysql "$MYSQL_URL"
    load "login bench profile" login --addr "$ADDR" --conns "$LOGIN_CONNS"
    stop_chat login
    bench_json=$JSON
    ok=$(jget "$JSON" succeeded)
    section "| run | clients | succeeded | success | connect→login p50 / p90 / p99 / max ms | logins/s | failures |"
    section "|---|---:|---:|---:|---:|---:|---|"
    section "| bench profile (argon2 64 KiB, 1 pass) | $LOGIN_CONNS | $ok | $(jget "$JSON" success_pct)% | $(ms "$(jget "$JSON" latency_us.p50_us)") / $(ms "$(jget "$JSON" latency_us.p90_us)") / $(ms "$(jget "$JSON" latency_us.p99_us)") / $(ms "$(jget "$JSON" latency_us.max_us)") | $(int "$(jget "$JSON" logins_per_sec)") | $(counts "$(jget "$JSON" failed)") |"
    met=no
    [[ "$ok" == "$LOGIN_CONNS" ]] && met=yes
    goal "login storm, $LOGIN_CONNS clients at once (bench profile): success" "100%" \
        "$(jget "$bench_json" success_pct)% (p99 $(ms "$(jget "$bench_json" latency_us.p99_us)") ms)" "$met"

    # Default cost: the demo users of sql/demo.sql carry default-cost hashes (loading them
    # costs no hashing); without the file, register at the default cost (untimed, slow).
    new_db demo
    if [[ -f sql/schema.sql && -f sql/demo.sql ]]; then
        "${MYSQL[@]}" "$DB" <sql/schema.sql
        "${MYSQL[@]}" "$DB" <sql/demo.sql
        COMMANDS+=("mysql $DB < sql/schema.sql; mysql $DB < sql/demo.sql")
        n=$((LOGIN_DEFAULT_CONNS > 5000 ? 5000 : LOGIN_DEFAULT_CONNS))
        demo=(--demo-users)
    else
        NOTES+=("sql/demo.sql missing: the default-cost storm registered its users at the default cost first (untimed)")
        n=$LOGIN_DEFAULT_CONNS
        demo=()
    fi
    start_chat login-default "$WORK/default.toml" --mysql "$MYSQL_URL"
    load "login default cost" login --addr "$ADDR" --conns "$n" "${demo[@]}"
    stop_chat login-default
    default_json=$JSON
    load "argon2-rate" argon2-rate --secs "$ARGON2_SECS"
    argon_json=$JSON
    section "| default cost (argon2 19 MiB, 2 passes; demo users) | $n | $(jget "$default_json" succeeded) | $(jget "$default_json" success_pct)% | $(ms "$(jget "$default_json" latency_us.p50_us)") / $(ms "$(jget "$default_json" latency_us.p90_us)") / $(ms "$(jget "$default_json" latency_us.p99_us)") / $(ms "$(jget "$default_json" latency_us.max_us)") | $(jget "$default_json" logins_per_sec) | $(counts "$(jget "$default_json" failed)") |"
    section "" "Raw argon2id (m=19456 KiB, t=2, p=1) on all $(jget "$argon_json" threads) cores: **$(jget "$argon_json" hashes_per_sec) hashes/s** ($(jget "$argon_json" secs) s, \`chatload argon2-rate\`)." ""
    ratio=$(awk -v a="$(jget "$default_json" logins_per_sec)" -v b="$(jget "$argon_json" hashes_per_sec)" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    met=no
    [[ "$ratio" != n/a ]] && awk -v r="$ratio" 'BEGIN { exit !(r >= 0.9) }' && met=yes
    goal "default-cost logins/s ÷ raw argon2 hashes/s ($n clients)" "≥ 0.9" \
        "$ratio ($(jget "$default_json" logins_per_sec) ÷ $(jget "$argon_json" hashes_per_sec))" "$met"
fi

# ---------------------------------------------------------------------------------------
# 5. echo
# ---------------------------------------------------------------------------------------
ECHO_TABLE=""
if wants gateway; then
    section "## 4b. Gateway (benches/gateway.sh)" ""
    echo "== gateway: GW_SECS=$SECS bash benches/gateway.sh" >&2
    COMMANDS+=("GW_SECS=$SECS bash benches/gateway.sh")
    if gw_out=$(GW_SECS=$SECS GW_REDIS="${BENCH_REDIS:-redis://127.0.0.1:6379/0}" bash benches/gateway.sh); then
        section "$(grep -v '^GOALS ' <<<"$gw_out" | sed 's/^## /### /')" ""
        read -r health logins <<<"$(sed -n 's/^GOALS healthz=\([0-9.]*\) logins=\([0-9.]*\)$/\1 \2/p' <<<"$gw_out")"
        met=no
        awk -v r="${health:-0}" 'BEGIN { exit !(r >= 0.8) }' && met=yes
        goal "gateway GET /healthz ÷ nginx fixed JSON, requests/s (wrk, same threads and connections)" "≥ 0.8×" "${health:-?}×" "$met"
        met=no
        awk -v r="${logins:-0}" 'BEGIN { exit !(r >= 0.9) }' && met=yes
        goal "gateway logins/s (default argon2 cost) ÷ raw argon2 hashes/s, same cores" "≥ 0.9×" "${logins:-?}×" "$met"
    else
        section "benches/gateway.sh failed (exit status $?); see its output above." ""
        NOTES+=("benches/gateway.sh failed")
    fi
fi

if wants echo; then
    section "## 5. Echo: reactor vs tokio (benches/run.sh)" ""
    if [[ -f benches/run.sh ]]; then
        echo "== echo: BENCH_SECS=$SECS bash benches/run.sh" >&2
        COMMANDS+=("BENCH_SECS=$SECS bash benches/run.sh")
        if echo_out=$(BENCH_SECS=$SECS bash benches/run.sh); then
            ECHO_TABLE=$(awk '/^\|/ { if (gap && seen) print ""; print; seen = 1; gap = 0; next } { gap = 1 }' <<<"$echo_out")
            section "$ECHO_TABLE" "" "$(grep -E '^(errors|written to)' <<<"$echo_out" | sed 's/^/- /')" ""
            # The reactor issue's goal: ours >= tokio in every scenario (ratio column, "0.81x").
            ratios=$(awk -F'|' '$5 ~ /^ *[0-9.]+x *$/ { gsub(/[ x]/, "", $5); print $5 }' <<<"$ECHO_TABLE")
            if [[ -n "$ratios" ]]; then
                lo=$(sort -g <<<"$ratios" | head -1)
                hi=$(sort -g <<<"$ratios" | tail -1)
                met=no
                awk -v r="$lo" 'BEGIN { exit !(r >= 1.0) }' && met=yes
                goal "echo, ours ÷ tokio frames/s ($(wc -l <<<"$ratios") scenarios)" "≥ 1.0× in each" "${lo}×–${hi}×" "$met"
            fi
        else
            section "benches/run.sh failed (exit status $?); see its output above." ""
            NOTES+=("benches/run.sh failed")
        fi
    else
        section "Skipped: benches/run.sh is not there yet." ""
        NOTES+=("echo benchmark skipped: benches/run.sh missing")
    fi
fi

# ---------------------------------------------------------------------------------------
# chart and report
# ---------------------------------------------------------------------------------------
RESULT=${REPORT_PATH:-$BENCHES_DIR/results/$DATE.md}
SVG="${RESULT%.md}-latency.svg"
mkdir -p "$(dirname "$RESULT")"
if ((${#CHART_RUNS[@]} > 0)); then
    {
        echo "{\"title\": \"send→delivery latency vs offered load ($RELAY_CONNS connections)\","
        echo " \"subtitle\": \"chatload relay --rate R, $DATE, $(nproc) cores shared by server and load\","
        echo " \"runs\": [$(IFS=,; echo "${CHART_RUNS[*]}")]}"
    } >"$WORK/chart.json"
    python3 "$BENCHES_DIR/chart.py" "$WORK/chart.json" "$SVG.tmp" && mv "$SVG.tmp" "$SVG"
fi
TOTAL_SECS=$(($(date +%s) - SUITE_START))
{
    echo "# Benchmark suite, $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo
    echo "Server and load generator share this $(nproc)-core machine over loopback. Other"
    echo "processes' CPU use during the run is not controlled (load average before / after:"
    echo "$LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)); treat the figures as noisy."
    echo
    echo "## Goals"
    echo
    echo "| goal | target | measured | met |"
    echo "|---|---|---|---|"
    printf '%s\n' "${GOALS[@]}"
    echo
    if ((${#NOTES[@]} > 0)); then
        echo "## Notes"
        echo
        printf -- '- %s\n' "${NOTES[@]}"
        echo
    fi
    if [[ -f "$SVG" ]]; then
        echo "![send→delivery latency vs offered load]($(basename "$SVG"))"
        echo
    fi
    cat "$REPORT"
    echo "## Settings"
    echo
    echo "- bench profile (every server but the default-cost login storm and the abuse scenario): \`[auth] argon2_memory_kib = 64, argon2_iterations = 1\`$([[ -n "$LIMIT_KEYS" ]] && echo ", \`password_rate_per_ip = password_burst_per_ip = 1000000\`"); \`[server] fd_reserve = 64\`, bind 127.0.0.1; other settings default (4 x cores workers, cores reactors; writer batch / wait as the relay servers logged them: MariaDB ${WRITER_BY[MariaDB]:-?}, SQLite ${WRITER_BY[SQLite]:-?})"
    read -r -a ran <<<"$SCENARIOS"
    echo "- scenarios run: ${ran[*]}"
    if wants relay || wants floor; then
        echo "- relay: $RELAY_CONNS connections, ${WARMUP} s warm-up, ${SECS} s measured, ${DRAIN} s drain limit, 32-byte texts, windows ${WINDOWS[*]}, rates ${RATES[*]}"
    fi
    if wants timeline; then
        echo "- timeline: before = ${TL_SHA:-$BEFORE_COMMIT} (built in a worktree in ${TL_BUILD_SECS:-?} s, its own chatload), after = this tree; $RELAY_CONNS connections, windows ${TL_WINDOWS[*]}, $TL_RUNS runs per binary and window, alternating; ${WARMUP} s warm-up, ${SECS} s measured, ${DRAIN} s drain limit; fresh server and database per run"
    fi
    if wants overload; then
        echo "- overload: before = ${PERF_SHA:-$PERF_BEFORE} (built in a worktree in ${PERF_BUILD_SECS:-?} s), after = this tree, both driven by this chatload; one node (bench profile, MariaDB), $RELAY_CONNS connections, open loop; CPU per message at ${PERF_RATES[*]} msg/s, $PERF_RUNS runs per binary and rate, alternating; capacity ladder ${CAP_RATES[*]} msg/s (p99 ≤ 20 ms, no errors, 0 lost); overload at 2 × the current code's capacity; ${WARMUP} s warm-up, ${SECS} s measured, ${DRAIN} s drain limit; fresh server and database per run"
    fi
    if wants cluster; then
        echo "- cluster: 2 nodes (cluster ${CLUSTER_NAME:-?}, Redis $REDIS_URL: $(redis-cli -u "$REDIS_URL" info server 2>/dev/null | sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p' || echo unknown)), one database; $RELAY_CONNS connections, every pair split over the nodes; windows ${WINDOWS[*]}, open loop at $CLUSTER_RATE msg/s; ${WARMUP} s warm-up, ${SECS} s measured, ${DRAIN} s drain limit"
    fi
    if wants websocket; then
        echo "- websocket: one node (bench profile, MariaDB, --http-port 0); $RELAY_CONNS connections, windows ${WS_WINDOWS[*]}, $WS_RUNS runs per transport and window, alternating tcp / ws; ${WARMUP} s warm-up, ${SECS} s measured, ${DRAIN} s drain limit"
    fi
    if wants abuse; then
        echo "- abuse: the bench profile's argon2, every per-address limit at its default; $ABUSE_ATTACKERS attackers, $RELAY_CONNS relay connections at $ABUSE_RATE msg/s, ${WARMUP} s + ${SECS} s per phase"
    fi
    if wants login; then
        echo "- default-cost login storm: default argon2$([[ -n "$LIMIT_KEYS" ]] && echo ", \`password_rate_per_ip = password_burst_per_ip = 1000000\`")"
    fi
    if wants floor; then
        echo "- relay_floor: ${FLOOR_THREADS[*]}"
    fi
    if wants conns; then
        echo "- idle connections: $IDLE_CONNS over $IDLE_PROCS chatload processes, held ${HOLD} s"
    fi
    if wants login; then
        echo "- login storm: $LOGIN_CONNS clients (bench profile); default cost: see the table"
    fi
    echo "- MariaDB: $("${MYSQL[@]}" -N -e 'SELECT CONCAT(VERSION(), ", innodb_flush_log_at_trx_commit=", @@innodb_flush_log_at_trx_commit, ", sync_binlog=", @@sync_binlog)' 2>/dev/null || echo unknown); one fresh database per server, dropped afterwards"
    echo "- suite time: ${TOTAL_SECS} s (of which build ${BUILD_SECS} s)"
    echo
    echo "## Machine"
    echo
    echo "- nproc: $(nproc); memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- kernel: $(uname -sr)"
    echo "- cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)"
    echo "- RLIMIT_NOFILE (suite shell): $(ulimit -Sn) soft / $(ulimit -Hn) hard; ephemeral ports: $(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)"
    echo "- rustc: $(rustc --version)"
    echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "cargo build --release -p server -p tools   # binaries in ${BIN#"$ROOT"/}"
    printf '%s\n' "${COMMANDS[@]}"
    echo '```'
    echo
    echo "## Raw chatload output (one JSON line per run)"
    echo
    echo '```'
    printf '%s\n' "${RAW[@]}"
    echo '```'
} >"$RESULT.tmp"
mv "$RESULT.tmp" "$RESULT"

echo
echo "| goal | target | measured | met |"
echo "|---|---|---|---|"
printf '%s\n' "${GOALS[@]}"
if [[ -n "$WS_GOALS_LINE" ]]; then
    echo
    echo "$WS_GOALS_LINE"
fi
echo
echo "written to ${RESULT#"$ROOT"/}$([[ -f "$SVG" ]] && echo " and ${SVG#"$ROOT"/}") in ${TOTAL_SECS} s"
