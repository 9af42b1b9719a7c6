package llm

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

// A stream that ends cleanly but without the provider's end marker was cut
// by something the transport did not notice (a proxy, a crash that closed
// the socket politely); it must not pass for a complete reply.
func TestCleanlyCutStreamsAreErrors(t *testing.T) {
	const openAIBody = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}` + "\n\n"
	const anthropicBody = "event: message_start\n" +
		`data: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":3,"output_tokens":0}}}` + "\n\n" +
		"event: content_block_delta\n" +
		`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}` + "\n\n"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		if r.URL.Path == "/v1/messages" {
			_, _ = io.WriteString(w, anthropicBody)
			return
		}
		_, _ = io.WriteString(w, openAIBody)
	}))
	t.Cleanup(ts.Close)

	for name, m := range map[string]ports.ChatModel{"openai": newOpenAI(t, ts.URL), "anthropic": newAnthropic(t, ts.URL)} {
		t.Run(name, func(t *testing.T) {
			got, res, err := collect(context.Background(), m, chatRequest("x"))
			require.Error(t, err)
			assert.Equal(t, []string{"Hel"}, got)
			assert.Equal(t, "Hel", res.Text)
			assert.Equal(t, domain.CodeLLMUnavailable, errCode(err), "%v", err)
			assert.True(t, resilience.Classify(err).Retryable)
		})
	}
}

// A reply the model ended because it reached the token cap is complete:
// the client has all of it, and it is not an error to retry.
func TestRepliesCutAtTheTokenCapAreComplete(t *testing.T) {
	for name, open := range map[string]func(*testing.T, string) ports.ChatModel{
		"openai":    func(t *testing.T, url string) ports.ChatModel { return newOpenAI(t, url) },
		"anthropic": func(t *testing.T, url string) ports.ChatModel { return newAnthropic(t, url) },
	} {
		t.Run(name, func(t *testing.T) {
			srv, url := fake(t)
			srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, FinishReason: "length"})
			got, res, err := collect(context.Background(), open(t, url), chatRequest("x"))
			require.NoError(t, err)
			assert.Equal(t, fiveDeltas, got)
			assert.Equal(t, "a b c d e", res.Text)
		})
	}
}

// OpenAI-compatible servers may send choices besides the first (n > 1, or
// a server's own extras): only choice 0 is the reply, and nothing of
// another choice reaches the client or the reply's text.
func TestOpenAIPassesOnlyTheFirstChoice(t *testing.T) {
	const body = `data: {"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n" +
		`data: {"model":"m","choices":[{"index":0,"delta":{"content":"Hel"}},{"index":1,"delta":{"content":"Other"}}]}` + "\n\n" +
		`data: {"model":"m","choices":[{"index":1,"delta":{"content":" two"}}]}` + "\n\n" +
		`data: {"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	got, res, err := collect(context.Background(), newOpenAI(t, ts.URL), chatRequest("x"))
	require.NoError(t, err)
	assert.Equal(t, []string{"Hel", "lo"}, got)
	assert.Equal(t, "Hello", res.Text)
}
