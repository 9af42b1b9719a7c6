package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// soakRetention is the memory store's retention during the soak: short
// enough that new users' sessions and idempotency records come and go
// several times within it, so a steady state is reached and shown. The
// sweep runs every second, a thirtieth of the session TTL: each sweep then
// frees a thirtieth of what the TTL keeps, not a sixth as a 5 s sweep did.
// RSS follows the highest goal the collector reached, and the goal
// follows the heap it found live (by a fixed headroom, see
// bootstrap/gc_headroom.go; by five times under the GOGC 400 of before),
// so a sweep that drops a sixth of the kept sessions at once turned its
// sawtooth into RSS steps. The
// default, 1m against a 24h TTL, frees far less per sweep still.
var soakRetention = []string{
	"FOCAL_MEMORY_SESSION_TTL=30s", "FOCAL_MEMORY_MAX_TURNS=20", "FOCAL_MEMORY_SWEEP_INTERVAL=1s", "FOCAL_IDEMPOTENCY_TTL=1m",
}

// soakWarmup is excluded from the slope: the first minute fills the store
// up to what retention keeps.
const soakWarmup = time.Minute

// soak serves the returning-user mix at a fixed pace for d and samples the
// Focal process's RSS every 10 s; the verdict is the slope after the first
// minute.
func (b *bench) soak(d time.Duration, rate int) error {
	if d <= 0 {
		b.report.notes = append(b.report.notes, "Soak skipped (-soak 0).")
		return nil
	}
	bundle, err := b.bundleFile(100)
	if err != nil {
		return err
	}
	f, err := b.focal(bundle, soakRetention...)
	if err != nil {
		return err
	}
	defer b.stop(f.cmd)
	client := newChatClient(f.url, token())
	openings, err := b.openings(100)
	if err != nil {
		return err
	}
	if err := seedInScenario(client, b.phrases, openings.messages, b.users, historyTurns); err != nil {
		return fmt.Errorf("seeding the soak's returning users: %w", err)
	}
	growth, err := readSessionGrowth(client)
	if err != nil {
		return fmt.Errorf("reading the soak's returning users' sessions: %w", err)
	}
	// wrk paces each connection by a pause between requests: a closed
	// loop held below saturation at about conns × 1000/pause turns/s.
	const conns = 8
	pause := max(1, conns*1000/max(rate, 1))
	heapBefore := counter(f.url, "go_memstats_heap_inuse_bytes")
	stop := make(chan struct{})
	samples := sampleRSS(f.cmd.Process.Pid, f.url, 10*time.Second, stop)
	run, err := b.wrk.run(wrkSpec{url: f.url, conns: conns, duration: d, mode: "mix", users: b.users, delayMS: pause,
		keyPercent: 10, messageFile: b.messages})
	close(stop)
	series := <-samples
	if err != nil {
		return err
	}
	heapAfter := counter(f.url, "go_memstats_heap_inuse_bytes")
	s := &soakResult{duration: d, rate: run.Throughput(), samples: series, run: run, voidReason: run.Void(),
		retention: "retention " + strings.Join(soakRetention, " ")}
	s.fitSlope()
	s.heapSamples = fmt.Sprintf("Go heap in use: %.0f MiB after seeding, %.0f MiB at the end; at the end the collector's next goal was %.0f MiB and the free heap it kept from the system (idle, not released) %.0f MiB.",
		heapBefore/(1<<20), heapAfter/(1<<20), counter(f.url, "go_memstats_next_gc_bytes")/(1<<20),
		(counter(f.url, "go_memstats_heap_idle_bytes")-counter(f.url, "go_memstats_heap_released_bytes"))/(1<<20))
	if g := growth().String(); g != "" {
		s.heapSamples += " " + g
	}
	b.report.soak = s
	return nil
}

// sampleRSS samples the RSS of process pid, and the heap its last
// collection found live (go_gc_heap_live_bytes on url's /metrics), every
// period until stop is closed, then sends the series.
func sampleRSS(pid int, url string, every time.Duration, stop <-chan struct{}) <-chan []rssSample {
	samples := make(chan []rssSample, 1)
	go func() {
		var out []rssSample
		start := time.Now()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				samples <- out
				return
			case <-tick.C:
				if v, err := rss(pid); err == nil {
					out = append(out, rssSample{at: time.Since(start), rss: v, live: int64(counter(url, "go_gc_heap_live_bytes"))})
				}
			}
		}
	}()
	return samples
}

// fitSlope sets the slope of RSS over time after the warm-up (the second
// half of a soak shorter than two warm-ups), or the reason there is none.
func (s *soakResult) fitSlope() {
	warm := soakWarmup
	if s.duration < 2*soakWarmup {
		warm = s.duration / 2
		s.swept = "This soak is shorter than 2 minutes: the slope is taken over its second half."
	}
	var xs, ys, live []float64
	for _, x := range s.samples {
		if x.at >= warm {
			xs, ys = append(xs, x.at.Minutes()), append(ys, float64(x.rss)/(1<<20))
			live = append(live, float64(x.live)/(1<<20))
		}
	}
	if len(xs) < 2 {
		s.voidReason = fmt.Sprintf("only %d RSS samples after the warm-up", len(xs))
	}
	s.slope = leastSquaresSlope(xs, ys)
	s.liveSlope = leastSquaresSlope(xs, live)
}

// leastSquaresSlope fits y = a + slope·x.
func leastSquaresSlope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// rss reads a process's resident memory from /proc.
func rss(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			_, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d kB", &kb)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
