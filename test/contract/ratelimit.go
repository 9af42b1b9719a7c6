package contract

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/ports"
)

var rateCases = []testCase{
	{"FreshKeyAllowsExactlyLimit", testRateExactlyLimit},
	{"RemainingCountsDown", testRateCountsDown},
	{"KeysAreIndependent", testRateKeysIndependent},
	{"AllowanceBackAfterTheWindow", testRateWindowPasses},
}

// longWindow is a window no case outlives; the cases that use it start at
// least rateRoom before one of its epoch-aligned boundaries, so a backend
// counting in fixed windows counts each case in one window.
const (
	longWindow = time.Hour
	rateRoom   = 3 * time.Second
)

// awaitRoom waits, when the current window of length w (aligned to the
// Unix epoch) ends within room, until the next one has begun.
func awaitRoom(w, room time.Duration) {
	now := time.Now()
	if end := now.Truncate(w).Add(w); end.Sub(now) < room {
		time.Sleep(end.Sub(now) + 10*time.Millisecond)
	}
}

func (f *fixture) take(key string, limit int, window time.Duration) ports.RateDecision {
	f.t.Helper()
	d, err := f.Rates.TakeRate(f.ctx, key, limit, window)
	require.NoError(f.t, err)
	require.Equal(f.t, limit, d.Limit, "the decision names the limit")
	return d
}

// requireRefused checks a refusal's numbers.
func requireRefused(t *testing.T, d ports.RateDecision, window time.Duration, msg string) {
	t.Helper()
	require.False(t, d.Allowed, msg)
	require.Zero(t, d.Remaining, "%s: nothing remains", msg)
	require.Positive(t, d.RetryAfter, "%s: RetryAfter says when to come back", msg)
	require.LessOrEqual(t, d.RetryAfter, window, "%s: within one window", msg)
	require.True(t, d.Reset.After(time.Now()), "%s: Reset is in the future", msg)
	require.False(t, d.Reset.After(time.Now().Add(window)), "%s: Reset is at most a window away", msg)
}

func testRateExactlyLimit(t *testing.T, f *fixture) {
	const limit, callers = 10, 30
	key := "tenant:" + newID()
	awaitRoom(longWindow, rateRoom)
	results := race(callers, func(int) (ports.RateDecision, error) {
		return f.Rates.TakeRate(f.ctx, key, limit, longWindow)
	})
	allowed := 0
	for _, r := range results {
		require.NoError(t, r.err)
		d := r.value
		require.Equal(t, limit, d.Limit)
		if d.Allowed {
			allowed++
			require.GreaterOrEqual(t, d.Remaining, 0)
			require.Less(t, d.Remaining, limit, "an allowed request used one")
			require.Zero(t, d.RetryAfter, "an allowed request need not retry")
			require.True(t, d.Reset.After(time.Now()), "Reset is in the future")
			continue
		}
		requireRefused(t, d, longWindow, "a refused request")
	}
	require.Equal(t, limit, allowed, "exactly limit of %d concurrent requests are allowed on a fresh key", callers)
	requireRefused(t, f.take(key, limit, longWindow), longWindow, "the key stays used up")
}

func testRateCountsDown(t *testing.T, f *fixture) {
	const limit = 5
	key := "tenant:" + newID()
	awaitRoom(longWindow, rateRoom)
	for i := range limit {
		d := f.take(key, limit, longWindow)
		require.True(t, d.Allowed, "request %d of %d", i+1, limit)
		require.Equal(t, limit-1-i, d.Remaining, "Remaining after request %d", i+1)
		require.Zero(t, d.RetryAfter)
		require.True(t, d.Reset.After(time.Now()), "Reset is in the future")
		require.False(t, d.Reset.After(time.Now().Add(longWindow)), "Reset is at most a window away")
	}
	for range 2 {
		requireRefused(t, f.take(key, limit, longWindow), longWindow, "over the limit")
	}
}

func testRateKeysIndependent(t *testing.T, f *fixture) {
	const limit = 2
	a, b := "tenant:"+newID(), "tenant:"+newID()
	awaitRoom(longWindow, rateRoom)
	for range limit {
		require.True(t, f.take(a, limit, longWindow).Allowed)
	}
	requireRefused(t, f.take(a, limit, longWindow), longWindow, "key a is used up")
	d := f.take(b, limit, longWindow)
	require.True(t, d.Allowed, "key b has its own allowance")
	require.Equal(t, limit-1, d.Remaining)
	requireRefused(t, f.take(a, limit, longWindow), longWindow, "key b did not refill key a")
}

func testRateWindowPasses(t *testing.T, f *fixture) {
	const limit, window = 3, time.Second
	key := "tenant:" + newID()
	awaitRoom(window, 600*time.Millisecond)
	for range limit {
		require.True(t, f.take(key, limit, window).Allowed)
	}
	refused := f.take(key, limit, window)
	requireRefused(t, refused, window, "over the limit")
	time.Sleep(time.Until(refused.Reset) + 50*time.Millisecond)
	for i := range limit {
		d := f.take(key, limit, window)
		require.True(t, d.Allowed, "the whole allowance is back after Reset: request %d", i+1)
		if i == 0 {
			require.Equal(t, limit-1, d.Remaining)
		}
	}
}
