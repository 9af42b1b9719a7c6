package llm

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

// fake starts a fake provider server for the test.
func fake(t *testing.T, opts ...fakellm.Option) (*fakellm.Server, string) {
	t.Helper()
	srv := fakellm.New(opts...)
	url := srv.Start()
	t.Cleanup(srv.Close)
	return srv, url
}

// client is shared by a test's adapters; short connect timeout.
var testClient = NewHTTPClient(time.Second)

func newOpenAI(t *testing.T, url string) *OpenAI {
	t.Helper()
	m, err := NewOpenAI(OpenAIConfig{BaseURL: url + "/v1", APIKey: "sk-test-key-123456", Model: "gpt-test", HTTPClient: testClient})
	require.NoError(t, err)
	return m
}

func newAnthropic(t *testing.T, url string) *Anthropic {
	t.Helper()
	m, err := NewAnthropic(AnthropicConfig{BaseURL: url, APIKey: "sk-ant-test-key-123456", Model: "claude-test", HTTPClient: testClient})
	require.NoError(t, err)
	return m
}

// guardConfig is a fast policy: tests must not wait for production timeouts.
func guardConfig() resilience.Config {
	return resilience.Config{
		FirstTokenTimeout: time.Second, // well above a first token from the local fake, even on a loaded machine
		AttemptTimeout:    3 * time.Second,
		MaxRetries:        1,
		RetryBase:         5 * time.Millisecond,
		RetryMax:          20 * time.Millisecond,
		BreakerFailures:   3,
		BreakerOpen:       200 * time.Millisecond,
		UnavailableCode:   domain.CodeLLMUnavailable,
	}
}

func chatRequest(user string) ports.ChatRequest {
	return ports.ChatRequest{Messages: []ports.ChatMessage{
		{Role: ports.RoleSystem, Content: "be brief"},
		{Role: ports.RoleUser, Content: user},
	}}
}

// collect runs one call and returns the deltas passed on.
func collect(ctx context.Context, m ports.ChatModel, req ports.ChatRequest) ([]string, ports.ChatResult, error) {
	var deltas []string
	res, err := m.StreamChat(ctx, req, func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	return deltas, res, err
}

func errCode(err error) domain.ErrorCode { return domain.ErrorCodeOf(err) }

var fiveDeltas = []string{"a", " b", " c", " d", " e"}
