#!/usr/bin/env bash
# Makes sure what the browser tests (web/tests) need is on this machine:
#
#   chromium                 Debian's build, at /usr/bin/chromium (Playwright drives it;
#                            no browser is ever downloaded by npm)
#   fonts-noto-cjk           so Chinese/Japanese/Korean text renders (screenshots, layout)
#   fonts-noto-color-emoji   so emoji render
#   web/tests/node_modules   `npm ci` from web/tests/package-lock.json (playwright-core only)
#
# Idempotent: what is present is left alone. Missing Debian packages are installed with
# apt-get when running as root (Debian/Ubuntu). Any failure stops the script with a message
# saying what to do. Run as: bash tools/browser.sh
set -euo pipefail

readonly ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly TESTS_DIR="$ROOT/web/tests"
readonly CHROMIUM=/usr/bin/chromium

log() { echo "browser: $*"; }
die() {
    echo "browser: error: $*" >&2
    exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }

# True when the Debian package $1 is installed.
pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

APT_UPDATED=0
# apt_install PACKAGE...: installs packages as root, running `apt-get update` once per run.
apt_install() {
    is_root || die "need to install $* but not running as root; run 'sudo apt-get install -y $*' or rerun this script as root"
    have apt-get || die "need to install $* but apt-get is not available on this machine (a Debian or Ubuntu machine is expected)"
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        apt-get update -q || die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" ||
        die "apt-get install $* failed"
}

ensure_packages() {
    local missing=() p
    if [ ! -x "$CHROMIUM" ]; then
        missing+=(chromium)
    fi
    for p in fonts-noto-cjk fonts-noto-color-emoji; do
        if have dpkg-query; then
            pkg_installed "$p" || missing+=("$p")
        else
            die "dpkg-query not found: cannot tell whether $p is installed (a Debian or Ubuntu machine is expected)"
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    else
        log "chromium and fonts already installed"
    fi
    [ -x "$CHROMIUM" ] || die "$CHROMIUM is missing even after installing the chromium package"
    "$CHROMIUM" --version >/dev/null 2>&1 ||
        die "$CHROMIUM is installed but does not run ('$CHROMIUM --version' failed)"
    log "$("$CHROMIUM" --version 2>/dev/null | head -n1)"
}

ensure_node_modules() {
    have node || die "node is not installed; install Node.js 18 or newer (apt-get install nodejs npm)"
    have npm || die "npm is not installed; install it (apt-get install npm)"
    [ -f "$TESTS_DIR/package-lock.json" ] || die "$TESTS_DIR/package-lock.json is missing"
    if [ -f "$TESTS_DIR/node_modules/playwright-core/package.json" ]; then
        log "web/tests/node_modules already present"
        return 0
    fi
    log "npm ci in web/tests"
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing, but be explicit.
    (cd "$TESTS_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) ||
        die "npm ci in $TESTS_DIR failed"
    [ -f "$TESTS_DIR/node_modules/playwright-core/package.json" ] ||
        die "npm ci finished but playwright-core is not in $TESTS_DIR/node_modules"
}

ensure_packages
ensure_node_modules
log "ready"
