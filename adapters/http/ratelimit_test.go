package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// A tenant takes up to max at once, and again as it releases; a tenant
// holding nothing has no entry; tenants count apart.
func TestTenantCounterCapsEachTenantAndForgetsIdleOnes(t *testing.T) {
	c := &tenantCounter{open: map[string]int{}}
	for range 3 {
		require.True(t, c.take("a", 3))
	}
	require.False(t, c.take("a", 3), "a holds 3 already")
	require.True(t, c.take("b", 3), "b counts apart")
	require.Equal(t, map[string]int{"a": 3, "b": 1}, c.open)
	c.release("a")
	require.True(t, c.take("a", 3), "a released one")
	for range 3 {
		c.release("a")
	}
	c.release("b")
	require.Empty(t, c.open, "tenants holding nothing have no entry")
	require.True(t, c.take("a", 1))
	require.False(t, c.take("a", 1))
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
	for i, limit := range numbers {
		remaining, reset := numbers[(i*5+3)%len(numbers)], numbers[(i*11+1)%len(numbers)]
		want := http.Header{}
		want.Set("X-RateLimit-Limit", strconv.Itoa(limit))
		want.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		want.Set("X-RateLimit-Reset", strconv.Itoa(reset))
		got := http.Header{}
		setRateHeaders(got, new(rateHeaders), limit, remaining, reset)
		require.Equal(t, want, got, "limit %d, remaining %d, reset %d", limit, remaining, reset)
		kept, wants = append(kept, got), append(wants, want)
	}
	require.Equal(t, wants, kept)
}
