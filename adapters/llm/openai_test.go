package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

func TestOpenAIStreamsDeltasExactlyWithUsage(t *testing.T) {
	srv, url := fake(t)
	deltas := []string{"Hi", " there", ",\n", "\tfriend", "  "}
	srv.Enqueue(fakellm.Reply{Deltas: deltas})
	got, res, err := collect(context.Background(), newOpenAI(t, url), chatRequest("hello there"))
	require.NoError(t, err)
	assert.Equal(t, deltas, got, "whitespace and newlines intact")
	assert.Equal(t, strings.Join(deltas, ""), res.Text)
	assert.Equal(t, "openai", res.Provider)
	assert.Equal(t, "gpt-test", res.Model)
	// The fake counts words: "be brief" + "hello there"; the reply has 3.
	assert.Equal(t, domain.TokenUsage{Prompt: 4, Completion: 3}, res.Usage)

	req, _ := srv.Last()
	assert.Equal(t, fakellm.APIOpenAIChat, req.API)
	assert.True(t, req.Stream)
	assert.True(t, req.IncludeUsage)
	assert.Equal(t, "Bearer sk-test-key-123456", req.Header.Get("Authorization"))
	assert.Empty(t, req.Header.Get("OpenAI-Organization"))
	assert.Equal(t, []fakellm.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hello there"}}, req.Messages)
	_, hasTemp := req.Body["temperature"]
	assert.False(t, hasTemp, "no temperature unless asked")
}

func TestOpenAIRequestOptions(t *testing.T) {
	srv, url := fake(t)
	m, err := NewOpenAI(OpenAIConfig{
		BaseURL: url + "/v1", Model: "gpt-test", Organization: "org-1",
		ExtraHeaders: map[string]string{"X-Gateway": "g1"}, HTTPClient: testClient,
	})
	require.NoError(t, err)
	temp := 0.25
	req := chatRequest("x")
	req.Model, req.Temperature, req.MaxTokens, req.JSON = "gpt-other", &temp, 77, true
	req.Messages = append(req.Messages, ports.ChatMessage{Role: ports.RoleAssistant, Content: "earlier"},
		ports.ChatMessage{Role: ports.RoleSystem, Content: "late note"})
	_, res, err := collect(context.Background(), m, req)
	require.NoError(t, err)
	assert.Equal(t, "gpt-other", res.Model)

	got, _ := srv.Last()
	assert.Equal(t, "gpt-other", got.Model)
	assert.Equal(t, 0.25, got.Body["temperature"])
	assert.Equal(t, 77.0, got.Body["max_tokens"], "compatible servers get max_tokens")
	assert.Equal(t, map[string]any{"type": "json_object"}, got.Body["response_format"])
	assert.Equal(t, "org-1", got.Header.Get("OpenAI-Organization"))
	assert.Equal(t, "g1", got.Header.Get("X-Gateway"))
	assert.Empty(t, got.Header.Get("Authorization"), "no key, no auth header")
	assert.Equal(t, "late note", got.Messages[len(got.Messages)-1].Content, "later system messages reach the model in place")
}

func TestOpenAIUsesMaxCompletionTokensOnItsOwnAPI(t *testing.T) {
	assert.True(t, isOpenAIHost(""))
	assert.True(t, isOpenAIHost("https://api.openai.com/v1"))
	assert.False(t, isOpenAIHost("http://localhost:11434/v1"))
	for base, want := range map[string]bool{"": true, "https://API.openai.com/v1": true, "http://localhost:11434/v1": false} {
		m, err := NewOpenAI(OpenAIConfig{BaseURL: base, Model: "gpt"})
		require.NoError(t, err)
		assert.Equal(t, want, m.completionTokens, "base URL %q", base)
	}
	m := &OpenAI{completionTokens: true}
	p, err := m.params("gpt", ports.ChatRequest{MaxTokens: 5, Messages: chatRequest("x").Messages})
	require.NoError(t, err)
	raw, _ := json.Marshal(p)
	assert.Contains(t, string(raw), `"max_completion_tokens":5`)
	assert.NotContains(t, string(raw), `"max_tokens"`)
}

// A reply of no tokens still bills its prompt.
func TestOpenAIBillsThePromptOfAnEmptyReply(t *testing.T) {
	srv, url := fake(t)
	srv.Enqueue(fakellm.Reply{Deltas: []string{" "}})
	_, res, err := collect(context.Background(), newOpenAI(t, url), chatRequest("hello there"))
	require.NoError(t, err)
	assert.Equal(t, domain.TokenUsage{Prompt: 4}, res.Usage)
}

func TestOpenAIConsumerErrorComesBackUnchanged(t *testing.T) {
	srv, url := fake(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, TokenInterval: 5 * time.Millisecond})
	stop := errors.New("stop here")
	n := 0
	res, err := newOpenAI(t, url).StreamChat(context.Background(), chatRequest("x"), func(string) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	assert.Same(t, stop, err)
	assert.Equal(t, "a b", res.Text)
	_, ok := srv.WaitCancelled(0, 30*time.Second)
	assert.True(t, ok, "abandoning the stream closes the request")
}

func TestOpenAIErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reply     fakellm.Reply
		code      domain.ErrorCode
		status    int
		retryAt   time.Duration
		retryable bool
		deltas    int
	}{
		{"429 with retry-after", fakellm.Reply{Status: 429, RetryAfter: 1500 * time.Millisecond}, domain.CodeLLMError, 429, 1500 * time.Millisecond, true, 0},
		{"400", fakellm.Reply{Status: 400, ErrorMessage: "context too long"}, domain.CodeLLMError, 400, 0, false, 0},
		{"503", fakellm.Reply{Status: 503}, domain.CodeLLMError, 503, 0, true, 0},
		{"error event mid-stream", fakellm.Reply{Deltas: fiveDeltas, ErrorAfter: 2}, domain.CodeLLMError, 500, 0, true, 2},
		{"malformed chunk", fakellm.Reply{Deltas: fiveDeltas, MalformedAfter: 1}, domain.CodeLLMError, 0, 0, true, 1},
		{"disconnect", fakellm.Reply{Deltas: fiveDeltas, DisconnectAfter: 3}, domain.CodeLLMUnavailable, 0, 0, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := fake(t)
			srv.Enqueue(tc.reply)
			got, _, err := collect(context.Background(), newOpenAI(t, url), chatRequest("x"))
			require.Error(t, err)
			assert.Len(t, got, tc.deltas)
			assert.Equal(t, tc.code, errCode(err), "%v", err)
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.retryAt, de.RetryAfter)
			class := resilience.Classify(err)
			assert.Equal(t, tc.status, class.Status)
			assert.Equal(t, tc.retryable, class.Retryable)
			assert.NotNil(t, errors.Unwrap(err), "the SDK error is kept as cause")
		})
	}
}

func TestOpenAIErrorMessagesAreSanitized(t *testing.T) {
	srv, url := fake(t)
	srv.Enqueue(fakellm.Reply{Status: 401, ErrorMessage: "Incorrect API key provided: sk-test-key-123456. Also sk-proj-abcdefgh1234."})
	_, _, err := collect(context.Background(), newOpenAI(t, url), chatRequest("x"))
	require.Error(t, err)
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.NotContains(t, de.Message, "sk-test-key-123456")
	assert.NotContains(t, de.Message, "abcdefgh1234")
	assert.Contains(t, de.Message, "Incorrect API key provided")
	assert.NotContains(t, err.Error(), "sk-test-key-123456", "logs are clean too")
	assert.Equal(t, 401, resilience.Classify(err).Status)
}

// A key of any shape (a gateway's, a tenant's own) is redacted when the
// provider echoes it, not only keys shaped like OpenAI's; and a provider's
// message shown to clients is bounded.
func TestOpenAIErrorMessagesRedactTheConfiguredKeyAndAreBounded(t *testing.T) {
	srv, url := fake(t)
	const key = "gw0123456789"
	m, err := NewOpenAI(OpenAIConfig{BaseURL: url + "/v1", APIKey: key, Model: "gpt-test", HTTPClient: testClient})
	require.NoError(t, err)
	srv.Enqueue(fakellm.Reply{Status: 401, ErrorMessage: "Unknown key " + key + "."})
	_, _, err = collect(context.Background(), m, chatRequest("x"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), key)
	assert.Contains(t, err.Error(), "Unknown key [redacted].")

	srv.Enqueue(fakellm.Reply{Status: 400, ErrorMessage: strings.Repeat("too long ", 200)})
	_, _, err = collect(context.Background(), m, chatRequest("x"))
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Less(t, len([]rune(de.Message)), 400, "%s", de.Message)
	assert.Contains(t, de.Message, "too long too long")
}

func TestOpenAIUnreachable(t *testing.T) {
	srv, url := fake(t)
	srv.Close()
	_, _, err := collect(context.Background(), newOpenAI(t, url), chatRequest("x"))
	assert.Equal(t, domain.CodeLLMUnavailable, errCode(err), "%v", err)
	assert.True(t, resilience.Classify(err).Retryable)
}

func TestOpenAIEmbeddings(t *testing.T) {
	srv, url := fake(t)
	e, err := NewOpenAIEmbeddings(OpenAIConfig{BaseURL: url + "/v1", APIKey: "k", Model: "text-embedding-test", HTTPClient: testClient})
	require.NoError(t, err)
	texts := make([]string, embedBatch+3) // two requests
	for i := range texts {
		texts[i] = "red apple"
	}
	texts[0], texts[len(texts)-1] = "green pear", "blue sky"
	vecs, err := e.Embed(context.Background(), texts)
	require.NoError(t, err)
	require.Len(t, vecs, len(texts))
	assert.Equal(t, 2, srv.CountAPI(fakellm.APIOpenAIEmbeddings))
	for i, want := range []string{texts[0], texts[1], texts[len(texts)-1]} {
		idx := []int{0, 1, len(texts) - 1}[i]
		exp := fakellm.Embed(want, 64)
		require.Len(t, vecs[idx], 64)
		for j := range exp {
			assert.InDelta(t, exp[j], vecs[idx][j], 1e-6)
		}
	}
	req, _ := srv.Last()
	assert.Equal(t, "float", req.Body["encoding_format"])

	empty, err := e.Embed(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, empty)

	srv.FailNext(1, fakellm.Reply{Status: http.StatusBadRequest})
	_, err = e.Embed(context.Background(), []string{"x"})
	assert.Equal(t, domain.CodeLLMError, errCode(err))
}

// An embeddings server that answers with a vector missing, or vectors of
// different sizes, is an error: callers compare every vector with every
// other, and a missing or short one would match nothing, silently.
func TestOpenAIEmbeddingsRejectABadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		texts []string
		data  string
	}{
		{"no vector", []string{"a"}, `[]`},
		{"two sizes", []string{"a", "b"}, `[{"object":"embedding","index":0,"embedding":[0.1,0.2]},{"object":"embedding","index":1,"embedding":[0.1,0.2,0.3]}]`},
		{"an index twice", []string{"a", "b"}, `[{"object":"embedding","index":0,"embedding":[0.1,0.2]},{"object":"embedding","index":0,"embedding":[0.1,0.2]}]`},
		{"an index out of range", []string{"a"}, `[{"object":"embedding","index":1,"embedding":[0.1,0.2]}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"object":"list","model":"m","usage":{"prompt_tokens":1,"total_tokens":1},"data":` + tc.data + `}`))
			}))
			t.Cleanup(ts.Close)
			e, err := NewOpenAIEmbeddings(OpenAIConfig{BaseURL: ts.URL + "/v1", APIKey: "k", Model: "m", HTTPClient: testClient})
			require.NoError(t, err)
			vecs, err := e.Embed(context.Background(), tc.texts)
			assert.Equal(t, domain.CodeLLMError, errCode(err), "%v", err)
			assert.Nil(t, vecs)
		})
	}
}

// TestOpenAIRequestsCarryOnlyTheirOwnParameters: a request's parameters
// are reused for the next stream's once encoded (paramsPool); nothing of
// an earlier request (messages, sampling, format, model) reaches a later
// one, also after a request refused before it was sent.
func TestOpenAIRequestsCarryOnlyTheirOwnParameters(t *testing.T) {
	srv, url := fake(t)
	m := newOpenAI(t, url)
	temp := 0.25
	first := chatRequest("first question")
	first.Model, first.Temperature, first.MaxTokens, first.JSON = "gpt-other", &temp, 77, true
	first.Messages = append(first.Messages, ports.ChatMessage{Role: ports.RoleAssistant, Content: "earlier"},
		ports.ChatMessage{Role: ports.RoleUser, Content: "more"})
	refused := ports.ChatRequest{Messages: []ports.ChatMessage{{Role: ports.RoleUser, Content: "refused"}, {Role: "tool", Content: "x"}}}
	for i := range 3 {
		_, _, err := collect(context.Background(), m, first)
		require.NoError(t, err)
		_, _, err = collect(context.Background(), m, refused)
		require.Error(t, err, "an unsupported role is refused before sending")
		_, _, err = collect(context.Background(), m, chatRequest("second question"))
		require.NoError(t, err)

		got, _ := srv.Last()
		assert.Equal(t, "gpt-test", got.Model, "round %d", i)
		for _, field := range []string{"temperature", "max_tokens", "max_completion_tokens", "response_format"} {
			assert.NotContains(t, got.Body, field, "round %d", i)
		}
		assert.Equal(t, true, got.Body["stream"], "round %d", i)
		assert.Equal(t, map[string]any{"include_usage": true}, got.Body["stream_options"], "round %d", i)
		require.Len(t, got.Messages, 2, "round %d", i)
		assert.Equal(t, "be brief", got.Messages[0].Content)
		assert.Equal(t, "second question", got.Messages[1].Content)
	}
	assert.Len(t, srv.Requests(), 6, "refused requests were never sent")
}
