#!/usr/bin/env bash
# Runs the browser tests of the web client (`make test` calls this after cargo test).
# Needs: tools/browser.sh done (Debian chromium, fonts, web/tests/node_modules) and the
# server built (target/debug/startserv; STARTSERV_BIN overrides the path).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT="$(cd ../.. && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export STARTSERV_BIN="${STARTSERV_BIN:-$TARGET/debug/startserv}"
export STARTGATE_BIN="${STARTGATE_BIN:-$TARGET/debug/startgate}"

die() {
    echo "web tests: error: $*" >&2
    exit 1
}

[ -x "$STARTSERV_BIN" ] || die "$STARTSERV_BIN is missing: build it with 'cargo build -p server' (cargo test --workspace builds it too)"
[ -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ] || die "chromium is missing: run 'bash tools/browser.sh' as root"
[ -f node_modules/playwright-core/package.json ] || die "web/tests/node_modules is missing: run 'bash tools/browser.sh' (npm ci)"

if [ "$#" -gt 0 ]; then
    files=("$@")
else
    files=(./*.test.mjs)
fi
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
