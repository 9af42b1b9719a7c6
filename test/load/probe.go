package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The host-stall probe (`load probe`) measures what the host alone does
// to a run: on every CPU it may use, one thread pinned to that CPU sleeps
// probeInterval at a time and notes each wake-up later than probeFloor.
// Started under `chrt -f 1` (see probeCommand) its threads run at
// real-time priority, which no ordinary process, Focal and wrk included,
// can keep waiting: what still wakes them late is the host (the
// hypervisor not running the virtual CPU) or the kernel. It stops at
// SIGTERM, SIGINT or the end of its standard input (the bench closes it,
// and a bench that dies leaves no probe behind), then writes one JSON
// object (hostStalls).
const (
	probeInterval = time.Millisecond
	probeFloor    = 500 * time.Microsecond
)

// yieldEvery is how many wakes a sleeper lets pass between two yields to
// the Go scheduler, between wakes. A goroutine that never yields is taken
// by the runtime's monitor, after 10 ms, for one running too long, and
// the monitor then polls every 20 µs: at 1 ms sleeps that was a tenth of
// a CPU, taken from the runs measured.
const yieldEvery = 5

// probeReady is the line the probe writes once every sleeper has woken
// once: the bench starts a run only after it.
const probeReady = "ready"

// hostStalls is what the probe saw around one run. The exported fields
// are the probe's JSON; the others the bench adds.
type hostStalls struct {
	// Policy is the sleepers' scheduling policy as each read it back on
	// its own thread, e.g. "SCHED_FIFO priority 1"; Realtime is true only
	// when every one of them ran SCHED_FIFO.
	Policy     string     `json:"policy"`
	Realtime   bool       `json:"realtime"`
	IntervalUS int64      `json:"interval_us"`
	FloorUS    int64      `json:"floor_us"`
	CPUs       []cpuWakes `json:"cpus"`

	// from and to are the wrk run's window on CLOCK_MONOTONIC, ns (see
	// runWindow); a late wake outside it is not the run's.
	from, to int64
	// failed says why the probe gave no usable result (it did not start,
	// or chrt refused real-time priority and it ran without).
	failed string
	// cpuShare is the CPU time the probe used from ready to its end over
	// that time, in CPUs: its wake-ups take that from the processes it
	// runs beside.
	cpuShare float64
}

// cpuWakes is one sleeper's record: how many times it woke and each wake
// later than the floor.
type cpuWakes struct {
	CPU   int        `json:"cpu"`
	Wakes int        `json:"wakes"`
	Late  []lateWake `json:"late"`
}

// lateWake is a wake-up later than asked: the sleeper woke at AtNS
// (CLOCK_MONOTONIC, the clock the bench reads too) LateUS after it was
// due.
type lateWake struct {
	AtNS   int64 `json:"at_ns"`
	LateUS int64 `json:"late_us"`
}

// runProbe is `load probe`.
func runProbe(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	interval := fs.Duration("interval", probeInterval, "how long each sleep is")
	floor := fs.Duration("floor", probeFloor, "lateness below which a wake-up is only counted")
	_ = fs.Parse(args)
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; halt() }()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); halt() }()
	return probeHost(*interval, *floor, stop, os.Stdout)
}

// probeHost runs one sleeper per CPU this process may use, writes
// probeReady to out once each has woken once, and when stop closes writes
// what they saw as JSON.
func probeHost(interval, floor time.Duration, stop <-chan struct{}, out io.Writer) error {
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		return fmt.Errorf("reading the CPUs this process may use: %w", err)
	}
	var ids []int
	for id := 0; len(ids) < cpus.Count(); id++ {
		if cpus.IsSet(id) {
			ids = append(ids, id)
		}
	}
	// A P spare beside the sleepers: one coming back from its sleep never
	// waits for another thread to hand it one.
	runtime.GOMAXPROCS(len(ids) + 1)
	results := make([]sleeperResult, len(ids))
	var woke, done sync.WaitGroup
	for i, id := range ids {
		woke.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			results[i] = sleep(id, interval, floor, stop, woke.Done)
		}()
	}
	woke.Wait()
	if _, err := fmt.Fprintln(out, probeReady); err != nil {
		return err
	}
	done.Wait()
	h := hostStalls{IntervalUS: interval.Microseconds(), FloorUS: floor.Microseconds(), Realtime: true}
	for _, r := range results {
		if r.err != nil {
			return r.err
		}
		h.CPUs = append(h.CPUs, r.wakes)
		h.Realtime = h.Realtime && r.policy.Policy == unix.SCHED_FIFO
		if p := policyName(r.policy); h.Policy == "" {
			h.Policy = p
		} else if h.Policy != p {
			h.Policy += ", " + p
		}
	}
	return json.NewEncoder(out).Encode(h)
}

// sleeperResult is one sleeper's record and the policy it ran under.
type sleeperResult struct {
	wakes  cpuWakes
	policy *unix.SchedAttr
	err    error
}

// sleep pins its goroutine's thread to cpu and sleeps interval at a time
// until stop closes, noting each wake later than floor; woke is called
// after the first wake. It sleeps in the kernel (nanosleep) rather than on
// the Go runtime's timers, whose wake-ups the runtime's own scheduling
// would delay.
func sleep(cpu int, interval, floor time.Duration, stop <-chan struct{}, woke func()) sleeperResult {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := sleeperResult{wakes: cpuWakes{CPU: cpu}}
	defer func() {
		if r.wakes.Wakes == 0 {
			woke()
		}
	}()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		r.err = fmt.Errorf("pinning a sleeper to CPU %d: %w", cpu, err)
		return r
	}
	if r.policy, r.err = unix.SchedGetAttr(0, 0); r.err != nil {
		r.err = fmt.Errorf("reading the sleeper's scheduling policy: %w", r.err)
		return r
	}
	for {
		before := monotonicNS()
		// A signal cuts a sleep short: the rest is slept.
		ts, rest := unix.NsecToTimespec(interval.Nanoseconds()), unix.Timespec{}
		for unix.Nanosleep(&ts, &rest) == unix.EINTR {
			ts = rest
		}
		after := monotonicNS()
		if late := time.Duration(after-before) - interval; late > floor {
			r.wakes.Late = append(r.wakes.Late, lateWake{AtNS: after, LateUS: late.Microseconds()})
		}
		if r.wakes.Wakes++; r.wakes.Wakes == 1 {
			woke()
		}
		select {
		case <-stop:
			return r
		default:
		}
		if r.wakes.Wakes%yieldEvery == 0 {
			runtime.Gosched()
		}
	}
}

// monotonicNS is CLOCK_MONOTONIC, the clock every process on the machine
// shares, in nanoseconds.
func monotonicNS() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// policyName says what scheduling policy a thread runs under.
func policyName(a *unix.SchedAttr) string {
	switch a.Policy {
	case unix.SCHED_FIFO:
		return fmt.Sprintf("SCHED_FIFO priority %d", a.Priority)
	case unix.SCHED_RR:
		return fmt.Sprintf("SCHED_RR priority %d", a.Priority)
	case unix.SCHED_NORMAL:
		return "SCHED_OTHER"
	}
	return fmt.Sprintf("policy %d", a.Policy)
}
