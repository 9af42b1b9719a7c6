package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// recorder is an Observer that remembers what it heard.
type recorder struct {
	mu      sync.Mutex
	changes []string
	retries []time.Duration
}

func (r *recorder) StateChange(name, from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, from+"->"+to)
}

func (r *recorder) Retry(_ string, _ int, wait time.Duration, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries = append(r.retries, wait)
}

func (r *recorder) snapshot() ([]string, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.changes...), append([]time.Duration(nil), r.retries...)
}

// testGuard is a Guard on the machine's clock with millisecond backoffs,
// for tests that wait on no time.
func testGuard(cfg Config) (*Guard, *recorder) {
	return testGuardOn(cfg, nil)
}

// testGuardOn is testGuard on clock.
func testGuardOn(cfg Config, clock clockwork.Clock) (*Guard, *recorder) {
	if cfg.RetryBase == 0 {
		cfg.RetryBase, cfg.RetryMax = time.Millisecond, 5*time.Millisecond
	}
	rec := &recorder{}
	return NewGuard(cfg, rec, clock), rec
}

// timerSet blocks until n timers are set on clock: the Guard is waiting.
func timerSet(t *testing.T, clock *clockwork.FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, clock.BlockUntilContext(ctx, n), "the guard never set its timer")
}

func httpErr(status int, retryAfter time.Duration) error {
	return &domain.Error{Code: domain.CodeLLMError, Message: fmt.Sprintf("HTTP %d", status), RetryAfter: retryAfter,
		Cause: &HTTPError{Status: status, RetryAfter: retryAfter}}
}

func TestRunRetriesRetryableThenSucceeds(t *testing.T) {
	g, rec := testGuard(Config{MaxRetries: 2})
	calls := 0
	err := g.Run(context.Background(), "dep", func(context.Context) error {
		calls++
		if calls < 3 {
			return httpErr(503, 0)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	_, retries := rec.snapshot()
	assert.Len(t, retries, 2)
}

func TestRunGivesUpAfterMaxRetries(t *testing.T) {
	g, _ := testGuard(Config{MaxRetries: 1})
	calls := 0
	err := g.Run(context.Background(), "dep", func(context.Context) error { calls++; return httpErr(500, 0) })
	assert.True(t, domain.IsCode(err, domain.CodeLLMError), "the dependency's own error comes back: %v", err)
	assert.Equal(t, 2, calls)
}

func TestRunDoesNotRetryNonRetryable(t *testing.T) {
	g, _ := testGuard(Config{MaxRetries: 3})
	calls := 0
	err := g.Run(context.Background(), "dep", func(context.Context) error { calls++; return httpErr(400, 0) })
	require.Error(t, err)
	assert.Equal(t, 1, calls)
}

func TestRunStreamNeverRetriesAfterBegin(t *testing.T) {
	g, _ := testGuard(Config{MaxRetries: 3})
	calls := 0
	err := g.RunStream(context.Background(), "dep", func(_ context.Context, begin func() error) error {
		calls++
		require.NoError(t, begin())
		return httpErr(503, 0)
	})
	require.Error(t, err)
	assert.Equal(t, 1, calls)
}

func TestRetryAfterLongerThanBackoffIsHonoured(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, rec := testGuardOn(Config{MaxRetries: 1}, clock)
	var calls atomic.Int32
	result := make(chan error, 1)
	go func() {
		result <- g.Run(context.Background(), "dep", func(context.Context) error {
			if calls.Add(1) == 1 {
				return httpErr(429, 80*time.Millisecond)
			}
			return nil
		})
	}()
	timerSet(t, clock, 1)
	clock.Advance(80*time.Millisecond - time.Nanosecond)
	timerSet(t, clock, 1) // still waiting: the timer has not fired
	assert.EqualValues(t, 1, calls.Load(), "no second call before the provider's hint")
	clock.Advance(time.Nanosecond)
	require.NoError(t, <-result)
	assert.EqualValues(t, 2, calls.Load())
	_, retries := rec.snapshot()
	assert.Equal(t, []time.Duration{80 * time.Millisecond}, retries)
}

func TestRetryAfterPastTheDeadlineGivesUp(t *testing.T) {
	// The clock never moves: a wait would last until the deadline and be
	// reported to the observer first.
	g, rec := testGuardOn(Config{MaxRetries: 3}, clockwork.NewFakeClock())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	calls := 0
	err := g.Run(ctx, "dep", func(context.Context) error { calls++; return httpErr(429, 10*time.Second) })
	require.Error(t, err)
	assert.Equal(t, 1, calls)
	_, retries := rec.snapshot()
	assert.Empty(t, retries, "no pointless wait")
	assert.NoError(t, ctx.Err(), "the guard gave up at once")
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 10*time.Second, de.RetryAfter, "the provider's hint reaches the caller")
}

func TestFirstTokenWatchdogRetries(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, rec := testGuardOn(Config{MaxRetries: 1, FirstTokenTimeout: 30 * time.Millisecond}, clock)
	var calls atomic.Int32
	var firstCause error
	result, called := make(chan error, 1), make(chan struct{})
	go func() {
		result <- g.RunStream(context.Background(), "dep", func(ctx context.Context, begin func() error) error {
			if calls.Add(1) == 1 {
				close(called)
				<-ctx.Done() // a model that never speaks
				firstCause = context.Cause(ctx)
				return ctx.Err()
			}
			return begin()
		})
	}()
	timerSet(t, clock, 1) // the first attempt's watchdog, set before the call
	<-called
	clock.Advance(30*time.Millisecond - time.Nanosecond)
	timerSet(t, clock, 1)
	assert.EqualValues(t, 1, calls.Load(), "the watchdog waits its whole timeout")
	clock.Advance(time.Nanosecond)
	timerSet(t, clock, 1) // the backoff before the retry
	clock.Advance(5 * time.Millisecond)
	require.NoError(t, <-result)
	assert.EqualValues(t, 2, calls.Load())
	assert.ErrorIs(t, firstCause, ErrFirstTokenTimeout)
	_, retries := rec.snapshot()
	assert.Len(t, retries, 1)
}

func TestFirstTokenWatchdogExhausted(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, _ := testGuardOn(Config{MaxRetries: 1, FirstTokenTimeout: 20 * time.Millisecond}, clock)
	result := make(chan error, 1)
	go func() {
		result <- g.RunStream(context.Background(), "dep", func(ctx context.Context, begin func() error) error {
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	for _, d := range []time.Duration{20 * time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
		timerSet(t, clock, 1) // watchdog, backoff, watchdog
		clock.Advance(d)
	}
	err := <-result
	assert.True(t, domain.IsCode(err, domain.CodeLLMUnavailable), "%v", err)
	assert.ErrorIs(t, err, ErrFirstTokenTimeout)
	assert.Contains(t, err.Error(), "sent no token within 20ms")
}

func TestBeginAfterWatchdogFiredRefusesTheDelta(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, _ := testGuardOn(Config{FirstTokenTimeout: 10 * time.Millisecond}, clock)
	result := make(chan error, 1)
	go func() {
		result <- g.RunStream(context.Background(), "dep", func(ctx context.Context, begin func() error) error {
			<-ctx.Done()
			return begin() // a delta that arrived too late must not be passed on
		})
	}()
	timerSet(t, clock, 1)
	clock.Advance(10 * time.Millisecond)
	assert.ErrorIs(t, <-result, ErrFirstTokenTimeout)
}

// A stream that speaks in time stops its watchdog: moving the clock past
// the timeout afterwards cancels nothing.
func TestWatchdogStopsAtTheFirstToken(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, _ := testGuardOn(Config{FirstTokenTimeout: 10 * time.Millisecond}, clock)
	spoke, resume := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- g.RunStream(context.Background(), "dep", func(ctx context.Context, begin func() error) error {
			if err := begin(); err != nil {
				return err
			}
			close(spoke)
			<-resume
			return context.Cause(ctx)
		})
	}()
	<-spoke
	clock.Advance(time.Second)
	close(resume)
	assert.NoError(t, <-result, "the attempt was not cancelled")
}

func TestAttemptTimeout(t *testing.T) {
	g, _ := testGuard(Config{AttemptTimeout: 20 * time.Millisecond})
	err := g.Run(context.Background(), "dep", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	assert.ErrorIs(t, err, ErrAttemptTimeout)
	assert.True(t, domain.IsCode(err, domain.CodeLLMUnavailable))
}

func TestBreakerOpensThenHalfOpensAndCloses(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, rec := testGuardOn(Config{BreakerFailures: 3, BreakerOpen: 100 * time.Millisecond}, clock)
	var calls atomic.Int32
	failing := func(context.Context) error { calls.Add(1); return httpErr(503, 0) }
	for range 3 {
		require.Error(t, g.Run(context.Background(), "dep", failing))
	}
	assert.Equal(t, "open", g.BreakerState("dep"))

	err := g.Run(context.Background(), "dep", failing)
	assert.Equal(t, int32(3), calls.Load(), "an open breaker lets nothing through")
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, domain.CodeLLMUnavailable, de.Code)
	assert.Equal(t, 100*time.Millisecond, de.RetryAfter, "the whole open interval is left")
	assert.Equal(t, "closed", g.BreakerState("other"), "breakers are per dependency")

	clock.Advance(60 * time.Millisecond)
	err = g.Run(context.Background(), "dep", failing)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 40*time.Millisecond, de.RetryAfter, "the hint counts down")
	clock.Advance(40*time.Millisecond - time.Nanosecond)
	assert.Equal(t, "open", g.BreakerState("dep"), "open to the end of the interval")
	err = g.Run(context.Background(), "dep", failing)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, time.Millisecond, de.RetryAfter, "a hint of at least 1ms, never none")
	assert.Equal(t, int32(3), calls.Load())
	clock.Advance(time.Nanosecond)
	require.NoError(t, g.Run(context.Background(), "dep", func(context.Context) error { calls.Add(1); return nil }))
	assert.Equal(t, "closed", g.BreakerState("dep"))
	changes, _ := rec.snapshot()
	assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->closed"}, changes)
}

func TestHalfOpenProbeFailureReopens(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, rec := testGuardOn(Config{BreakerFailures: 1, BreakerOpen: 30 * time.Millisecond}, clock)
	failing := func(context.Context) error { return httpErr(500, 0) }
	require.Error(t, g.Run(context.Background(), "dep", failing))
	clock.Advance(30 * time.Millisecond)
	assert.Equal(t, "half-open", g.BreakerState("dep"))
	require.Error(t, g.Run(context.Background(), "dep", failing))
	assert.Equal(t, "open", g.BreakerState("dep"))
	err := g.Run(context.Background(), "dep", failing)
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 30*time.Millisecond, de.RetryAfter, "a failed probe opens a whole interval again")
	changes, _ := rec.snapshot()
	assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->open"}, changes)
}

// A call that began before the breaker opened and ends during the open
// interval changes nothing: the breaker stays open to the end of it.
func TestCallEndingWhileOpenLeavesTheIntervalAlone(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, rec := testGuardOn(Config{BreakerFailures: 1, BreakerOpen: time.Minute}, clock)
	inside, release := make(chan struct{}), make(chan struct{})
	slow := make(chan error, 1)
	go func() {
		slow <- g.Run(context.Background(), "dep", func(context.Context) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	require.Error(t, g.Run(context.Background(), "dep", func(context.Context) error { return httpErr(500, 0) }))
	assert.Equal(t, "open", g.BreakerState("dep"))
	close(release)
	require.NoError(t, <-slow)
	assert.Equal(t, "open", g.BreakerState("dep"))
	changes, _ := rec.snapshot()
	assert.Equal(t, []string{"closed->open"}, changes, "no early half-open")
}

func TestClientErrorsAndCancellationsDoNotTrip(t *testing.T) {
	g, _ := testGuard(Config{BreakerFailures: 2})
	for range 5 {
		require.Error(t, g.Run(context.Background(), "dep", func(context.Context) error { return httpErr(400, 0) }))
	}
	assert.Equal(t, "closed", g.BreakerState("dep"))
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		err := g.Run(ctx, "dep", func(context.Context) error { cancel(); return fmt.Errorf("read: %w", context.Canceled) })
		require.Error(t, err)
	}
	for range 5 {
		err := g.RunStream(context.Background(), "dep", func(_ context.Context, begin func() error) error {
			_ = begin()
			return &ConsumerError{Err: errors.New("client gone")}
		})
		require.Error(t, err)
	}
	assert.Equal(t, "closed", g.BreakerState("dep"))
}

func TestCallerCancellationIsNotRetried(t *testing.T) {
	g, _ := testGuard(Config{MaxRetries: 3, BreakerFailures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := g.Run(ctx, "dep", func(context.Context) error { calls++; cancel(); return httpErr(503, 0) })
	require.Error(t, err)
	assert.Equal(t, 1, calls)
	assert.Equal(t, "closed", g.BreakerState("dep"), "the caller left: its 503 is not counted")

	err = g.Run(ctx, "dep", func(context.Context) error { t.Fatal("called with a dead context"); return nil })
	assert.ErrorIs(t, err, context.Canceled)
}

// A caller that leaves while the Guard waits to retry ends the run: the
// dependency is not called again for nobody.
func TestCallerLeavingDuringABackoffEndsTheRun(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, _ := testGuardOn(Config{MaxRetries: 3}, clock)
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	result := make(chan error, 1)
	go func() {
		result <- g.Run(ctx, "dep", func(context.Context) error { calls.Add(1); return httpErr(503, 0) })
	}()
	timerSet(t, clock, 1)
	cancel()
	require.Error(t, <-result)
	assert.EqualValues(t, 1, calls.Load())
}

// A dependency still working at the caller's deadline is at fault: its
// breaker counts the call.
func TestCallerDeadlineCountsAgainstTheBreaker(t *testing.T) {
	g, _ := testGuard(Config{BreakerFailures: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.Error(t, g.Run(ctx, "dep", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
	assert.Equal(t, "open", g.BreakerState("dep"))
}

// While a half-open breaker's one probe is in flight, other calls are
// refused with a hint of a second and never reach the dependency.
func TestHalfOpenLetsOneProbeThrough(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g, _ := testGuardOn(Config{BreakerFailures: 1, BreakerOpen: 30 * time.Millisecond}, clock)
	require.Error(t, g.Run(context.Background(), "dep", func(context.Context) error { return httpErr(500, 0) }))
	clock.Advance(30 * time.Millisecond)
	inside, release := make(chan struct{}), make(chan struct{})
	probe := make(chan error, 1)
	go func() {
		probe <- g.Run(context.Background(), "dep", func(context.Context) error { close(inside); <-release; return nil })
	}()
	<-inside
	err := g.Run(context.Background(), "dep", func(context.Context) error { t.Error("a second probe went through"); return nil })
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, time.Second, de.RetryAfter)
	close(release)
	require.NoError(t, <-probe)
	assert.Equal(t, "closed", g.BreakerState("dep"))
}

// A zero Config opens a breaker after 5 failures in a row, for 30s.
func TestBreakerDefaults(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g := NewGuard(Config{}, nil, clock)
	failing := func(context.Context) error { return httpErr(500, 0) }
	for range 4 {
		require.Error(t, g.Run(context.Background(), "dep", failing))
	}
	assert.Equal(t, "closed", g.BreakerState("dep"))
	require.Error(t, g.Run(context.Background(), "dep", failing))
	err := g.Run(context.Background(), "dep", failing)
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 30*time.Second, de.RetryAfter)
}

func TestGuardIsSafeForConcurrentUse(t *testing.T) {
	g, _ := testGuard(Config{MaxRetries: 1, BreakerFailures: 1000, FirstTokenTimeout: time.Second})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("dep-%d", i%4)
			for j := range 20 {
				_ = g.RunStream(context.Background(), name, func(_ context.Context, begin func() error) error {
					if j%3 == 0 {
						return httpErr(503, 0)
					}
					return begin()
				})
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, "closed", g.BreakerState("dep-0"))
}

// A Guard keeps at most MaxBreakers breakers; forgetting an open one is
// reported as its closing, so observers counting open breakers stay right.
func TestBreakersAreBounded(t *testing.T) {
	g, rec := testGuard(Config{BreakerFailures: 1, BreakerOpen: time.Minute, MaxBreakers: 2})
	require.Error(t, g.Run(context.Background(), "a", func(context.Context) error { return httpErr(503, 0) }))
	assert.Equal(t, "open", g.BreakerState("a"))
	for _, name := range []string{"b", "c"} {
		require.NoError(t, g.Run(context.Background(), name, func(context.Context) error { return nil }))
	}
	g.mu.Lock()
	assert.Equal(t, 2, g.breakers.Len())
	g.mu.Unlock()
	assert.Equal(t, "closed", g.BreakerState("a"), "the least recently used breaker was forgotten")
	changes, _ := rec.snapshot()
	assert.Equal(t, []string{"closed->open", "open->closed"}, changes)
}
