// Command funcshape fails when a function of the non-test Go files it is
// given spans too many lines, nests too deep, or is too complex by
// gocognit's measure: such a function does several things, or hides the
// path a reader must follow. Split it by meaning. The exclusion list names
// functions that may stay over the limits for now, each with the reason;
// an entry for a function now within them fails the check too, so the list
// only shrinks.
//
//	gocognit -over 0 -f '{{.Complexity}} {{.Pos.Filename}} {{.FuncName}}' $files > cognitive.txt
//	go run ./test/funcshape -complexity cognitive.txt -exclude test/funcshape/exclude.txt $files
package main

import (
	"flag"
	"fmt"
	"go/token"
	"io"
	"os"
	"strings"
)

func main() {
	limits := Limits{}
	flag.IntVar(&limits.Lines, "lines", 60, "most lines a function may span")
	flag.IntVar(&limits.Depth, "depth", 5, "deepest block nesting allowed")
	flag.IntVar(&limits.Cognitive, "cognitive", 25, "highest cognitive complexity allowed")
	complexityPath := flag.String("complexity", "", "gocognit's output: <complexity> <path> <function> per line")
	excludePath := flag.String("exclude", "", "exclusion list: <path> <function> per line")
	flag.Parse()
	complexity := Complexities{}
	if *complexityPath != "" {
		complexity = read(*complexityPath, ParseComplexities)
	}
	ex := Exclusions{}
	if *excludePath != "" {
		ex = read(*excludePath, ParseExclusions)
	}
	fset := token.NewFileSet()
	var findings []Finding
	for _, path := range flag.Args() {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		found := read(path, func(f io.Reader) ([]Finding, error) { return Check(fset, path, f, limits, complexity) })
		findings = append(findings, found...)
	}
	kept, stale := ex.Filter(findings)
	for _, f := range kept {
		fmt.Println(f)
	}
	for _, s := range stale {
		fmt.Printf("%s: excluded, but within the limits now (or gone): remove it from %s\n", s, *excludePath)
	}
	if len(kept) > 0 || len(stale) > 0 {
		fmt.Printf("funcshape: a function spans at most %d lines, nests at most %d deep and has a cognitive complexity of at most %d; split it by meaning\n",
			limits.Lines, limits.Depth, limits.Cognitive)
		os.Exit(1)
	}
}

// read opens path and parses it with parse, or exits.
func read[T any](path string, parse func(io.Reader) (T, error)) T {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funcshape:", err)
		os.Exit(2)
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "funcshape: %s: %v\n", path, err)
		os.Exit(2)
	}
	return v
}
