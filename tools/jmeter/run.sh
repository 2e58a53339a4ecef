#!/usr/bin/env bash
# JMeter load test of startserv, end to end (what `make jmeter` runs):
#   1. builds the release server (honours CARGO_TARGET_DIR, default target/);
#   2. starts it on 127.0.0.1 on a free port, with a fresh temporary data dir (SQLite) and
#      load-test settings (cheap argon2, per-connection rate limit lifted, per-source-address
#      connection cap and password budget lifted: every thread connects from 127.0.0.1);
#   3. creates the demo users and friendships the plan needs (setup_users.py, via the protocol);
#   4. runs tools/jmeter/chat.jmx headless for DURATION seconds;
#   5. prints samples/s and the error count, and exits non-zero on any sample error.
# The server is stopped on exit, whatever happens (trap).
#
# Environment (all optional):
#   THREADS=10        JMeter threads = concurrent demo users (each its own connection)
#   DURATION=30       seconds of load (the thread group's scheduler)
#   RAMPUP=5          seconds to start all threads
#   SYNC_LIMIT=20     sync page size
#   JMETER=/path/to/apache-jmeter-5.6.3/bin/jmeter
#                     use your own JMeter instead of Debian's 2.13 (no XStream launcher then)
#   JMETER_HEAP="-Xms256m -Xmx512m"   heap for Debian's JMeter
#   KEEP_DATA=1       keep the temporary data dir (server log, chat.db) for inspection
#
# JMeter: when no JMETER is given, Debian's `jmeter` + `jmeter-tcp` packages (2.13) are used,
# installed with apt-get if missing and we are root. Debian 12's XStream refuses to load
# any plan for that JMeter; XStreamAllowJMeter.java (compiled here with javac) fixes that by
# allowing exactly JMeter's own types: see the comment at its top for why that is sound.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
HERE=tools/jmeter

THREADS="${THREADS:-10}"
DURATION="${DURATION:-30}"
RAMPUP="${RAMPUP:-5}"
SYNC_LIMIT="${SYNC_LIMIT:-20}"
CARGO="${CARGO:-cargo}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
OUT="$TARGET_DIR/jmeter"           # results.jtl, jmeter.log, the compiled launcher
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

for v in THREADS DURATION SYNC_LIMIT RAMPUP; do
    min=1; [ "$v" = RAMPUP ] && min=0
    if ! [[ "${!v}" =~ ^[0-9]+$ ]] || [ "${!v}" -lt "$min" ]; then
        echo "run.sh: $v must be an integer >= $min (got '${!v}')" >&2
        exit 2
    fi
done

log() { echo "== $*"; }

# --- tools: python3 always; Debian's JMeter and javac unless JMETER is given ----------------
DEBIAN_JMETER_HOME=/usr/share/jmeter
install_packages() {
    local pkgs=()
    command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
    if [ -z "${JMETER:-}" ]; then
        [ -f "$DEBIAN_JMETER_HOME/bin/ApacheJMeter.jar" ] || pkgs+=(jmeter)
        [ -f "$DEBIAN_JMETER_HOME/lib/ext/ApacheJMeter_tcp.jar" ] || pkgs+=(jmeter-tcp)
        # Not used by the plan, but bin/saveservice.properties names its converters
        # (jmeter recommends it; without it SaveService logs a stack trace per converter).
        [ -f "$DEBIAN_JMETER_HOME/lib/ext/ApacheJMeter_http.jar" ] || pkgs+=(jmeter-http)
        command -v javac >/dev/null 2>&1 || pkgs+=(default-jdk-headless)
    fi
    [ ${#pkgs[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: missing ${pkgs[*]}: run as root, or: sudo apt-get install -y ${pkgs[*]}" >&2
        echo "        (or set JMETER=/path/to/your/jmeter-5.x/bin/jmeter)" >&2
        exit 1
    fi
    log "installing ${pkgs[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}"
}

install_packages
if [ -n "${JMETER:-}" ]; then
    JMETER_CMD=("$JMETER")
else
    # The launcher (see XStreamAllowJMeter.java) is compiled against Debian's XStream.
    XSTREAM_JAR=/usr/share/java/xstream.jar
    LAUNCHER_DIR="$OUT/launcher"
    if [ ! -f "$LAUNCHER_DIR/XStreamAllowJMeter.class" ] \
        || [ "$HERE/XStreamAllowJMeter.java" -nt "$LAUNCHER_DIR/XStreamAllowJMeter.class" ]; then
        log "compiling $HERE/XStreamAllowJMeter.java"
        mkdir -p "$LAUNCHER_DIR"
        javac -nowarn -d "$LAUNCHER_DIR" -cp "$XSTREAM_JAR" "$HERE/XStreamAllowJMeter.java"
    fi
    # Same JVM command line as Debian's /usr/bin/jmeter, with our launcher as main class.
    # (The few "INFO ... [jmeter.s]" SaveService lines it prints on the console come from
    # the launcher initialising SaveService before JMeter has set up its log file.)
    # shellcheck disable=SC2206
    JMETER_CMD=(java ${JMETER_HEAP:--Xms256m -Xmx512m} -Djmeter.home="$DEBIAN_JMETER_HOME"
        -cp "$LAUNCHER_DIR:$DEBIAN_JMETER_HOME/bin/ApacheJMeter.jar" XStreamAllowJMeter)
fi

# --- server -----------------------------------------------------------------------------
log "building the release server ($CARGO build --release -p server, target dir $TARGET_DIR)"
"$CARGO" build --release -p server
SERVER_BIN="$TARGET_DIR/release/startserv"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/startserv-jmeter.XXXXXX")"
SERVER_PID=""
cleanup() {
    local rc=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        # shutdown_grace_secs is 1 in our config; give it a little more, then insist.
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_DATA:-0}" = 1 ]; then
        echo "kept: $WORK (server.log, data/)"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat >"$WORK/server.toml" <<'EOF'
# Load-test settings (generated by tools/jmeter/run.sh).
[server]
bind = "127.0.0.1"
# JMeter threads send with no think time: lift the per-connection rate limit
# (default 500/s) so that the test measures the server, not the limiter.
rate_limit_per_sec = 1000000
rate_limit_burst = 1000000
# Every JMeter thread holds one connection, and all of them come from 127.0.0.1 (as do
# setup_users.py's): the default 1024 per source address would refuse THREADS > ~1000
# with server_full.
max_connections_per_ip = 1000000
shutdown_grace_secs = 1

[auth]
# Cheap password hashing: every JMeter thread logs in once, setup registers every user.
argon2_memory_kib = 64
argon2_iterations = 1
# Password work per source address (default 3/s, burst 10): everything comes from
# 127.0.0.1. setup_users.py does 4 password operations per user (register, and a login
# in each of its 3 passes) and every JMeter thread logs in once with its password, so
# 10 threads already need 50; JMeter's login sample has no retry and would fail
# (rate_limited). Lifted so that the test measures the server, not this budget.
password_rate_per_ip = 1000000
password_burst_per_ip = 1000000

[log]
level = "info"
EOF

log "starting $SERVER_BIN (data dir $WORK/data)"
# Port 0: the OS picks a free port; the server logs the address it listens on.
"$SERVER_BIN" 0 --config "$WORK/server.toml" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 300); do
    PORT="$(sed -n 's/.*startserv listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$WORK/server.log" | head -n 1)"
    [ -n "$PORT" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "run.sh: the server exited during start-up:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$PORT" ]; then
    echo "run.sh: the server did not report its port within 30 s:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
log "server pid $SERVER_PID listening on 127.0.0.1:$PORT"

# --- demo users -------------------------------------------------------------------------
USERS=$(( THREADS < 2 ? 2 : THREADS ))
log "creating $USERS demo users and their friendships"
python3 "$HERE/setup_users.py" --host 127.0.0.1 --port "$PORT" --users "$USERS" --friends 10

# --- JMeter -----------------------------------------------------------------------------
RESULTS="$OUT/results.jtl"
JMLOG="$OUT/jmeter.log"
rm -f "$RESULTS" "$JMLOG"
log "JMeter: $THREADS threads, ${DURATION}s (ramp-up ${RAMPUP}s) -> $RESULTS"
set +e
timeout --kill-after=10 $(( DURATION + RAMPUP + 120 )) \
    "${JMETER_CMD[@]}" -n -t "$HERE/chat.jmx" -l "$RESULTS" -j "$JMLOG" \
    -Jhost=127.0.0.1 -Jport="$PORT" \
    -Jthreads="$THREADS" -Jduration="$DURATION" -Jrampup="$RAMPUP" -Jsync_limit="$SYNC_LIMIT" \
    -Jtcp.binarylength.prefix.length=4 \
    -Jjmeter.save.saveservice.output_format=csv \
    -Jjmeter.save.saveservice.print_field_names=true \
    -Jjmeter.save.saveservice.assertion_results_failure_message=true \
    -Jsummariser.interval=10
JMETER_RC=$?
set -e

SERVER_ALIVE=1
kill -0 "$SERVER_PID" 2>/dev/null || SERVER_ALIVE=0

# --- results ----------------------------------------------------------------------------
set +e
python3 - "$RESULTS" <<'EOF'
import csv, sys
from collections import Counter
path = sys.argv[1]
try:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
except FileNotFoundError:
    print(f"no results file {path}")
    sys.exit(1)
if not rows:
    print("no samples recorded")
    sys.exit(1)
errors = [r for r in rows if r.get("success", "").strip().lower() != "true"]
start = min(int(r["timeStamp"]) for r in rows)
end = max(int(r["timeStamp"]) + int(r["elapsed"]) for r in rows)
secs = max((end - start) / 1000.0, 0.001)
per_label = Counter(r["label"] for r in rows)
err_label = Counter(r["label"] for r in errors)
print("label          samples   errors  avg ms")
for label in sorted(per_label):
    el = [int(r["elapsed"]) for r in rows if r["label"] == label]
    print(f"{label:<14}{per_label[label]:>8} {err_label[label]:>8} {sum(el) / len(el):>7.2f}")
print(f"samples: {len(rows)} in {secs:.1f}s = {len(rows) / secs:.1f} samples/s")
print(f"errors: {len(errors)}")
for r in errors[:10]:
    print("  error:", r["label"], r.get("responseCode", ""), r.get("responseMessage", ""),
          r.get("failureMessage", ""))
sys.exit(1 if errors else 0)
EOF
RESULTS_RC=$?
set -e

FAIL=0
if [ "$JMETER_RC" -ne 0 ]; then
    echo "FAIL: JMeter exited with status $JMETER_RC (log: $JMLOG)"
    FAIL=1
fi
if [ "$RESULTS_RC" -ne 0 ]; then
    echo "FAIL: sample errors, or no samples (results: $RESULTS, JMeter log: $JMLOG)"
    FAIL=1
fi
if [ "$SERVER_ALIVE" -ne 1 ]; then
    echo "FAIL: the server died during the test; its log:"
    tail -n 50 "$WORK/server.log"
    FAIL=1
fi
if [ "$FAIL" -ne 0 ]; then
    echo "server log (last lines):"
    tail -n 20 "$WORK/server.log"
    exit 1
fi
echo "OK: results in $RESULTS"
