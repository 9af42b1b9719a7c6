package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"focal/domain"
)

// plainBundle is an agent without rules or constraints: nothing holds
// streamed text back, so what is measured is the relay itself.
const plainBundle = `{"agent": {"id": "%s", "tenant_id": "%s", "name": "stream bench agent"}}`

// plainBundleFile writes the plain agent once and returns its path.
func (b *bench) plainBundleFile() (string, error) {
	path := filepath.Join(b.work, "plain.json")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	return path, os.WriteFile(path, []byte(fmt.Sprintf(plainBundle, benchAgent, benchTenant)), 0o644)
}

// focalWithModel starts Focal with the OpenAI-compatible fake as its model.
func (b *bench) focalWithModel(bundle, modelURL string, extra ...string) (*exec.Cmd, string, error) {
	addr := freePort()
	env := append([]string{
		"FOCAL_HTTP_ADDR=" + addr, "FOCAL_JWT_SECRET=" + benchSecret, "FOCAL_BOOTSTRAP_BUNDLE=" + bundle,
		"FOCAL_LOG_LEVEL=error", "FOCAL_RATE_LIMIT_ENTERPRISE=100000000",
		"FOCAL_LLM_PROVIDER=openai", "FOCAL_LLM_MODEL=fake", "FOCAL_LLM_BASE_URL=" + modelURL + "/v1", "FOCAL_LLM_API_KEY=bench",
	}, extra...)
	cmd, err := b.start(addr, env, filepath.Join(b.bin, "focal"), "serve")
	return cmd, "http://" + addr, err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

// idleStreams opens n streams that stay idle (the model has not answered
// yet) and measures Focal's memory per stream.
func (b *bench) idleStreams(n int) error {
	fakeAddr := freePort()
	fake, err := b.start(fakeAddr, nil, filepath.Join(b.bin, "fakellm"), "-addr", fakeAddr, "-first-token-delay", "8m", "-words", "3")
	if err != nil {
		return err
	}
	defer b.stop(fake)
	bundle, err := b.plainBundleFile()
	if err != nil {
		return err
	}
	debug := freePort()
	cmd, url, err := b.focalWithModel(bundle, "http://"+fakeAddr, "FOCAL_LLM_H2C="+strconv.FormatBool(modelProtocol() == "h2c"),
		"FOCAL_DEBUG_ADDR="+debug, "FOCAL_MAX_OPEN_STREAMS_PER_TENANT=1000000", "FOCAL_LLM_FIRST_TOKEN_TIMEOUT=10m", "FOCAL_LLM_REQUEST_TIMEOUT=10m", "FOCAL_TURN_TIMEOUT=10m")
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	r := idleReading{n: n}
	if r.before, err = rss(cmd.Process.Pid); err != nil {
		return err
	}
	r.metricsBefore = streamMetrics(url)
	streams, failed := openIdleStreams(url, token(), n)
	r.opened, r.failed = len(streams), failed
	if r.opening, r.settled, err = settledRSS(cmd.Process.Pid); err != nil {
		return err
	}
	r.metricsOpened = streamMetrics(url)
	if r.after, r.collected, err = afterIdleCollection(url, cmd.Process.Pid); err != nil {
		return err
	}
	r.metricsAfter = streamMetrics(url)
	if b.profiles != "" {
		if err := keepIdleProfiles(b.profiles, debug); err != nil {
			return err
		}
	}
	for _, res := range streams {
		res.Body.Close()
	}
	t, breakdown := r.report()
	b.report.extra = append(b.report.extra, t)
	b.report.details = append(b.report.details, "## Idle streams\n\n"+breakdown)
	return nil
}

// idleReading is what the idle-stream measurement read: RSS before the
// streams, once their opening settled and once the runtime had collected,
// and the process's Go metrics before the streams, once their opening
// settled and after the collection.
type idleReading struct {
	n, opened, failed                          int
	before, opening, after                     int64 // RSS bytes
	settled, collected                         time.Duration
	metricsBefore, metricsOpened, metricsAfter map[string]float64
}

// report is the reading's target row and its explanation.
func (r idleReading) report() (targetRow, string) {
	streams := float64(max(r.opened, 1))
	perStream := float64(r.after-r.before) / streams / 1024
	whileOpening := float64(r.opening-r.before) / streams / 1024
	voidReason := ""
	if r.failed > 0 {
		voidReason = fmt.Sprintf("%d streams failed to open", r.failed)
	}
	per := func(name string) float64 { return (r.metricsAfter[name] - r.metricsBefore[name]) / streams }
	breakdown := fmt.Sprintf("%d streams opened against the fake model (OpenAI wire format over %s, first token after 8 min) and held. RSS %s after the last one opened, once it had settled: %.1f KiB per stream, garbage of the opening included. Then the streams stayed idle until the runtime had collected twice on its own (%s later; an idle Go process collects at least every 2 minutes, and the second collection sets the free heap it keeps from what the streams hold) and RSS had settled again — what holding them costs: RSS %.1f KiB, Go heap in use %.1f KiB, goroutine stacks %.1f KiB, %.1f goroutines per stream (from the process's own Go metrics); free heap the runtime kept from the system (idle, not released): %.1f KiB per stream.",
		r.opened, modelProtocol(), r.settled.Round(time.Second), whileOpening, r.collected.Round(time.Second), perStream, per("go_memstats_heap_inuse_bytes")/1024, per("go_memstats_stack_inuse_bytes")/1024, per("go_goroutines"),
		kept(r.metricsAfter, r.metricsBefore)/streams/1024)
	breakdown += r.idleChange(streams)
	t := targetRow{target: fmt.Sprintf("%d idle SSE streams ≤ 64 KiB each", r.n),
		measured: fmt.Sprintf("%.1f KiB per stream (%d open, %d failed)", perStream, r.opened, r.failed),
		compare:  fmt.Sprintf("RSS %d → %d MiB", r.before>>20, r.after>>20), status: judge(perStream <= 64, voidReason)}
	if t.status != met {
		t.costs = "**Idle streams.** " + breakdown
	}
	return t, breakdown
}

// kept is the free heap the runtime keeps from the system (idle, not
// released) in reading m beyond reading base.
func kept(m, base map[string]float64) float64 {
	free := func(m map[string]float64) float64 {
		return m["go_memstats_heap_idle_bytes"] - m["go_memstats_heap_released_bytes"]
	}
	return free(m) - free(base)
}

// idleChange says what the idle period and its collection changed, per
// stream, from the reading once the opening settled: RSS only grows when
// the process touches memory it had not (the opening's garbage, once
// freed, is kept, not returned), so a rise is memory taken while the
// streams idled — timers' goroutines, garbage — or by the collection
// (stacks shrunk into new, smaller ones).
func (r idleReading) idleChange(streams float64) string {
	if r.metricsOpened == nil {
		return ""
	}
	d := func(name string) float64 { return (r.metricsAfter[name] - r.metricsOpened[name]) / streams / 1024 }
	return fmt.Sprintf(" From the settled opening to after the collection, per stream: RSS %+.1f KiB, heap in use %+.1f KiB, stacks %+.1f KiB, free heap kept %+.1f KiB.",
		float64(r.after-r.opening)/streams/1024, d("go_memstats_heap_inuse_bytes"), d("go_memstats_stack_inuse_bytes"),
		kept(r.metricsAfter, r.metricsOpened)/streams/1024)
}

// keepIdleProfiles writes what the held streams keep alive, the goroutine
// dump (one line per distinct stack, with counts) and the heap profile, to
// dir: the per-stream figures say how much, these say what.
func keepIdleProfiles(dir, debugAddr string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for file, path := range map[string]string{"idle-streams.goroutines.txt": "goroutine?debug=1", "idle-streams.heap.pb.gz": "heap"} {
		if err := fetchTo(filepath.Join(dir, file), fmt.Sprintf("http://%s/debug/pprof/%s", debugAddr, path)); err != nil {
			return err
		}
	}
	return nil
}

// openIdleStreams opens n chat streams, 200 at a time, and returns those
// that opened and how many failed.
func openIdleStreams(url, tok string, n int) (opened []*http.Response, failed int) {
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n, DisableCompression: true}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 200)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			body, _ := json.Marshal(map[string]string{"agent_id": benchAgent, "channel": "bench", "user_channel_id": "idle-" + strconv.Itoa(i), "message": "hi"})
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/stream", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || res.StatusCode != http.StatusOK {
				failed++
				return
			}
			opened = append(opened, res)
		})
	}
	wg.Wait()
	return opened, failed
}

// settledRSS reads the RSS of process pid once it stops moving: it is
// read every 2 s and taken when within 0.2 % of the reading 4 s before,
// after a minute at most (rssSettled). settled is how long that took.
func settledRSS(pid int) (rssBytes int64, settled time.Duration, err error) {
	var readings []int64
	for start := time.Now(); time.Since(start) < time.Minute; {
		time.Sleep(2 * time.Second)
		v, err := rss(pid)
		if err != nil {
			return 0, 0, err
		}
		readings = append(readings, v)
		rssBytes, settled = v, time.Since(start)
		if rssSettled(readings) {
			break
		}
	}
	return rssBytes, settled, nil
}

// rssSettled tells whether readings taken 2 s apart have stopped moving:
// the last within 0.2 % of the one two readings before it. Once streams
// have opened RSS still grows for seconds, by a megabyte or so each (the
// last replies' buffers, stacks grown to their size), and within 0.5 % of
// the reading just before, which was the rule, it was read before it had
// stopped: make bench's idle streams then counted 1 to 1.5 KiB per stream
// of the opening as grown while the streams idled.
func rssSettled(readings []int64) bool {
	n := len(readings)
	if n < 3 {
		return false
	}
	last, then := readings[n-1], readings[n-3]
	return math.Abs(float64(last-then)) < 0.002*float64(then)
}

// afterIdleCollection waits, without asking for one, until the runtime has
// collected garbage twice (the count of collections went up by two), then
// until RSS settles again: the opening's garbage is then no longer counted
// against the streams, as it would not be in a process that holds them for
// long. Twice, because the first collection frees the opening's garbage
// but sets how much free heap the runtime keeps from the system from the
// heap in use when its marking ended, garbage not yet swept included
// (runtime.gcPaceScavenger reads memstats.lastHeapInUse); the second sets
// it from what the streams hold, and the scavenger returns the rest.
// It does not poll Focal while it waits: each /metrics scrape leaves about
// 136 KiB of garbage in Focal, and scraped every 2 s for the idle minutes
// that was some 0.8 KiB per stream of 10,000, the bench's own probing
// rather than what holding streams costs. An idle Go process collects at
// least every two minutes (the runtime's forced collection), so it sleeps
// past two of those first, then checks at a Prometheus scrape's pace. It
// fails when the two collections did not come within six minutes.
func afterIdleCollection(url string, pid int) (rssBytes int64, waited time.Duration, err error) {
	const gcCycles, collections = "go_gc_duration_seconds_count", 2
	start, cycles := time.Now(), counter(url, gcCycles)
	time.Sleep(collections*forcedCollection + 5*time.Second)
	for counter(url, gcCycles) < cycles+collections {
		if time.Since(start) > 3*collections*time.Minute {
			return 0, 0, fmt.Errorf("the runtime did not collect %d times within %d minutes of idling", collections, 3*collections)
		}
		time.Sleep(15 * time.Second)
	}
	rssBytes, _, err = settledRSS(pid)
	return rssBytes, time.Since(start), err
}

// forcedCollection is how long an idle Go process goes at most without a
// collection (the runtime's forcegcperiod).
const forcedCollection = 2 * time.Minute

// streamMetrics reads the Go runtime figures that make up a stream's cost.
func streamMetrics(url string) map[string]float64 {
	out := map[string]float64{}
	for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines",
		"go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes"} {
		out[name] = counter(url, name)
	}
	return out
}

// history compares a turn in a session with 1,000 earlier turns against
// one in a session whose earlier turns just fill the prompt's history
// window (domain.DefaultHistoryTurns), all generated by a zero-latency
// fake model, so the prompt's history is read every turn. Both prompts
// carry the same number of earlier turns, so the difference is what grows
// with a session's length; a new session's turn, whose prompt has no
// history, is measured beside them and shown, not judged.
func (b *bench) history() error {
	fakeAddr := freePort()
	fake, err := b.start(fakeAddr, nil, filepath.Join(b.bin, "fakellm"), "-addr", fakeAddr, "-words", "20")
	if err != nil {
		return err
	}
	defer b.stop(fake)
	bundle, err := b.plainBundleFile()
	if err != nil {
		return err
	}
	cmd, url, err := b.focalWithModel(bundle, "http://"+fakeAddr)
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	runs, err := b.historyRuns(newChatClient(url, token()), url)
	if err != nil {
		return err
	}
	b.report.extra = append(b.report.extra, runs.target())
	return nil
}

// historyMeasure is what history measured: runs of turns in new
// sessions, in sessions at the history window and in one long session,
// kept only where all three runs of a round were all 2xx turns.
type historyMeasure struct{ fresh, window, long []loadRun }

// historyRuns seeds the sessions and runs the rounds. The returning mode
// talks as ret-0 … ret-(users-1): first b.users of them get a window of
// earlier turns (a run adds a few more to each, staying near the window),
// then ret-0 alone gets 1,000 and is the long session.
func (b *bench) historyRuns(c *chatClient, url string) (historyMeasure, error) {
	var m historyMeasure
	if _, err := seedReturningUsers(c, b.phrases, b.phrases.listedOpenings(), b.users, domain.DefaultHistoryTurns); err != nil {
		return m, fmt.Errorf("history window prefill: %w", err)
	}
	for i := range 1000 {
		if _, err := c.chat("ret-0", "turn "+strconv.Itoa(i)); err != nil {
			return m, fmt.Errorf("history prefill: %w", err)
		}
	}
	spec := wrkSpec{url: url, conns: 1, duration: b.duration, messageFile: b.messages}
	for range b.runs {
		var round [3]loadRun
		for i, mode := range []struct {
			name  string
			users int
		}{{"new", 1}, {"returning", b.users}, {"returning", 1}} {
			spec.mode, spec.users = mode.name, mode.users
			r, err := b.wrk.run(spec)
			if err != nil {
				return m, err
			}
			round[i] = r
		}
		if round[0].Void() == "" && round[1].Void() == "" && round[2].Void() == "" {
			m.fresh, m.window, m.long = append(m.fresh, round[0]), append(m.window, round[1]), append(m.long, round[2])
		}
	}
	return m, nil
}

// target is the measurement's row: the long session against the window,
// judged on the median of the rounds' own ratios. A round runs its three
// back to back, so a host that slows between rounds moves both sides of
// its ratio alike; the medians of each side over all rounds would set one
// round's long run against another's window run (a 10 % target, and
// rounds that differed by more on this host).
func (m historyMeasure) target() targetRow {
	ratios := make([]float64, len(m.long))
	for i := range m.long {
		ratios[i] = p50ms(m.long[i]) / p50ms(m.window[i])
	}
	ratio := median(ratios)
	voidReason := ""
	if len(m.long) == 0 {
		voidReason = "every round had answers that were not 2xx turns"
	}
	perRound := make([]string, len(ratios))
	for i, r := range ratios {
		perRound[i] = fmt.Sprintf("%+.0f%%", 100*(r-1))
	}
	return targetRow{target: fmt.Sprintf("a turn after 1,000 turns costs within 10%% of one after %d (a full history window)", domain.DefaultHistoryTurns),
		measured: fmt.Sprintf("p50 %.3f ms vs %.3f ms (%+.0f%%, the median of the rounds' own: %s)", medianOf(m.long, p50ms), medianOf(m.window, p50ms),
			100*(ratio-1), strings.Join(perRound, ", ")),
		compare: fmt.Sprintf("same fake model; a new session's turn, no history in its prompt: p50 %.3f ms", medianOf(m.fresh, p50ms)),
		status:  judge(ratio <= 1.10, voidReason)}
}

// modelProtocol is how Focal talks to the fake model in the idle-stream
// measurement: HTTP/2 without TLS (h2c, which the fake model accepts),
// unless FOCAL_BENCH_MODEL_HTTP1 is set to measure HTTP/1.1 instead.
func modelProtocol() string {
	if os.Getenv("FOCAL_BENCH_MODEL_HTTP1") != "" {
		return "HTTP/1.1"
	}
	return "h2c"
}
