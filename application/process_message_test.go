package application_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
	"focal/ports"
)

// lossyCommits commits, then reports the store unreachable: the answer got
// lost on the way back, as happens when a deadline passes mid-write.
type lossyCommits struct {
	*memory.Store
	lose bool
}

func (s *lossyCommits) CommitTurn(ctx context.Context, lease ports.LeaseToken, t *domain.Turn) error {
	if err := s.Store.CommitTurn(ctx, lease, t); err != nil {
		return err
	}
	if s.lose {
		return domain.WrapError(domain.CodeStoreUnavailable, errors.New("i/o timeout"), "the store did not answer in time")
	}
	return nil
}

func newUseCase(t *testing.T, turns ports.TurnStore, store *memory.Store) *application.ProcessMessage {
	t.Helper()
	clk := clock.System{}
	p := &domain.Policy{Agent: domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}
	require.NoError(t, store.SavePolicy(context.Background(), tenant, p))
	cache, err := application.NewPolicyCache(store, clk, time.Second)
	require.NoError(t, err)
	engine, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: clk})
	require.NoError(t, err)
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, store, turns, store, engine, clk)
	require.NoError(t, err)
	return uc
}

const tenant = "550e8400-e29b-41d4-a716-446655440000"

// A commit whose answer was lost but which landed is a success: reading
// the turn back settles it.
func TestCommitWithLostAnswerIsConfirmedByReadingBack(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &lossyCommits{Store: store, lose: true}
	uc := newUseCase(t, turns, store)
	res, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)
	stored, err := store.GetTurn(context.Background(), tenant, res.TurnID)
	require.NoError(t, err)
	assert.Equal(t, 1, stored.TurnNumber)
}
