package llm

import (
	"context"
	"io"
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

func TestAnthropicStreamsDeltasExactlyWithUsage(t *testing.T) {
	srv, url := fake(t)
	deltas := []string{"Hi", " there", ",\n", "\tfriend", "  "}
	srv.Enqueue(fakellm.Reply{Deltas: deltas})
	got, res, err := collect(context.Background(), newAnthropic(t, url), chatRequest("hello there"))
	require.NoError(t, err)
	assert.Equal(t, deltas, got)
	assert.Equal(t, strings.Join(deltas, ""), res.Text)
	assert.Equal(t, "anthropic", res.Provider)
	assert.Equal(t, "claude-test", res.Model)
	assert.Equal(t, domain.TokenUsage{Prompt: 4, Completion: 3}, res.Usage)

	req, _ := srv.Last()
	assert.Equal(t, fakellm.APIAnthropicMessages, req.API)
	assert.True(t, req.Stream)
	assert.Equal(t, "be brief", req.System)
	assert.Equal(t, 1024.0, req.Body["max_tokens"], "the API requires max_tokens")
	assert.NotEmpty(t, req.Header.Get("Anthropic-Version"))
}

// Prompt tokens read from or written to the prompt cache are billed
// prompt tokens, whether message_start alone counts them or message_delta
// repeats the cumulative counts.
func TestAnthropicBillsCachedPromptTokens(t *testing.T) {
	const start = "event: message_start\n" +
		`data: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":3,"cache_creation_input_tokens":5,"cache_read_input_tokens":7,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_delta\n" +
		`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}` + "\n\n"
	const stop = "event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n"
	for name, delta := range map[string]string{
		"output only": `{"output_tokens":4}`,
		"cumulative":  `{"input_tokens":30,"cache_creation_input_tokens":50,"cache_read_input_tokens":70,"output_tokens":4}`,
	} {
		t.Run(name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, start+"event: message_delta\n"+
					`data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":`+delta+"}\n\n"+stop)
			}))
			t.Cleanup(ts.Close)
			_, res, err := collect(context.Background(), newAnthropic(t, ts.URL), chatRequest("x"))
			require.NoError(t, err)
			want := domain.TokenUsage{Prompt: 3 + 5 + 7, Completion: 4}
			if name == "cumulative" {
				want.Prompt = 30 + 50 + 70
			}
			assert.Equal(t, want, res.Usage)
		})
	}
}

// Deltas that carry no reply text (an empty text delta, thinking, tool
// input) are not passed on: the client sees only text, and the first of
// them does not count as the first token the watchdog waits for.
func TestAnthropicPassesOnOnlyReplyText(t *testing.T) {
	const body = "event: message_start\n" +
		`data: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}` + "\n\n" +
		"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}` + "\n\n" +
		"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	got, res, err := collect(context.Background(), newAnthropic(t, ts.URL), chatRequest("x"))
	require.NoError(t, err)
	assert.Equal(t, []string{"Hi"}, got)
	assert.Equal(t, "Hi", res.Text)
}

func TestAnthropicBuildsSystemAndAlternatingTurns(t *testing.T) {
	srv, url := fake(t)
	req := ports.ChatRequest{
		Model:     "claude-other",
		MaxTokens: 50,
		JSON:      true,
		Messages: []ports.ChatMessage{
			{Role: ports.RoleSystem, Content: "You are Focal."},
			{Role: ports.RoleUser, Content: "first"},
			{Role: ports.RoleUser, Content: "second"},
			{Role: ports.RoleAssistant, Content: "answer"},
			{Role: ports.RoleAssistant, Content: ""},
			{Role: ports.RoleUser, Content: "third"},
			{Role: ports.RoleSystem, Content: "Your previous reply broke a rule."},
		},
	}
	_, res, err := collect(context.Background(), newAnthropic(t, url), req)
	require.NoError(t, err)
	assert.Equal(t, "claude-other", res.Model)

	got, _ := srv.Last()
	assert.Equal(t, "claude-other", got.Model)
	assert.Equal(t, 50.0, got.Body["max_tokens"])
	assert.Equal(t, "You are Focal.\n\nYour previous reply broke a rule.\n\n"+jsonInstruction, got.System,
		"every system message, the late regeneration note included, reaches the system prompt")
	assert.Equal(t, []fakellm.Message{
		{Role: "user", Content: "first\n\nsecond"},
		{Role: "assistant", Content: "answer"},
		{Role: "user", Content: "third"},
	}, got.Messages)
}

func TestAnthropicRejectsARequestWithoutTurns(t *testing.T) {
	_, err := anthropicParams("m", ports.ChatRequest{Messages: []ports.ChatMessage{{Role: ports.RoleSystem, Content: "x"}}})
	assert.Error(t, err)
	_, err = anthropicParams("m", ports.ChatRequest{Messages: []ports.ChatMessage{{Role: "tool", Content: "x"}}})
	assert.Error(t, err)
}

func TestAnthropicErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reply   fakellm.Reply
		code    domain.ErrorCode
		status  int
		retryAt time.Duration
		deltas  int
	}{
		{"overloaded", fakellm.Reply{Status: 529}, domain.CodeLLMError, 529, 0, 0},
		{"rate limited", fakellm.Reply{Status: 429, RetryAfter: 2 * time.Second}, domain.CodeLLMError, 429, 2 * time.Second, 0},
		{"bad request", fakellm.Reply{Status: 400}, domain.CodeLLMError, 400, 0, 0},
		{"error event mid-stream", fakellm.Reply{Deltas: fiveDeltas, ErrorAfter: 2}, domain.CodeLLMError, 529, 0, 2},
		{"malformed event", fakellm.Reply{Deltas: fiveDeltas, MalformedAfter: 2}, domain.CodeLLMError, 0, 0, 2},
		{"disconnect", fakellm.Reply{Deltas: fiveDeltas, DisconnectAfter: 1}, domain.CodeLLMUnavailable, 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := fake(t)
			srv.Enqueue(tc.reply)
			got, _, err := collect(context.Background(), newAnthropic(t, url), chatRequest("x"))
			require.Error(t, err)
			assert.Len(t, got, tc.deltas)
			assert.Equal(t, tc.code, errCode(err), "%v", err)
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.retryAt, de.RetryAfter)
			assert.Equal(t, tc.status, resilience.Classify(err).Status)
			assert.NotContains(t, err.Error(), "sk-ant-test-key-123456")
		})
	}
}
