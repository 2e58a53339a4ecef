#!/usr/bin/env bash
# Runs each cargo-fuzz target for FUZZ_SECS seconds (default 60), one after the other,
# and prints per target the executions and the crashes found. Exits non-zero if any
# target crashed or failed to build. `make fuzz` calls this; see fuzz/README.md.
#
#   FUZZ_SECS=300 fuzz/run.sh                 # every target, 5 minutes each
#   FUZZ_TARGETS=frame_codec fuzz/run.sh      # one target
#   FUZZ_ARGS="-max_len=65536" fuzz/run.sh    # extra libFuzzer flags
#
# Seeds (fuzz/seeds/<target>/, committed) are copied into a scratch corpus,
# fuzz/target/corpus/<target>/, which keeps what libFuzzer finds between runs and is
# not committed. Crash inputs land in fuzz/artifacts/<target>/ (cargo-fuzz's default);
# keep the ones worth keeping in fuzz/regressions/<target>/, which the regression tests
# (reactor/tests/fuzz_regressions.rs, proto/tests/fuzz_regressions.rs,
# reactor-http/tests/fuzz_regressions.rs) replay.
set -uo pipefail

cd "$(dirname "$0")"
FUZZ_SECS=${FUZZ_SECS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-"frame_codec request_parser http_codec websocket"}
FUZZ_ARGS=${FUZZ_ARGS:-}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}

if ! cargo "+$TOOLCHAIN" --version >/dev/null 2>&1; then
    echo "fuzz: installing the $TOOLCHAIN toolchain" >&2
    rustup toolchain install "$TOOLCHAIN" --profile minimal || exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || exit 2
fi

mkdir -p target/fuzz-logs
failed=0
summary=()
for t in $FUZZ_TARGETS; do
    corpus=target/corpus/$t
    artifacts=artifacts/$t
    log=target/fuzz-logs/$t.log
    mkdir -p "$corpus" "$artifacts"
    cp -n "seeds/$t"/* "$corpus"/ 2>/dev/null || true
    before=$(find "$artifacts" -type f | sort)

    echo "fuzz: building $t" >&2
    if ! cargo "+$TOOLCHAIN" fuzz build "$t" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        summary+=("$t: BUILD FAILED (see fuzz/$log)")
        failed=1
        continue
    fi
    echo "fuzz: running $t for ${FUZZ_SECS}s (log: fuzz/$log)" >&2
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    cargo "+$TOOLCHAIN" fuzz run "$t" "$corpus" -- \
        -max_total_time="$FUZZ_SECS" $FUZZ_ARGS >>"$log" 2>&1
    rc=$?

    new=$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | sed '/^$/d')
    crashes=$(printf '%s' "$new" | grep -c . || true)
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1)
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        failed=1
        [ "$crashes" -gt 0 ] || crashes=1
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
        summary+=("$t: CRASHED after ~${execs:-0 (in the seed corpus)} executions; crashes: $crashes (exit $rc)")
        grep -E "panicked at|^SUMMARY|ERROR: (libFuzzer|AddressSanitizer)" "$log" | head -n 5 >&2
        for f in $new; do
            summary+=("    input: fuzz/$f  (reproduce: cd fuzz && cargo +$TOOLCHAIN fuzz run $t $f)")
        done
    else
        summary+=("$t: ${done_line:-no 'Done' line, see fuzz/$log}; crashes: 0")
    fi
done

echo
echo "fuzz summary (${FUZZ_SECS}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
