// Command skipguard reads `go test -json` output on stdin, prints each
// package's result, the output of every failing test and a summary, and
// exits non-zero when a test failed or was skipped without an entry in the
// allow list. A skip hides untested behaviour behind a passing run; this
// makes every skip either fail `make test` or say in the allow list why it
// is acceptable.
//
//	go test -json ./... | go run ./test/skipguard -allow test/skipguard/allow.txt
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	allowPath := flag.String("allow", "", "allow list file: <package> <test> <reason> per line")
	flag.Parse()
	var allow *AllowList
	if *allowPath != "" {
		f, err := os.Open(*allowPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "skipguard:", err)
			os.Exit(2)
		}
		allow, err = ParseAllowList(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "skipguard: %s: %v\n", *allowPath, err)
			os.Exit(2)
		}
	}
	sum, err := Run(os.Stdin, os.Stdout, allow)
	if err != nil {
		fmt.Fprintln(os.Stderr, "skipguard:", err)
		os.Exit(2)
	}
	if !sum.OK() {
		os.Exit(1)
	}
}
