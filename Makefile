# Developer entry points. `make` alone lists them.

CARGO ?= cargo
PORT ?= 12345
# The HTTP port of `make run`: the web client at http://127.0.0.1:HTTP_PORT/, WebSocket at /ws.
HTTP_PORT ?= 8080
# MariaDB server the store tests use (tools/services.sh makes sure it answers).
CHAT_TEST_MYSQL ?= mysql://root@127.0.0.1:3306
export CHAT_TEST_MYSQL

# Honour a CARGO_TARGET_DIR from the environment when running the built server.
TARGET_DIR = $${CARGO_TARGET_DIR:-target}

.DEFAULT_GOAL := help
.PHONY: help run services test lint bench bench-echo fmt clean

help:
	@echo "make run       build the release server and run startserv on PORT (default $(PORT)), the web client on http://127.0.0.1:HTTP_PORT/ (default $(HTTP_PORT))"
	@echo "make services  make sure MariaDB (127.0.0.1:3306) and Redis (127.0.0.1:6379) answer"
	@echo "make test      services, then cargo test --workspace --all-targets (CHAT_TEST_MYSQL=$(CHAT_TEST_MYSQL)), then the web client's browser tests (tools/browser.sh installs chromium and fonts; web/tests/run.sh)"
	@echo "make lint      cargo fmt --check and cargo clippy -D warnings on the whole workspace"
	@echo "make bench     services, then the benchmark suite (benches/suite.sh, results in benches/results/)"
	@echo "make bench-echo  only the echo benchmark: our reactor against tokio (benches/run.sh)"
	@echo "make cluster   services, release build, then 3 nodes on 127.0.0.1:7001-7003 (HTTP 8181-8183) and the gateway on 127.0.0.1:8080, sharing MariaDB and Redis (tools/cluster.sh; Ctrl-C stops them)"
	@echo "make fuzz      run each cargo-fuzz target FUZZ_SECS seconds (default 60; nightly; fuzz/run.sh)"
	@echo "make fmt       cargo fmt --all"
	@echo "make clean     cargo clean and remove data/"

run:
	$(CARGO) build --release -p server
	$(TARGET_DIR)/release/startserv $(PORT) --http-port $(HTTP_PORT)

services:
	bash tools/services.sh

test: services
	$(CARGO) test --workspace --all-targets
	bash tools/browser.sh && bash web/tests/run.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: services
	bash benches/suite.sh

bench-echo:
	bash benches/run.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf data/

# JMeter load test (tools/jmeter/README.md): builds the release server, starts a throw-away
# one on a free port, creates demo users, runs tools/jmeter/chat.jmx headless and fails on any
# sample error. Override with e.g. `make jmeter THREADS=50 DURATION=60`.
.PHONY: jmeter
jmeter:
	CARGO="$(CARGO)" bash tools/jmeter/run.sh

# Fuzzing (fuzz/README.md): each cargo-fuzz target for FUZZ_SECS seconds with nightly;
# prints executions and crashes per target, fails on any crash. Not part of `make test`.
FUZZ_SECS ?= 60
.PHONY: fuzz
fuzz:
	FUZZ_SECS=$(FUZZ_SECS) bash fuzz/run.sh

# A local cluster (tools/cluster.sh, docs/cluster.md): services, the release server and
# gateway, database chat_cluster, then nodes node1..node3 on 127.0.0.1:7001..7003 (HTTP
# 8181..8183) and the gateway on 127.0.0.1:8080 (docs/gateway.md), in the foreground
# until Ctrl-C. Settings through CLUSTER_* variables, e.g. `make cluster CLUSTER_NODES=2`.
.PHONY: cluster
cluster:
	CARGO="$(CARGO)" bash tools/cluster.sh
