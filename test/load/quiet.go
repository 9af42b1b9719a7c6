package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A run begins on a quiet machine: Focal goes on working after a run (it
// packs the sessions the run left idle, collects garbage, sweeps), and
// on two cores that work slows whatever runs next, the bare gin run of
// the same pair as much as Focal's own. So before every run the bench
// waits until the whole machine has used at most quietBusy of one core
// over the last quietWindow, polling every quietPoll, for at most
// quietLimit; a run begun without quiet is counted in the report.
const (
	quietWindow = 2 * time.Second
	quietPoll   = 250 * time.Millisecond
	quietBusy   = 0.05
	quietLimit  = 2 * time.Minute
)

// settling is how a run's wait for a quiet machine went.
type settling struct {
	waited time.Duration // the whole wait, packed included
	quiet  bool          // false: quietLimit passed first
	// packed is the part of the wait until Focal had packed every
	// session (see packedWait).
	packed time.Duration
}

// packedWait waits until the Focal whose backlog reads holds no session
// waiting to be packed (its focal_memory_sessions_awaiting_pack at 0),
// polling every quietPoll, for at most quietLimit. Focal packs a session
// only once it has gone unused for a few seconds, so the packing of what
// a run left starts after the run, lasts seconds, and at a few percent
// of a core can pass for a quiet machine: the bare gin run that followed
// ran beside it. The quiet window starts after this wait. ok is false
// when quietLimit passed first.
func packedWait(backlog func() (float64, error), sleep func(time.Duration)) (waited time.Duration, ok bool, err error) {
	for {
		n, err := backlog()
		if err != nil {
			return waited, false, err
		}
		if n == 0 {
			return waited, true, nil
		}
		if waited >= quietLimit {
			return waited, false, nil
		}
		sleep(quietPoll)
		waited += quietPoll
	}
}

// quietWaiter waits for a quiet machine, reading the machine's busy CPU
// time through busy and letting time pass through sleep (a fake clock in
// tests).
type quietWaiter struct {
	busy  func() (time.Duration, error)
	sleep func(time.Duration)
}

// machineQuiet waits on this machine's /proc/stat in real time.
var machineQuiet = quietWaiter{busy: machineBusy, sleep: time.Sleep}

// wait returns once the busy time over the last quietWindow was at most
// quietBusy of it, or once quietLimit has passed.
func (q quietWaiter) wait() (settling, error) {
	const perWindow = int(quietWindow / quietPoll)
	var readings []time.Duration // one per poll, the newest last
	var waited time.Duration
	for {
		b, err := q.busy()
		if err != nil {
			return settling{waited: waited}, err
		}
		readings = append(readings, b)
		if n := len(readings); n > perWindow {
			if readings[n-1]-readings[n-1-perWindow] <= time.Duration(quietBusy*float64(quietWindow)) {
				return settling{waited: waited, quiet: true}, nil
			}
			readings = slices.Delete(readings, 0, n-perWindow)
		}
		if waited >= quietLimit {
			return settling{waited: waited}, nil
		}
		q.sleep(quietPoll)
		waited += quietPoll
	}
}

// machineBusy is the CPU time every process and the kernel have used so
// far on all cores: /proc/stat's first line but for its idle and iowait
// fields (guest time is already counted in user).
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return parseBusy(line)
}

// parseBusy reads the busy ticks of a /proc/stat "cpu" line.
func parseBusy(line string) (time.Duration, error) {
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	const idle, iowait = 4, 5 // user nice system idle iowait irq softirq steal
	var ticks int64
	for i := 1; i <= 8; i++ {
		if i == idle || i == iowait {
			continue
		}
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
