package application_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
	"focal/ports"
)

// countingLocker counts the renewals of the leases it grants and signals
// each one.
type countingLocker struct {
	ports.SessionLocker
	renewals atomic.Int32
	renewed  chan struct{}
}

func (l *countingLocker) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	lease, err := l.SessionLocker.LockSession(ctx, req)
	if err != nil {
		return nil, err
	}
	return &countedLease{SessionLease: lease, by: l}, nil
}

type countedLease struct {
	ports.SessionLease
	by *countingLocker
}

func (l *countedLease) Renew(ctx context.Context) error {
	err := l.SessionLease.Renew(ctx)
	l.by.renewals.Add(1)
	l.by.renewed <- struct{}{}
	return err
}

// slowModel answers once the lease has been renewed twice: a model slower
// than the lease's TTL.
type slowModel struct{ renewed <-chan struct{} }

func (m slowModel) StreamChat(ctx context.Context, _ ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	for range 2 {
		select {
		case <-m.renewed:
		case <-ctx.Done():
			return ports.ChatResult{}, ctx.Err()
		}
	}
	return ports.ChatResult{Text: "done"}, onDelta("done")
}

// A turn that outlasts its lease's TTL keeps the lease: it is renewed,
// again and again, while the turn waits on the model, and the turn commits.
func TestLeaseRenewedWhileTheTurnWaitsOnTheModel(t *testing.T) {
	store := memory.New(clock.System{})
	locker := &countingLocker{SessionLocker: store, renewed: make(chan struct{}, 16)}
	clk := clock.System{}
	p := &domain.Policy{Agent: domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}
	require.NoError(t, store.SavePolicy(context.Background(), tenant, p))
	cache, err := application.NewPolicyCache(store, clk, time.Second)
	require.NoError(t, err)
	engine, err := alignment.New(alignment.Deps{Model: slowModel{renewed: locker.renewed}, History: store, Clock: clk})
	require.NoError(t, err)
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 1500 * time.Millisecond,
		TurnTimeout: 30 * time.Second, CommitTimeout: time.Second}, cache, store, store, locker, engine, clk)
	require.NoError(t, err)

	res, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: p.Agent.ID,
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)
	assert.Equal(t, "done", res.Response)
	assert.GreaterOrEqual(t, locker.renewals.Load(), int32(2), "the renewal timer is set again after each renewal")
	stored, err := store.GetTurn(context.Background(), tenant, res.TurnID)
	require.NoError(t, err)
	assert.Equal(t, "done", stored.Response)
}
