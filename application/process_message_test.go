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
		return unreachable()
	}
	return nil
}

func unreachable() error {
	return domain.WrapError(domain.CodeStoreUnavailable, errors.New("i/o timeout"), "the store did not answer in time")
}

// failingCommits fails the first commits without storing anything, and
// cannot be read either, as a store does while it fails over.
type failingCommits struct {
	*memory.Store
	failures int
	attempts int
}

func (s *failingCommits) CommitTurn(ctx context.Context, lease ports.LeaseToken, t *domain.Turn) error {
	s.attempts++
	if s.attempts <= s.failures {
		return unreachable()
	}
	return s.Store.CommitTurn(ctx, lease, t)
}

func (s *failingCommits) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	if s.attempts <= s.failures {
		return nil, unreachable()
	}
	return s.Store.GetTurn(ctx, tenantID, turnID)
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

// A commit that did not land while the store failed over is sent again
// until the store answers, and lands once.
func TestCommitRetriedWhileTheStoreFailsOver(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &failingCommits{Store: store, failures: 3}
	uc := newUseCase(t, turns, store)
	res, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)
	assert.Equal(t, 4, turns.attempts, "three failed attempts, then the one that landed")
	page, err := store.ListTurns(context.Background(), tenant, res.SessionID, ports.TurnQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "stored once")
	assert.Equal(t, res.TurnID, page.Items[0].ID)
}
