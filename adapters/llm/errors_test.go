package llm

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

// An error event inside a 200 stream carries no status: its type says
// what went wrong, and whether trying again can help. A request the
// provider refused (invalid, unauthorized) must not be retried as if the
// server had failed; a rate limit must surface as 429.
func TestStreamErrorEventsMapToTheStatusTheirTypeNames(t *testing.T) {
	for _, tc := range []struct {
		errType   string
		status    int
		retryable bool
	}{
		{"invalid_request_error", 400, false},
		{"authentication_error", 401, false},
		{"permission_error", 403, false},
		{"not_found_error", 404, false},
		{"request_too_large", 413, false},
		{"rate_limit_error", 429, true},
		{"tokens", 429, true}, // OpenAI's rate-limit types name the exhausted quota
		{"requests", 429, true},
		{"timeout_error", 504, true},
		{"overloaded_error", 529, true},
		{"server_error", 500, true},
	} {
		for provider, open := range map[string]func(*testing.T, string) ports.ChatModel{
			"openai":    func(t *testing.T, url string) ports.ChatModel { return newOpenAI(t, url) },
			"anthropic": func(t *testing.T, url string) ports.ChatModel { return newAnthropic(t, url) },
		} {
			t.Run(provider+"/"+tc.errType, func(t *testing.T) {
				srv, url := fake(t)
				srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, ErrorAfter: 1, ErrorType: tc.errType})
				got, _, err := collect(context.Background(), open(t, url), chatRequest("x"))
				require.Error(t, err)
				assert.Equal(t, fiveDeltas[:1], got)
				assert.Equal(t, domain.CodeLLMError, errCode(err), "%v", err)
				class := resilience.Classify(err)
				assert.Equal(t, tc.status, class.Status, "%v", err)
				assert.Equal(t, tc.retryable, class.Retryable, "%v", err)
			})
		}
	}
}

// A call its caller ended is LLM_UNAVAILABLE with the context's error and
// the caller's cause in the chain: the caller tells its own deadline or
// shutdown from a model that failed.
func TestACallTheCallerEndedCarriesItsCause(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			srv, url := fake(t)
			srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: 1})
			cause := errors.New("the turn's deadline")
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			_, err := p.link(t, url).Chat.StreamChat(ctx, chatRequest("x"), func(string) error { cancel(cause); return nil })
			require.Error(t, err)
			assert.Equal(t, domain.CodeLLMUnavailable, errCode(err), "%v", err)
			assert.ErrorIs(t, err, context.Canceled)
			assert.ErrorIs(t, err, cause)
		})
	}
}
