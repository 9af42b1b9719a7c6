package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// The streaming section's streams: the fake model answers the first token
// after streamFirstToken, then one every streamInterval, streamTokens in
// all; a run is streamsPerRun streams, every directEvery-th of them sent
// to the model straight, the others through Focal. 120 tokens a stream
// give a run 1,800 tokens through Focal in some 25 s, so a run's p99 is
// its 18th-worst token rather than, at 30 tokens over 40 streams, the
// 12th-worst of fewer than 1,200.
const (
	streamFirstToken = 50 * time.Millisecond
	streamInterval   = 10 * time.Millisecond
	streamTokens     = 120
	streamsPerRun    = 20
	directEvery      = 4
)

// streamRun is one streamed reply as the client saw it: when the request
// was sent and when each token's event was read.
type streamRun struct {
	start    time.Time
	arrivals []time.Time
}

// streamingRun is one run of the streaming section, from the tap's and
// the client's clock (one clock: both are this process); void says why
// it was thrown out.
type streamingRun struct {
	// focal and direct are each token's delay, ms: from the tap passing
	// the model's delta on to the client reading its event, through Focal
	// and straight from the model.
	focal, direct []float64
	// modelLate is each gap between two of the model's deltas beyond its
	// interval, ms, as the tap saw them: how late a process that only
	// sleeps was woken, the host's own noise.
	modelLate []float64
	// gapDiff is, through Focal, each gap between two tokens' events
	// minus the gap between their deltas at the tap, ms: the change of
	// delay from one token to the next (the figure this section used to
	// judge, then against a separate direct stream's gaps).
	gapDiff []float64
	// ttftFocal and ttftDirect are from the request sent to the first
	// token's event, ms.
	ttftFocal, ttftDirect []float64
	settled               settling
	void                  string
}

func (r streamingRun) p99() float64       { return percentile(r.focal, 0.99) }
func (r streamingRun) addedTTFT() float64 { return median(r.ttftFocal) - median(r.ttftDirect) }

// streamingMeasure is every run of the section; void, when set, throws
// them all out (the warm-up stream failed).
type streamingMeasure struct {
	runs []streamingRun
	void string
}

// streaming measures time to first token and each token's delay through
// Focal against the fake model's own stream. Focal and the bench's client
// both reach the model through a tap that notes when each delta goes on;
// each run begins on a quiet machine, and the verdicts are on the median
// of the runs.
func (b *bench) streaming() error {
	fakeAddr := freePort()
	fake, err := b.start(fakeAddr, nil, filepath.Join(b.bin, "fakellm"), "-addr", fakeAddr,
		"-first-token-delay", streamFirstToken.String(), "-token-interval", streamInterval.String(), "-words", fmt.Sprint(streamTokens))
	if err != nil {
		return err
	}
	defer b.stop(fake)
	tap, err := startTap("http://" + fakeAddr)
	if err != nil {
		return err
	}
	defer tap.close()
	bundle, err := b.plainBundleFile()
	if err != nil {
		return err
	}
	cmd, url, err := b.focalWithModel(bundle, tap.url)
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	m := measureStreaming(tap, url, b.runs, machineQuiet.wait)
	b.report.extra = append(b.report.extra, m.targets()...)
	b.report.details = append(b.report.details, m.details())
	return nil
}

// measureStreaming warms Focal up with one stream each way, then runs the
// runs, each after waitQuiet.
func measureStreaming(tap *streamTap, focalURL string, runs int, waitQuiet func() (settling, error)) streamingMeasure {
	var m streamingMeasure
	tok := token()
	if _, _, err := tapped(tap, func() (streamRun, error) { return streamDirect(tap.url) }); err != nil {
		m.void = "warm-up stream straight from the model: " + err.Error()
		return m
	}
	if _, _, err := tapped(tap, func() (streamRun, error) { return streamFocal(focalURL, tok, "stream-warm-up") }); err != nil {
		m.void = "warm-up stream through Focal: " + err.Error()
		return m
	}
	m.runs, m.void = collectRuns(runs, waitQuiet, func(i int) streamingRun { return streamingOnce(tap, focalURL, tok, i) })
	return m
}

// delayTargetMS is the added delay per token a run's p99 must stay
// within; a run on a host that woke the model's own sleeps later than
// that at p99 cannot tell Focal's delay from the host's.
const delayTargetMS = 2.0

// collectRuns runs once, each run after waitQuiet, until runs of them are
// valid or 2×runs have been tried. A run whose model gaps were late by
// more than delayTargetMS at p99 is thrown out and another tried: every
// figure of it, Focal's and the straight streams', carries the host's
// lateness, and the target is smaller than that.
func collectRuns(runs int, waitQuiet func() (settling, error), once func(i int) streamingRun) ([]streamingRun, string) {
	var out []streamingRun
	for i, valid := 0, 0; i < 2*runs && valid < runs; i++ {
		settled, err := waitQuiet()
		if err != nil {
			return out, err.Error()
		}
		r := once(i)
		r.settled = settled
		if late := p99Of(r.modelLate); r.void == "" && late > delayTargetMS {
			r.void = fmt.Sprintf("the model's own token gaps were %.3f ms late at p99, beyond the %g ms target: the host, not Focal, set this run's figures", late, delayTargetMS)
		}
		if r.void == "" {
			valid++
		}
		out = append(out, r)
	}
	return out, ""
}

// streamingOnce is one run: streamsPerRun streams, every directEvery-th
// straight from the model. A stream that fails voids the run.
func streamingOnce(tap *streamTap, focalURL, tok string, run int) streamingRun {
	var r streamingRun
	for i := range streamsPerRun {
		direct := i%directEvery == 0
		stream := func() (streamRun, error) { return streamFocal(focalURL, tok, fmt.Sprintf("stream-%d-%d", run, i)) }
		if direct {
			stream = func() (streamRun, error) { return streamDirect(tap.url) }
		}
		got, sent, err := tapped(tap, stream)
		if err != nil {
			r.void = fmt.Sprintf("stream %d (%s): %v", i+1, map[bool]string{true: "straight from the model", false: "through Focal"}[direct], err)
			return r
		}
		r.add(got, sent, direct)
	}
	return r
}

// add takes a stream's tokens into the run.
func (r *streamingRun) add(got streamRun, sent []time.Time, direct bool) {
	ttft, delays := &r.ttftFocal, &r.focal
	if direct {
		ttft, delays = &r.ttftDirect, &r.direct
	}
	*ttft = append(*ttft, ms(got.arrivals[0].Sub(got.start)))
	for k := range sent {
		*delays = append(*delays, ms(got.arrivals[k].Sub(sent[k])))
		if k == 0 {
			continue
		}
		r.modelLate = append(r.modelLate, ms(sent[k].Sub(sent[k-1])-streamInterval))
		if !direct {
			r.gapDiff = append(r.gapDiff, ms(got.arrivals[k].Sub(got.arrivals[k-1]))-ms(sent[k].Sub(sent[k-1])))
		}
	}
}

// tapped reads one stream and the tap's record of the model's side of it;
// the stream fails unless the client read one token per delta the model
// sent.
func tapped(tap *streamTap, stream func() (streamRun, error)) (streamRun, []time.Time, error) {
	tap.forget()
	got, err := stream()
	if err != nil {
		return got, nil, err
	}
	rec, err := tap.record()
	if err != nil {
		return got, nil, err
	}
	if len(rec.sent) == 0 || len(got.arrivals) != len(rec.sent) {
		return got, nil, fmt.Errorf("%d deltas from the model, %d tokens to the client", len(rec.sent), len(got.arrivals))
	}
	return got, rec.sent, nil
}

// streamDirect asks the fake model itself, as the latency floor. It fails
// unless the stream ends with the OpenAI terminator.
func streamDirect(base string) (streamRun, error) {
	body := `{"model":"fake","stream":true,"messages":[{"role":"user","content":"tell me a story"}]}`
	run := streamRun{start: time.Now()}
	res, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return run, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return run, fmt.Errorf("the model answered %d", res.StatusCode)
	}
	for ev, err := range sse.Read(res.Body, nil) {
		if err != nil {
			return run, err
		}
		if ev.Data == "[DONE]" {
			return run, nil
		}
		if isContentDelta([]byte("data: " + ev.Data)) {
			run.arrivals = append(run.arrivals, time.Now())
		}
	}
	return run, fmt.Errorf("the stream ended without [DONE] after %d tokens", len(run.arrivals))
}

// streamFocal streams one turn through Focal. It fails unless the stream
// ends with a done event.
func streamFocal(base, token, user string) (streamRun, error) {
	body, _ := json.Marshal(map[string]string{"agent_id": benchAgent, "channel": "bench", "user_channel_id": user, "message": "tell me a story"})
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/stream", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	run := streamRun{start: time.Now()}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return run, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return run, fmt.Errorf("stream answered %d", res.StatusCode)
	}
	for ev, err := range sse.Read(res.Body, nil) {
		if err != nil {
			return run, err
		}
		switch ev.Type {
		case "token":
			run.arrivals = append(run.arrivals, time.Now())
		case "done":
			return run, nil
		case "error":
			return run, fmt.Errorf("error event after %d tokens: %.200s", len(run.arrivals), ev.Data)
		}
	}
	return run, fmt.Errorf("the stream ended without a done event after %d tokens", len(run.arrivals))
}

// valid are the runs not thrown out.
func (m streamingMeasure) valid() []streamingRun {
	return slices.DeleteFunc(slices.Clone(m.runs), func(r streamingRun) bool { return r.void != "" })
}

// voidReason says why no run is left, or "".
func (m streamingMeasure) voidReason() string {
	switch {
	case m.void != "":
		return m.void
	case len(m.runs) == 0:
		return "no runs"
	case len(m.valid()) == 0:
		return "every run thrown out: " + strings.Join(m.voids(), "; ")
	}
	return ""
}

// voids are why each run thrown out was.
func (m streamingMeasure) voids() []string {
	var out []string
	for i, r := range m.runs {
		if r.void != "" {
			out = append(out, fmt.Sprintf("run %d: %s", i+1, r.void))
		}
	}
	return out
}

// medianRun is the median over the valid runs of f.
func (m streamingMeasure) medianRun(f func(streamingRun) float64) float64 {
	var xs []float64
	for _, r := range m.valid() {
		xs = append(xs, f(r))
	}
	return median(xs)
}

// perRun is f of each run in order, "void" for a run thrown out.
func (m streamingMeasure) perRun(f func(streamingRun) float64, format string) string {
	parts := make([]string, len(m.runs))
	for i, r := range m.runs {
		parts[i] = "void"
		if r.void == "" {
			parts[i] = fmt.Sprintf(format, f(r))
		}
	}
	return strings.Join(parts, ", ")
}

func p99Of(xs []float64) float64 { return percentile(xs, 0.99) }

// targets are the section's two rows: each verdict is on the median of
// the valid runs, each run's figure beside it.
func (m streamingMeasure) targets() []targetRow {
	ttft := targetRow{target: "time to first token = model's + ≤ 5 ms"}
	delay := targetRow{target: fmt.Sprintf("added delay per token p99 ≤ %g ms", delayTargetMS)}
	if why := m.voidReason(); why != "" {
		ttft.measured, ttft.compare, ttft.status = why, "—", void
		delay.measured, delay.compare, delay.status = why, "—", void
		return []targetRow{ttft, delay}
	}
	added, p99 := m.medianRun(streamingRun.addedTTFT), m.medianRun(streamingRun.p99)
	ttft.measured = fmt.Sprintf("+%.2f ms (per run: %s ms; Focal %.2f ms)", added, m.perRun(streamingRun.addedTTFT, "%+.2f"),
		m.medianRun(func(r streamingRun) float64 { return median(r.ttftFocal) }))
	ttft.compare = fmt.Sprintf("fake model alone %.2f ms", m.medianRun(func(r streamingRun) float64 { return median(r.ttftDirect) }))
	ttft.status = judge(added <= 5, "")
	delay.measured = fmt.Sprintf("p99 %.3f ms (per run: %s ms), p50 %.3f ms", p99, m.perRun(streamingRun.p99, "%.3f"),
		m.medianRun(func(r streamingRun) float64 { return median(r.focal) }))
	delay.compare = fmt.Sprintf("straight from the model: p99 %.3f ms (per run: %s ms); the model's own token gaps: p99 %.3f ms late (per run: %s ms)",
		m.medianRun(func(r streamingRun) float64 { return p99Of(r.direct) }), m.perRun(func(r streamingRun) float64 { return p99Of(r.direct) }, "%.3f"),
		m.medianRun(func(r streamingRun) float64 { return p99Of(r.modelLate) }), m.perRun(func(r streamingRun) float64 { return p99Of(r.modelLate) }, "%.3f"))
	delay.status = judge(p99 <= delayTargetMS, "")
	return []targetRow{ttft, delay}
}

// details is the section's explanation and its runs one by one.
func (m streamingMeasure) details() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Streaming\n\n%d runs of %d streamed turns, each run begun on a quiet machine (all processes together at most %.0f%% of one core over %s, waiting %s at most), after one warm-up stream each way: the fake model (OpenAI wire format, first token after %s, then a token every %s, %d tokens) answered %d of each run's turns through Focal and %d (one in %d) the same request sent straight to it. Both reach the model through a tap in the bench process that notes when it passes each delta on, on the clock the client reads its events by: a token's delay is from the tap passing the model's delta on to the client reading its event, in the same stream, and includes one loopback hop and the client's read, which a client of the model pays too (the straight streams' delay). The verdict is on the median of the runs' p99 over Focal's tokens; a run with a stream that failed, answered other than 200, ended without its done event (or `[DONE]`) or read another number of tokens than the model sent is thrown out. The model's own gaps are the tap's gaps between deltas beyond %s: how late a process that only sleeps is woken on this machine. A straight stream's client is the process that passed the delta on; a token through Focal waits for Focal's process to be scheduled too, so a run where the model's own gaps are late by more than the target at p99 measured the host, not Focal, and is thrown out too; runs go on until as many as asked for are valid or twice that many were tried. The agent has no constraints, so nothing is held back.\n",
		len(m.runs), streamsPerRun, 100*quietBusy, quietWindow, quietLimit, streamFirstToken, streamInterval, streamTokens, streamsPerRun-streamsPerRun/directEvery,
		streamsPerRun/directEvery, directEvery, streamInterval)
	if m.void != "" {
		fmt.Fprintf(&b, "\nThrown out: %s.\n", m.void)
		return b.String()
	}
	b.WriteString("\n| run | Focal tokens | delay p50 / p99 / max ms | straight from the model p50 / p99 ms | model's gaps p99 late ms | Focal's gap − model's gap p99 ms | time to first token Focal / straight ms | wait for quiet |\n|---|---|---|---|---|---|---|---|\n")
	for i, r := range m.runs {
		if r.void != "" {
			fmt.Fprintf(&b, "| %d | void: %s | | | | | | %s |\n", i+1, r.void, r.settled.text())
			continue
		}
		fmt.Fprintf(&b, "| %d | %d | %.3f / %.3f / %.3f | %.3f / %.3f | %.3f | %.3f | %.2f / %.2f | %s |\n", i+1, len(r.focal),
			median(r.focal), r.p99(), slices.Max(r.focal), median(r.direct), p99Of(r.direct), p99Of(r.modelLate), p99Of(r.gapDiff),
			median(r.ttftFocal), median(r.ttftDirect), r.settled.text())
	}
	return b.String()
}

// text is how long a run waited for a quiet machine.
func (s settling) text() string {
	if !s.quiet {
		return fmt.Sprintf("%.1f s, not quiet", s.waited.Seconds())
	}
	return fmt.Sprintf("%.1f s", s.waited.Seconds())
}
