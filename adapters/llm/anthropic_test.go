package llm

import (
	"context"
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
