package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"focal/test/fakellm"
	"focal/test/harness"
)

// What docs/api.md and docs/operations.md promise of instances sharing one
// store, checked on `focal serve` processes of their own (no memory, cache
// or lock shared but the store's), on MongoDB and on PostgreSQL. Each
// request goes to the instance named; none is balanced.

// startProcess runs `focal serve` on env (a store's environment) as the
// harness would start it in-process: the demo tenant's bundle, tokens
// signed with harness.Secret, no rate limit to speak of. With fake, the
// model is fake's and the bundle streamBundle; without, the offline model
// and the demo bundle.
func startProcess(t *testing.T, fake *fakellm.Server, env map[string]string) (*harness.App, *focalProcess) {
	t.Helper()
	settings := map[string]string{
		"FOCAL_JWT_SECRET": harness.Secret, "FOCAL_RATE_LIMIT_FREE": "1000000",
		"FOCAL_BOOTSTRAP_BUNDLE": "examples/demo-agent.yaml",
	}
	if fake != nil {
		maps.Copy(settings, fakeModelSettings(t, fake))
	}
	maps.Copy(settings, env)
	vars := make([]string, 0, len(settings))
	for k, v := range settings {
		vars = append(vars, k+"="+v)
	}
	p := serveFocal(t, vars...)
	return harness.At("http://" + p.addr), p
}

// newFakeModel is a fake model server stopped when the test ends.
func newFakeModel(t *testing.T) *fakellm.Server {
	t.Helper()
	fake := fakellm.New()
	fake.Start()
	t.Cleanup(fake.Close)
	return fake
}

// eachStore runs test on each shared store, on a database of its own with
// extra settings.
func eachStore(t *testing.T, extra map[string]string, test func(t *testing.T, env map[string]string)) {
	for _, store := range sharedStores {
		t.Run(store.name, func(t *testing.T) { test(t, store.env(t, extra)) })
	}
}

// chatRequest is a /v1/chat request of the demo tenant to the plain agent.
func chatRequest(t *testing.T, user, message string, headers map[string]string) harness.Request {
	return harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: harness.Token(t, harness.DemoTenant),
		Body: plainBody(user, message), Headers: headers}
}

// errorCode is the code of an error answer.
func errorCode(t *testing.T, res *harness.Response) string {
	t.Helper()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	res.JSON(t, &e)
	return e.Error.Code
}

// One Idempotency-Key sent to two instances while the first still runs its
// turn: the second finds it in progress (its wait, set short, ends before
// the model lets the first go), and once the first has answered, the
// second answers with the first's answer byte for byte. The model is asked
// once in all.
func TestOneIdempotencyKeyOnTwoProcessesRunsOneTurn(t *testing.T) {
	eachStore(t, map[string]string{"FOCAL_IDEMPOTENCY_WAIT": "100ms"}, func(t *testing.T, env map[string]string) {
		fake := newFakeModel(t)
		a, _ := startProcess(t, fake, env)
		b, _ := startProcess(t, fake, env)
		addPlainAgent(t, a)
		goOn := make(chan struct{})
		fake.Enqueue(fakellm.Reply{Deltas: []string{"Done ", "once."}, StallAfter: 1, StallUntil: goOn})
		req := chatRequest(t, "keyed", "Do it once", map[string]string{"Idempotency-Key": "one-key-two-processes"})

		first := make(chan *harness.Response, 1)
		go func() { first <- a.Do(t, req) }()
		require.True(t, fake.WaitStalled(0, time.Minute), "instance A's turn is at the model")
		busy := b.Do(t, req)
		require.Equal(t, http.StatusConflict, busy.Status, "%s", busy.Body)
		assert.Equal(t, "IDEMPOTENCY_IN_PROGRESS", errorCode(t, busy))
		assert.NotEmpty(t, busy.Header.Get("Retry-After"))
		assert.Equal(t, 1, fake.Count(), "instance B did not run the turn")

		close(goOn)
		answer := <-first
		require.Equal(t, http.StatusOK, answer.Status, "%s", answer.Body)
		replayed := b.Do(t, req)
		require.Equal(t, http.StatusOK, replayed.Status, "%s", replayed.Body)
		assert.Equal(t, "true", replayed.Header.Get("Idempotent-Replayed"))
		assert.Equal(t, string(answer.Body), string(replayed.Body), "instance B answers with instance A's answer")
		assert.Equal(t, 1, fake.Count(), "the model was asked once")
	})
}

// Turns of one session run one at a time across instances: while one
// instance's turn is at the model, a message to that session on another
// instance waits (FOCAL_SESSION_LOCK_WAIT, set short) and is refused 409
// SESSION_BUSY without reaching the model; once the first turn is over
// the other instance takes the session's next turn.
func TestOneSessionsTurnsRunOneAtATimeAcrossProcesses(t *testing.T) {
	eachStore(t, map[string]string{"FOCAL_SESSION_LOCK_WAIT": "100ms"}, func(t *testing.T, env map[string]string) {
		fake := newFakeModel(t)
		a, _ := startProcess(t, fake, env)
		b, _ := startProcess(t, fake, env)
		addPlainAgent(t, a)
		goOn := make(chan struct{})
		fake.Enqueue(fakellm.Reply{Text: "Hello."}, fakellm.Reply{Deltas: []string{"Still ", "here."}, StallAfter: 1, StallUntil: goOn})
		res := a.Do(t, chatRequest(t, "serial", "Hi", nil))
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var opened struct {
			SessionID string `json:"session_id"`
		}
		res.JSON(t, &opened)
		onSession := func(message string) harness.Request {
			req := chatRequest(t, "serial", message, nil)
			req.Body.(map[string]any)["session_id"] = opened.SessionID
			return req
		}

		first := make(chan *harness.Response, 1)
		go func() { first <- a.Do(t, onSession("Tell me more")) }()
		require.True(t, fake.WaitStalled(1, time.Minute), "instance A's turn is at the model")
		busy := b.Do(t, onSession("And more"))
		require.Equal(t, http.StatusConflict, busy.Status, "%s", busy.Body)
		assert.Equal(t, "SESSION_BUSY", errorCode(t, busy))
		assert.NotEmpty(t, busy.Header.Get("Retry-After"))
		assert.Equal(t, 2, fake.Count(), "instance B's turn never reached the model")

		close(goOn)
		require.Equal(t, http.StatusOK, (<-first).Status)
		res = b.Do(t, onSession("And more"))
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var s struct {
			TurnCount int `json:"turn_count"`
		}
		b.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + opened.SessionID, Token: harness.Token(t, harness.DemoTenant)}).JSON(t, &s)
		assert.Equal(t, 3, s.TurnCount)
	})
}

// loadSlack is what a refresh bound allows beyond its interval: a read of
// the store begun just before the write may still be running, and be
// served, when the interval has passed, and on a loaded machine such a
// read can take hundreds of milliseconds. A cache that never refreshes,
// or refreshes at many times its interval, still fails.
const loadSlack = time.Second

// refreshed polls ask on an instance other than the writer's until it
// answers want, and fails if any ask started past the write plus the
// refresh (plus margin, for what the refresh does not cover) answers
// anything else: a cache that never refreshes fails, and so does one that
// refreshes late.
func refreshed(t *testing.T, written time.Time, within time.Duration, want string, ask func() string) {
	t.Helper()
	deadline := written.Add(time.Minute)
	for asks := 1; ; asks++ {
		started := time.Now()
		got := ask()
		if got == want {
			t.Logf("the other instance saw the change %s after it, on its ask %d since", time.Since(written), asks)
			return
		}
		require.False(t, started.After(written.Add(within)),
			"an ask the other instance started %s after the change still saw %q", started.Sub(written), got)
		require.True(t, time.Now().Before(deadline), "the other instance never saw the change")
	}
}

// A tenant's model key stored through one instance is used by every
// instance within FOCAL_TENANT_KEYS_REFRESH: the other instance, which
// cached the tenant as keyless, calls the model with the service's key
// before, and with the tenant's once the refresh has passed.
func TestTenantKeyReachesEveryInstanceWithinTheRefresh(t *testing.T) {
	const refresh = 300 * time.Millisecond
	_, secret := newSecretKey(t)
	env := map[string]string{"FOCAL_TENANT_KEYS_REFRESH": refresh.String(), "FOCAL_SECRET_KEY": secret, "FOCAL_TENANT_MODEL_HOSTS": "127.0.0.1"}
	eachStore(t, env, func(t *testing.T, env map[string]string) {
		fake := newFakeModel(t)
		a, _ := startProcess(t, fake, env)
		b, _ := startProcess(t, fake, env)
		addPlainAgent(t, a)
		keyUsedBy := func(app *harness.App) string {
			t.Helper()
			res := app.Do(t, chatRequest(t, "keyed-tenant", "Hello", nil))
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			last, ok := fake.Last()
			require.True(t, ok)
			return last.Header.Get("Authorization")
		}
		require.Equal(t, "Bearer test-key", keyUsedBy(b), "instance B calls the model with the service's key, and caches that")

		const tenantKey = "sk-tenant-0123456789abcdef"
		res := a.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/models/openai", Token: harness.Token(t, harness.DemoTenant, "admin"),
			Body: map[string]any{"key": tenantKey, "base_url": fake.URL() + "/v1"}})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		refreshed(t, time.Now(), refresh+loadSlack, "Bearer "+tenantKey, func() string { return keyUsedBy(b) })
	})
}

// The usage an instance counts reaches GET /v1/tenant/usage on every other
// instance within FOCAL_USAGE_FLUSH_INTERVAL (docs/operations.md): only
// the other instance is read, since reading the counting one writes its
// usage first.
func TestUsageReachesEveryInstanceWithinTheFlushInterval(t *testing.T) {
	const flush, margin = 300 * time.Millisecond, 2 * time.Second
	eachStore(t, map[string]string{"FOCAL_USAGE_FLUSH_INTERVAL": flush.String()}, func(t *testing.T, env map[string]string) {
		fake := newFakeModel(t)
		a, _ := startProcess(t, fake, env)
		b, _ := startProcess(t, fake, env)
		addPlainAgent(t, a)
		usageOn := func(app *harness.App) string {
			t.Helper()
			res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/tenant/usage", Token: harness.Token(t, harness.DemoTenant)})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			var u struct {
				TotalTokens int64 `json:"total_tokens"`
				Turns       int64 `json:"turns"`
			}
			res.JSON(t, &u)
			return fmt.Sprintf("%d tokens in %d turns", u.TotalTokens, u.Turns)
		}
		require.Equal(t, "0 tokens in 0 turns", usageOn(b))

		res := a.Do(t, chatRequest(t, "counted", "Hello", nil))
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		answered := time.Now()
		var turn struct {
			TokensUsed int64 `json:"tokens_used"`
		}
		res.JSON(t, &turn)
		require.Positive(t, turn.TokensUsed)
		refreshed(t, answered, flush+margin, fmt.Sprintf("%d tokens in 1 turns", turn.TokensUsed), func() string { return usageOn(b) })
	})
}

// An instance killed in the middle of a keyed turn leaves its session
// and its key to the others: a retry with the key on another instance
// (which waits for both, FOCAL_IDEMPOTENCY_WAIT and FOCAL_SESSION_LOCK_WAIT
// being longer) takes the key over past FOCAL_IDEMPOTENCY_HOLD, set short,
// and the session once its lease lapses, 15 s at most after the kill
// (docs/operations.md, "Takeover delays"), and runs the turn once: the
// session has it once.
func TestADeadInstancesSessionAndKeyAreTakenOver(t *testing.T) {
	const lease, margin = 15 * time.Second, 5 * time.Second
	eachStore(t, map[string]string{"FOCAL_IDEMPOTENCY_HOLD": "2s"}, func(t *testing.T, env map[string]string) {
		fake := newFakeModel(t)
		a, dying := startProcess(t, fake, env)
		b, _ := startProcess(t, fake, env)
		addPlainAgent(t, a)
		// The opening turn, the one the kill cuts (stalled until its
		// caller goes), and the retry's.
		fake.Enqueue(fakellm.Reply{Text: "Hello."}, fakellm.Reply{Deltas: []string{"Let me ", "look."}, StallAfter: 1},
			fakellm.Reply{Text: "It ships tomorrow."})
		res := a.Do(t, chatRequest(t, "orphan", "Hi", nil))
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var opened struct {
			SessionID string `json:"session_id"`
		}
		res.JSON(t, &opened)
		retry := chatRequest(t, "orphan", "Where is my order?", map[string]string{"Idempotency-Key": "cut-by-the-kill"})
		retry.Body.(map[string]any)["session_id"] = opened.SessionID

		cut := make(chan struct{})
		go func() {
			defer close(cut)
			raw, _ := json.Marshal(retry.Body)
			req, _ := http.NewRequest(http.MethodPost, a.URL+"/v1/chat", bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+retry.Token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "cut-by-the-kill")
			if res, err := http.DefaultClient.Do(req); err == nil {
				_ = res.Body.Close()
			}
		}()
		require.True(t, fake.WaitStalled(1, time.Minute), "instance A's keyed turn is at the model")
		require.NoError(t, dying.cmd.Process.Kill())
		died := time.Now()
		<-cut

		res = b.Do(t, retry)
		took := time.Since(died)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		t.Logf("instance B answered the retry %s after the kill", took.Round(time.Millisecond))
		assert.Less(t, took, lease+margin, "the session took a new turn within the lease")
		var answer struct{ Response string }
		res.JSON(t, &answer)
		assert.Equal(t, "It ships tomorrow.", answer.Response, "the retry ran afresh on instance B")

		var turns []storedTurn
		listAll(t, b, harness.Token(t, harness.DemoTenant), "/v1/sessions/"+opened.SessionID+"/turns?order=asc", &turns)
		var messages []string
		for _, turn := range turns {
			messages = append(messages, turn.Message)
		}
		assert.Equal(t, []string{"Hi", "Where is my order?"}, messages, "the cut turn is recorded once, as the retry ran it")
		assert.Equal(t, 3, fake.Count())
	})
}

// A stream cut mid-turn on one instance (the client went away after two
// tokens) is picked up on another: once the turn is recorded interrupted,
// a reconnect there with Last-Event-ID naming the first token gets the
// second token again, with its id and text, and then an error event,
// never done; the model is not asked again.
func TestStreamCutOnOneInstanceResumesOnAnother(t *testing.T) {
	eachStore(t, nil, func(t *testing.T, env map[string]string) {
		fake := newFakeModel(t)
		a, _ := startProcess(t, fake, env)
		b, _ := startProcess(t, fake, env)
		addPlainAgent(t, a)
		fake.Enqueue(fakellm.Reply{Deltas: []string{"one ", "two ", "three ", "four"}, StallAfter: 2})
		token := harness.Token(t, harness.DemoTenant)
		body := plainBody("cut-stream", "count to four")

		seen := firstEvents(t, a, token, body, 2) // then the client goes away while the model stalls
		turnID, _, _ := strings.Cut(seen[0].LastEventID, ":")
		_, cancelled := fake.WaitCancelled(0, time.Minute)
		require.True(t, cancelled, "instance A gave the model call up")
		cut := time.Now()
		deadline := cut.Add(30 * time.Second)
		for {
			var turn struct{ Status string }
			res := b.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + turnID, Token: token})
			if res.Status == http.StatusOK {
				res.JSON(t, &turn)
				if turn.Status == "interrupted" {
					break
				}
			}
			require.True(t, time.Now().Before(deadline), "the cut turn is recorded interrupted: %d %s", res.Status, res.Body)
		}

		t.Logf("instance B read the turn interrupted %s after the model call was given up", time.Since(cut).Round(time.Millisecond))
		again := stream(t, t.Context(), b, token, body, "Last-Event-ID", turnID+":1")
		require.Equal(t, http.StatusOK, again.status, "%s", again.body)
		require.Len(t, again.events, 2, "the second token, then the end")
		assert.Equal(t, seen[1].LastEventID, again.events[0].LastEventID)
		assert.Equal(t, seen[1].Data, again.events[0].Data)
		assert.Equal(t, "error", again.events[1].Type)
		assert.Equal(t, 1, fake.Count(), "a replay never calls the model")
	})
}

// A reconnect that lands on another instance while the turn still runs on
// the first (its client still connected there) is 409 TURN_IN_PROGRESS with
// Retry-After, never 404 TURN_NOT_FOUND, which would tell the client to send
// its message again; once the turn is recorded the same reconnect there
// replays it to its done event. The model is asked once.
func TestReconnectToATurnRunningOnAnotherInstanceIsRetried(t *testing.T) {
	eachStore(t, nil, func(t *testing.T, env map[string]string) {
		fake := newFakeModel(t)
		a, _ := startProcess(t, fake, env)
		b, _ := startProcess(t, fake, env)
		addPlainAgent(t, a)
		release := make(chan struct{})
		var released sync.Once
		free := func() { released.Do(func() { close(release) }) }
		t.Cleanup(free) // a failed assertion must not leave the turn held
		fake.Enqueue(fakellm.Reply{Deltas: []string{"one ", "two ", "three"}, StallAfter: 1, StallUntil: release})
		token := harness.Token(t, harness.DemoTenant)
		body := plainBody("running-elsewhere", "count to three")

		first := make(chan sse.Event, 1)
		whole := make(chan received, 1)
		go func() {
			whole <- streamWatching(t, t.Context(), a, token, body, func(ev sse.Event) {
				if ev.Type == "token" {
					select {
					case first <- ev:
					default:
					}
				}
			})
		}()
		var seen sse.Event
		select {
		case seen = <-first:
		case r := <-whole:
			t.Fatalf("the stream on A ended before the model was released: %d %s", r.status, r.body)
		}

		busy := b.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: body,
			Headers: map[string]string{"Last-Event-ID": seen.LastEventID}})
		require.Equal(t, http.StatusConflict, busy.Status, "%s", busy.Body)
		assert.Equal(t, "TURN_IN_PROGRESS", errorCode(t, busy))
		assert.NotEmpty(t, busy.Header.Get("Retry-After"))

		free()
		done := <-whole
		require.Equal(t, http.StatusOK, done.status)
		again := stream(t, t.Context(), b, token, body, "Last-Event-ID", seen.LastEventID)
		require.Equal(t, http.StatusOK, again.status, "%s", again.body)
		require.NotEmpty(t, again.events)
		assert.Equal(t, "done", again.events[len(again.events)-1].Type, "the replay ends as the turn did")
		assert.Equal(t, 1, fake.Count(), "neither reconnect asked the model")
	})
}

// firstEvents streams a turn from app, reads its first n events and goes
// away.
func firstEvents(t *testing.T, app *harness.App, token string, body map[string]any, n int) []sse.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.URL+"/v1/chat/stream", bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	seen := harness.Record(res)
	var events []sse.Event
	for ev, err := range sse.Read(res.Body, nil) {
		require.NoError(t, err)
		if events = append(events, ev); len(events) == n {
			break
		}
	}
	require.Len(t, events, n)
	cancel()
	harness.CheckExchange(t, harness.Exchange{Request: req, RequestBody: raw, Response: res, Body: seen.Bytes(), Partial: true})
	return events
}
