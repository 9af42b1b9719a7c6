package bootstrap

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx/fxtest"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
)

// versionsPrepared records the versions a warmer prepares.
type versionsPrepared struct {
	mu       sync.Mutex
	versions []int64
}

func (p *versionsPrepared) Prepare(_ context.Context, pol *domain.Policy) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.versions = append(p.versions, pol.Agent.Version)
	return nil
}

// The policy warmer the app builds also warms the versions turns load
// (written on another instance): the cache it is given is wired to it.
func TestAppsWarmerWarmsTheVersionsTurnsLoad(t *testing.T) {
	const tenant, agent = "550e8400-e29b-41d4-a716-446655440000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	ctx := t.Context()
	store := memory.New(clock.System{})
	require.NoError(t, store.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}))
	cache, err := application.NewPolicyCache(store, clock.System{}, time.Minute)
	require.NoError(t, err)
	prep := &versionsPrepared{}
	lc := fxtest.NewLifecycle(t)
	warmer, err := newPolicyWarmer(lc, cache, prep)
	require.NoError(t, err)
	lc.RequireStart()
	defer lc.RequireStop()
	engine, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: clock.System{}})
	require.NoError(t, err)
	chat, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, store, store, store, engine, clock.System{})
	require.NoError(t, err)

	_, err = chat.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agent, Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)
	require.NoError(t, warmer.Wait(ctx))
	prep.mu.Lock()
	defer prep.mu.Unlock()
	assert.Equal(t, []int64{1}, prep.versions, "the turn's load of version 1 was warmed")
}
