package component

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "focal/adapters/http"
	"focal/test/harness"
)

const otherTenant = "99999999-9999-4999-8999-999999999999"

func tierToken(t *testing.T, now time.Time, tenant, tier string) string {
	t.Helper()
	tok, err := httpapi.SignToken(harness.Secret, httpapi.TokenRequest{TenantID: tenant, Tier: tier, TTL: time.Hour}, now)
	require.NoError(t, err)
	return tok
}

// The limits count on the test's clock: however slowly the requests go
// through, no allowance comes back until the test moves the clock.
func TestRateLimits(t *testing.T) {
	clock := harness.NewClock()
	app := harness.Start(t, map[string]string{
		"FOCAL_RATE_LIMIT_FREE":    "3",
		"FOCAL_RATE_LIMIT_PRO":     "5",
		"FOCAL_RATE_LIMIT_WINDOW":  "2s",
		"FOCAL_RATE_LIMIT_TENANTS": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa=1",
	}, harness.WithClock(clock))
	get := func(token string) *harness.Response {
		// Any authenticated route counts, whatever it answers.
		return app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/00000000-0000-4000-8000-00000000abcd", Token: token})
	}
	free := harness.TokenAt(t, clock.Now(), harness.DemoTenant)

	// Reset is the seconds until the bucket is full again, on the app's
	// clock: one, two and three requests back at 1.5 a second, rounded up.
	for i, want := range []struct{ remaining, reset string }{{"2", "1"}, {"1", "2"}, {"0", "2"}} {
		res := get(free)
		assert.Equal(t, http.StatusNotFound, res.Status, "request %d is let through", i+1)
		assert.Equal(t, "3", res.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, want.remaining, res.Header.Get("X-RateLimit-Remaining"))
		assert.Equal(t, want.reset, res.Header.Get("X-RateLimit-Reset"))
	}
	res := get(free)
	requireError(t, res, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED")
	assert.Equal(t, "1", res.Header.Get("Retry-After"))
	assert.Equal(t, "0", res.Header.Get("X-RateLimit-Remaining"))

	// Another tenant is untouched, and a pro token has the pro limit.
	res = get(tierToken(t, clock.Now(), otherTenant, httpapi.TierPro))
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Equal(t, "5", res.Header.Get("X-RateLimit-Limit"))
	assert.Equal(t, "4", res.Header.Get("X-RateLimit-Remaining"))

	// A per-tenant override beats the tier.
	limited := tierToken(t, clock.Now(), "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", httpapi.TierEnterprise)
	assert.Equal(t, "1", get(limited).Header.Get("X-RateLimit-Limit"))
	assert.Equal(t, http.StatusTooManyRequests, get(limited).Status)

	// After the window the whole allowance is back.
	clock.Advance(2 * time.Second)
	res = get(free)
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Equal(t, "2", res.Header.Get("X-RateLimit-Remaining"))

	// Unconfigured, the pro and enterprise tiers have the limits
	// docs/api.md gives them: 600 and 6000 a minute.
	defaults := harness.Start(t, nil, harness.WithClock(clock))
	for tier, want := range map[string]string{httpapi.TierPro: "600", httpapi.TierEnterprise: "6000"} {
		res := defaults.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/00000000-0000-4000-8000-00000000abcd",
			Token: tierToken(t, clock.Now(), otherTenant, tier)})
		assert.Equal(t, http.StatusNotFound, res.Status, "%s", tier)
		assert.Equal(t, want, res.Header.Get("X-RateLimit-Limit"), "%s", tier)
	}
}

func TestOpenStreamCap(t *testing.T) {
	app, engine := startCounting(t, map[string]string{"FOCAL_MAX_OPEN_STREAMS_PER_TENANT": "1"}, true)
	token := harness.Token(t, harness.DemoTenant)
	first := holdTurn(t, app, engine, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: harness.ChatBody("s1", "hello")})
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: harness.ChatBody("s2", "hello")})
	requireError(t, res, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED")
	// Sync turns are not streams.
	close(engine.gate)
	assert.Equal(t, http.StatusOK, (<-first).Status)
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: harness.ChatBody("s2", "hello")})
	assert.Equal(t, http.StatusOK, res.Status, "the slot is free again")
}

// A tenant runs at most FOCAL_MAX_INFLIGHT_TURNS_PER_TENANT plain chat
// requests at once (its streams have their own cap); other tenants are
// not held back by it.
func TestInflightTurnCap(t *testing.T) {
	app, engine := startCounting(t, map[string]string{"FOCAL_MAX_INFLIGHT_TURNS_PER_TENANT": "1"}, true)
	token := harness.Token(t, harness.DemoTenant)
	first := holdTurn(t, app, engine, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("t1", "hello")})
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("t2", "hello")})
	requireError(t, res, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED")
	assert.Contains(t, string(res.Body), "at most 1 chat requests may run at once")
	other := harness.Token(t, "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: other, Body: harness.ChatBody("t3", "hello")})
	requireError(t, res, http.StatusNotFound, "AGENT_NOT_FOUND") // past the cap: it has no agent
	close(engine.gate)
	assert.Equal(t, http.StatusOK, (<-first).Status)
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("t2", "hello")})
	assert.Equal(t, http.StatusOK, res.Status, "the slot is free again")
}

// An idle stream gets a comment line every heartbeat, so proxies keep it
// open while the turn runs.
func TestStreamHeartbeat(t *testing.T) {
	app, engine := startCounting(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "30ms"}, true)
	token := harness.Token(t, harness.DemoTenant)
	// The turn is held until the client has seen two pings: the test waits
	// on what arrived, not on the wall clock.
	var once sync.Once
	res := app.DoWatching(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token,
		Body: harness.ChatBody("hb", "hello")}, func(soFar []byte) {
		if strings.Count(string(soFar), ": ping\n\n") >= 2 {
			once.Do(func() { close(engine.gate) })
		}
	})
	body := string(res.Body)
	require.Equal(t, http.StatusOK, res.Status)
	assert.GreaterOrEqual(t, strings.Count(body, ": ping\n\n"), 2, "pings while the turn ran: %q", body)
	assert.True(t, strings.HasSuffix(strings.TrimSpace(body), "}"), "nothing after the done event")
	// A ping may come whenever the stream is idle, also between the reply
	// and the done event when the commit is slow; it is always a frame of
	// its own, never inside an event.
	for _, frame := range strings.Split(strings.TrimSpace(body), "\n\n") {
		if strings.Contains(frame, ": ping") {
			assert.Equal(t, ": ping", frame, "a ping is a frame of its own")
		}
	}
}

// Plain chat completions count against the same cap of turns in flight
// as /v1/chat, and are refused in OpenAI's error shape.
func TestInflightTurnCapHoldsCompletions(t *testing.T) {
	app, engine := startCounting(t, map[string]string{"FOCAL_MAX_INFLIGHT_TURNS_PER_TENANT": "1"}, true)
	token := harness.Token(t, harness.DemoTenant)
	completion := harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
		Body: map[string]any{"model": harness.DemoAgent, "user": "c2", "messages": []map[string]any{{"role": "user", "content": "hello"}}}}
	first := holdTurn(t, app, engine, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("c1", "hello")})
	res := app.Do(t, completion)
	require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)
	var refusal struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	res.JSON(t, &refusal)
	assert.Equal(t, "RATE_LIMIT_EXCEEDED", refusal.Error.Code)
	close(engine.gate)
	assert.Equal(t, http.StatusOK, (<-first).Status)
	res = app.Do(t, completion)
	assert.Equal(t, http.StatusOK, res.Status, "the slot is free again: %s", res.Body)
}
