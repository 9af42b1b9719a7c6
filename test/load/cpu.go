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

// processCPU is the CPU time, user and system, that process pid and all
// its threads have used so far.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields after its closing parenthesis start with field 3.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	var ticks int64
	for _, f := range []string{fields[utime], fields[stime]} {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
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

// cpuBudget is how much CPU per turn Focal may use for its throughput to
// be share of bare gin's, on cores, if wrk keeps costing what it cost per
// request beside Focal: the cores' time at that throughput, less wrk's.
// It is ≤ 0 when wrk alone would fill the cores.
func cpuBudget(cores int, ginRPS, share, wrkUSPerRequest float64) float64 {
	if ginRPS <= 0 || share <= 0 {
		return 0
	}
	return float64(cores)*1e6/(share*ginRPS) - wrkUSPerRequest
}
