// Command fusedmadd fails when the compiler fuses a multiply and an add in
// the packages it is given, on any architecture where Go does: a fused
// multiply-add rounds once where amd64 rounds twice, and rule scores would
// differ in their low bits between, say, x86-64 and Graviton. It compiles
// the packages for each such architecture with -gcflags=-S, reads the
// listing and names the source line of every fused instruction; a line
// that calls math.FMA asked for it (math.FMA rounds once everywhere) and
// passes. Wrapping the product in a conversion, float64(x*y) + z,
// prevents the fusion; see domain/portable_math.go.
//
//	go run ./test/fusedmadd ./domain ./application/alignment
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// targets are the server architectures whose compiler fuses (its rules
// for FADD of an FMUL in cmd/compile/internal/ssa/_gen), each with its
// fused instructions' mnemonics as go build -gcflags=-S prints them.
// riscv64 and loong64 fuse too, by the same rules (at the time of writing
// they fused at exactly arm64's lines); they are left out because each
// target costs make test some 20 s of compiling the standard library on a
// clean machine, and no one serves Focal on them.
var targets = []Target{
	{Arch: "arm64", Fused: regexp.MustCompile(`^FN?M(ADD|SUB)[SD]$`)},
	{Arch: "ppc64le", Fused: regexp.MustCompile(`^FN?M(ADD|SUB)S?$`)},
	{Arch: "s390x", Fused: regexp.MustCompile(`^(FM(ADD|SUB)S?|WFN?M[AS][SD]B)$`)},
	{Arch: "amd64", Env: []string{"GOAMD64=v3"}, Fused: regexp.MustCompile(`^VFN?M(ADD|SUB)(132|213|231)S[SD]$`)},
}

func main() {
	flag.Usage = func() { fmt.Fprintln(os.Stderr, "usage: go run ./test/fusedmadd PACKAGE...") }
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	src := NewSource(os.ReadFile)
	failed := false
	for _, t := range targets {
		listing, err := t.Compile(flag.Args())
		if err != nil {
			fmt.Fprintf(os.Stderr, "fusedmadd: %s: %v\n", t, err)
			os.Exit(2)
		}
		found, err := Fused(listing, t.Fused, src)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fusedmadd: %s: %v\n", t, err)
			os.Exit(2)
		}
		for _, f := range found {
			fmt.Printf("%s: %s fuses a multiply and an add (%s); round the product first: float64(x*y)\n", f.Pos, t, f.Mnemonic)
		}
		failed = failed || len(found) > 0
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("no fused multiply-add in %s on %s\n", strings.Join(flag.Args(), " "), targetNames())
}

// Target is one architecture to compile for.
type Target struct {
	Arch  string
	Env   []string // more of the build's environment, as GOAMD64=v3
	Fused *regexp.Regexp
}

func (t Target) String() string { return strings.Join(append([]string{t.Arch}, t.Env...), " ") }

// Compile builds pkgs for t and returns the compiler's assembly listing of
// them, which the build cache keeps and prints again on a build that
// changed nothing: a second run takes about a second.
func (t Target) Compile(pkgs []string) (string, error) {
	cmd := exec.Command("go", append([]string{"build", "-gcflags=-S"}, pkgs...)...)
	cmd.Env = append(append(os.Environ(), "GOOS=linux", "GOARCH="+t.Arch, "CGO_ENABLED=0"), t.Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return string(out), nil
}

func targetNames() string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}
