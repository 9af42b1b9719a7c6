package component

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// api.md: "when retention dropped older turns, the state after the oldest
// kept one, which is not replayed itself". With the memory store keeping 3
// turns a session, the 5-turn demo conversation keeps turns 3 to 5; its
// replay against the version it was recorded with runs turns 4 and 5 only,
// from the state after turn 3 (mid-way through the returns flow, which a
// new session would not be), and nothing changes.
func TestReplayAfterRetentionStartsAfterTheOldestKeptTurn(t *testing.T) {
	app := harness.Start(t, map[string]string{"FOCAL_MEMORY_MAX_TURNS": "3"})
	token := harness.Token(t, harness.DemoTenant)
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	session := converse(t, app, token, "retained-customer", nil)
	version := etag(t, admin.do(http.MethodGet, "/v1/agents/"+harness.DemoAgent, nil))

	kept := liveViews(t, app, token, session)
	require.Len(t, kept, 3, "retention kept turns 3 to 5")

	turns := replayOf(t, app, harness.DemoAgent, map[string]any{"version": version, "sessions": map[string]any{"ids": []string{session}}})
	require.Len(t, turns, 2, "the oldest kept turn is not replayed")
	for i, turn := range turns {
		assert.Equal(t, i+4, turn.TurnNumber)
		assert.Equal(t, demoMessages[i+3], turn.Message)
		assert.Empty(t, turn.Error, "turn %d", turn.TurnNumber)
		assert.Equal(t, kept[i+1], withoutEnforcement(turn.Before), "turn %d before is the recorded turn", turn.TurnNumber)
		assert.Empty(t, turn.Changed, "turn %d: replayed from the state the live turn had", turn.TurnNumber)
	}
	require.NotNil(t, turns[0].Before.Scenario, "turn 4 was recorded inside the returns flow")
	assert.Equal(t, "returns", turns[0].After.Scenario["id"], "turn 4 replayed inside the returns flow, from turn 3's state")
}
