package extraction_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/llm"
	"focal/application/extraction"
	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

var turnTime = time.Date(2025, time.January, 15, 9, 0, 0, 0, time.UTC)

// returnsFlow is the demo agent's returns variables.
func returnsFlow(t *testing.T) *domain.VariableSet {
	t.Helper()
	set, err := domain.CompileVariables([]domain.Variable{
		{Name: "order_id", Type: domain.VarPattern, Description: "order number", Hint: "AC- followed by six digits",
			Pattern: `\bac[\s-]*(\d+)\b|\b(\d{6})\b`, Normalize: "AC-$1$2", Valid: `AC-\d{6}`},
		{Name: "reason", Type: domain.VarEnum, Description: "reason for the return", Values: []domain.EnumValue{
			{Value: "wrong_size", Synonyms: []string{"too tight", "too small"}},
			{Value: "damaged", Synonyms: []string{"broken zipper", "torn"}},
			{Value: "changed_mind"}}},
		{Name: "purchase_date", Type: domain.VarDate, Description: "purchase date"},
	})
	require.NoError(t, err)
	return set
}

// countingModel is a ports.ChatModel that answers every call with answer
// (or err) and counts the calls.
type countingModel struct {
	calls    atomic.Int32
	answer   string
	err      error
	mu       sync.Mutex
	requests []ports.ChatRequest
}

func (m *countingModel) StreamChat(_ context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	m.calls.Add(1)
	m.mu.Lock()
	m.requests = append(m.requests, req)
	m.mu.Unlock()
	if m.err != nil {
		return ports.ChatResult{}, m.err
	}
	if err := onDelta(m.answer); err != nil {
		return ports.ChatResult{}, err
	}
	return ports.ChatResult{Text: m.answer, Usage: domain.TokenUsage{Prompt: 50, Completion: 10}}, nil
}

// request asks for order_id and reason after a deterministic pass over msg,
// as a turn does.
func request(set *domain.VariableSet, msg string, known map[string]any) extraction.Request {
	asked := []string{"order_id", "reason"}
	return extraction.Request{Variables: set, Asked: asked, Known: known, Message: msg, Now: turnTime,
		Read: set.Extract(asked, msg, turnTime), Question: "What is your order number, and why does it go back?"}
}

// When the patterns read everything the step asks for, the model is not
// called; when they leave something, it is called once, for what is left.
func TestTheModelIsCalledOnlyForWhatThePatternsLeft(t *testing.T) {
	set := returnsFlow(t)
	m := &countingModel{answer: `{"reason": "changed_mind"}`}
	x, err := extraction.New(m)
	require.NoError(t, err)

	res, err := x.Turn().Fill(context.Background(), request(set, "AC-123456, it was too tight", nil))
	require.NoError(t, err)
	assert.False(t, res.Called)
	assert.Equal(t, extraction.NoteComplete, res.Note)
	res, err = x.Turn().Fill(context.Background(), request(set, "it was too tight", map[string]any{"order_id": "AC-123456"}))
	require.NoError(t, err)
	assert.False(t, res.Called, "what the session knows is not asked again")
	res, err = x.Turn().Fill(context.Background(), request(set, "AC-12345, too tight", nil))
	require.NoError(t, err)
	assert.False(t, res.Called, "an invalid reading is for the re-ask, not for the model to overrule")
	assert.Zero(t, m.calls.Load(), "no call while the patterns read the step")

	res, err = x.Turn().Fill(context.Background(), request(set, "AC-123456 - honestly I just went off it", nil))
	require.NoError(t, err)
	assert.True(t, res.Called)
	assert.Equal(t, int32(1), m.calls.Load())
	assert.Equal(t, []domain.Extraction{{Variable: "reason", Source: domain.SetByModel, Value: "changed_mind", Text: "changed_mind"}}, res.Extractions)
	assert.Equal(t, domain.TokenUsage{Prompt: 50, Completion: 10}, res.Usage)

	req := m.requests[0]
	assert.True(t, req.JSON, "a structured-output call")
	system := req.Messages[0].Content
	assert.Contains(t, system, `"reason"`)
	assert.NotContains(t, system, `"order_id"`, "only what is missing is asked for")
	assert.Contains(t, system, `"changed_mind"`)
	assert.Contains(t, system, "Today is 2025-01-15")
	assert.Contains(t, req.Messages[1].Content, "honestly I just went off it")
}

// The answer schema is written once per set of variables wanted and kept:
// a later request wanting other variables gets its own schema, and one
// wanting the same ones the same text.
func TestTheSchemaFollowsTheVariablesWanted(t *testing.T) {
	set := returnsFlow(t)
	m := &countingModel{answer: `{"order_id": null, "reason": null}`}
	x, err := extraction.New(m)
	require.NoError(t, err)
	for _, msg := range []string{"hello", "AC-123456 - honestly I just went off it", "hello again"} {
		_, err := x.Turn().Fill(context.Background(), request(set, msg, nil))
		require.NoError(t, err)
	}
	require.Len(t, m.requests, 3)
	both, reasonOnly, again := m.requests[0].Messages[0].Content, m.requests[1].Messages[0].Content, m.requests[2].Messages[0].Content
	assert.Contains(t, both, `"order_id"`)
	assert.Contains(t, both, `"reason"`)
	assert.NotContains(t, reasonOnly, `"order_id"`, "the order number was read: only the reason is asked for")
	assert.Contains(t, reasonOnly, `"reason"`)
	assert.Equal(t, both, again)
}

// A turn spends at most one extraction call, whatever asks, however
// often, from however many goroutines, and whether the call succeeded.
func TestATurnMakesAtMostOneCall(t *testing.T) {
	set := returnsFlow(t)
	for _, model := range []*countingModel{
		{answer: `{"order_id": null, "reason": null}`},
		{err: domain.Errorf(domain.CodeLLMUnavailable, "breaker open")},
	} {
		x, err := extraction.New(model)
		require.NoError(t, err)
		turn := x.Turn()
		var wg sync.WaitGroup
		var called atomic.Int32
		for range 8 {
			wg.Go(func() {
				res, _ := turn.Fill(context.Background(), request(set, "hello there", nil))
				if res.Called {
					called.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), model.calls.Load(), "one call per turn")
		assert.Equal(t, int32(1), called.Load())
		res, err := turn.Fill(context.Background(), request(set, "AC-123456", nil))
		require.NoError(t, err)
		assert.Equal(t, extraction.NoteSpent, res.Note)
		assert.Equal(t, int32(1), model.calls.Load())
	}
}

func TestModelFailuresAndOddAnswers(t *testing.T) {
	set := returnsFlow(t)
	failing := &countingModel{err: domain.Errorf(domain.CodeLLMError, "model said no")}
	x, _ := extraction.New(failing)
	res, err := x.Turn().Fill(context.Background(), request(set, "hi", nil))
	assert.Equal(t, domain.CodeLLMError, domain.ErrorCodeOf(err))
	assert.True(t, res.Called)

	offline := &countingModel{err: ports.ErrOffline}
	x, _ = extraction.New(offline)
	res, err = x.Turn().Fill(context.Background(), request(set, "hi", nil))
	require.NoError(t, err, "no model configured is no error")
	assert.False(t, res.Called)
	assert.Equal(t, extraction.NoteOffline, res.Note)

	for _, tt := range []struct {
		answer, note string
		value        any
	}{
		{"I could not find anything", extraction.NoteUnreadable, nil},
		{`{"order_id": "AC-1234`, extraction.NoteUnreadable, nil},
		{"```json\n{\"order_id\": \"ac 123456\"}\n```", "", "AC-123456"}, // fenced: read, and normalised
	} {
		x, _ = extraction.New(&countingModel{answer: tt.answer})
		res, err = x.Turn().Fill(context.Background(), request(set, "hi", nil))
		require.NoError(t, err)
		assert.Equal(t, tt.note, res.Note, tt.answer)
		if tt.value == nil {
			assert.Empty(t, res.Extractions, tt.answer)
			continue
		}
		require.Len(t, res.Extractions, 1, tt.answer)
		assert.Equal(t, tt.value, res.Extractions[0].Value)
	}
}

// What the model gives is held to the variable's type like any other
// value: an invalid one is not set, and the reason names what was wrong.
func TestModelValuesAreChecked(t *testing.T) {
	set := returnsFlow(t)
	m := &countingModel{answer: `{"order_id": "AC-12345", "reason": "lost in transit", "purchase_date": "2025-01-01", "colour": "red"}`}
	x, _ := extraction.New(m)
	req := request(set, "something", nil)
	res, err := x.Turn().Fill(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, res.Extractions, 2, "unasked names ignored: %v", res.Extractions)
	assert.Equal(t, domain.ProblemInvalid, res.Extractions[0].Problem)
	assert.Equal(t, `"AC-12345" is not a valid order number: AC- followed by six digits`, res.Extractions[0].Reason)
	assert.Nil(t, res.Extractions[0].Value)
	assert.Equal(t, domain.ProblemInvalid, res.Extractions[1].Problem)
	assert.Contains(t, res.Extractions[1].Reason, `"lost in transit" is not a valid reason for the return`)
}

// Over real HTTP, through the OpenAI adapter, against the fake model
// server: the call count the server saw is the one the component claims.
func TestExtractionOverTheOpenAIWireFormat(t *testing.T) {
	srv := fakellm.New(fakellm.WithModel("gpt-test"))
	url := srv.Start()
	t.Cleanup(srv.Close)
	srv.SetResponder(func(req fakellm.Request) fakellm.Reply {
		// A stand-in for a model: read the wanted names out of the schema,
		// answer the reason when the message gives one in other words.
		answer := map[string]any{}
		if strings.Contains(req.System, `"reason"`) {
			answer["reason"] = nil
			if strings.Contains(req.LastUser(), "went off it") {
				answer["reason"] = "changed_mind"
			}
		}
		b, _ := json.Marshal(answer)
		return fakellm.Reply{Text: string(b)}
	})
	model, err := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: url + "/v1", Model: "gpt-test", APIKey: "sk-test", HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	require.NoError(t, err)
	x, err := extraction.New(model)
	require.NoError(t, err)
	set := returnsFlow(t)
	ctx := context.Background()

	res, err := x.Turn().Fill(ctx, request(set, "ac123456 - broken zipper", nil))
	require.NoError(t, err)
	assert.False(t, res.Called)
	assert.Zero(t, srv.Count(), "patterns filled the step: no request reached the model server")

	turn := x.Turn()
	res, err = turn.Fill(ctx, request(set, "it's 123456, I just went off it", nil))
	require.NoError(t, err)
	require.True(t, res.Called)
	assert.Equal(t, []domain.Extraction{{Variable: "reason", Source: domain.SetByModel, Value: "changed_mind", Text: "changed_mind"}}, res.Extractions)
	_, err = turn.Fill(ctx, request(set, "and it was torn", nil))
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Count(), "one request for the turn")
	sent, ok := srv.Last()
	require.True(t, ok)
	assert.Equal(t, map[string]any{"type": "json_object"}, sent.Body["response_format"], "structured output asked for")
	assert.Equal(t, 0.0, sent.Body["temperature"])
}

// Extractor.Fill, the engine's one fill per turn, sends the model what a
// Turn's fill sends and reads its answer alike; the schema cache gives a
// second turn asking for the same variables the same system prompt.
func TestExtractorFillIsATurnsFill(t *testing.T) {
	set := returnsFlow(t)
	viaTurn := &countingModel{answer: `{"reason": "changed_mind"}`}
	direct := &countingModel{answer: `{"reason": "changed_mind"}`}
	xt, err := extraction.New(viaTurn)
	require.NoError(t, err)
	xd, err := extraction.New(direct)
	require.NoError(t, err)
	for _, msg := range []string{"AC-123456 - honestly I just went off it", "AC-654321, I changed my mind"} {
		want, err := xt.Turn().Fill(context.Background(), request(set, msg, nil))
		require.NoError(t, err)
		got, err := xd.Fill(context.Background(), request(set, msg, nil))
		require.NoError(t, err)
		assert.Equal(t, want, got, msg)
	}
	require.Len(t, direct.requests, 2)
	assert.Equal(t, viaTurn.requests, direct.requests)
	assert.Equal(t, direct.requests[0].Messages[0], direct.requests[1].Messages[0], "one system prompt for the same variables on one day")
	assert.Equal(t, ports.ChatMessage{Role: ports.RoleUser, Content: "The agent asked:\nWhat is your order number, and why does it go back?\n\n" +
		"Customer message:\nAC-123456 - honestly I just went off it"}, direct.requests[0].Messages[1])

	res, err := xd.Fill(context.Background(), request(set, "AC-123456, it was too tight", nil))
	require.NoError(t, err)
	assert.Equal(t, extraction.NoteComplete, res.Note)
	assert.Len(t, direct.requests, 2, "nothing left to read: no call")
}

// offlineModel says it never generates (ports.OfflineModel): a request
// sent to it fails the test.
type offlineModel struct{ t *testing.T }

func (m offlineModel) StreamChat(context.Context, ports.ChatRequest, func(string) error) (ports.ChatResult, error) {
	m.t.Error("a model that says it is offline was sent a request")
	return ports.ChatResult{}, ports.ErrOffline
}

func (offlineModel) Offline() bool { return true }

// A model that says it is offline is sent no request, and the fill reads
// as when it answers ErrOffline.
func TestAnOfflineModelGetsNoExtractionRequest(t *testing.T) {
	set := returnsFlow(t)
	called, err := extraction.New(&countingModel{err: ports.ErrOffline})
	require.NoError(t, err)
	want, err := called.Fill(context.Background(), request(set, "hi", nil))
	require.NoError(t, err)
	x, err := extraction.New(offlineModel{t})
	require.NoError(t, err)
	for _, fill := range []func() (extraction.Result, error){
		func() (extraction.Result, error) { return x.Fill(context.Background(), request(set, "hi", nil)) },
		func() (extraction.Result, error) { return x.Turn().Fill(context.Background(), request(set, "hi", nil)) },
	} {
		got, err := fill()
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, extraction.NoteOffline, got.Note)
	}
}

// An offline model's fill tells whether anything was left to read
// without listing what: it answers as a model answering ErrOffline does,
// whatever the patterns read, the turn knew or the step asked.
func TestAnOfflineFillAnswersAsAnOfflineCall(t *testing.T) {
	set := returnsFlow(t)
	called, err := extraction.New(&countingModel{err: ports.ErrOffline})
	require.NoError(t, err)
	x, err := extraction.New(offlineModel{t})
	require.NoError(t, err)
	requests := []extraction.Request{}
	for _, msg := range []string{"hi", "AC-123456", "AC-123456, it was too tight", "it was too tight"} {
		for _, known := range []map[string]any{nil, {"reason": "damaged"}, {"order_id": "AC-000001"},
			{"order_id": "AC-000001", "reason": "damaged"}} {
			requests = append(requests, request(set, msg, known))
		}
	}
	for _, asked := range [][]string{nil, {"no_such_variable"}, {"purchase_date"}, {"order_id", "order_id"}} {
		requests = append(requests, extraction.Request{Variables: set, Asked: asked, Message: "AC-123456", Now: turnTime,
			Read: set.Extract(asked, "AC-123456", turnTime)})
	}
	notes := map[string]int{}
	for _, req := range requests {
		want, err := called.Fill(context.Background(), req)
		require.NoError(t, err)
		got, err := x.Fill(context.Background(), req)
		require.NoError(t, err)
		assert.Equal(t, want, got, "message %q, asked %v, known %v", req.Message, req.Asked, req.Known)
		notes[got.Note]++
	}
	assert.Positive(t, notes[extraction.NoteOffline], "some requests left something to read")
	assert.Positive(t, notes[extraction.NoteComplete], "some requests left nothing to read")
}
