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
statedir=.state/chaos-mongo pgstatedir=.state/chaos-postgres

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

stop_servers=()
trap 'for s in "${stop_servers[@]}"; do $s >/dev/null 2>&1 || true; done' EXIT
if covers mongo && [[ -z ${FOCAL_TEST_MONGO_URI:-} ]]; then
	stop_servers+=("scripts/mongo-server.sh stop $statedir")
	FOCAL_TEST_MONGO_URI=$(scripts/mongo-server.sh start "$statedir") || {
		echo "chaos: the MongoDB test server did not start (scripts/mongo-server.sh, above); set FOCAL_TEST_MONGO_URI to use another" >&2
		exit 1
	}
	export FOCAL_TEST_MONGO_URI
fi
if covers postgres && [[ -z ${FOCAL_TEST_POSTGRES_URL:-} ]]; then
	stop_servers+=("scripts/postgres-server.sh stop $pgstatedir")
	FOCAL_TEST_POSTGRES_URL=$(scripts/postgres-server.sh start "$pgstatedir") || {
		echo "chaos: the PostgreSQL test server did not start (scripts/postgres-server.sh, above); set FOCAL_TEST_POSTGRES_URL to use another" >&2
		exit 1
	}
	export FOCAL_TEST_POSTGRES_URL
fi
go run ./test/chaos/cmd/chaos -out docs/benchmarks.md "$@"
echo "wrote the chaos sections of docs/benchmarks.md"
