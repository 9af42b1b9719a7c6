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
source scripts/servers.sh
trap stop_servers EXIT
use_server FOCAL_TEST_MONGO_URI scripts/mongo-server.sh .state/bench-mongo
use_server FOCAL_TEST_POSTGRES_URL scripts/postgres-server.sh .state/bench-postgres
# Many idle streams need many file descriptors, client and server alike.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
bin/load bench -bin bin -out docs/benchmarks.md -soak "${SOAK:-10m}" "$@"
echo "wrote docs/benchmarks.md"
