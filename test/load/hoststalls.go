package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The bench's side of the host-stall probe (probe.go): it starts one
// around each one-client run, and reads from its result what the host
// alone did to the run.
//
// wrk corrects for coordinated omission with the run's mean interval i:
// a request that waited S adds the samples S−i, S−2i… for the requests it
// held up, about S/i samples in all, a share S/D of a run of length D.
// So stalls S_k alone set a run's q-quantile at the x where
// Σ max(0, S_k − x) = (1 − q)·D (hostQuantile): a run where that x is
// beyond a latency target's limit measured the host, not Focal.

// probeStartLimit is how long the bench waits for a probe to be ready.
const probeStartLimit = 10 * time.Second

// probeProc is a running probe.
type probeProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *bytes.Buffer
	// note says why it runs without real-time priority, "" when it was
	// started under chrt.
	note string
	// from is when it was ready, CLOCK_MONOTONIC ns.
	from int64
	// ready is what it had used when it was ready, and when: its start-up
	// (the load binary's) runs before the run and costs it nothing.
	ready     procUsage
	readyTime time.Time
	readyErr  error
}

// startHostProbe starts the probe argv runs under `chrt -f 1`. Without
// chrt, or when chrt is refused real-time priority, the probe runs all
// the same at normal priority and its result says why: a sleeper that
// Focal itself can delay must throw nothing out (see
// hostStalls.unusable).
func startHostProbe(argv []string) (*probeProc, error) {
	chrt, err := exec.LookPath("chrt")
	if err != nil {
		p, err := startProbe(argv)
		if p != nil {
			p.note = "chrt is not installed, so the probe ran without real-time priority"
		}
		return p, err
	}
	p, err := startProbe(append([]string{chrt, "-f", "1"}, argv...))
	if err == nil {
		return p, nil
	}
	p, plainErr := startProbe(argv)
	if p != nil {
		p.note = "chrt -f 1 failed (" + err.Error() + "), so the probe ran without real-time priority"
	}
	return p, plainErr
}

// startProbe runs argv and waits until the probe says it is ready.
func startProbe(argv []string) (*probeProc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	p := &probeProc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.stdin, p.stdout = stdin, bufio.NewReader(stdout)
	limit := time.AfterFunc(probeStartLimit, func() { _ = cmd.Process.Kill() })
	line, err := p.stdout.ReadString('\n')
	limit.Stop()
	if strings.TrimSpace(line) == probeReady {
		p.from, p.readyTime = monotonicNS(), time.Now()
		p.ready, p.readyErr = processUsage(cmd.Process.Pid)
		return p, nil
	}
	_ = stdin.Close()
	_, _ = io.Copy(io.Discard, p.stdout)
	return nil, fmt.Errorf("%s did not start (%v, %v): %s", strings.Join(argv, " "), err, cmd.Wait(), strings.TrimSpace(p.stderr.String()))
}

// finish stops the probe and returns what it saw, its window the last
// run of duration before end (see runWindow). A probe that failed gives a
// result that says so, never an error: the run stands without it.
func (p *probeProc) finish(end int64, duration time.Duration) *hostStalls {
	share := 0.0 // not read
	if used, err := processUsage(p.cmd.Process.Pid); err == nil && p.readyErr == nil {
		share = (used.cpu - p.ready.cpu).Seconds() / time.Since(p.readyTime).Seconds()
	}
	_ = p.stdin.Close()
	data, readErr := io.ReadAll(p.stdout)
	var h hostStalls
	if err := errors.Join(readErr, p.cmd.Wait(), json.Unmarshal(data, &h)); err != nil {
		return &hostStalls{failed: fmt.Sprintf("the probe failed: %v %s", err, strings.TrimSpace(p.stderr.String()))}
	}
	h.from, h.to = runWindow(p.from, end, duration)
	h.failed = p.note
	h.cpuShare = share
	return &h
}

// runWindow is the stretch of a wrk run of duration that ended (wrk
// exited) at end, on CLOCK_MONOTONIC: wrk's own duration back from its
// exit, never before the probe was ready. wrk starts its clock once its
// script has loaded, so its start-up is left out, and a stall then, which
// delays no request measured, throws nothing out.
func runWindow(ready, end int64, duration time.Duration) (from, to int64) {
	return max(ready, end-duration.Nanoseconds()), end
}

// probedRun runs run with a probe around it and gives the run the
// probe's result.
func (b *bench) probedRun(run func() (loadRun, error)) (loadRun, error) {
	var r loadRun
	var err error
	host := b.probed(func() (int64, time.Duration) {
		r, err = run()
		return r.ended, time.Duration(r.DurationUS) * time.Microsecond
	})
	r.Host = host
	return r, err
}

// probed runs run with a probe around it and returns what the probe saw
// in the run's window, which run gives as its end (CLOCK_MONOTONIC ns)
// and duration (see runWindow). Without a probe run still runs, and the
// result says why it ran alone.
func (b *bench) probed(run func() (end int64, duration time.Duration)) *hostStalls {
	p, err := startHostProbe([]string{filepath.Join(b.bin, "load"), "probe"})
	if err != nil {
		run()
		return &hostStalls{failed: "no probe: " + err.Error()}
	}
	return p.finish(run())
}

// span is a stretch of CLOCK_MONOTONIC, ns.
type span struct{ from, to int64 }

// lateSpans are the stretches within [from, to] when the sleeper was
// late: from when its wake was due to when it woke. They are in order
// and apart, as one sleep follows another.
func (c cpuWakes) lateSpans(from, to int64) []span {
	var out []span
	for _, w := range c.Late {
		s := span{max(from, w.AtNS-w.LateUS*1000), min(to, w.AtNS)}
		if s.to > s.from {
			out = append(out, s)
		}
	}
	return out
}

// intersect is the stretches both a and b cover, each in order and apart.
func intersect(a, b []span) []span {
	var out []span
	for i, j := 0, 0; i < len(a) && j < len(b); {
		if s := (span{max(a[i].from, b[j].from), min(a[i].to, b[j].to)}); s.to > s.from {
			out = append(out, s)
		}
		if a[i].to < b[j].to {
			i++
		} else {
			j++
		}
	}
	return out
}

// machineStalls are the stretches of the run, ms, when every CPU's
// sleeper was late at once: no process on the machine ran, so every
// request in flight waited. A CPU late alone may have held up nothing of
// the run (its request may have been on another CPU), so it counts for
// nothing here: counting it could throw out a run Focal made slow.
func (h *hostStalls) machineStalls() []float64 {
	spans := h.machineSpans()
	out := make([]float64, len(spans))
	for i, s := range spans {
		out[i] = float64(s.to-s.from) / 1e6
	}
	return out
}

// machineSpans are the stretches of the run when every CPU's sleeper was
// late at once (see machineStalls), in order and apart.
func (h *hostStalls) machineSpans() []span {
	if h == nil || len(h.CPUs) == 0 {
		return nil
	}
	spans := h.CPUs[0].lateSpans(h.from, h.to)
	for _, c := range h.CPUs[1:] {
		spans = intersect(spans, c.lateSpans(h.from, h.to))
	}
	return spans
}

// longest is the run's longest stall of the whole machine, ms, 0 for none.
func (h *hostStalls) longest() float64 {
	return slices.Max(append(h.machineStalls(), 0))
}

// worstCPU is the most any one CPU's sleeper was late within the run, ms.
func (h *hostStalls) worstCPU() float64 {
	worst := 0.0
	for _, c := range h.cpus() {
		for _, s := range c.lateSpans(h.from, h.to) {
			worst = max(worst, float64(s.to-s.from)/1e6)
		}
	}
	return worst
}

// wakes are the sleepers' wake-ups, all CPUs together, whole probe.
func (h *hostStalls) wakes() int {
	n := 0
	for _, c := range h.cpus() {
		n += c.Wakes
	}
	return n
}

func (h *hostStalls) cpus() []cpuWakes {
	if h == nil {
		return nil
	}
	return h.CPUs
}

// unusable says why the probe's result can throw no run out, or "".
func (h *hostStalls) unusable() string {
	switch {
	case h == nil:
		return "no probe ran"
	case h.failed != "":
		return h.failed
	case !h.Realtime:
		return fmt.Sprintf("the probe ran under %s, not real-time, and a sleeper Focal itself can delay says nothing of the host", h.Policy)
	}
	return ""
}

// hostQ is the q-quantile of latency that the host's stalls alone give
// run r, ms; ok is false when its probe cannot say (unusable).
func hostQ(r loadRun, q float64) (x float64, ok bool) {
	if r.Host.unusable() != "" {
		return 0, false
	}
	return hostQuantile(r.Host.machineStalls(), float64(r.DurationUS)/1000, q), true
}

// hostQuantile is the q-quantile of a closed-loop run's latency that
// stalls alone (ms) set in a run of durationMS, as wrk corrects for
// coordinated omission: the x where Σ max(0, S_k − x) = (1 − q)·D, 0 when
// the stalls cannot fill the share 1 − q of the run. The sum falls in
// straight pieces between stalls, so the stalls are taken longest first
// until x falls at or above the next one.
func hostQuantile(stalls []float64, durationMS, q float64) float64 {
	share := (1 - q) * durationMS
	s := slices.Clone(stalls)
	slices.SortFunc(s, func(a, b float64) int { return cmp.Compare(b, a) })
	sum := 0.0
	for k := range s {
		sum += s[k]
		x := (sum - share) / float64(k+1)
		next := 0.0
		if k+1 < len(s) {
			next = s[k+1]
		}
		if x >= next {
			return max(x, 0)
		}
	}
	return 0
}
