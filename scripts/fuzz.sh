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
)
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
