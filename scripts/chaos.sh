#!/usr/bin/env bash
# `make chaos`: the full fault-injection run (test/chaos): 1,000 chat
# requests against Focal on the MongoDB test server behind
# test/faultproxy, 5% of the commands faulted; rewrites its section of
# docs/benchmarks.md. Starts the MongoDB test server when
# FOCAL_TEST_MONGO_URI is unset. Extra arguments go to the run
# (-turns, -race, -concurrency, -seed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
statedir=.state/chaos-mongo
if [[ -z ${FOCAL_TEST_MONGO_URI:-} ]]; then
	trap 'scripts/mongo-server.sh stop "$statedir" >/dev/null 2>&1 || true' EXIT
	FOCAL_TEST_MONGO_URI=$(scripts/mongo-server.sh start "$statedir")
	export FOCAL_TEST_MONGO_URI
fi
go run ./test/chaos/cmd/chaos -out docs/benchmarks.md "$@"
echo "wrote the chaos section of docs/benchmarks.md"
