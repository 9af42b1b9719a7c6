package application_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
	"focal/domain"
	"focal/ports"
)

// demoAgent is the agent of examples/demo-agent.yaml.
const demoAgent = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

// api.md: sessions.ids names at most 100 sessions. A replay of 100 named
// sessions runs all of them; 101 ids are refused as an invalid request
// on sessions.ids (INVALID_REQUEST, which the API answers with 400;
// test/component's TestReplayRefusals checks the status).
func TestReplayTakesAtMost100SessionIDs(t *testing.T) {
	require.Equal(t, 100, application.MaxReplaySessions, "the number api.md states")
	rb := newReplayBenchOf(t, 100, []string{"What time do you open on Sunday?"})
	ctx := context.Background()
	page, err := rb.store.ListSessions(ctx, tenant, ports.SessionQuery{AgentID: demoAgent, Page: ports.PageRequest{Limit: ports.MaxPageSize}})
	require.NoError(t, err)
	require.Len(t, page.Items, 100)
	ids := make([]string, 0, 101)
	for _, s := range page.Items {
		ids = append(ids, s.ID)
	}

	r, err := rb.replay.Run(ctx, application.ReplayCommand{TenantID: tenant, AgentID: demoAgent, Version: rb.candidate, SessionIDs: ids})
	require.NoError(t, err, "100 ids are taken")
	assert.Equal(t, 100, r.Summary.Sessions)
	assert.Equal(t, 100, r.Summary.Turns)
	assert.False(t, r.Summary.Truncated)

	// The 101st id is a session of the agent too: only the count is refused.
	ids = append(ids, ids[0])
	_, err = rb.replay.Run(ctx, application.ReplayCommand{TenantID: tenant, AgentID: demoAgent, Version: rb.candidate, SessionIDs: ids})
	require.Error(t, err)
	var de *domain.Error
	require.True(t, errors.As(err, &de), "%v", err)
	assert.Equal(t, domain.CodeInvalidRequest, de.Code)
	require.Len(t, de.Details, 1)
	assert.Equal(t, "sessions.ids", de.Details[0].Field)
	assert.Equal(t, "at most 100 sessions", de.Details[0].Message)
}
