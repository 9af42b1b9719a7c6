package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// The streaming section's streams: the fake model answers the first token
// after streamFirstToken, then one every streamInterval, streamTokens in
// all; a run is streamsPerRun streams, every directEvery-th of them sent
// to the model straight, the others through Focal. 120 tokens a stream
// give a run 1,800 tokens through Focal in some 25 s, so a run's p99 is
// its 19th-worst token (tailPlaces) rather than, at 30 tokens over 40
// streams, the 12th-worst of fewer than 1,200.
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
// it was thrown out, for both targets.
type streamingRun struct {
	// focal and direct are each token's delay, ms: from the tap passing
	// the model's delta on to the client reading its event, through Focal
	// and straight from the model.
	focal, direct []float64
	// windows are Focal's tokens' delivery windows, from the tap passing
	// the delta on to the client reading its event, on CLOCK_MONOTONIC
	// (clock), the probe's clock: the stretches a stall of the whole
	// machine holds a token up in.
	windows []span
	clock   monoClock
	// host is what the host-stall probe saw around the run, nil when
	// none ran.
	host *hostStalls
	// modelLate is each gap between two of the model's deltas beyond its
	// interval in the straight streams, ms, as the tap saw them: how late
	// a process that only sleeps at ordinary priority was woken while no
	// stream went through Focal, the machine's own noise, the host's and
	// every other process's. modelLateFocal is the same in Focal's
	// streams, where Focal's own work can add to it.
	modelLate, modelLateFocal []float64
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
	m := measureStreaming(tap, url, b.runs, machineQuiet.wait, b.probedStreaming)
	b.report.extra = append(b.report.extra, m.targets()...)
	b.report.details = append(b.report.details, m.details())
	return nil
}

// measureStreaming warms Focal up with one stream each way, then runs the
// runs, each after waitQuiet and inside around (the host-stall probe).
func measureStreaming(tap *streamTap, focalURL string, runs int, waitQuiet func() (settling, error), around func(func() streamingRun) streamingRun) streamingMeasure {
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
	m.runs, m.void = collectRuns(runs, waitQuiet, func(i int) streamingRun {
		return around(func() streamingRun { return streamingOnce(tap, focalURL, tok, i) })
	})
	return m
}

// delayTargetMS is the added delay per token a run's p99 must stay
// within.
const delayTargetMS = 2.0

// collectRuns runs once, each run after waitQuiet, until runs of them
// can decide the delay target or 2×runs have been tried. Two things throw
// a run out and another is tried. The model's own gaps late by more than
// the target at p99 in the straight streams: every figure of the run
// carries the machine's lateness, which is more than the target, whatever
// caused it (the host, or another process, which the probe running above
// them all does not see); read while no stream went through Focal, Focal
// did not cause it. And the host's stalls, which throw the run out of the
// delay target alone (hostOut).
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
			r.void = fmt.Sprintf("the model's own token gaps in the straight streams were %.3f ms late at p99, beyond the %g ms target: the machine, not Focal, set this run's figures", late, delayTargetMS)
		}
		if r.void == "" && r.hostOut() == "" {
			valid++
		}
		out = append(out, r)
	}
	return out, ""
}

// streamingOnce is one run: streamsPerRun streams, every directEvery-th
// straight from the model. A stream that fails voids the run.
func streamingOnce(tap *streamTap, focalURL, tok string, run int) streamingRun {
	r := streamingRun{clock: newMonoClock()}
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
	ttft, delays, late := &r.ttftFocal, &r.focal, &r.modelLateFocal
	if direct {
		ttft, delays, late = &r.ttftDirect, &r.direct, &r.modelLate
	}
	*ttft = append(*ttft, ms(got.arrivals[0].Sub(got.start)))
	for k := range sent {
		*delays = append(*delays, ms(got.arrivals[k].Sub(sent[k])))
		if !direct {
			r.windows = append(r.windows, span{r.clock.ns(sent[k]), r.clock.ns(got.arrivals[k])})
		}
		if k == 0 {
			continue
		}
		*late = append(*late, ms(sent[k].Sub(sent[k-1])-streamInterval))
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
