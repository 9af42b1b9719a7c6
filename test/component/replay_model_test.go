package component

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
	"focal/test/harness"
)

// api.md: with model "configured" the replay uses the service's model, and
// "a turn whose model call fails is reported with its error": the replay
// still answers 200, the failed turn carries the model's error and the
// change kind error, and the next turn is replayed on the model.
func TestReplayWithTheConfiguredModelReportsAFailedTurn(t *testing.T) {
	app, fake := startOnFakeModel(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	var session string
	for _, msg := range []string{"Hello", "Tell me about socks"} {
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: map[string]any{
			"agent_id": plainAgent, "channel": "webchat", "user_channel_id": "u-replay-model", "message": msg,
		}})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var reply struct {
			SessionID string `json:"session_id"`
			Response  string `json:"response"`
		}
		res.JSON(t, &reply)
		require.Equal(t, "You said: "+msg, reply.Response, "the fake model answered")
		session = reply.SessionID
	}
	version := etag(t, admin.do(http.MethodGet, "/v1/agents/"+plainAgent, nil))

	fake.Reset()
	fake.FailNext(1, fakellm.Reply{Status: http.StatusBadRequest})
	turns := replayOf(t, app, plainAgent, map[string]any{"version": version, "model": "configured",
		"sessions": map[string]any{"ids": []string{session}}})
	require.Len(t, turns, 2)
	assert.NotZero(t, fake.Count(), "the configured model was called")

	failed := turns[0]
	assert.Equal(t, 1, failed.TurnNumber)
	assert.Regexp(t, `^LLM_ERROR: .+`, failed.Error)
	assert.Equal(t, []string{"error"}, failed.Changed)
	assert.Equal(t, "You said: Hello", failed.Before.Reply)
	assert.Empty(t, failed.After.Reply)

	ok := turns[1]
	assert.Empty(t, ok.Error)
	assert.Equal(t, "You said: Tell me about socks", ok.After.Reply, "the model answered the next turn")
	assert.Empty(t, ok.Changed)
}
