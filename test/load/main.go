// Command load drives a running Focal over loopback HTTP to measure it and
// check its integrity under load. It only talks to loopback addresses.
//
//	go run ./test/load bench     [-out docs/benchmarks.md -soak 10m -runs 3 -duration 4s]
//	go run ./test/load integrity -url http://127.0.0.1:8080 -token T -agent A [-turns 1000 -dup 0.1 -race 50]
//	go run ./test/load baregin   -addr 127.0.0.1:8099
//	go run ./test/load bundle    -rules 10000 -out bench-agent.json
//	chrt -f 1 load probe         [-interval 1ms -floor 0.5ms]
//
// bench drives the load with wrk (scripts/bench.sh installs it) and writes
// docs/benchmarks.md; integrity prints one JSON object; probe (which bench
// runs around its one-client runs) notes how late the host wakes a
// real-time sleeper on each CPU until SIGTERM, SIGINT or the end of its
// standard input, then prints one JSON object.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load bench|integrity|baregin|bundle|probe [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "integrity":
		err = runIntegrity(os.Args[2:])
	case "baregin":
		err = runBareGin(os.Args[2:])
	case "bundle":
		err = runBundle(os.Args[2:])
	case "bench":
		err = runBench(os.Args[2:])
	case "probe":
		err = runProbe(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// loopbackOnly refuses targets that are not this machine: the tool is for
// measuring a local process, never for loading someone else's service.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address: load only targets this machine", u.Host)
		}
	}
	return nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
