package component

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// heldEngine wraps the real engine. A turn whose message is holdMessage
// waits until released or until its context ends; every other turn runs
// at once. Its channels let a test order events without the wall clock.
type heldEngine struct {
	inner   ports.Engine
	runs    atomic.Int32
	held    chan struct{} // one value per held turn, as it starts waiting
	release chan struct{} // closed to let held turns go on
	left    chan error    // a held turn whose context ended sends the cause
	letGo   func()        // closes release, once
	// finishAnyway: a held turn whose context ended still completes, as a
	// turn does that had finished just when its client left.
	finishAnyway bool
}

const holdMessage = "hold this turn"

func startHeld(t *testing.T, env map[string]string, extra ...fx.Option) (*harness.App, *heldEngine) {
	t.Helper()
	e := &heldEngine{held: make(chan struct{}, 16), release: make(chan struct{}), left: make(chan error, 16)}
	e.letGo = sync.OnceFunc(func() { close(e.release) })
	t.Cleanup(e.letGo)
	opts := append([]fx.Option{fx.Decorate(func(inner ports.Engine) ports.Engine { e.inner = inner; return e })}, extra...)
	return harness.Start(t, env, opts...), e
}

func (e *heldEngine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	e.runs.Add(1)
	if in.Message == holdMessage {
		e.held <- struct{}{}
		select {
		case <-e.release:
		case <-ctx.Done():
			e.left <- context.Cause(ctx)
			if !e.finishAnyway {
				return nil, ctx.Err()
			}
			ctx = context.WithoutCancel(ctx)
		}
	}
	return e.inner.RunTurn(ctx, in, sink)
}

// awaitHeld waits until a held turn has started.
func (e *heldEngine) awaitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-e.held:
	case <-time.After(30 * time.Second):
		t.Fatal("no turn was held")
	}
}

// A client that leaves while its request runs releases the key: the retry
// runs the turn anew instead of replaying an answer nobody received, both
// when the turn then fails and when it completes all the same.
func TestIdempotencyKeyOfAClientThatLeftIsReleased(t *testing.T) {
	for _, finish := range []bool{false, true} {
		t.Run(fmt.Sprintf("turn completes after the client left: %v", finish), func(t *testing.T) {
			app, engine := startHeld(t, nil)
			engine.finishAnyway = finish
			token := harness.Token(t, harness.DemoTenant)
			raw, err := json.Marshal(harness.ChatBody("idem-left", holdMessage))
			require.NoError(t, err)
			ctx, leave := context.WithCancel(t.Context())
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.URL+"/v1/chat", bytes.NewReader(raw))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Idempotency-Key", "k-left")
			gone := make(chan error, 1)
			go func() {
				res, err := http.DefaultClient.Do(req)
				if err == nil {
					res.Body.Close()
				}
				gone <- err
			}()
			engine.awaitHeld(t)
			leave()
			require.ErrorIs(t, <-gone, context.Canceled)
			select {
			case cause := <-engine.left:
				require.Error(t, cause, "the turn saw its client leave")
			case <-time.After(30 * time.Second):
				t.Fatal("the held turn never saw its client leave")
			}
			engine.letGo()

			retry := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: raw,
				Headers: withKey("k-left")})
			require.Equal(t, http.StatusOK, retry.Status, "%s", retry.Body)
			assert.Empty(t, retry.Header.Get("Idempotent-Replayed"), "the retry ran, it was not replayed")
			assert.EqualValues(t, 2, engine.runs.Load())
		})
	}
}

// The transient 4xx answers are not stored under the key: a retry after
// them runs. SESSION_BUSY comes from the turn itself; RATE_LIMIT_EXCEEDED
// from the open-stream cap and from the tenant's rate limit.
func TestTransientClientErrorsAreNotStored(t *testing.T) {
	t.Run("SESSION_BUSY", func(t *testing.T) {
		app, engine := startHeld(t, map[string]string{"FOCAL_SESSION_LOCK_WAIT": "10ms"})
		token := harness.Token(t, harness.DemoTenant)
		_, first := chat(t, app, token, harness.ChatBody("idem-busy", "hello"))
		inSession := func(message string) map[string]any {
			b := harness.ChatBody("idem-busy", message)
			b["session_id"] = first["session_id"]
			return b
		}
		held := make(chan *harness.Response, 1)
		go func() {
			held <- app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: inSession(holdMessage)})
		}()
		engine.awaitHeld(t)
		req := harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: inSession("what time do you open?"),
			Headers: withKey("k-busy")}
		requireError(t, app.Do(t, req), http.StatusConflict, "SESSION_BUSY")
		runs := engine.runs.Load()
		engine.letGo()
		require.Equal(t, http.StatusOK, (<-held).Status)

		retry := app.Do(t, req)
		require.Equal(t, http.StatusOK, retry.Status, "%s", retry.Body)
		assert.Empty(t, retry.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, runs+1, engine.runs.Load(), "the retry ran the turn")
	})

	t.Run("RATE_LIMIT_EXCEEDED from the open-stream cap", func(t *testing.T) {
		app, engine := startHeld(t, map[string]string{"FOCAL_MAX_OPEN_STREAMS_PER_TENANT": "1"})
		token := harness.Token(t, harness.DemoTenant)
		held := make(chan *harness.Response, 1)
		go func() {
			held <- app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token,
				Body: harness.ChatBody("idem-cap-1", holdMessage)})
		}()
		engine.awaitHeld(t)
		req := harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token,
			Body: harness.ChatBody("idem-cap-2", "hello"), Headers: withKey("k-cap")}
		requireError(t, app.Do(t, req), http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED")
		engine.letGo()
		require.Equal(t, http.StatusOK, (<-held).Status)

		retry := app.Do(t, req)
		require.Equal(t, http.StatusOK, retry.Status, "%s", retry.Body)
		assert.Empty(t, retry.Header.Get("Idempotent-Replayed"))
		assert.EqualValues(t, 2, engine.runs.Load(), "the retry ran the turn")
	})

	t.Run("RATE_LIMIT_EXCEEDED from the tenant's limit", func(t *testing.T) {
		clock := harness.NewClock()
		app, engine := startHeld(t, map[string]string{"FOCAL_RATE_LIMIT_FREE": "1", "FOCAL_RATE_LIMIT_WINDOW": "1m"},
			harness.WithClock(clock))
		token := harness.Token(t, harness.DemoTenant)
		_, _ = chat(t, app, token, harness.ChatBody("idem-rate", "hello")) // the whole allowance
		req := harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
			Body: harness.ChatBody("idem-rate", "what time do you open?"), Headers: withKey("k-rate")}
		requireError(t, app.Do(t, req), http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED")
		clock.Advance(time.Minute) // the allowance is back

		retry := app.Do(t, req)
		require.Equal(t, http.StatusOK, retry.Status, "%s", retry.Body)
		assert.Empty(t, retry.Header.Get("Idempotent-Replayed"))
		assert.EqualValues(t, 2, engine.runs.Load(), "the retry ran the turn")
	})
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
