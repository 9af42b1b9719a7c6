package application_test

import (
	"context"
	"fmt"
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

// heldModel tells when it is asked, and answers once let go: a model
// slower than the lease's TTL.
type heldModel struct{ asked, letGo chan struct{} }

func (m heldModel) StreamChat(ctx context.Context, _ ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	close(m.asked)
	select {
	case <-m.letGo:
	case <-ctx.Done():
		return ports.ChatResult{}, ctx.Err()
	}
	return ports.ChatResult{Text: "done"}, onDelta("done")
}

// A turn that outlasts its lease's TTL keeps the lease: it is renewed,
// again and again, while the turn waits on the model, and the turn commits.
// The clock is a fake one, moved a third of the TTL at a time, each move
// once the renewal timer is set again (rearmingClock tells).
func TestLeaseRenewedWhileTheTurnWaitsOnTheModel(t *testing.T) {
	fake := &rearmingClock{Fake: clock.NewFake(), rearmed: make(chan time.Duration, 4)}
	store := memory.New(fake)
	locker := &countingLocker{SessionLocker: store, renewed: make(chan struct{}, 16)}
	p := &domain.Policy{Agent: domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}
	require.NoError(t, store.SavePolicy(context.Background(), tenant, p))
	cache, err := application.NewPolicyCache(store, fake, time.Hour)
	require.NoError(t, err)
	model := heldModel{asked: make(chan struct{}), letGo: make(chan struct{})}
	engine, err := alignment.New(alignment.Deps{Model: model, History: store, Clock: fake})
	require.NoError(t, err)
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: leaseTTL,
		TurnTimeout: time.Hour, CommitTimeout: time.Second}, cache, store, store, locker, engine, fake)
	require.NoError(t, err)
	type chatted struct {
		res *application.ChatResult
		err error
	}
	done := make(chan chatted, 1)
	go func() {
		res, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: p.Agent.ID,
			Channel: "web", UserChannelID: "u", Message: "hi"})
		done <- chatted{res, err}
	}()

	// The renewal timer is set before the model is asked; four thirds of
	// the TTL outlast it.
	await(t, model.asked, "model call")
	for i := range 4 {
		fake.Advance(leaseTTL / 3)
		await(t, locker.renewed, fmt.Sprintf("renewal %d", i+1))
		require.Equal(t, leaseTTL/3, await(t, fake.rearmed, "renewal timer set again"))
	}
	close(model.letGo)
	got := await(t, done, "turn end")
	require.NoError(t, got.err)
	assert.Equal(t, "done", got.res.Response)
	assert.Equal(t, int32(4), locker.renewals.Load(), "one renewal per third of the TTL")
	stored, err := store.GetTurn(context.Background(), tenant, got.res.TurnID)
	require.NoError(t, err)
	assert.Equal(t, "done", stored.Response)
}
