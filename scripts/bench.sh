#!/usr/bin/env bash
# `make bench`: Go benchmarks and load runs against real processes on
# loopback, compared with the limits (a bare gin handler, the fake model
# alone); rewrites docs/benchmarks.md. Starts the MongoDB test server when
# FOCAL_TEST_MONGO_URI is unset.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
go build -o bin/focal ./cmd/focal
go build -o bin/load ./test/load
go build -o bin/fakellm ./test/fakellm/cmd/fakellm
statedir=.state/bench-mongo
if [[ -z ${FOCAL_TEST_MONGO_URI:-} ]]; then
	trap 'scripts/mongo-server.sh stop "$statedir" >/dev/null 2>&1 || true' EXIT
	FOCAL_TEST_MONGO_URI=$(scripts/mongo-server.sh start "$statedir")
	export FOCAL_TEST_MONGO_URI
fi
# Many idle streams need many file descriptors, client and server alike.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
bin/load bench -bin bin -out docs/benchmarks.md "$@"
echo "wrote docs/benchmarks.md"
