package component

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"focal/domain"
	"focal/ports"
	"focal/test/harness"
)

// countingEngine wraps the real engine, counting turns and optionally
// holding each one until released, or failing it.
type countingEngine struct {
	inner ports.Engine
	runs  atomic.Int32
	gate  chan struct{} // when set, each turn waits for a value
	fail  atomic.Pointer[domain.Error]
}

func (e *countingEngine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	e.runs.Add(1)
	if e.gate != nil {
		select {
		case <-e.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := e.fail.Load(); err != nil {
		return nil, err
	}
	return e.inner.RunTurn(ctx, in, sink)
}

func startCounting(t *testing.T, env map[string]string, gated bool) (*harness.App, *countingEngine) {
	ce := &countingEngine{}
	if gated {
		ce.gate = make(chan struct{})
	}
	app := harness.Start(t, env, fx.Decorate(func(e ports.Engine) ports.Engine { ce.inner = e; return ce }))
	return app, ce
}

// holdTurn sends req in the background and returns once the gated engine
// is running its turn (held until the gate opens); the channel yields the
// response.
func holdTurn(t *testing.T, app *harness.App, engine *countingEngine, req harness.Request) <-chan *harness.Response {
	t.Helper()
	before := engine.runs.Load()
	done := make(chan *harness.Response, 1)
	go func() { done <- app.Do(t, req) }()
	require.Eventually(t, func() bool { return engine.runs.Load() > before }, 30*time.Second, 5*time.Millisecond)
	return done
}

func withKey(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

func TestIdempotentReplayIsByteForByte(t *testing.T) {
	app, engine := startCounting(t, nil, false)
	token := harness.Token(t, harness.DemoTenant)
	req := harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
		Body: harness.ChatBody("idem-1", "what time do you open?"), Headers: withKey("order-7-msg-1")}
	first := app.Do(t, req)
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	assert.Empty(t, first.Header.Get("Idempotent-Replayed"))

	// Same JSON, other key order and spacing: the same request.
	req.Body = `{ "message":"what time do you open?", "user_channel_id":"idem-1", "channel":"webchat", "agent_id":"` + harness.DemoAgent + `" }`
	second := app.Do(t, req)
	assert.Equal(t, http.StatusOK, second.Status)
	assert.Equal(t, first.Body, second.Body, "replayed byte for byte")
	assert.Equal(t, "true", second.Header.Get("Idempotent-Replayed"))
	assert.EqualValues(t, 1, engine.runs.Load(), "the engine ran once")
}

func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	app, engine := startCounting(t, nil, false)
	token := harness.Token(t, harness.DemoTenant)
	send := func(msg string) *harness.Response {
		return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
			Body: harness.ChatBody("idem-2", msg), Headers: withKey("k-reuse")})
	}
	require.Equal(t, http.StatusOK, send("hello").Status)
	requireError(t, send("something else"), http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
	assert.EqualValues(t, 1, engine.runs.Load())

	// The same key on the other route is another request too.
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token,
		Body: harness.ChatBody("idem-2", "hello"), Headers: withKey("k-reuse")})
	requireError(t, res, http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
}

func TestIdempotencyKeysAreScopedByTenant(t *testing.T) {
	app, engine := startCounting(t, nil, false)
	a := harness.Token(t, harness.DemoTenant)
	b := harness.Token(t, "77777777-7777-4777-8777-777777777777")
	require.Equal(t, http.StatusOK, app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: a,
		Body: harness.ChatBody("u", "hello"), Headers: withKey("shared-key")}).Status)
	// Tenant b has no such agent: its request runs (and fails) on its own.
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: b,
		Body: harness.ChatBody("u", "hello"), Headers: withKey("shared-key")})
	requireError(t, res, http.StatusNotFound, "AGENT_NOT_FOUND")
	assert.EqualValues(t, 1, engine.runs.Load())
}

func TestIdempotencyStoresClientErrorsAndReleasesServerErrors(t *testing.T) {
	app, engine := startCounting(t, nil, false)
	token := harness.Token(t, harness.DemoTenant)

	// A 4xx is stored: the retry gets the same error without running.
	bad := harness.ChatBody("idem-4", "hello")
	bad["agent_id"] = "88888888-8888-4888-8888-888888888888"
	req := harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: bad, Headers: withKey("k-404")}
	first := app.Do(t, req)
	requireError(t, first, http.StatusNotFound, "AGENT_NOT_FOUND")
	second := app.Do(t, req)
	assert.Equal(t, first.Body, second.Body)
	assert.Equal(t, "true", second.Header.Get("Idempotent-Replayed"))

	// A 5xx releases the key: the retry runs the turn again.
	engine.fail.Store(domain.Errorf(domain.CodeLLMUnavailable, "model down"))
	req = harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("idem-5", "hello"), Headers: withKey("k-503")}
	requireError(t, app.Do(t, req), http.StatusServiceUnavailable, "LLM_UNAVAILABLE")
	engine.fail.Store(nil)
	retry := app.Do(t, req)
	assert.Equal(t, http.StatusOK, retry.Status, "%s", retry.Body)
	assert.Empty(t, retry.Header.Get("Idempotent-Replayed"))
	assert.EqualValues(t, 2, engine.runs.Load())
}

func TestInvalidIdempotencyKey(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	for _, key := range []string{strings.Repeat("k", 256), "tab\there", "ünïcode"} {
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
			Body: harness.ChatBody("u", "hello"), Headers: withKey(key)})
		body := requireError(t, res, http.StatusBadRequest, "INVALID_REQUEST")
		assert.Equal(t, "Idempotency-Key", body.Error.Details[0].Field)
	}
	// api.md's 1..255: the longest key is taken.
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
		Body: harness.ChatBody("u", "hello"), Headers: withKey(strings.Repeat("k", 255))})
	assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
}

// Two requests with one key at once: the engine runs once and both get the
// same body; on both routes.
func TestConcurrentRequestsWithOneKey(t *testing.T) {
	for _, path := range []string{"/v1/chat", "/v1/chat/stream"} {
		t.Run(path, func(t *testing.T) {
			app, engine := startCounting(t, nil, true)
			token := harness.Token(t, harness.DemoTenant)
			req := harness.Request{Method: http.MethodPost, Path: path, Token: token,
				Body: harness.ChatBody("idem-c", "what time do you open?"), Headers: withKey("k-concurrent")}
			var wg sync.WaitGroup
			res := make([]*harness.Response, 2)
			for i := range res {
				wg.Go(func() { res[i] = app.Do(t, req) })
			}
			require.Eventually(t, func() bool { return engine.runs.Load() == 1 }, 30*time.Second, 5*time.Millisecond)
			// Both claims have been answered: the second request found the
			// key taken and waits for it.
			require.Eventually(t, func() bool { return storeCalls(t, app, "idempotency.claim") == 2 },
				10*time.Second, 5*time.Millisecond)
			close(engine.gate)
			wg.Wait()
			assert.EqualValues(t, 1, engine.runs.Load(), "the engine ran once")
			for _, r := range res {
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			}
			replayed := res[0]
			if res[1].Header.Get("Idempotent-Replayed") == "true" {
				replayed = res[1]
			}
			assert.Equal(t, "true", replayed.Header.Get("Idempotent-Replayed"))
			if path == "/v1/chat" {
				assert.Equal(t, res[0].Body, res[1].Body)
			} else {
				assert.Equal(t, doneData(t, res[0].Body), doneData(t, res[1].Body), "same done event")
			}
		})
	}
}

// A retry that waits longer than the wait gets 409 with Retry-After; that
// 409 is not stored: the retry after it gets the first request's answer.
func TestIdempotencyInProgress(t *testing.T) {
	app, engine := startCounting(t, map[string]string{"FOCAL_IDEMPOTENCY_WAIT": "200ms"}, true)
	token := harness.Token(t, harness.DemoTenant)
	req := harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
		Body: harness.ChatBody("idem-p", "hello"), Headers: withKey("k-slow")}
	done := holdTurn(t, app, engine, req)
	res := app.Do(t, req)
	requireError(t, res, http.StatusConflict, "IDEMPOTENCY_IN_PROGRESS")
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	close(engine.gate)
	first := <-done
	require.Equal(t, http.StatusOK, first.Status)
	retry := app.Do(t, req)
	assert.Equal(t, http.StatusOK, retry.Status, "%s", retry.Body)
	assert.Equal(t, "true", retry.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, first.Body, retry.Body)
	assert.EqualValues(t, 1, engine.runs.Load())
}

// A stream replay is the stored answer as one token event and the stored
// done event.
func TestStreamReplay(t *testing.T) {
	app, engine := startCounting(t, nil, false)
	token := harness.Token(t, harness.DemoTenant)
	req := harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token,
		Body: harness.ChatBody("idem-s", "what time do you open?"), Headers: withKey("k-stream")}
	first := app.Do(t, req)
	require.Equal(t, http.StatusOK, first.Status)
	second := app.Do(t, req)
	require.Equal(t, http.StatusOK, second.Status)
	assert.Equal(t, "true", second.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, "text/event-stream; charset=utf-8", second.Header.Get("Content-Type"))
	assert.Equal(t, doneData(t, first.Body), doneData(t, second.Body))
	assert.Equal(t, 1, strings.Count(string(second.Body), "event:token"))
	assert.EqualValues(t, 1, engine.runs.Load())
}

// doneData extracts the data line of the done event of an SSE body.
func doneData(t *testing.T, body []byte) string {
	t.Helper()
	_, after, ok := strings.Cut(string(body), "event:done\ndata:")
	require.True(t, ok, "no done event in %s", body)
	data, _, _ := strings.Cut(after, "\n")
	return data
}
