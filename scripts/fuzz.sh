#!/usr/bin/env bash
# Run every fuzz target for the given time each (default 5s): make test
# runs them briefly, `make fuzz` for longer. New crashers are written to the
# package's testdata/fuzz directory and fail the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime=${1:-5s}
targets=(
	"./adapters/http FuzzDecodeChatRequest"
	"./adapters/http FuzzSSETokenEvent"
	"./domain FuzzTemplate"
	"./domain FuzzForbiddenPhrase"
	"./domain FuzzExtractors"
	"./application/alignment FuzzExpression"
)
# A log of our own: runs in parallel (other worktrees, CI jobs) never share one.
log=$(mktemp "${TMPDIR:-/tmp}/focal-fuzz.XXXXXX")
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "fuzz $name ($pkg, $fuzztime)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1 || {
		cat "$log"
		exit 1
	}
done
