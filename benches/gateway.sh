#!/usr/bin/env bash
#: The gateway benchmark (issue "startgate"), run by `make bench` (benches/suite.sh,
#: scenario `gateway`) or alone: `bash benches/gateway.sh`.
#:
#:   1. `GET /healthz` on startgate (answered from health state a background thread
#:      refreshes, no database round trip) against Debian's nginx returning a fixed JSON
#:      body, both driven by wrk with the same threads and connections, alternating
#:      (gateway, nginx, gateway, nginx, ...) so that drift hits both: requests/s and the
#:      ratio (goal >= 0.8).
#:   2. Logins/s through the gateway (`POST /api/v1/login`, one registered user, the
#:      default argon2 cost: 19 MiB, 2 passes) driven by wrk, against raw argon2id
#:      hashes/s on the same cores (`chatload argon2-rate`): the ratio (goal >= 0.9). The
#:      gateway's per-address limits are lifted for the run (every request comes from
#:      127.0.0.1); the argon2 cost and the hashing admission are the defaults. Only
#:      2xx answers count as logins (wrk counts every answer). The two alternate in
#:      short runs, the order flipping each time (logins, hashes, hashes, logins, ...),
#:      so that the machine's drift hits both; the ratio is of the pooled means.
#:
#: Both servers get as many threads as there are cores (startgate: reactors = cores,
#: workers 4 x cores; nginx: worker_processes = cores). Prints markdown tables on stdout,
#: the commands it ran, and last a line `GOALS healthz=<ratio> logins=<ratio>`.
#: Needs MariaDB and Redis (tools/services.sh); installs wrk and nginx with apt-get when
#: missing (as root). Environment: GW_SECS [10] seconds per wrk run, GW_RUNS [2] runs per
#: server (healthz), GW_LOGIN_SECS [5] and GW_LOGIN_RUNS [8] the same for the login
#: runs and the raw hashing runs, GW_CONNS [64] wrk connections, GW_LOGIN_CONNS [2 x cores: the hashing
#: admission lets half the workers hash at once; more would be refused with 503 at once
#: and only inflate wrk's request count], GW_REDIS
#: [redis://127.0.0.1:6379/0], CARGO_TARGET_DIR honoured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECS=${GW_SECS:-10}
RUNS=${GW_RUNS:-2}
CONNS=${GW_CONNS:-64}
LOGIN_CONNS=${GW_LOGIN_CONNS:-$((2 * $(nproc)))}
LOGIN_SECS=${GW_LOGIN_SECS:-5}
LOGIN_RUNS=${GW_LOGIN_RUNS:-8}
REDIS_URL=${GW_REDIS:-redis://127.0.0.1:6379/0}
CORES=$(nproc)
STAMP=$(date +%Y%m%d%H%M%S)_$$
DB="chat_bench_gw_$STAMP"
CLUSTER="chat_bench_gw_$STAMP"
WORK=$(mktemp -d /tmp/chat-gw-bench.XXXXXX)
PIDS=()
COMMANDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true
    redis-cli -u "$REDIS_URL" --scan --pattern "$CLUSTER:*" 2>/dev/null |
        xargs -r redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    local port=$1 what=$2
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "gateway bench: $what did not listen on $port" >&2
    exit 1
}

for tool in wrk nginx; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "gateway bench: installing $tool (apt-get)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tool" >&2
    fi
done
bash tools/services.sh >&2
echo "gateway bench: cargo build --release -p server -p gate -p tools" >&2
cargo build --release -p server -p gate -p tools >&2
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $DB"
MYSQL_URL="mysql://root@127.0.0.1:3306/$DB"

# One node (the gateway needs a live node to assign logins to), default argon2 cost.
NODE_PORT=$(free_port)
"$BIN/startserv" "$NODE_PORT" --bind 127.0.0.1 --mysql "$MYSQL_URL" --redis "$REDIS_URL" \
    --cluster "$CLUSTER" --node-id n1 --data-dir "$WORK/node" --log-level warn \
    >"$WORK/node.out" 2>&1 &
PIDS+=($!)
wait_port "$NODE_PORT" startserv
COMMANDS+=("startserv PORT --mysql URL --redis $REDIS_URL --cluster $CLUSTER --node-id n1")

# The gateway: default [auth] cost; limits per address lifted for the load generator.
cat >"$WORK/gate.toml" <<TOML
[gateway]
workers = ${GW_GATE_WORKERS:-0}
login_per_ip_per_s = 1000000.0
login_burst = 1000000
[auth]
password_rate_per_ip = 1000000
password_burst_per_ip = 1000000
[log]
level = "warn"
TOML
GATE_PORT=$(free_port)
"$BIN/startgate" "$GATE_PORT" --bind 127.0.0.1 --mysql "$MYSQL_URL" --redis "$REDIS_URL" \
    --cluster "$CLUSTER" --data-dir "$WORK/gate" --config "$WORK/gate.toml" \
    >"$WORK/gate.out" 2>&1 &
PIDS+=($!)
wait_port "$GATE_PORT" startgate
COMMANDS+=("startgate PORT --mysql URL --redis $REDIS_URL --cluster $CLUSTER --config gate.toml   # login_per_ip_per_s, password_rate_per_ip lifted")

# nginx with a fixed JSON body at /healthz, as many workers as cores.
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes $CORES;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /healthz {
            default_type application/json;
            return 200 '{"ok":true}';
        }
    }
}
CONF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
wait_port "$NGINX_PORT" nginx
COMMANDS+=("nginx -c nginx.conf   # worker_processes $CORES, location = /healthz { return 200 '{\"ok\":true}'; }")

# wrk_rps URL [ARGS...]: successful (2xx) requests per second of one wrk run, and the
# count of the others: "RPS NON2XX".
wrk_rps() {
    local url=$1
    shift
    local out
    out=$(wrk -t "$CORES" -c "$CONNS" -d "${SECS}s" "$@" "$url")
    echo "$out" >&2
    awk '/ requests in / { n = $1; t = $4; sub(/s,?$/, "", t) }
         /Non-2xx or 3xx responses:/ { bad = $5 }
         END { if (t > 0) printf "%.1f %d\n", (n - bad) / t, bad; else print "0 0" }' <<<"$out"
}

# The gateway answers /healthz 200 once its first checks passed.
curl -fsS "http://127.0.0.1:$GATE_PORT/healthz" >/dev/null

echo "## Gateway: GET /healthz, startgate against nginx"
echo
echo "wrk -t $CORES -c $CONNS -d ${SECS}s, alternating; nginx returns the same JSON body."
echo
echo "| run | server | requests/s | non-2xx |"
echo "|---:|---|---:|---:|"
GW_SUM=0
NG_SUM=0
for ((i = 1; i <= RUNS; i++)); do
    read -r g gbad <<<"$(wrk_rps "http://127.0.0.1:$GATE_PORT/healthz")"
    echo "| $i | startgate | $g | $gbad |"
    read -r n nbad <<<"$(wrk_rps "http://127.0.0.1:$NGINX_PORT/healthz")"
    echo "| $i | nginx | $n | $nbad |"
    GW_SUM=$(awk -v a="$GW_SUM" -v b="$g" 'BEGIN { print a + b }')
    NG_SUM=$(awk -v a="$NG_SUM" -v b="$n" 'BEGIN { print a + b }')
done
HEALTH_RATIO=$(awk -v a="$GW_SUM" -v b="$NG_SUM" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
echo
echo "Mean: startgate $(awk -v a="$GW_SUM" -v r="$RUNS" 'BEGIN { printf "%.0f", a / r }') req/s, nginx $(awk -v a="$NG_SUM" -v r="$RUNS" 'BEGIN { printf "%.0f", a / r }') req/s: **${HEALTH_RATIO}×**."
echo
COMMANDS+=("wrk -t $CORES -c $CONNS -d ${SECS}s http://127.0.0.1:PORT/healthz   # $RUNS runs per server, alternating")

# ---- logins ----------------------------------------------------------------------------
# One user, registered over TCP on the node (the gateway logs in any user by username).
python3 - "$NODE_PORT" <<'PY'
import json, socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = json.dumps({"type": "register", "username": "benchuser", "password": "bench password 1"}).encode()
s.sendall(struct.pack(">I", len(body)) + body)
n = struct.unpack(">I", s.recv(4))[0]
reply = b""
while len(reply) < n:
    reply += s.recv(n - len(reply))
assert json.loads(reply)["ok"], reply
PY
cat >"$WORK/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"benchuser","password":"bench password 1"}'
wrk.headers["Content-Type"] = "application/json"
LUA
echo "## Gateway: logins/s at the default argon2 cost against raw argon2"
echo
echo "| run | what | per second | non-2xx |"
echo "|---:|---|---:|---:|"
LOGIN_SUM=0
HASH_SUM=0
login_run() {
    read -r l lbad <<<"$(SECS=$LOGIN_SECS CONNS=$LOGIN_CONNS wrk_rps "http://127.0.0.1:$GATE_PORT/api/v1/login" -s "$WORK/login.lua")"
    echo "| $i | logins through startgate (wrk -c $LOGIN_CONNS) | $l | $lbad |"
    LOGIN_SUM=$(awk -v a="$LOGIN_SUM" -v b="$l" 'BEGIN { print a + b }')
}
hash_run() {
    local json h threads
    json=$("$BIN/chatload" argon2-rate --secs "$LOGIN_SECS" --no-progress 2>/dev/null | tail -n1)
    h=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["hashes_per_sec"])' "$json")
    threads=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["threads"])' "$json")
    echo "| $i | raw argon2id (m=19456 KiB, t=2, p=1) on $threads threads, chatload argon2-rate | $h | - |"
    HASH_SUM=$(awk -v a="$HASH_SUM" -v b="$h" 'BEGIN { print a + b }')
}
# Short runs in alternating order (logins then hashes, hashes then logins, ...): the
# machine's speed drifts by tens of percent over minutes here, and this way the drift
# falls on both sides alike.
for ((i = 1; i <= LOGIN_RUNS; i++)); do
    if ((i % 2)); then
        login_run
        hash_run
    else
        hash_run
        login_run
    fi
done
LOGINS=$(awk -v a="$LOGIN_SUM" -v r="$LOGIN_RUNS" 'BEGIN { printf "%.1f", a / r }')
HASHES=$(awk -v a="$HASH_SUM" -v r="$LOGIN_RUNS" 'BEGIN { printf "%.1f", a / r }')
LOGIN_RATIO=$(awk -v a="$LOGINS" -v b="$HASHES" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
echo
echo "Mean: $LOGINS logins/s against $HASHES hashes/s: **${LOGIN_RATIO}×**."
echo
COMMANDS+=("wrk -t $CORES -c $LOGIN_CONNS -d ${LOGIN_SECS}s -s login.lua http://127.0.0.1:PORT/api/v1/login   # POST {username, password}, $LOGIN_RUNS runs")
COMMANDS+=("chatload argon2-rate --secs $LOGIN_SECS   # $LOGIN_RUNS runs, alternating with the logins")
# Sanity: the logins did succeed (non-2xx would say otherwise) and the gateway is healthy.
curl -fsS "http://127.0.0.1:$GATE_PORT/healthz" >/dev/null

echo "Commands:"
echo
for c in "${COMMANDS[@]}"; do echo "- \`$c\`"; done
echo
echo "GOALS healthz=$HEALTH_RATIO logins=$LOGIN_RATIO"
