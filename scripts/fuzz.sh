#!/usr/bin/env bash
# fuzz.sh [DURATION]: runs every fuzz target. Without DURATION (make test)
# each runs a fixed number of inputs, a few seconds' worth here: a count has
# no wall-clock deadline, so a loaded machine only makes the run slower,
# never trips the fuzzing coordinator's race between its deadline and a
# worker that is still running (a bare "context deadline exceeded" with no
# input found). With DURATION (`make fuzz`) each runs that long. New
# crashers are written to the package's testdata/fuzz directory and fail
# the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration=${1:-}
# package, target, inputs for the short run
targets=(
	"./adapters/http FuzzDecodeChatRequest 2000"
	"./adapters/http FuzzSSETokenEvent 6000"
	"./adapters/http FuzzChatResultString 5000"
	"./adapters/http FuzzChatFieldsMatchTheStrictDecoder 5000"
	"./adapters/llm FuzzSSEDecoderReadsAsTheSDKDecoderDoes 3000"
	"./domain FuzzTemplate 80000"
	"./domain FuzzForbiddenPhrase 80000"
	"./domain FuzzExtractors 10000"
	"./application/alignment FuzzExpression 20000"
	"./domain FuzzMatcherWords 20000"
	"./adapters/memory FuzzAfterDelta 5000"
	"./application FuzzYAMLNodeBound 2000"
	"./application FuzzJSONBundleReadsAsYAML 3000"
	"./application FuzzYAMLTreeWalkReadsAsYAMLDecoding 3000"
)
# The list is the repository's fuzz targets, no more and no fewer: a target
# left off would only ever run its seeds, and one renamed would match
# nothing, which go test reports as a warning and exit 0.
listed=$(for t in "${targets[@]}"; do read -r pkg name _ <<<"$t"; echo "${pkg#./} $name"; done | sort)
found=$(git ls-files -- '*_test.go' | xargs grep -H -o -E '^func Fuzz[A-Za-z0-9_]+' |
	sed -E 's|^(.*)/[^/]*:func |\1 |' | sort)
if [[ "$listed" != "$found" ]]; then
	echo "scripts/fuzz.sh: its targets are not the repository's fuzz targets:" >&2
	diff <(echo "$listed") <(echo "$found") >&2 || true
	exit 1
fi
# A log of our own: runs in parallel (other worktrees, CI jobs) never share one.
log=$(mktemp "${TMPDIR:-/tmp}/focal-fuzz.XXXXXX")
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
	read -r pkg name inputs <<<"$t"
	fuzztime=${duration:-${inputs}x}
	echo "fuzz $name ($pkg, $fuzztime)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1 || {
		cat "$log"
		exit 1
	}
done
