package llm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

// chain guards links with cfg, on the machine's clock.
func chain(t *testing.T, cfg resilience.Config, links ...Link) (*Resilient, *resilience.Guard) {
	t.Helper()
	return chainOn(t, cfg, nil, links...)
}

// chainOn guards links with cfg, on clock.
func chainOn(t *testing.T, cfg resilience.Config, clock clockwork.Clock, links ...Link) (*Resilient, *resilience.Guard) {
	t.Helper()
	g := resilience.NewGuard(cfg, nil, clock)
	r, err := NewResilient(g, nil, links...)
	require.NoError(t, err)
	return r, g
}

func openAILink(t *testing.T, url string) Link {
	return Link{Provider: "openai", Model: "gpt-test", BaseURL: url, Chat: newOpenAI(t, url)}
}

func anthropicLink(t *testing.T, url string) Link {
	return Link{Provider: "anthropic", Model: "claude-test", BaseURL: url, Chat: newAnthropic(t, url)}
}

// Each provider must behave the same under the decorator.
var providers = []struct {
	name string
	link func(*testing.T, string) Link
}{{"openai", openAILink}, {"anthropic", anthropicLink}}

func TestRetryBeforeTheFirstToken(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			srv, url := fake(t)
			srv.FailNext(1, fakellm.Reply{Status: 503})
			r, _ := chain(t, guardConfig(), p.link(t, url))
			got, res, err := collect(context.Background(), r, chatRequest("again"))
			require.NoError(t, err)
			assert.Equal(t, "You said: again", res.Text)
			assert.Equal(t, []string{"You", " said:", " again"}, got)
			assert.Equal(t, 2, srv.Count())
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			srv, url := fake(t)
			srv.Enqueue(fakellm.Reply{Status: 429, RetryAfter: 300 * time.Millisecond})
			r, _ := chain(t, guardConfig(), p.link(t, url))
			_, _, err := collect(context.Background(), r, chatRequest("x"))
			require.NoError(t, err)
			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			assert.GreaterOrEqual(t, reqs[1].Start.Sub(reqs[0].Start), 300*time.Millisecond,
				"the second request waits for the Retry-After the fake sent")
		})
	}
}

// A silent attempt is ended by the first-token watchdog and retried, at
// FirstTokenTimeout on the guard's clock: not a moment before, and not by
// the attempt timeout, an hour away on the same clock. The fake's delays
// are an hour of the machine's time, so only a cancellation ends the first
// request, however slow the machine. The clock moves only once the fake
// has the first request, which has then taken the slow reply: the retry
// cannot take it.
func TestSlowFirstTokenIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply fakellm.Reply
	}{
		{"slow first byte", fakellm.Reply{HeaderDelay: time.Hour}},
		{"slow first token", fakellm.Reply{FirstTokenDelay: time.Hour}},
		{"stall before the first token", fakellm.Reply{StallAfter: fakellm.AtStart}},
	} {
		for _, p := range providers {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				srv, url := fake(t)
				srv.Enqueue(tc.reply)
				cfg := guardConfig()
				cfg.AttemptTimeout = time.Hour
				clock := clockwork.NewFakeClock()
				retries := make(retryErrs, cfg.MaxRetries)
				r := heardChain(t, cfg, clock, retries, p.link(t, url))
				done := collectAsync(r, chatRequest("x"))

				timersSet(t, clock, 2) // the first attempt's timeout and watchdog
				require.True(t, srv.WaitForRequests(1, 30*time.Second), "the first attempt never reached the fake")
				clock.Advance(cfg.FirstTokenTimeout - time.Nanosecond)
				assert.True(t, timersPending(clock, 2), "the watchdog waits its whole timeout")
				clock.Advance(time.Nanosecond)
				err := retries.next(t)
				assert.ErrorIs(t, err, resilience.ErrFirstTokenTimeout, "the watchdog ended the attempt")
				assert.NotErrorIs(t, err, resilience.ErrAttemptTimeout)

				timersSet(t, clock, 1) // the backoff before the retry
				clock.Advance(cfg.RetryMax)
				res := done.wait(t)
				require.NoError(t, res.err)
				assert.Equal(t, []string{"You", " said:", " x"}, res.got, "nothing of the silent attempt reached the client")
				assert.Equal(t, 2, srv.Count())
				_, cancelled := srv.WaitCancelled(0, 30*time.Second)
				assert.True(t, cancelled, "the silent attempt was cancelled, not left running")
			})
		}
	}
}

// An attempt that spoke and then stalls is ended by the attempt timeout
// (FOCAL_LLM_REQUEST_TIMEOUT), on the guard's clock: not a moment before
// it, with the client's text kept, no retry, and the request cancelled at
// the fake, whose stall only a cancellation ends.
func TestAttemptTimeoutEndsAStalledStream(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			srv, url := fake(t)
			srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: 2})
			cfg := guardConfig()
			cfg.AttemptTimeout = time.Minute
			clock := clockwork.NewFakeClock()
			r, _ := chainOn(t, cfg, clock, p.link(t, url))
			got := make(chan string, len(fiveDeltas))
			done := make(chan error, 1)
			go func() {
				_, err := r.StreamChat(context.Background(), chatRequest("x"), func(d string) error { got <- d; return nil })
				done <- err
			}()
			assert.Equal(t, "a", <-got)
			assert.Equal(t, " b", <-got) // the first token stopped the watchdog
			require.True(t, srv.WaitStalled(0, 30*time.Second), "the stream stalls after two deltas")

			clock.Advance(cfg.AttemptTimeout - time.Nanosecond)
			assert.True(t, timersPending(clock, 1), "the attempt timeout waits its whole time")
			clock.Advance(time.Nanosecond)
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the attempt timeout did not end the stalled stream")
			}
			assert.Equal(t, domain.CodeLLMUnavailable, errCode(err), "%v", err)
			assert.ErrorIs(t, err, resilience.ErrAttemptTimeout)
			assert.Contains(t, err.Error(), "did not answer within 1m0s")
			assert.Empty(t, got, "nothing after the stall")
			_, cancelled := srv.WaitCancelled(0, 30*time.Second)
			assert.True(t, cancelled, "the stalled request was cancelled, not left running")
			assert.Equal(t, 1, srv.Count(), "the client has text: no retry")
		})
	}
}

func TestNoRetryAfterTheFirstToken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply fakellm.Reply
		code  domain.ErrorCode
	}{
		{"stall mid-stream", fakellm.Reply{Deltas: fiveDeltas, StallAfter: 2}, domain.CodeLLMUnavailable},
		{"malformed chunk", fakellm.Reply{Deltas: fiveDeltas, MalformedAfter: 2}, domain.CodeLLMError},
		{"disconnect", fakellm.Reply{Deltas: fiveDeltas, DisconnectAfter: 2}, domain.CodeLLMUnavailable},
		{"error event", fakellm.Reply{Deltas: fiveDeltas, ErrorAfter: 2}, domain.CodeLLMError},
	} {
		for _, p := range providers {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				srv, url := fake(t)
				fallback, _ := fake(t)
				srv.Enqueue(tc.reply)
				cfg := guardConfig()
				cfg.AttemptTimeout = time.Second // ends the stall
				r, _ := chain(t, cfg, p.link(t, url), openAILink(t, fallback.URL()))
				got, _, err := collect(context.Background(), r, chatRequest("x"))
				require.Error(t, err)
				assert.Equal(t, tc.code, errCode(err), "%v", err)
				assert.Equal(t, []string{"a", " b"}, got)
				assert.Equal(t, 1, srv.Count(), "the client has text: no retry")
				assert.Zero(t, fallback.Count(), "and no fallback")
			})
		}
	}
}

func TestFaultsBeforeTheFirstTokenAreRetried(t *testing.T) {
	for _, reply := range []fakellm.Reply{
		{Deltas: fiveDeltas, MalformedAfter: fakellm.AtStart},
		{Deltas: fiveDeltas, DisconnectAfter: fakellm.AtStart},
		{Deltas: fiveDeltas, ErrorAfter: fakellm.AtStart},
	} {
		for _, p := range providers {
			srv, url := fake(t)
			srv.Enqueue(reply)
			r, _ := chain(t, guardConfig(), p.link(t, url))
			got, _, err := collect(context.Background(), r, chatRequest("x"))
			require.NoError(t, err, "%s %+v", p.name, reply)
			assert.Equal(t, []string{"You", " said:", " x"}, got)
			assert.Equal(t, 2, srv.Count())
		}
	}
}

func TestBreakerOpensAndHalfOpens(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			srv, url := fake(t)
			cfg := guardConfig()
			cfg.MaxRetries = 0
			srv.FailNext(3, fakellm.Reply{Status: 500})
			clock := clockwork.NewFakeClock()
			r, g := chainOn(t, cfg, clock, p.link(t, url))
			for range 3 {
				_, _, err := collect(context.Background(), r, chatRequest("x"))
				require.Equal(t, domain.CodeLLMError, errCode(err))
			}
			name := p.link(t, url).breakerName(p.link(t, url).Model)
			assert.Equal(t, "open", g.BreakerState(name))

			assert.Error(t, r.Ready(context.Background()), "readiness sees the open breaker")
			_, _, err := collect(context.Background(), r, chatRequest("x"))
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, domain.CodeLLMUnavailable, de.Code)
			assert.Equal(t, cfg.BreakerOpen, de.RetryAfter)
			assert.Equal(t, 3, srv.Count(), "an open breaker lets no request through")

			clock.Advance(cfg.BreakerOpen)
			_, res, err := collect(context.Background(), r, chatRequest("probe"))
			require.NoError(t, err)
			assert.Equal(t, "You said: probe", res.Text)
			assert.Equal(t, 4, srv.Count(), "one probe")
			assert.Equal(t, "closed", g.BreakerState(name))
			assert.NoError(t, r.Ready(context.Background()))
		})
	}
}

func TestClientErrorsDoNotTripTheBreaker(t *testing.T) {
	srv, url := fake(t)
	srv.FailNext(5, fakellm.Reply{Status: 400})
	r, g := chain(t, guardConfig(), openAILink(t, url))
	for range 5 {
		_, _, err := collect(context.Background(), r, chatRequest("x"))
		require.Equal(t, domain.CodeLLMError, errCode(err))
	}
	assert.Equal(t, 5, srv.Count(), "400 is not retried either")
	assert.Equal(t, "closed", g.BreakerState(openAILink(t, url).breakerName("gpt-test")))
}

func TestClientCancellationIsNotAFailure(t *testing.T) {
	srv, url := fake(t)
	srv.SetDefaults(fakellm.Reply{StallAfter: 1})
	r, g := chain(t, guardConfig(), openAILink(t, url))
	for i := range 4 {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := r.StreamChat(ctx, chatRequest("x"), func(string) error { cancel(); return nil })
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		_, ok := srv.WaitCancelled(i, 30*time.Second)
		require.True(t, ok)
	}
	assert.Equal(t, 4, srv.Count(), "no retries for a caller that left")
	assert.Equal(t, "closed", g.BreakerState(openAILink(t, url).breakerName("gpt-test")))
}

// The fake stalls for good after two deltas: only the caller's
// cancellation can end its request, so seeing it end is the proof.
func TestCancelledCallerCancelsTheModelRequest(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			srv, url := fake(t)
			srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: 2})
			r, _ := chain(t, guardConfig(), p.link(t, url))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan string, 8)
			done := make(chan error, 1)
			go func() {
				_, err := r.StreamChat(ctx, chatRequest("x"), func(d string) error { got <- d; return nil })
				done <- err
			}()
			<-got
			<-got // the stream is live and now stalled
			cancel()
			_, ok := srv.WaitCancelled(0, 30*time.Second)
			require.True(t, ok, "the fake saw the request go away")
			select {
			case err := <-done:
				assert.ErrorIs(t, err, context.Canceled)
			case <-time.After(30 * time.Second):
				t.Fatal("StreamChat did not return after cancellation")
			}
			assert.Equal(t, 1, srv.Count())
		})
	}
}

func TestConsumerErrorEndsTheCall(t *testing.T) {
	srv, url := fake(t)
	fallback, _ := fake(t)
	r, g := chain(t, guardConfig(), openAILink(t, url), openAILink(t, fallback.URL()))
	stop := errors.New("hard constraint broken")
	for range 5 {
		_, err := r.StreamChat(context.Background(), chatRequest("x"), func(string) error { return stop })
		assert.Same(t, stop, err, "the consumer's error comes back as it was")
	}
	assert.Equal(t, 5, srv.Count())
	assert.Zero(t, fallback.Count())
	assert.Equal(t, "closed", g.BreakerState(openAILink(t, url).breakerName("gpt-test")))
}

func TestFallbackBeforeStreaming(t *testing.T) {
	primary, purl := fake(t)
	second, surl := fake(t)
	primary.SetDefaults(fakellm.Reply{Status: 500})
	r, _ := chain(t, guardConfig(), openAILink(t, purl), anthropicLink(t, surl))
	req := chatRequest("x")
	req.Model = "gpt-special" // the override is the primary's alone
	got, res, err := collect(context.Background(), r, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"You", " said:", " x"}, got)
	assert.Equal(t, "anthropic", res.Provider)
	assert.Equal(t, "claude-test", res.Model)
	assert.Equal(t, 2, primary.Count(), "the primary was retried first")
	last, _ := second.Last()
	assert.Equal(t, "claude-test", last.Model)
	first, _ := primary.Request(0)
	assert.Equal(t, "gpt-special", first.Model)
}

func TestFallbackWhenTheBreakerIsOpen(t *testing.T) {
	primary, purl := fake(t)
	second, surl := fake(t)
	primary.SetDefaults(fakellm.Reply{Status: 503})
	cfg := guardConfig()
	cfg.MaxRetries = 0
	r, _ := chain(t, cfg, openAILink(t, purl), openAILink(t, surl))
	for range 5 {
		_, _, err := collect(context.Background(), r, chatRequest("x"))
		require.NoError(t, err)
	}
	assert.Equal(t, 3, primary.Count(), "after BreakerFailures the primary is skipped")
	assert.Equal(t, 5, second.Count())
}

func TestOfflineLinks(t *testing.T) {
	r, _ := chain(t, guardConfig(), Link{Provider: "offline", Chat: Offline{}})
	_, _, err := collect(context.Background(), r, chatRequest("x"))
	assert.ErrorIs(t, err, ports.ErrOffline, "only offline links: the engine uses templates")

	srv, url := fake(t)
	srv.SetDefaults(fakellm.Reply{Status: 500})
	r, _ = chain(t, guardConfig(), openAILink(t, url), Link{Provider: "offline", Chat: Offline{}})
	_, _, err = collect(context.Background(), r, chatRequest("x"))
	assert.False(t, errors.Is(err, ports.ErrOffline), "a real failure is reported, not hidden as offline")
	assert.Equal(t, domain.CodeLLMError, errCode(err))

	ok, surl := fake(t)
	r, _ = chain(t, guardConfig(), Link{Provider: "offline", Chat: Offline{}}, openAILink(t, surl))
	_, res, err := collect(context.Background(), r, chatRequest("x"))
	require.NoError(t, err, "an offline link is skipped")
	assert.Equal(t, "You said: x", res.Text)
	assert.Equal(t, 1, ok.Count())
}

func TestResilientEmbedderRetries(t *testing.T) {
	srv, url := fake(t)
	inner, err := NewOpenAIEmbeddings(OpenAIConfig{BaseURL: url + "/v1", Model: "emb", HTTPClient: testClient})
	require.NoError(t, err)
	e := NewResilientEmbedder(resilience.NewGuard(guardConfig(), nil, nil), "openai", "emb", inner)
	srv.FailNext(1, fakellm.Reply{Status: 503})
	vecs, err := e.Embed(context.Background(), []string{"red apple"})
	require.NoError(t, err)
	require.Len(t, vecs, 1)
	assert.Len(t, vecs[0], 64)
	assert.Equal(t, 2, srv.Count())
}

func TestConcurrentCallsThroughTheChain(t *testing.T) {
	srv, url := fake(t)
	srv.SetDefaults(fakellm.Reply{TokenInterval: time.Millisecond})
	r, _ := chain(t, guardConfig(), openAILink(t, url), anthropicLink(t, url))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				msg := fmt.Sprintf("m%d-%d", i, j)
				_, res, err := collect(context.Background(), r, chatRequest(msg))
				if err == nil && res.Text != "You said: "+msg {
					err = fmt.Errorf("got %q for %q", res.Text, msg)
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// silentModel streams nothing until its attempt is cancelled, then tries
// to pass on a late delta, as a model whose first token lands just as the
// first-token watchdog fires.
type silentModel struct{ late chan error }

func (m silentModel) StreamChat(ctx context.Context, _ ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	<-ctx.Done()
	err := onDelta("late")
	m.late <- err
	if err != nil {
		return ports.ChatResult{}, err
	}
	return ports.ChatResult{}, context.Cause(ctx)
}

// A delta that loses the race with the first-token watchdog is dropped:
// the attempt counts as silent, so the chain falls back, and the client
// never sees text of an attempt that was being cancelled.
func TestADeltaAfterTheFirstTokenWatchdogIsDropped(t *testing.T) {
	srv, url := fake(t)
	cfg := guardConfig()
	cfg.MaxRetries = 0
	clock := clockwork.NewFakeClock()
	late := make(chan error, 1)
	r, _ := chainOn(t, cfg, clock, Link{Provider: "silent", Model: "m", Chat: silentModel{late: late}}, openAILink(t, url))
	done := collectAsync(r, chatRequest("x"))
	timersSet(t, clock, 2) // the attempt's timeout and its watchdog
	clock.Advance(cfg.FirstTokenTimeout)
	select {
	case err := <-late:
		assert.ErrorIs(t, err, resilience.ErrFirstTokenTimeout, "the late delta was refused")
	case <-time.After(30 * time.Second):
		t.Fatal("the watchdog did not end the silent attempt")
	}
	res := done.wait(t)
	require.NoError(t, res.err)
	assert.Equal(t, []string{"You", " said:", " x"}, res.got, "nothing of the silent attempt reached the client")
	assert.Equal(t, 1, srv.Count())
}

// When every link fails, the chain answers with the last link's error:
// that is the model the client was last waiting on.
func TestAFailedChainAnswersWithTheLastLinksError(t *testing.T) {
	primary, purl := fake(t)
	second, surl := fake(t)
	primary.SetDefaults(fakellm.Reply{Status: 503})
	second.SetDefaults(fakellm.Reply{Status: 429, RetryAfter: 3 * time.Second})
	cfg := guardConfig()
	cfg.MaxRetries = 0
	r, _ := chain(t, cfg, openAILink(t, purl), anthropicLink(t, surl))
	_, _, err := collect(context.Background(), r, chatRequest("x"))
	require.Error(t, err)
	assert.Equal(t, 429, resilience.Classify(err).Status, "%v", err)
	assert.Equal(t, 3*time.Second, resilience.Classify(err).RetryAfter)
}
