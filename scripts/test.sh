#!/usr/bin/env bash
# `make test`: every check and test, MongoDB and PostgreSQL ones included.
# When FOCAL_TEST_MONGO_URI is unset it builds and starts the embedded
# FerretDB test server, and when FOCAL_TEST_POSTGRES_URL is unset it starts
# a PostgreSQL server (installing the Debian package when missing); both are
# stopped afterwards. Their tests fail (never skip) when no server can be
# reached. It installs what the tests drive from outside
# Go: the pinned npm tools (Redocly, Portman, Newman), Chromium and curl.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# step starts a named step and says how long the previous one took.
step() {
	if [[ -n ${step_started:-} ]]; then printf '   (%ds)\n' $((SECONDS - step_started)); fi
	step_started=$SECONDS
	printf '\n== %s\n' "$*"
}
statedir=.state/test-mongo
chaosstatedir=.state/test-mongo-chaos
pgstatedir=.state/test-postgres
source scripts/servers.sh
finish() {
	stop_servers
	if [[ -n ${step_started:-} ]]; then printf '   (%ds)\n' $((SECONDS - step_started)); fi
}
trap finish EXIT

# A clean machine's run was measured to take some 7 GiB of disk at its
# peak: the Go module and build caches (race and plain builds), the race
# test binaries under TMPDIR (the browser tests' alone ~200 MB), Chromium,
# the npm tools and the test servers' data. A CI run once ran out of disk
# half-way through go test, with dozens of link errors; say so at once
# instead, with what is free and where.
step "disk space"
need_kib=$((7 * 1024 * 1024))
have_kib=$(du -sk "$(go env GOCACHE)" "$(go env GOMODCACHE)" 2>/dev/null | awk '{s += $1} END {print s + 0}')
need_kib=$((need_kib - have_kib < 2 * 1024 * 1024 ? 2 * 1024 * 1024 : need_kib - have_kib))
for dir in . "${TMPDIR:-/tmp}" "$(dirname "$(go env GOCACHE)")"; do
	free_kib=$(df -Pk "$dir" | awk 'NR == 2 {print $4}')
	printf '%s: %d MiB free\n' "$dir" $((free_kib / 1024))
	if ((free_kib < need_kib)); then
		echo "make test: $dir has $((free_kib / 1024)) MiB free; a run needs about $((need_kib / 1024)) MiB more than the Go caches hold ($((have_kib / 1024)) MiB)" >&2
		exit 1
	fi
done

step "lint (scripts/lint.sh: gofmt, go vet, fused multiply-adds, staticcheck, function shape, dependency direction)"
scripts/lint.sh

step "npm test tools (test/tools: Redocly, Portman, Newman)"
test/tools/install.sh

step "Chromium for the browser tests, curl for the make run test"
scripts/install-browser.sh
scripts/need-debian.sh curl curl

export FOCAL_TEST_ARTIFACTS=${FOCAL_TEST_ARTIFACTS:-$PWD/.state/artifacts}
echo "screenshots and other test artifacts: $FOCAL_TEST_ARTIFACTS"

step "conversation tests (focal test)"
mkdir -p "$FOCAL_TEST_ARTIFACTS"
go run ./cmd/focal test --junit "$FOCAL_TEST_ARTIFACTS/conversation-tests.xml" examples/demo-agent.yaml examples/tests/*.yaml

# start_server VAR SCRIPT DIR TITLE: unless VAR is set already, a step
# that starts a test server (use_server; finish stops it).
start_server() {
	local var=$1 script=$2 dir=$3 title=$4
	if [[ -n ${!var:-} ]]; then return 0; fi
	step "$title"
	use_server "$var" "$script" "$dir"
	echo "$var=${!var}"
}

start_server FOCAL_TEST_MONGO_URI scripts/mongo-server.sh "$statedir" \
	"start the MongoDB test server (FerretDB)"
# test/chaos stalls and faults its server on purpose and bounds how soon the
# service recovers; a second FerretDB keeps the other suites' load out of
# those bounds (see test/chaos/server_test.go).
start_server FOCAL_TEST_CHAOS_MONGO_URI scripts/mongo-server.sh "$chaosstatedir" \
	"start a second MongoDB test server (FerretDB) for test/chaos"
start_server FOCAL_TEST_POSTGRES_URL scripts/postgres-server.sh "$pgstatedir" \
	"start the PostgreSQL test server (scripts/postgres-server.sh)"

step "go test -race"
# -json through the skip guard: it prints failing tests' output and a
# summary, and fails the run when a test skipped outside its allow list.
mkdir -p .state && go build -o .state/skipguard ./test/skipguard
go test -race -count=1 -timeout 10m -json ./... | .state/skipguard -allow test/skipguard/allow.txt

# Tests whose files build only without the race detector (//go:build
# !race: long sequential arithmetic it slows tenfold and has nothing to find
# in) run here, in their packages built without it.
step "go test without -race: the tests built only without it (//go:build !race)"
for dir in $(git ls-files -- '*_test.go' | xargs grep -l -E '^//go:build .*!race' | xargs -n1 dirname | sort -u); do
	tests=$(grep -h -o -E '^func Test[A-Za-z0-9_]+' $(grep -l -E '^//go:build .*!race' "$dir"/*_test.go) | sed 's/^func //' | paste -sd'|' || true)
	if [[ -n $tests ]]; then
		echo "./$dir: ${tests//|/ }"
		go test -count=1 -timeout 10m -run "^(${tests})\$" -json "./$dir" | .state/skipguard -allow test/skipguard/allow.txt
	fi
done

# Scores are the same to the bit on every architecture (domain/portable_math.go
# says how): domain's tests, the golden digests taken on amd64 among them,
# run on arm64 under qemu-aarch64, installed when missing; a machine that
# cannot have it fails the run rather than skip the check. About a minute
# on 2 cores, the digests some 40 s of it.
step "domain's tests and golden digests on arm64 under qemu-aarch64 (scores identical to the bit across architectures)"
scripts/need-debian.sh qemu-aarch64 qemu-user
GOARCH=arm64 CGO_ENABLED=0 go test -exec qemu-aarch64 -count=1 -timeout 10m -json ./domain/ |
	tee .state/arm64-domain.json | .state/skipguard -allow test/skipguard/allow.txt
goldens='TestMatcherScoresUnchanged TestCompiledMatcherUnchanged TestPortableMathUnchanged'
for test in $goldens; do # a renamed or retagged digest must not drop out unseen
	grep -q "\"Action\":\"pass\",\"Package\":\"focal/domain\",\"Test\":\"$test\"," .state/arm64-domain.json ||
		{ echo "make test: $test did not run and pass on arm64" >&2; exit 1; }
done

step "fuzz targets (a fixed number of inputs each)"
scripts/fuzz.sh
