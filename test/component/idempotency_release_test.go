package component

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"focal/ports"
	"focal/test/harness"
)

// Which answers release an Idempotency-Key so that a retry runs again: a
// client that left, and the transient 4xx.

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

// A client that leaves while its request runs releases the key when its
// turn ends interrupted: the retry runs the turn anew. When the turn
// completes all the same, the key stays with it: the retry answers with
// that turn, and the message is recorded once.
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
			if finish {
				assert.Equal(t, "true", retry.Header.Get("Idempotent-Replayed"), "the retry answers with the committed turn")
				assert.EqualValues(t, 1, engine.runs.Load())
				return
			}
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

	t.Run("TURN_IN_PROGRESS from a stream reconnect", func(t *testing.T) {
		app, engine := startHeld(t, nil)
		token := harness.Token(t, harness.DemoTenant)
		req := harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: harness.ChatBody("idem-reconnect", "hello"),
			Headers: map[string]string{"Idempotency-Key": "k-reconnect", "Last-Event-ID": turnIDMadeAt(time.Now()) + ":1"}}
		requireError(t, app.Do(t, req), http.StatusConflict, "TURN_IN_PROGRESS")

		retry := app.Do(t, req)
		requireError(t, retry, http.StatusConflict, "TURN_IN_PROGRESS")
		assert.Empty(t, retry.Header.Get("Idempotent-Replayed"), "the retry asked again, it was not replayed")
		assert.EqualValues(t, 0, engine.runs.Load())
	})

	t.Run("RATE_LIMIT_EXCEEDED from the tenant's limit", func(t *testing.T) {
		clock := harness.NewClock()
		app, engine := startHeld(t, map[string]string{"FOCAL_RATE_LIMIT_FREE": "1", "FOCAL_RATE_LIMIT_WINDOW": "1m"},
			harness.WithClock(clock))
		token := harness.TokenAt(t, clock.Now(), harness.DemoTenant)
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
