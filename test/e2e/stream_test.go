package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"focal/test/fakellm"
	"focal/test/harness"
)

// streamBundle: the model answers everything; one global hard rule forbids
// a phrase on every reply (checked while streaming), and a discount rule,
// in scope only inside the sales scenario, carries an expression (which
// needs the whole reply) when it matches.
const streamBundle = `
agent:
  id: %s
  tenant_id: %s
  name: Stream test agent
  system_prompt: You are a test agent.
rules:
  - id: no_promises
    condition: refund guarantee
    action: Never promise refunds.
    hard: true
    constraints: [{kind: forbid_phrase, value: guaranteed refund}]
  - id: discounts
    scope: scenario
    scope_id: sales
    condition: discount; coupon
    action: Offer at most 20 percent.
    hard: true
    constraints: [{kind: expression, value: "reply.max_percentage <= 20"}]
scenarios:
  - id: sales
    entry_condition: discount; coupon
    entry_step_id: offer
    steps: [{id: offer, instructions: Make an offer.}]
templates:
  - {id: fallback, mode: fallback, text: "Let me check that for you."}
`

// startWithFakeModel runs Focal against an OpenAI-compatible fake model
// over real HTTP; env adds or overrides settings.
func startWithFakeModel(t *testing.T, env ...map[string]string) (*harness.App, *fakellm.Server) {
	t.Helper()
	fake := fakellm.New()
	fake.Start()
	t.Cleanup(fake.Close)
	return startOnFakeModel(t, fake, env...), fake
}

// startOnFakeModel starts one more instance on an existing fake model.
func startOnFakeModel(t *testing.T, fake *fakellm.Server, env ...map[string]string) *harness.App {
	t.Helper()
	settings := fakeModelSettings(t, fake)
	for _, e := range env {
		maps.Copy(settings, e)
	}
	return harness.Start(t, settings)
}

// fakeModelSettings are the settings of an instance whose model is fake,
// with streamBundle as its start-up bundle.
func fakeModelSettings(t *testing.T, fake *fakellm.Server) map[string]string {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "stream-agent.yaml")
	require.NoError(t, os.WriteFile(bundle, []byte(fmt.Sprintf(streamBundle, harness.DemoAgent, harness.DemoTenant)), 0o600))
	return map[string]string{
		"FOCAL_BOOTSTRAP_BUNDLE": bundle,
		"FOCAL_LLM_PROVIDER":     "openai", "FOCAL_LLM_MODEL": "fake-model",
		"FOCAL_LLM_BASE_URL": fake.URL() + "/v1", "FOCAL_LLM_API_KEY": "test-key",
		"FOCAL_LLM_MAX_RETRIES": "0",
	}
}

// plainAgent is an agent with no constraints at all, so nothing holds text
// back and the client gets the model's deltas exactly as they came.
const plainAgent = "22222222-2222-4222-8222-222222222222"

func addPlainAgent(t *testing.T, app *harness.App) {
	t.Helper()
	res := app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/agents/" + plainAgent + "/bundle",
		Token: harness.Token(t, harness.DemoTenant, "admin"),
		Body:  map[string]any{"agent": map[string]any{"id": plainAgent, "name": "plain"}}})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
}

func plainBody(user, message string) map[string]any {
	b := harness.ChatBody(user, message)
	b["agent_id"] = plainAgent
	return b
}

type received struct {
	status int
	header http.Header
	body   []byte
	events []sse.Event
	times  []time.Time // arrival of each event
}

// stream posts to /v1/chat/stream and parses the answer with a maintained
// SSE client library (tmaxmax/go-sse), never our own parser; the exchange
// is then validated against the API document.
func stream(t *testing.T, ctx context.Context, app *harness.App, token string, body map[string]any, headers ...string) received {
	t.Helper()
	return streamWatching(t, ctx, app, token, body, nil, headers...)
}

// streamWatching is stream that shows each event to each (when not nil) as
// it arrives, so a test can act at a point of the stream.
func streamWatching(t *testing.T, ctx context.Context, app *harness.App, token string, body map[string]any,
	each func(sse.Event), headers ...string) received {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.URL+"/v1/chat/stream", strings.NewReader(string(raw)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	seen := harness.Record(res)
	out := received{status: res.StatusCode, header: res.Header}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		out.body, _ = io.ReadAll(res.Body)
	} else {
		for ev, err := range sse.Read(res.Body, nil) {
			if err != nil {
				break
			}
			out.events = append(out.events, ev)
			out.times = append(out.times, time.Now())
			if each != nil {
				each(ev)
			}
		}
	}
	harness.CheckExchange(t, harness.Exchange{Request: req, RequestBody: raw, Response: res, Body: seen.Bytes()})
	return out
}

// checkGrammar asserts token* then exactly one done or error, each with an
// id <turn_id>:<n> counting up from 1, and returns the token texts.
func checkGrammar(t *testing.T, r received) (tokens []string, last sse.Event) {
	t.Helper()
	require.NotEmpty(t, r.events)
	for i, ev := range r.events {
		turn, seq, ok := strings.Cut(ev.LastEventID, ":")
		require.True(t, ok, "event %d id %q", i, ev.LastEventID)
		assert.Len(t, turn, 36)
		assert.Equal(t, strconv.Itoa(i+1), seq, "ids count up")
		if i < len(r.events)-1 {
			require.Equal(t, "token", ev.Type, "only tokens before the last event")
			var tok struct {
				Type, Content string
			}
			require.NoError(t, json.Unmarshal([]byte(ev.Data), &tok))
			assert.Equal(t, "token", tok.Type)
			tokens = append(tokens, tok.Content)
		}
	}
	last = r.events[len(r.events)-1]
	require.Contains(t, []string{"done", "error"}, last.Type, "the stream ends with done or error")
	return tokens, last
}

// The client gets the model's deltas as they come: the first two reach it
// while the model holds back the rest, which it sends only once the test,
// having seen them, lets it go on (a relay that waited for the whole reply
// would never show them, and the request would time out).
func TestStreamRelaysModelDeltasAsTheyCome(t *testing.T) {
	app, fake := startWithFakeModel(t)
	addPlainAgent(t, app)
	deltas := []string{"Hello", " there!\n", "\nHere is", " a list:\n- one\n", "- two  ", "\n\nBye."}
	goOn := make(chan struct{})
	fake.Enqueue(fakellm.Reply{Deltas: deltas, StallAfter: 2, StallUntil: goOn})
	seen := 0
	r := streamWatching(t, context.Background(), app, harness.Token(t, harness.DemoTenant), plainBody("s1", "tell me something"),
		func(ev sse.Event) {
			if seen++; seen == 2 {
				assert.True(t, fake.WaitStalled(0, 30*time.Second), "two tokens arrived while the model held back the rest")
				close(goOn)
			}
		})
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	assert.Equal(t, "no", r.header.Get("X-Accel-Buffering"))

	tokens, done := checkGrammar(t, r)
	require.Equal(t, "done", done.Type)
	assert.Equal(t, deltas, tokens, "the model's own deltas, white space and newlines intact")
	var d map[string]any
	require.NoError(t, json.Unmarshal([]byte(done.Data), &d))
	assert.Equal(t, strings.Join(tokens, ""), d["response"], "tokens concatenate to done.response")
	assert.Positive(t, d["tokens_used"])
}

func TestStreamEndsWithAnErrorEventWhenTheModelFailsMidStream(t *testing.T) {
	app, fake := startWithFakeModel(t)
	addPlainAgent(t, app)
	fake.Enqueue(fakellm.Reply{Deltas: []string{"Partial ", "answer ", "then"}, DisconnectAfter: 2})
	r := stream(t, context.Background(), app, harness.Token(t, harness.DemoTenant), plainBody("s2", "tell me something"))
	require.Equal(t, http.StatusOK, r.status)
	tokens, last := checkGrammar(t, r)
	require.Equal(t, "error", last.Type)
	assert.Equal(t, []string{"Partial ", "answer "}, tokens)
	var e map[string]any
	require.NoError(t, json.Unmarshal([]byte(last.Data), &e))
	assert.Equal(t, "error", e["type"])
	assert.Equal(t, "LLM_UNAVAILABLE", e["code"])
}

func TestStreamFailuresBeforeTheStreamAreJSON(t *testing.T) {
	app, _ := startWithFakeModel(t)
	token := harness.Token(t, harness.DemoTenant)
	for _, tc := range []struct {
		name   string
		token  string
		body   map[string]any
		status int
		code   string
	}{
		{"no token", "", harness.ChatBody("u", "hi"), http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"unknown agent", token, map[string]any{"agent_id": "11111111-1111-4111-8111-111111111111", "channel": "web", "user_channel_id": "u", "message": "hi"}, http.StatusNotFound, "AGENT_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := stream(t, context.Background(), app, tc.token, tc.body)
			assert.Equal(t, tc.status, r.status)
			assert.Contains(t, r.header.Get("Content-Type"), "application/json")
			assert.Contains(t, string(r.body), `"code":"`+tc.code+`"`)
		})
	}
	// 422: an idempotency key reused with another body.
	headers := map[string]string{"Idempotency-Key": "stream-422"}
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: harness.ChatBody("u", "one"), Headers: headers})
	require.Equal(t, http.StatusOK, res.Status)
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: harness.ChatBody("u", "two"), Headers: headers})
	assert.Equal(t, http.StatusUnprocessableEntity, res.Status)
	assert.Contains(t, res.Header.Get("Content-Type"), "application/json")
}

// A forbidden phrase split across two model deltas never reaches the
// client, while the text before it still streams and the reply completes.
func TestStreamNeverReleasesAForbiddenPhraseSplitAcrossDeltas(t *testing.T) {
	app, fake := startWithFakeModel(t)
	fake.Enqueue(
		fakellm.Reply{Deltas: []string{"Thanks for asking about our policy. ", "We offer a guaran", "teed refund on everything."}, TokenInterval: 20 * time.Millisecond},
		fakellm.Reply{Deltas: []string{"each return is reviewed ", "by our team."}},
	)
	r := stream(t, context.Background(), app, harness.Token(t, harness.DemoTenant), harness.ChatBody("s3", "what is your policy?"))
	tokens, done := checkGrammar(t, r)
	require.Equal(t, "done", done.Type)
	all := strings.Join(tokens, "")
	assert.NotContains(t, strings.ToLower(all), "guaranteed refund")
	for _, tok := range tokens {
		assert.NotContains(t, tok, "teed refund")
	}
	assert.True(t, strings.HasPrefix(all, "Thanks for asking about our policy."), "safe text streamed: %q", all)
	assert.True(t, strings.HasSuffix(all, "by our team."), "the regenerated continuation completes the reply: %q", all)
	var d map[string]any
	require.NoError(t, json.Unmarshal([]byte(done.Data), &d))
	assert.Equal(t, all, d["response"])
}

// A whole-text constraint makes the turn release its text only after the
// check: every token arrives after the model has finished.
func TestStreamWithAWholeTextConstraintReleasesOnlyCheckedText(t *testing.T) {
	app, fake := startWithFakeModel(t)
	fake.Enqueue(
		fakellm.Reply{Deltas: []string{"Today you get ", "50% off!"}, TokenInterval: 50 * time.Millisecond},
		fakellm.Reply{Deltas: []string{"Today you get ", "15% off."}, TokenInterval: 50 * time.Millisecond},
	)
	r := stream(t, context.Background(), app, harness.Token(t, harness.DemoTenant), harness.ChatBody("s4", "any discount coupon?"))
	tokens, done := checkGrammar(t, r)
	require.Equal(t, "done", done.Type)
	assert.Equal(t, "Today you get 15% off.", strings.Join(tokens, ""), "the violating first reply never left")
	second, ok := fake.Request(1)
	require.True(t, ok, "a regeneration was asked for")
	require.True(t, fake.WaitFinished(1, 30*time.Second))
	assert.False(t, r.times[0].Before(second.Start.Add(50*time.Millisecond)), "nothing was released before the checked reply was whole")
}

// Closing the client mid-stream cancels the model call and the turn is
// recorded interrupted. The model stalls for good after two deltas: only
// the client leaving can end its request.
func TestClientDisconnectCancelsTheModelCall(t *testing.T) {
	app, fake := startWithFakeModel(t)
	addPlainAgent(t, app)
	fake.Enqueue(fakellm.Reply{Deltas: []string{"one ", "two ", "three ", "four"}, StallAfter: 2})
	ctx, cancel := context.WithCancel(context.Background())
	token := harness.Token(t, harness.DemoTenant)
	raw, _ := json.Marshal(plainBody("s5", "tell me something"))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, app.URL+"/v1/chat/stream", strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	seen := harness.Record(res)
	var turnID string
	n := 0
	for ev, err := range sse.Read(res.Body, nil) {
		require.NoError(t, err)
		turnID, _, _ = strings.Cut(ev.LastEventID, ":")
		if n++; n == 2 {
			break
		}
	}
	_, cancelled := fake.WaitCancelled(0, 0)
	require.False(t, cancelled, "the model call runs while the client reads")
	cancel() // the client goes away while the model stalls
	res.Body.Close()
	harness.CheckExchange(t, harness.Exchange{Request: req, RequestBody: raw, Response: res, Body: seen.Bytes(), Partial: true})
	_, ok := fake.WaitCancelled(0, 30*time.Second)
	require.True(t, ok, "the fake model saw its request cancelled once the client left")

	require.Eventually(t, func() bool {
		r := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + turnID, Token: token})
		var turn map[string]any
		_ = json.Unmarshal(r.Body, &turn)
		return r.Status == http.StatusOK && turn["status"] == "interrupted"
	}, 5*time.Second, 20*time.Millisecond, "the turn is recorded interrupted")
}

// A turn that outlives FOCAL_TURN_TIMEOUT answers 504 TIMEOUT, or on a
// stream ends with an error event carrying TIMEOUT, and its model call is
// cancelled. The model never sends a token: only the turn's deadline can
// end the turn, so the test waits on that signal, not on a clock.
func TestTurnTimeoutAnswers504(t *testing.T) {
	app, fake := startWithFakeModel(t, map[string]string{"FOCAL_TURN_TIMEOUT": "1s"})
	addPlainAgent(t, app)
	fake.SetDefaults(fakellm.Reply{StallAfter: -1})
	token := harness.Token(t, harness.DemoTenant)

	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: plainBody("late", "tell me something")})
	require.Equal(t, http.StatusGatewayTimeout, res.Status, "%s", res.Body)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	res.JSON(t, &e)
	assert.Equal(t, "TIMEOUT", e.Error.Code)
	_, cancelled := fake.WaitCancelled(0, 30*time.Second)
	assert.True(t, cancelled, "the model call was cancelled at the deadline")

	r := stream(t, context.Background(), app, token, plainBody("late-stream", "tell me something"))
	require.Equal(t, http.StatusOK, r.status)
	_, last := checkGrammar(t, r)
	require.Equal(t, "error", last.Type)
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(last.Data), &ev))
	assert.Equal(t, "TIMEOUT", ev["code"])
}
