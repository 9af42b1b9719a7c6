#!/usr/bin/env bash
# `make eval`: measure how well agents decide, and write docs/evaluation.md.
# Generates the Banking77 and scale bundles from testdata/banking77 (go run
# ./test/eval bundles), runs `focal eval` on each and on the demo agent's
# paraphrase set, then writes the report from the results (go run ./test/eval
# report), whose verdicts are computed, never typed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=.state/eval
mkdir -p "$out" bin
rm -f "$out"/*.json
go build -o bin/focal ./cmd/focal
go run ./test/eval bundles -out "$out"

run() { # name bundle data
	printf '\n== %s\n' "$1"
	bin/focal eval "$2" "$3" --json "$out/$1.json"
}
run banking77-10 "$out/banking77-10.yaml" "$out/banking77-test.csv"
run banking77-30 "$out/banking77-30.yaml" "$out/banking77-test.csv"
run banking77-all "$out/banking77-all.yaml" "$out/banking77-test.csv"
run banking77-10-oos "$out/banking77-10-oos.yaml" "$out/banking77-test-oos.csv"
run demo examples/demo-agent.yaml testdata/eval/demo-agent.yaml
run scale-150 "$out/scale-150.yaml" "$out/scale-messages.csv"
run scale-10000 "$out/scale-10000.yaml" "$out/scale-messages.csv"
run scale-150-long "$out/scale-150.yaml" "$out/scale-long-messages.csv"
run scale-10000-long "$out/scale-10000.yaml" "$out/scale-long-messages.csv"

go run ./test/eval report -results "$out" -out docs/evaluation.md
echo
echo "wrote docs/evaluation.md"
