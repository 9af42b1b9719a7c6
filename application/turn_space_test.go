package application_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/application"
	"focal/domain"
	"focal/ports"
)

// agentID is newUseCase's agent.
const agentID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

// committedJSON records each turn's JSON as it is committed.
type committedJSON struct {
	*memory.Store
	mu   sync.Mutex
	json map[string]string
}

func (s *committedJSON) CommitTurn(ctx context.Context, lease ports.LeaseToken, t *domain.Turn) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.json[t.ID] = string(raw)
	s.mu.Unlock()
	return s.Store.CommitTurn(ctx, lease, t)
}

// Turns lend their engine runs a space that later turns run in again
// (turnSpaces): every record reads back, after all the turns, as it was
// committed, and every result as its record says, while turns that match
// rules, and turns that do not, follow one another in a few sessions.
func TestTurnsRunInSpacesLaterTurnsReuse(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &committedJSON{Store: store, json: map[string]string{}}
	uc := newUseCase(t, turns, store)
	p, err := store.GetPolicy(context.Background(), tenant, agentID)
	require.NoError(t, err)
	p.Rules = []domain.Rule{
		{ID: "greet", Condition: "the customer greets", Examples: []string{"hello there", "hi, good morning"}, Action: "greet back",
			Scope: domain.ScopeGlobal, Enabled: true, TemplateIDs: []string{"hi"}},
		{ID: "refund", Condition: "the customer wants a refund", Examples: []string{"I want my money back", "refund my order"},
			Action: "explain refunds", Scope: domain.ScopeGlobal, Enabled: true, Priority: 5},
	}
	p.Templates = append(p.Templates, domain.Template{ID: "hi", Mode: domain.ModeSuggest, Text: "Hi, how can I help?"})
	p.Agent.Version++
	require.Empty(t, p.Validate())
	require.NoError(t, store.SavePolicy(context.Background(), tenant, p))
	messages := []string{"hello there", "I want my money back please", "what is the weather", "hi! refund my order"}
	type answered struct {
		id  string
		res application.ChatResult
	}
	var all []answered
	for i := range 40 {
		res, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: agentID, Channel: "web",
			UserChannelID: fmt.Sprintf("u%d", i%3), Message: messages[i%len(messages)]})
		require.NoError(t, err)
		all = append(all, answered{id: res.TurnID, res: *res})
	}
	matched := 0
	for _, a := range all {
		stored, err := store.GetTurn(context.Background(), tenant, a.id)
		require.NoError(t, err)
		raw, err := json.Marshal(stored)
		require.NoError(t, err)
		require.JSONEq(t, turns.json[a.id], string(raw), "turn %s reads back as committed", a.id)
		require.Equal(t, *application.ResultOf(stored), a.res, "turn %s's result is its record's", a.id)
		matched += len(a.res.MatchedRules)
	}
	require.NotZero(t, matched, "some turns match rules")
}
