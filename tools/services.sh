#!/usr/bin/env bash
# Makes sure the services the tests and benchmarks need are answering on this machine:
#
#   MariaDB  127.0.0.1:3306  user root with an empty password over TCP, database `test`
#   Redis    127.0.0.1:6379
#
# Idempotent: a service that already answers is left alone (never stopped or restarted).
# A missing server is installed with apt-get when running as root (Debian/Ubuntu), then
# started in the background without systemd. Run as: bash tools/services.sh
#
# Environment: SERVICES_WAIT_SECS (default 60) bounds how long to wait for a server to answer.
set -euo pipefail

readonly MARIADB_HOST=127.0.0.1
readonly MARIADB_PORT=3306
readonly REDIS_HOST=127.0.0.1
readonly REDIS_PORT=6379
readonly WAIT_SECS="${SERVICES_WAIT_SECS:-60}"
readonly MARIADB_DATADIR=/var/lib/mysql
readonly MARIADB_RUNDIR=/run/mysqld
readonly MARIADB_OUT="${TMPDIR:-/tmp}/mariadbd.out"

log() { echo "services: $*"; }
die() {
    echo "services: error: $*" >&2
    exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }

# First of the given commands that exists, or nothing.
first_cmd() {
    local c
    for c in "$@"; do
        if have "$c"; then
            echo "$c"
            return 0
        fi
    done
    return 0
}

# True if something accepts TCP connections on $1:$2 (bash's /dev/tcp; no client needed).
tcp_open() {
    timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

APT_UPDATED=0
# apt_install PACKAGE...: installs packages as root, running `apt-get update` once per run.
apt_install() {
    is_root || die "need to install $* but not running as root; run 'sudo apt-get install -y $*' or rerun this script as root"
    have apt-get || die "need to install $* but apt-get is not available on this machine"
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        apt-get update -q || die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" || die "apt-get install $* failed"
}

# wait_until COMMAND...: polls COMMAND every second for up to WAIT_SECS seconds.
wait_until() {
    local i
    for ((i = 0; i < WAIT_SECS; i++)); do
        if "$@"; then
            return 0
        fi
        sleep 1
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------------------

mariadb_client() { first_cmd mariadb mysql; }
mariadb_admin() { first_cmd mariadb-admin mysqladmin; }
mariadb_server_bin() {
    local b
    for b in /usr/sbin/mariadbd /usr/sbin/mysqld; do
        if [ -x "$b" ]; then
            echo "$b"
            return 0
        fi
    done
    return 0
}

# True if the server answers on 127.0.0.1:3306. `mariadb-admin ping` succeeds even when the
# login is refused (it only asks whether the server is up), which is what we want here.
mariadb_answers() {
    local admin
    admin="$(mariadb_admin)"
    if [ -n "$admin" ]; then
        "$admin" -h"$MARIADB_HOST" -P"$MARIADB_PORT" -uroot --connect-timeout=2 ping >/dev/null 2>&1
    else
        tcp_open "$MARIADB_HOST" "$MARIADB_PORT"
    fi
}

# Runs SQL as root over TCP with an empty password.
mariadb_tcp() {
    "$(mariadb_client)" -h"$MARIADB_HOST" -P"$MARIADB_PORT" -uroot --connect-timeout=5 -e "$1"
}

# Runs SQL as root over the unix socket (unix_socket authentication: needs OS user root).
mariadb_socket() {
    "$(mariadb_client)" -uroot --connect-timeout=5 -e "$1"
}

start_mariadb() {
    local bin install_db
    bin="$(mariadb_server_bin)"
    [ -n "$bin" ] || die "mariadbd not found even after installing mariadb-server"
    is_root || die "MariaDB is installed but not running, and starting it needs root; rerun this script as root (sudo bash tools/services.sh)"
    id mysql >/dev/null 2>&1 || die "the 'mysql' system user does not exist; reinstall mariadb-server"
    have start-stop-daemon || die "start-stop-daemon not found (package dpkg)"

    install -d -o mysql -g mysql -m 0755 "$MARIADB_RUNDIR"
    if [ ! -d "$MARIADB_DATADIR/mysql" ]; then
        install_db="$(first_cmd mariadb-install-db mysql_install_db)"
        [ -n "$install_db" ] || die "$MARIADB_DATADIR has no system tables and mariadb-install-db is missing"
        log "initialising $MARIADB_DATADIR"
        install -d -o mysql -g mysql -m 0755 "$MARIADB_DATADIR"
        "$install_db" --user=mysql --datadir="$MARIADB_DATADIR" >/dev/null ||
            die "$install_db --user=mysql failed"
    fi
    log "starting $bin (output in $MARIADB_OUT)"
    start-stop-daemon --start --oknodo --background --output "$MARIADB_OUT" \
        --exec "$bin" -- --user=mysql ||
        die "start-stop-daemon could not start $bin"
}

# Makes root@localhost and root@127.0.0.1 accept an empty password over TCP. On a fresh
# Debian install root@localhost uses unix_socket authentication only.
ensure_mariadb_root_tcp() {
    if mariadb_tcp 'SELECT 1' >/dev/null 2>&1; then
        return 0
    fi
    log "root cannot log in over TCP with an empty password; fixing via the unix socket"
    mariadb_socket 'SELECT 1' >/dev/null 2>&1 ||
        die "root can log in neither over TCP ($MARIADB_HOST:$MARIADB_PORT, empty password) nor over the unix socket (is this script running as root?); give root@localhost an empty password by hand"
    mariadb_socket "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
        CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
        ALTER USER root@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
        GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
        FLUSH PRIVILEGES;" ||
        die "could not change root's authentication"
    mariadb_tcp 'SELECT 1' >/dev/null ||
        die "root still cannot log in over TCP with an empty password after the fix"
    log "root can now log in over TCP with an empty password"
}

ensure_mariadb() {
    if mariadb_answers; then
        log "mariadb already answering on $MARIADB_HOST:$MARIADB_PORT"
    else
        if [ -z "$(mariadb_server_bin)" ] || [ -z "$(mariadb_client)" ]; then
            apt_install mariadb-server
        fi
        # Installing may have started it already (Debian's postinst does where it can).
        if mariadb_answers; then
            log "mariadb answering on $MARIADB_HOST:$MARIADB_PORT"
        else
            start_mariadb
            wait_until mariadb_answers ||
                die "mariadb did not answer on $MARIADB_HOST:$MARIADB_PORT within ${WAIT_SECS}s; see $MARIADB_OUT and /var/log/mysql/"
            log "mariadb started on $MARIADB_HOST:$MARIADB_PORT"
        fi
    fi
    # Answering without a client (probed over /dev/tcp): the client is still needed below.
    if [ -z "$(mariadb_client)" ]; then
        apt_install mariadb-client
    fi
    ensure_mariadb_root_tcp
    mariadb_tcp 'CREATE DATABASE IF NOT EXISTS test' ||
        die "could not create database 'test'"
}

# ---------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------

redis_answers() {
    if have redis-cli; then
        [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
    else
        # Speak the protocol by hand: PING must be answered with +PONG.
        # shellcheck disable=SC2016 # $0/$1 expand in the inner bash, on purpose.
        timeout 3 bash -c '
            exec 3<>"/dev/tcp/$0/$1" || exit 1
            printf "PING\r\n" >&3
            IFS= read -r -t 2 reply <&3 || exit 1
            [[ "$reply" == +PONG* ]]' "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null
    fi
}

ensure_redis() {
    if redis_answers; then
        log "redis already answering on $REDIS_HOST:$REDIS_PORT"
        return 0
    fi
    if ! have redis-server; then
        apt_install redis-server
        if redis_answers; then
            log "redis answering on $REDIS_HOST:$REDIS_PORT"
            return 0
        fi
    fi
    if tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
        die "something listens on $REDIS_HOST:$REDIS_PORT but does not answer PING with PONG (password set?); not touching it"
    fi
    log "starting redis-server"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
        --save "" --appendonly no >/dev/null ||
        die "redis-server failed to start"
    wait_until redis_answers ||
        die "redis did not answer on $REDIS_HOST:$REDIS_PORT within ${WAIT_SECS}s"
    log "redis started on $REDIS_HOST:$REDIS_PORT"
}

ensure_mariadb
ensure_redis
echo "mariadb: $MARIADB_HOST:$MARIADB_PORT (root, empty password; database test)"
echo "redis: $REDIS_HOST:$REDIS_PORT"
