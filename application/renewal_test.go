package application_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
	"focal/ports"
)

// renewSignals tells of every lease renewal and claim renewal that reached
// the store.
type renewSignals struct {
	*memory.Store
	leases chan struct{}
	claims chan time.Time
}

func (s *renewSignals) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	l, err := s.Store.LockSession(ctx, req)
	if err != nil {
		return nil, err
	}
	return signalledLease{SessionLease: l, renewed: s.leases}, nil
}

func (s *renewSignals) RenewIdempotencyClaim(ctx context.Context, tenantID, key, owner string, heldUntil time.Time) error {
	err := s.Store.RenewIdempotencyClaim(ctx, tenantID, key, owner, heldUntil)
	s.claims <- heldUntil
	return err
}

type signalledLease struct {
	ports.SessionLease
	renewed chan struct{}
}

func (l signalledLease) Renew(ctx context.Context) error {
	err := l.SessionLease.Renew(ctx)
	l.renewed <- struct{}{}
	return err
}

// blockedEngine runs a turn once it is let go.
type blockedEngine struct {
	ports.Engine
	letGo chan struct{}
}

func (e blockedEngine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	<-e.letGo
	return e.Engine.RunTurn(ctx, in, sink)
}

// await returns the next value of ch, failing the test after a minute.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

// A running keyed turn renews its session lease every third of the lease
// TTL and its key's claim every third of the hold, both by the injected
// clock: nothing is renewed before the clock moves, and each step of a
// third renews once more.
func TestRenewalsRunOnTheClock(t *testing.T) {
	fake := clock.NewFake()
	store := &renewSignals{Store: memory.New(fake), leases: make(chan struct{}, 8), claims: make(chan time.Time, 8)}
	p := &domain.Policy{Agent: domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}
	require.NoError(t, store.SavePolicy(t.Context(), tenant, p))
	cache, err := application.NewPolicyCache(store, fake, time.Hour)
	require.NoError(t, err)
	inner, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: fake})
	require.NoError(t, err)
	engine := blockedEngine{Engine: inner, letGo: make(chan struct{})}
	const leaseTTL, hold = 15 * time.Second, 30 * time.Second // renewals every 5s and every 10s
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: leaseTTL,
		TurnTimeout: time.Hour, CommitTimeout: time.Second}, cache, store, store, store, engine, fake)
	require.NoError(t, err)
	keys := application.NewIdempotency(application.IdempotencyConfig{TTL: time.Hour, Wait: time.Second, Hold: hold}, store, store, fake)
	cmd := application.ChatCommand{TenantID: tenant, AgentID: p.Agent.ID, Channel: "web", UserChannelID: "u", Message: "hi"}

	done := make(chan error, 1)
	go func() {
		_, err := keys.Do(context.Background(), application.KeyedRequest{TenantID: tenant, Key: "k", Fingerprint: "f"},
			func(ctx context.Context) application.Reply {
				_, err := uc.Chat(ctx, cmd)
				done <- err
				return application.Reply{Status: 200}
			})
		if err != nil {
			done <- err
		}
	}()
	// Both renewal loops wait on the clock.
	require.NoError(t, fake.BlockUntilContext(t.Context(), 2))
	require.Empty(t, store.leases, "no lease renewal before the clock moved")
	require.Empty(t, store.claims, "no claim renewal before the clock moved")

	for i := range 6 { // 30 s in steps of 5 s
		fake.Advance(leaseTTL / 3)
		await(t, store.leases, "lease renewal")
		if i%2 == 1 {
			require.Equal(t, fake.Now().Add(hold), await(t, store.claims, "claim renewal"), "the hold moves a whole hold ahead")
		}
		require.NoError(t, fake.BlockUntilContext(t.Context(), 2))
	}
	require.Empty(t, store.claims, "one claim renewal per third of the hold")
	close(engine.letGo)
	require.NoError(t, await(t, done, "turn end"))
}
