#!/usr/bin/env bash
# `make lint`: gofmt, go vet, no fused multiply-adds in the scoring code,
# staticcheck, the shape of every function (length, nesting, cognitive
# complexity) and the hexagon's dependency direction. staticcheck and
# gocognit are installed with `go install` at the pinned versions below
# into .state/bin, once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

staticcheck=honnef.co/go/tools/cmd/staticcheck@v0.8.2
gocognit=github.com/uudashr/gocognit/cmd/gocognit@v1.2.0
# A function spans at most max_lines lines, nests at most max_depth blocks
# deep and has a cognitive complexity of at most max_cognitive; those over
# them are split by meaning, or listed with a reason in
# test/funcshape/exclude.txt.
max_lines=60 max_depth=5 max_cognitive=25

bin=$PWD/.state/bin
mkdir -p "$bin"

# tool installs a pinned tool once and prints its path; a stamp file
# remembers the version, so a new pin reinstalls.
tool() {
	local name=${1##*/} && name=${name%@*}
	if [[ ! -x $bin/$name || $(cat "$bin/$name.version" 2>/dev/null) != "$1" ]]; then
		GOBIN=$bin go install "$1" >&2
		echo "$1" >"$bin/$name.version"
	fi
	echo "$bin/$name"
}

mapfile -t files < <(git ls-files '*.go')

echo "== gofmt"
unformatted=$(gofmt -l "${files[@]}")
if [[ -n $unformatted ]]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
# domain has an assembly kernel for amd64 and Go for the rest: vet the
# other side too, so code built only off amd64 cannot rot unseen.
GOARCH=arm64 go vet ./domain/

# Rule scores are the same to the bit on every architecture: no multiply
# and add fused in the score-bearing packages where Go's compiler fuses
# (arm64, ppc64le, s390x, amd64 at GOAMD64=v3). Seconds
# with a warm build cache; a cold one compiles the standard library for
# each of them first (about 20 s each).
echo "== fused multiply-adds (test/fusedmadd: scores identical on arm64, ppc64le, s390x and amd64)"
go run ./test/fusedmadd ./domain ./application/alignment

echo "== staticcheck (${staticcheck#*@})"
"$(tool "$staticcheck")" ./...

echo "== function shape: at most $max_lines lines, nesting $max_depth, cognitive complexity $max_cognitive (gocognit ${gocognit#*@})"
complexity=$(mktemp)
trap 'rm -f "$complexity"' EXIT
"$(tool "$gocognit")" -over 0 -f '{{.Complexity}} {{.Pos.Filename}} {{.FuncName}}' "${files[@]}" >"$complexity" || [[ -s $complexity ]] # it exits 1 when it lists any
go run ./test/funcshape -lines "$max_lines" -depth "$max_depth" -cognitive "$max_cognitive" \
	-complexity "$complexity" -exclude test/funcshape/exclude.txt "${files[@]}"

echo "== dependency direction"
go test -count=1 ./test/architecture/
