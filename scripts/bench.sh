#!/usr/bin/env bash
# `make bench`: load runs against real processes on loopback, each paired
# with a bare gin handler, a soak of SOAK (default 10m), idle streams and the
# Go engine benchmarks; rewrites docs/benchmarks.md. Installs wrk (Debian
# package) when missing. Starts the MongoDB test server when
# FOCAL_TEST_MONGO_URI is unset, and a PostgreSQL server when
# FOCAL_TEST_POSTGRES_URL is unset.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v wrk >/dev/null; then
	echo "installing wrk (Debian package)"
	apt-get -o DPkg::Lock::Timeout=300 install -y wrk >/dev/null 2>&1 ||
		{ apt-get -o DPkg::Lock::Timeout=300 update >/dev/null && apt-get -o DPkg::Lock::Timeout=300 install -y wrk >/dev/null; }
fi
go build -o bin/focal ./cmd/focal
go build -o bin/load ./test/load
go build -o bin/fakellm ./test/fakellm/cmd/fakellm
statedir=.state/bench-mongo pgstatedir=.state/bench-postgres
stop_servers=()
trap 'for s in "${stop_servers[@]}"; do $s >/dev/null 2>&1 || true; done' EXIT
if [[ -z ${FOCAL_TEST_MONGO_URI:-} ]]; then
	stop_servers+=("scripts/mongo-server.sh stop $statedir")
	FOCAL_TEST_MONGO_URI=$(scripts/mongo-server.sh start "$statedir")
	export FOCAL_TEST_MONGO_URI
fi
if [[ -z ${FOCAL_TEST_POSTGRES_URL:-} ]]; then
	stop_servers+=("scripts/postgres-server.sh stop $pgstatedir")
	FOCAL_TEST_POSTGRES_URL=$(scripts/postgres-server.sh start "$pgstatedir")
	export FOCAL_TEST_POSTGRES_URL
fi
# Many idle streams need many file descriptors, client and server alike.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
bin/load bench -bin bin -out docs/benchmarks.md -soak "${SOAK:-10m}" "$@"
echo "wrote docs/benchmarks.md"
