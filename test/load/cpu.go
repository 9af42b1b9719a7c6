package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of the CPU times in /proc/<pid>/stat: Linux
// reports them in USER_HZ, which is 100 on every architecture Go runs
// the bench on.
const clockTicks = 100

// procUsage is what /proc/<pid>/stat says a process has used so far.
type procUsage struct {
	cpu time.Duration // user and system, all threads
	// minorFaults counts the pages the process touched for the first time
	// (minflt): on the bench's virtual machines each costs some 11 µs, so a
	// server whose heap grows pays for its growth at every turn.
	minorFaults int64
}

// processUsage is what process pid and all its threads have used so far.
func processUsage(pid int) (procUsage, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields after its closing parenthesis start with field 3.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procUsage{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+1:])
	const minflt, utime, stime = 10 - 3, 14 - 3, 15 - 3
	if len(fields) <= stime {
		return procUsage{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	var n [3]int64
	for k, f := range []string{fields[minflt], fields[utime], fields[stime]} {
		if n[k], err = strconv.ParseInt(f, 10, 64); err != nil {
			return procUsage{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	return procUsage{cpu: time.Duration(n[1]+n[2]) * time.Second / clockTicks, minorFaults: n[0]}, nil
}

// perRequest is a CPU time spread over a run's completed requests, in
// microseconds; 0 when nothing was measured.
func perRequest(cpu time.Duration, r loadRun) float64 {
	if cpu <= 0 || r.Requests == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(r.Requests)
}

// serverCPUus and loadCPUus are a run's CPU per request of the server
// under load and of wrk.
func serverCPUus(r loadRun) float64 { return perRequest(r.ServerCPU, r) }
func loadCPUus(r loadRun) float64   { return perRequest(r.LoadCPU, r) }

// serverFaults is a run's page faults per request of the server under
// load (0: not read).
func serverFaults(r loadRun) float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.ServerFaults) / float64(r.Requests)
}

// cpuBudget is how much CPU per turn Focal may use for its throughput to
// be share of bare gin's, on cores, if wrk keeps costing what it cost per
// request beside Focal: the cores' time at that throughput, less wrk's.
// It is ≤ 0 when wrk alone would fill the cores.
func cpuBudget(cores int, ginRPS, share, wrkUSPerRequest float64) float64 {
	return cpuBudgetBusy(cores, 1, ginRPS, share, wrkUSPerRequest)
}

// cpuBudgetBusy is cpuBudget with the cores busy only busy of the time
// (0 to 1), as busy as bare gin's runs kept them (busyShare): a closed
// loop of one wrk thread leaves them idle now and then whatever the
// server, so the budget at full use overstates what Focal may spend.
func cpuBudgetBusy(cores int, busy, ginRPS, share, wrkUSPerRequest float64) float64 {
	if ginRPS <= 0 || share <= 0 {
		return 0
	}
	return float64(cores)*busy*1e6/(share*ginRPS) - wrkUSPerRequest
}

// busyShare is the share of the cores' time a run kept busy: the server's
// and wrk's CPU per request at its requests per second.
func busyShare(cores int, rps, serverUSPerRequest, wrkUSPerRequest float64) float64 {
	return rps * (serverUSPerRequest + wrkUSPerRequest) / (float64(cores) * 1e6)
}
