#!/usr/bin/env bash
# `make chaos`: the full runs of test/chaos on each store, MongoDB and
# PostgreSQL: the crash and outage cases on real focal processes, and the
# fault-injection load of 1,000 chat requests against Focal on the
# store's test server behind test/faultproxy, 5% of the commands faulted;
# rewrites their sections of docs/benchmarks.md, one pair per store.
# Starts the MongoDB test server when FOCAL_TEST_MONGO_URI is unset and
# the PostgreSQL one when FOCAL_TEST_POSTGRES_URL is unset, for the
# stores the run covers, and stops if one cannot start. Extra arguments go
# to the run (-stores, -cases, -turns, -race, -concurrency, -seed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The stores the run covers: -stores among the arguments, else both.
stores=mongo,postgres
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[i]} in
	-stores=* | --stores=*) stores=${args[i]#*=} ;;
	-stores | --stores) stores=${args[i + 1]:-} ;;
	esac
done
covers() { [[ ,${stores// /}, == *,$1,* ]]; }

source scripts/servers.sh
trap stop_servers EXIT
if covers mongo; then use_server FOCAL_TEST_MONGO_URI scripts/mongo-server.sh .state/chaos-mongo; fi
if covers postgres; then use_server FOCAL_TEST_POSTGRES_URL scripts/postgres-server.sh .state/chaos-postgres; fi
go run ./test/chaos/cmd/chaos -out docs/benchmarks.md "$@"
echo "wrote the chaos sections of docs/benchmarks.md"
