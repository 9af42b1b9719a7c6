package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/ports"
)

// A tenant takes up to max at once, and again as it releases; tenants
// count apart; tenants holding nothing are forgotten once the map has
// doubled, and those holding something are kept.
func TestTenantCounterCapsEachTenantAndForgetsIdleOnes(t *testing.T) {
	c := newTenantCounter()
	var held []*tenantCount
	for range 3 {
		h := c.take("a", 3)
		require.NotNil(t, h)
		held = append(held, h)
	}
	require.Nil(t, c.take("a", 3), "a holds 3 already")
	b := c.take("b", 3)
	require.NotNil(t, b, "b counts apart")
	n, _ := c.holding("a")
	require.Equal(t, 3, n)
	c.release(held[0])
	require.NotNil(t, c.take("a", 3), "a released one")
	c.release(b)
	for i := range minPruneAt {
		c.release(c.take(fmt.Sprint("idle-", i), 1))
	}
	require.NotNil(t, c.take("c", 1), "c joins, and the map is pruned")
	_, known := c.holding("b")
	require.False(t, known, "b holds nothing and is forgotten")
	require.Equal(t, int64(retiredCount), b.n.Load(),
		"b's count is retired: a request that found it before the prune cannot count itself in a count no longer in the map")
	again := c.take("b", 3)
	require.NotNil(t, again)
	require.NotSame(t, b, again, "b joins afresh")
	n, known = c.holding("a")
	require.True(t, known)
	require.Equal(t, 3, n, "a is kept with what it holds")
	require.Nil(t, c.take("c", 1))
}

// The counter lets through exactly what one map under one mutex (the
// reference, as it was) lets through, over random takes and releases of
// many tenants, prunes included.
func TestTenantCounterTakesAsTheReference(t *testing.T) {
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 3))
		c := newTenantCounter()
		ref := map[string]int{}
		held := map[string][]*tenantCount{}
		for i := range 5000 {
			tenant := fmt.Sprint("t", rnd.IntN(10+int(seed)*20))
			max := 1 + rnd.IntN(3)
			if rnd.IntN(2) == 0 && len(held[tenant]) > 0 {
				c.release(held[tenant][0])
				held[tenant] = held[tenant][1:]
				ref[tenant]--
				continue
			}
			h := c.take(tenant, max)
			require.Equal(t, ref[tenant] < max, h != nil, "seed %d, op %d, %s holds %d of %d", seed, i, tenant, ref[tenant], max)
			if h != nil {
				ref[tenant]++
				held[tenant] = append(held[tenant], h)
			}
			n, _ := c.holding(tenant)
			require.Equal(t, ref[tenant], n)
		}
	}
}

// Requests of many goroutines take and release at once, while tenants
// joining prune the map: no tenant ever holds more than its max, and all
// is released in the end.
func TestTenantCounterHoldsItsCapUnderConcurrency(t *testing.T) {
	c := newTenantCounter()
	const max, tenants = 2, 3 * minPruneAt
	var inside [tenants]atomic.Int64
	var over atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			for range 20000 {
				i := rnd.IntN(tenants)
				h := c.take(fmt.Sprint("t", i), max)
				if h == nil {
					continue
				}
				if inside[i].Add(1) > max {
					over.Add(1)
				}
				inside[i].Add(-1)
				c.release(h)
			}
		})
	}
	wg.Wait()
	require.Zero(t, over.Load(), "a tenant held more than its max")
	for i := range tenants {
		n, _ := c.holding(fmt.Sprint("t", i))
		require.Zero(t, n)
	}
}

// setRateHeaders sets what Header.Set with strconv.Itoa sets, for numbers
// of every length and sign (the longest fill its text exactly), and the
// values of one request's headers keep their text when another request's
// are set.
func TestSetRateHeadersIsHeaderSet(t *testing.T) {
	numbers := []int{0, 1, -1, 9, 10, 59, 60, 6000, 1e9, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for v := 1; v < math.MaxInt64/7; v *= 7 {
		numbers = append(numbers, v, -v)
	}
	var kept []http.Header
	var wants []http.Header
	limits := &RateLimits{}
	for i, limit := range numbers {
		remaining, reset := numbers[(i*5+3)%len(numbers)], numbers[(i*11+1)%len(numbers)]
		want := http.Header{}
		want.Set("X-RateLimit-Limit", strconv.Itoa(limit))
		want.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		want.Set("X-RateLimit-Reset", strconv.Itoa(reset))
		got := http.Header{}
		setRateHeaders(got, new(rateHeaders), limits.limitText(limit), remaining, reset)
		require.Equal(t, want, got, "limit %d, remaining %d, reset %d", limit, remaining, reset)
		kept, wants = append(kept, got), append(wants, want)
	}
	require.Equal(t, wants, kept)
}

// The limit's text is the limit's, whichever limits came before it: the
// same one again, or another.
func TestLimitTextIsItoa(t *testing.T) {
	limits := &RateLimits{}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		limit := []int{60, 600, 6000, 1e8, math.MaxInt64, 1}[rnd.IntN(6)]
		require.Equal(t, strconv.Itoa(limit), limits.limitText(limit))
	}
}

// rateLimiterFunc is a ports.RateLimiter answering as its function does.
type rateLimiterFunc func() (ports.RateDecision, error)

func (f rateLimiterFunc) TakeRate(context.Context, string, int, time.Duration) (ports.RateDecision, error) {
	return f()
}

// rateLimitedGet sends an authenticated GET through the rate limits over
// limiter to a handler answering 204, and returns the response.
func rateLimitedGet(t *testing.T, limiter ports.RateLimiter) *httptest.ResponseRecorder {
	t.Helper()
	const secret = "unit-test-secret-unit-test-secret-000"
	auth, err := NewAuthenticator(AuthConfig{Secret: secret}, clock.System{})
	require.NoError(t, err)
	limits := NewRateLimits(RateLimitConfig{Free: 10, Pro: 10, Enterprise: 10, Window: time.Minute}, limiter, clock.System{})
	r := gin.New()
	r.GET("/x", authenticate(auth), limits.requests, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	tok, err := SignToken(secret, TokenRequest{TenantID: "550e8400-e29b-41d4-a716-446655440000", TTL: time.Minute}, time.Now())
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

// A limiter that fails lets the request through (an unreachable store
// should not make the whole API refuse service), with no X-RateLimit-*
// headers: there are no numbers to tell.
func TestRequestsPassWhenTheRateLimiterFails(t *testing.T) {
	w := rateLimitedGet(t, rateLimiterFunc(func() (ports.RateDecision, error) {
		return ports.RateDecision{}, errors.New("connection refused")
	}))
	require.Equal(t, http.StatusNoContent, w.Code)
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
		assert.Empty(t, w.Header().Values(h), h)
	}
}

// A refusal always tells the client to wait: a limiter answering
// RetryAfter 0 still gives Retry-After: 1, not a header the client would
// read as "now" (or none at all).
func TestARefusalWithoutRetryAfterWaitsASecond(t *testing.T) {
	w := rateLimitedGet(t, rateLimiterFunc(func() (ports.RateDecision, error) {
		return ports.RateDecision{Allowed: false, Limit: 10, Remaining: 0, Reset: time.Now().Add(30 * time.Second)}, nil
	}))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Equal(t, "10", w.Header().Get("X-RateLimit-Limit"))
	assert.Equal(t, "0", w.Header().Get("X-RateLimit-Remaining"))
}
