package application_test

import (
	"context"
	"sync"
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

// scriptedLeases grants leases whose renewals answer, one after another,
// with the errors of script (the store's own answer once it is empty),
// and tells of each.
type scriptedLeases struct {
	*memory.Store
	script  chan error
	renewed chan error
}

func (s *scriptedLeases) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	l, err := s.Store.LockSession(ctx, req)
	if err != nil {
		return nil, err
	}
	return scriptedLease{SessionLease: l, by: s}, nil
}

type scriptedLease struct {
	ports.SessionLease
	by *scriptedLeases
}

func (l scriptedLease) Renew(ctx context.Context) error {
	err := l.SessionLease.Renew(ctx)
	select {
	case err = <-l.by.script:
	default:
	}
	l.by.renewed <- err
	return err
}

// rearmingClock is a fake clock that tells of each timer re-armed, and
// keeps the renewal timers it set (those of leaseTTL/3: the commit's
// deadlines are timers of the use case's clock too).
type rearmingClock struct {
	clock.Fake
	rearmed chan time.Duration
	mu      sync.Mutex
	timers  []ports.Timer
}

func (c *rearmingClock) AfterFunc(d time.Duration, f func()) ports.Timer {
	t := toldTimer{Timer: c.Fake.AfterFunc(d, f), rearmed: c.rearmed}
	if d != leaseTTL/3 {
		return t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, t)
	return t
}

// set returns the renewal timers set so far.
func (c *rearmingClock) set() []ports.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ports.Timer{}, c.timers...)
}

type toldTimer struct {
	ports.Timer
	rearmed chan time.Duration
}

func (t toldTimer) Reset(d time.Duration) bool {
	was := t.Timer.Reset(d)
	t.rearmed <- d
	return was
}

const leaseTTL = 15 * time.Second

var scriptedChat = application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
	Channel: "web", UserChannelID: "u", Message: "hi"}

// newScriptedTurn is the chat use case on the fake clock, with scripted
// lease renewals and an engine that runs once let go.
func newScriptedTurn(t *testing.T) (*rearmingClock, *scriptedLeases, blockedEngine, *application.ProcessMessage) {
	t.Helper()
	fake := &rearmingClock{Fake: clock.NewFake(), rearmed: make(chan time.Duration, 4)}
	store := memory.New(fake)
	leases := &scriptedLeases{Store: store, script: make(chan error, 2), renewed: make(chan error, 4)}
	p := &domain.Policy{Agent: domain.Agent{ID: scriptedChat.AgentID, Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}
	require.NoError(t, store.SavePolicy(t.Context(), tenant, p))
	cache, err := application.NewPolicyCache(store, fake, time.Hour)
	require.NoError(t, err)
	inner, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: fake})
	require.NoError(t, err)
	engine := blockedEngine{Engine: inner, letGo: make(chan struct{})}
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: leaseTTL,
		TurnTimeout: time.Hour, CommitTimeout: time.Second}, cache, store, store, leases, engine, fake)
	require.NoError(t, err)
	return fake, leases, engine, uc
}

// A turn's lease is renewed while it runs, not after: once the turn has
// ended its renewal timer is stopped (a late renewal would hold the
// session, released, for the user's next message).
func TestLeaseRenewalsEndWithTheTurn(t *testing.T) {
	fake, leases, engine, uc := newScriptedTurn(t)
	done := make(chan error, 1)
	go func() {
		_, err := uc.Chat(context.Background(), scriptedChat)
		done <- err
	}()
	require.NoError(t, fake.BlockUntilContext(t.Context(), 1))
	fake.Advance(leaseTTL / 3)
	require.NoError(t, await(t, leases.renewed, "renewal"))
	require.Equal(t, leaseTTL/3, await(t, fake.rearmed, "renewal set again"))
	close(engine.letGo)
	require.NoError(t, await(t, done, "turn end"))
	timers := fake.set()
	require.Len(t, timers, 1, "one renewal timer")
	require.False(t, timers[0].Stop(), "the renewal timer was still set after the turn")
}

// A lease renewal the store could not answer is tried again a third of
// the TTL later (giving up would lose the lease mid-turn to a passing
// outage); one the store refuses (SESSION_BUSY: the lease was taken
// over) is the last: nothing is renewed for a turn that lost its session.
func TestLeaseRenewalsGoOnAfterAFailureAndEndWhenRefused(t *testing.T) {
	fake, leases, engine, uc := newScriptedTurn(t)
	leases.script <- unreachable()
	leases.script <- domain.Errorf(domain.CodeSessionBusy, "the session is held by another turn")
	done := make(chan error, 1)
	go func() {
		_, err := uc.Chat(context.Background(), scriptedChat)
		done <- err
	}()
	require.NoError(t, fake.BlockUntilContext(t.Context(), 1))
	fake.Advance(leaseTTL / 3)
	require.True(t, domain.IsCode(await(t, leases.renewed, "first renewal"), domain.CodeStoreUnavailable))
	require.Equal(t, leaseTTL/3, await(t, fake.rearmed, "renewal set again after a failure"))

	fake.Advance(leaseTTL / 3)
	require.True(t, domain.IsCode(await(t, leases.renewed, "second renewal"), domain.CodeSessionBusy))
	close(engine.letGo)
	await(t, done, "turn end") // its end waits for the renewal in progress
	require.Empty(t, fake.rearmed, "renewals went on after the lease was taken over")
	require.Empty(t, leases.renewed)
}
