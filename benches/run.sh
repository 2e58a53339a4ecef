#!/usr/bin/env bash
#: Echo benchmark: our reactor engine against a tokio echo server.
#:
#: Builds `--release -p benches`, then for each scenario in {100, 1000 connections} x
#: {1, 16 frames in flight} starts echo_reactor on a free port, runs echo_load against it,
#: stops it, and does the same with echo_tokio. Prints markdown tables (throughput and
#: latency; CPU cost per frame and interference) and writes them, with
#: the exact commands and the machine's description, to benches/results/echo-<date>.md.
#:
#: Environment: BENCH_SECS (measured seconds per run, default 10), BENCH_WARMUP (default 2),
#: BENCH_SIZE (body bytes, default 64), BENCH_REPEAT (runs per server and scenario,
#: default 1; the table keeps each server's best run, for machines shared with other
#: work), BENCH_ECHO_INLINE (1: echo_reactor --inline, answers on the reactor thread),
#: CARGO_TARGET_DIR (as for cargo).
#: Usage: bash benches/run.sh     (or: make bench)

set -euo pipefail

BENCHES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCHES_DIR")
SECS=${BENCH_SECS:-10}
WARMUP=${BENCH_WARMUP:-2}
SIZE=${BENCH_SIZE:-64}
REPEAT=${BENCH_REPEAT:-1}
# One thread budget for both servers on this 2-core box; the client gets the same.
REACTOR_ARGS=(--reactors 2 --workers 2)
# BENCH_ECHO_INLINE=1: the echo is answered on the reactor thread (Handler::inline).
[[ "${BENCH_ECHO_INLINE:-0}" == 1 ]] && REACTOR_ARGS+=(--inline)
TOKIO_ARGS=(--threads 2)
LOAD_THREADS=2
CONNS_LIST=(100 1000)
INFLIGHT_LIST=(1 16)

cd "$ROOT"
echo "== building: cargo build --release -p benches" >&2
cargo build --release -p benches >&2
TARGET_DIR=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}
BIN="$TARGET_DIR/release"
for b in echo_reactor echo_tokio echo_load; do
    [[ -x "$BIN/$b" ]] || { echo "run.sh: missing $BIN/$b" >&2; exit 1; }
done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d)
SERVER_PID=""

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server NAME ARGS...: starts $BIN/NAME on a free port; sets SERVER_PID and ADDR.
start_server() {
    local name=$1
    shift
    local out="$WORK/$name.out"
    : >"$out"
    "$BIN/$name" --port 0 "$@" >"$out" 2>"$WORK/$name.err" &
    SERVER_PID=$!
    ADDR=""
    for _ in $(seq 100); do
        ADDR=$(sed -n 's/^listening //p' "$out" | head -n1)
        [[ -n "$ADDR" ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "run.sh: $name did not start:" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}

# field JSON NAME: a numeric field of echo_load's JSON line.
field() {
    sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p" <<<"$1" | head -n1
}

COMMANDS=()
CPU=()
RAW=()
ROWS=()
COST_ROWS=()
ERRORS=()
JSON=""

# measure NAME CONNS INFLIGHT ARGS...: one server, one load run; sets JSON to the
# client's JSON line (empty if it failed).
measure() {
    local name=$1 conns=$2 inflight=$3
    shift 3
    start_server "$name" "$@"
    local load=(echo_load --addr "$ADDR" --conns "$conns" --inflight "$inflight"
        --duration "$SECS" --warmup "$WARMUP" --size "$SIZE" --threads "$LOAD_THREADS" --server-pid "$SERVER_PID" --json)
    COMMANDS+=("${BIN#"$ROOT"/}/$name --port 0 $*   # printed: listening $ADDR")
    COMMANDS+=("${BIN#"$ROOT"/}/${load[*]}")
    JSON=$("$BIN/${load[0]}" "${load[@]:1}") || JSON=""
    stop_server
    if [[ -n "$JSON" ]]; then
        CPU+=("$name, $conns conns, inflight $inflight: server $(field "$JSON" server_cpu_s) CPU-s ($(field "$JSON" server_us_per_frame) µs/frame, $(field "$JSON" server_ctx_switches) context switches), client $(field "$JSON" client_cpu_s), other processes $(field "$JSON" other_cpu_s)")
    fi
    RAW+=("$name, $conns conns, inflight $inflight:")
    RAW+=("  ${JSON:-echo_load failed}")
    echo "   ${JSON:-echo_load failed}" >&2
    sleep 1 # let the previous run's sockets settle
}

# better JSON_A JSON_B: the run with more frames/s (a failed run never wins).
better() {
    if [[ -z "$1" ]]; then
        echo "$2"
    elif [[ -z "$2" ]]; then
        echo "$1"
    else
        awk -v a="$(field "$1" frames_per_sec)" -v b="$(field "$2" frames_per_sec)" \
            'BEGIN { exit !(a >= b) }' && echo "$1" || echo "$2"
    fi
}

for conns in "${CONNS_LIST[@]}"; do
    for inflight in "${INFLIGHT_LIST[@]}"; do
        scenario="$conns conns, inflight $inflight"
        ours="" theirs="" o_err=0 t_err=0 o_failed=0 t_failed=0
        for rep in $(seq "$REPEAT"); do
            echo "== $scenario (run $rep/$REPEAT): echo_reactor ${REACTOR_ARGS[*]}" >&2
            measure echo_reactor "$conns" "$inflight" "${REACTOR_ARGS[@]}"
            ours=$(better "$ours" "$JSON")
            if [[ -n "$JSON" ]]; then o_err=$((o_err + $(field "$JSON" errors))); else o_failed=$((o_failed + 1)); fi
            echo "== $scenario (run $rep/$REPEAT): echo_tokio ${TOKIO_ARGS[*]}" >&2
            measure echo_tokio "$conns" "$inflight" "${TOKIO_ARGS[@]}"
            theirs=$(better "$theirs" "$JSON")
            if [[ -n "$JSON" ]]; then t_err=$((t_err + $(field "$JSON" errors))); else t_failed=$((t_failed + 1)); fi
        done
        o_fps=$(field "$ours" frames_per_sec)
        t_fps=$(field "$theirs" frames_per_sec)
        ratio=$(awk -v o="${o_fps:-0}" -v t="${t_fps:-0}" \
            'BEGIN { if (t > 0) printf "%.2fx", o / t; else print "n/a" }')
        ROWS+=("| $scenario | ${o_fps:-n/a} | ${t_fps:-n/a} | $ratio | $(field "$ours" p50_us)/$(field "$ours" p99_us) | $(field "$theirs" p50_us)/$(field "$theirs" p99_us) |")
        COST_ROWS+=("| $scenario | $(field "$ours" server_us_per_frame) | $(field "$theirs" server_us_per_frame) | $(field "$ours" server_ctx_switches)/$(field "$theirs" server_ctx_switches) | $(field "$ours" other_cpu_s)/$(field "$theirs" other_cpu_s) |")
        failed=""
        if ((o_failed + t_failed > 0)); then
            failed=" (failed runs: ours $o_failed, tokio $t_failed)"
        fi
        ERRORS+=("$scenario: ours $o_err, tokio $t_err$failed")
    done
done

TABLE=$(
    echo "| scenario | ours frames/s | tokio frames/s | ratio ours/tokio | ours p50/p99 µs | tokio p50/p99 µs |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
)

COST_TABLE=$(
    echo "| scenario | ours server µs CPU/frame | tokio server µs CPU/frame | server context switches ours/tokio | other processes' CPU-s ours/tokio |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s\n' "${COST_ROWS[@]}"
)

mkdir -p "$BENCHES_DIR/results"
STAMP=$(date +%Y-%m-%d-%H%M%S)
RESULT="$BENCHES_DIR/results/echo-$STAMP.md"
{
    echo "# Echo benchmark, $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo
    echo "$TABLE"
    echo
    echo "Cost, over the measured window of the same runs (CPU per frame is far less sensitive to interference than frames/s):"
    echo
    echo "$COST_TABLE"
    echo
    echo "Errors (echo_load's total, all runs of the scenario):"
    printf -- '- %s\n' "${ERRORS[@]}"
    echo
    echo "CPU seconds spent during each measured window (of $(nproc) x ${SECS} s available;"
    echo "'other processes' is interference from outside the benchmark, which skews the run):"
    printf -- '- %s\n' "${CPU[@]}"
    echo
    echo "## Settings"
    echo
    echo "- servers: echo_reactor ${REACTOR_ARGS[*]}; echo_tokio ${TOKIO_ARGS[*]}"
    echo "- client: echo_load --threads $LOAD_THREADS, $SIZE-byte bodies, ${WARMUP}s warm-up, ${SECS}s measured"
    echo "- runs per server and scenario: $REPEAT (the table shows each server's best by frames/s)"
    echo "- client and server share the machine (loopback)"
    echo
    echo "## Machine"
    echo
    echo "- nproc: $(nproc)"
    echo "- kernel: $(uname -sr)"
    echo "- cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)"
    echo "- rustc: $(rustc --version)"
    echo "- load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "cargo build --release -p benches   # binaries in ${BIN#"$ROOT"/}"
    printf '%s\n' "${COMMANDS[@]}"
    echo '```'
    echo
    echo "## Raw echo_load output"
    echo
    echo '```'
    for line in "${RAW[@]}"; do echo "$line"; done
    echo '```'
} >"$RESULT.tmp"
mv "$RESULT.tmp" "$RESULT"

echo
echo "$TABLE"
echo
echo "$COST_TABLE"
echo
printf 'errors: %s\n' "${ERRORS[@]}"
echo
echo "written to ${RESULT#"$ROOT"/}"
