package component

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
