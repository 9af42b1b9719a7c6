package component

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	httpapi "focal/adapters/http"
	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
	"focal/test/harness"
)

// Retry-After is sent, and declared by openapi.json (the harness fails an
// answer with one its status does not declare), wherever the service knows
// when to try again: a model's own Retry-After with its LLM_ERROR (502), on
// both chat dialects.
func TestModelRetryAfterReachesTheClient(t *testing.T) {
	app, fake := startOnFakeModel(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	requests := map[string]harness.Request{
		"/v1/chat": {Method: http.MethodPost, Path: "/v1/chat", Token: token,
			Body: map[string]any{"agent_id": plainAgent, "channel": "webchat", "user_channel_id": "later", "message": "Hi"}},
		"/v1/chat/completions": {Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
			Body: map[string]any{"model": plainAgent, "user": "later", "messages": []map[string]any{{"role": "user", "content": "Hi"}}}},
	}
	for path, req := range requests {
		fake.Enqueue(fakellm.Reply{Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second})
		res := app.Do(t, req)
		assert.Equal(t, http.StatusBadGateway, res.Status, "%s: %s", path, res.Body)
		assert.Equal(t, "3", res.Header.Get("Retry-After"), path)
	}
}

// A turn the service ends because it is shutting down answers 504 TIMEOUT
// with Retry-After, on both chat dialects: another instance can take the
// retry.
func TestShutdownTimeoutSaysWhenToRetry(t *testing.T) {
	bodies := map[string]any{
		"/v1/chat":             map[string]any{"agent_id": plainAgent, "channel": "webchat", "user_channel_id": "stopping", "message": "Hi"},
		"/v1/chat/completions": map[string]any{"model": plainAgent, "user": "stopping", "messages": []map[string]any{{"role": "user", "content": "Hi"}}},
	}
	for path, body := range bodies {
		t.Run(path, func(t *testing.T) {
			app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SHUTDOWN_DRAIN": "1ms"})
			first := fake.Count()
			fake.Enqueue(fakellm.Reply{Text: "never sent", StallAfter: 1})
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				if fake.WaitStalled(first, 30*time.Second) {
					app.Stop(t)
				}
			}()
			res := app.Do(t, harness.Request{Method: http.MethodPost, Path: path, Token: harness.Token(t, harness.DemoTenant), Body: body})
			<-stopped
			require.Equal(t, http.StatusGatewayTimeout, res.Status, "%s", res.Body)
			assert.Equal(t, "1", res.Header.Get("Retry-After"))
		})
	}
}

// commitsSeen tells a test that a turn store was asked to commit: the
// turn's commit had then begun, and its retries' budget counts from a
// reading of the app's clock taken before.
type commitsSeen chan struct{}

// seen signals a commit without waiting: the test hears of the first.
func (c commitsSeen) seen() {
	select {
	case c <- struct{}{}:
	default:
	}
}

// refusingCommits is a turn store whose commits are refused, as they are
// for a turn whose lease was taken over: its run's own error is then not
// the shutdown that cut its request.
type refusingCommits struct {
	ports.TurnStore
	commits commitsSeen
}

func (s refusingCommits) CommitTurn(context.Context, ports.LeaseToken, *domain.Turn) error {
	s.commits.seen()
	return domain.Errorf(domain.CodeSessionBusy, "the lease was taken over")
}

// lostCommits is a turn store whose commits' answers are lost: each may
// have landed.
type lostCommits struct {
	ports.TurnStore
	commits commitsSeen
}

func (s lostCommits) CommitTurn(_ context.Context, _ ports.LeaseToken, turn *domain.Turn) error {
	s.commits.seen()
	return domain.UnknownOutcome(turn.ID, errors.New("connection lost after the commit was sent"))
}

// commitBudget is how long the app retries a commit whose outcome is
// unknown: two of its CommitTimeouts (5 s each, bootstrap's ChatConfig).
const commitBudget = 2 * 5 * time.Second

// spendBudgetOnCommit advances clock by a commit's retry budget, in one
// step, once commits tells that the commit has begun; the goroutine that
// does it is waited for when the test ends.
func spendBudgetOnCommit(t *testing.T, clock *harness.Clock, commits commitsSeen) {
	ended, advanced := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(ended); <-advanced })
	go func() {
		defer close(advanced)
		select {
		case <-commits:
			clock.Advance(commitBudget)
		case <-ended:
		}
	}()
}

// A turn cut by shutdown is told so on both chat dialects whatever error
// its run ended with (here the model's work finished after the cut and the
// commit was refused, which without the shutdown would answer 409), except
// a commit of unknown outcome: "retry" would hide that the turn may be
// recorded, so the client hears the unknown outcome and the turn's id, in
// fields of either dialect's error (OpenAI's SDK keeps them too). The app
// runs on a test clock: once the commit has begun, the clock passes the
// lost commit's retry budget, which then ends without waiting it out.
func TestShutdownIsToldWhateverTheRunEndedWith(t *testing.T) {
	bodies := map[string]any{
		"/v1/chat": harness.ChatBody("stopping", holdMessage),
		"/v1/chat/completions": map[string]any{"model": harness.DemoAgent, "user": "stopping",
			"messages": []map[string]any{{"role": "user", "content": holdMessage}}},
	}
	stores := map[string]struct {
		wrap    func(ports.TurnStore, commitsSeen) ports.TurnStore
		status  int
		code    string
		outcome string
	}{
		"refused commit": {func(s ports.TurnStore, c commitsSeen) ports.TurnStore { return refusingCommits{s, c} },
			http.StatusGatewayTimeout, "TIMEOUT", ""},
		"lost commit": {func(s ports.TurnStore, c commitsSeen) ports.TurnStore { return lostCommits{s, c} },
			http.StatusServiceUnavailable, "STORE_UNAVAILABLE", domain.OutcomeUnknown},
	}
	for path, body := range bodies {
		for name, store := range stores {
			t.Run(path+"/"+name, func(t *testing.T) {
				clock := harness.NewClock()
				commits := make(commitsSeen, 1)
				app, engine := startHeld(t, map[string]string{"FOCAL_SHUTDOWN_DRAIN": "1ms"}, harness.WithClock(clock),
					fx.Decorate(func(s ports.TurnStore) ports.TurnStore { return store.wrap(s, commits) }))
				engine.finishAnyway = true
				stopped := make(chan struct{})
				go func() {
					defer close(stopped)
					<-engine.held
					app.Stop(t)
				}()
				spendBudgetOnCommit(t, clock, commits)
				res := app.Do(t, harness.Request{Method: http.MethodPost, Path: path, Token: harness.TokenAt(t, clock.Now(), harness.DemoTenant), Body: body})
				<-stopped
				require.ErrorIs(t, <-engine.left, httpapi.ErrShuttingDown, "the turn was cut by the shutdown")
				require.Equal(t, store.status, res.Status, "%s", res.Body)
				assert.Equal(t, "1", res.Header.Get("Retry-After"))
				var out struct {
					Error struct {
						Code    string `json:"code"`
						Type    string `json:"type"`
						Outcome string `json:"outcome"`
						Message string `json:"message"`
						TurnID  string `json:"turn_id"`
					} `json:"error"`
				}
				res.JSON(t, &out)
				assert.Equal(t, store.code, out.Error.Code)
				assert.Equal(t, store.outcome, out.Error.Outcome, "on both dialects")
				assert.Equal(t, store.outcome != "", out.Error.TurnID != "", "the turn's id comes with an unknown outcome")
				assert.Equal(t, store.outcome != "", strings.Contains(out.Error.Message, "whether turn "+out.Error.TurnID), "the message names the turn too: %s", out.Error.Message)
				if path == "/v1/chat/completions" {
					assert.Equal(t, "server_error", out.Error.Type, "in OpenAI's error shape")
					assertSDKKeepsTheOutcome(t, res.Body, out.Error.Outcome, out.Error.TurnID)
				}
			})
		}
	}
}

// assertSDKKeepsTheOutcome reads an OpenAI-shaped error body as openai-go
// does (its "error" object into an openai.Error): the outcome and turn,
// not OpenAI's fields, stay readable among its extra fields.
func assertSDKKeepsTheOutcome(t *testing.T, body []byte, outcome, turnID string) {
	t.Helper()
	var whole struct {
		Error json.RawMessage `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &whole))
	var sdkErr openai.Error
	require.NoError(t, sdkErr.UnmarshalJSON(whole.Error))
	if outcome == "" {
		assert.NotContains(t, sdkErr.JSON.ExtraFields, "outcome")
		assert.NotContains(t, sdkErr.JSON.ExtraFields, "turn_id")
		return
	}
	assert.JSONEq(t, strconv.Quote(outcome), sdkErr.JSON.ExtraFields["outcome"].Raw())
	assert.JSONEq(t, strconv.Quote(turnID), sdkErr.JSON.ExtraFields["turn_id"].Raw())
}
